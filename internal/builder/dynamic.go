// This file handles dynamic rules: rules with dynamic = True register
// rules while the build runs, as Starlark (what a cmd rule writes to
// $PEX_DYNAMIC, or its action's ctx.rule calls). The generated rules join
// the graph: the database holds them like written ones, each depending on
// its generator, so a no-op build checks and replays them without running
// or evaluating anything. The text is recorded with the generator's
// outputs (its row, and the store's record) and registered again when the
// BUILD files are evaluated.
//
// When a generator's text differs from what the graph holds (it ran for
// the first time, or generated something else, or was restored with
// other text), its old generated rules, which wait for it, are retired:
// they neither run nor report. At the end of the pass the graph is
// rebuilt with the new rules, and the build goes on with another pass
// over the same request, which builds them (see Workspace.Build).

package builder

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/pex-build/pex/graph"
	"github.com/pex-build/pex/internal/db"
	"github.com/pex-build/pex/starlark"
)

// maxPasses bounds the passes of one build: each pass registers what the
// generators of the one before generated.
const maxPasses = 32

// regen is what the dynamic rules of one pass generated that differs
// from the graph.
type regen struct {
	check   sync.Mutex // held while a generator's rules are checked
	mu      sync.Mutex
	byGen   map[graph.Label][]*graph.Target // new generated rules, by generator
	order   []graph.Label                   // generators, in the order they settled
	retired map[*graph.Target]bool          // rules of the graph that must not run
	full    *graph.Graph                    // the whole graph, decoded once
}

// changed reports whether some generator's rules changed.
func (r *regen) changed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.order) > 0
}

// isRetired reports whether t was retired.
func (r *regen) isRetired(t *graph.Target) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.retired[t]
}

// wholeGraph returns the whole graph: the build's own when it has one,
// else decoded from the database, once.
func (b *builder) wholeGraph() (*graph.Graph, error) {
	b.regen.mu.Lock()
	defer b.regen.mu.Unlock()
	if b.regen.full != nil {
		return b.regen.full, nil
	}
	if b.whole != nil {
		b.regen.full = b.whole
		return b.whole, nil
	}
	b.dbMu.Lock()
	g, err := b.db.Graph()
	b.dbMu.Unlock()
	if err != nil {
		return nil, err
	}
	b.regen.full = g
	return g, nil
}

// generated settles what the dynamic rule t generated, text, which the
// graph holds as before unless it differs from before (t's row before
// this build). A new text is evaluated and checked against the whole
// graph: an error is t's failure.
func (b *builder) generated(t *graph.Target, before, text string) error {
	if text == before {
		return nil
	}
	targets, err := b.actions().Generate(t, text)
	if err != nil {
		return fmt.Errorf("the rules it generated: %v", err)
	}
	whole, err := b.wholeGraph()
	if err != nil {
		return err
	}
	r := &b.regen
	// The new rules must fit the graph with what other generators of
	// this pass generated: one generator at a time.
	r.check.Lock()
	defer r.check.Unlock()
	r.mu.Lock()
	gens := map[graph.Label]bool{t.Label: true}
	add := slices.Clone(targets)
	for _, l := range r.order {
		if l != t.Label {
			gens[l] = true
			add = append(add, r.byGen[l]...)
		}
	}
	r.mu.Unlock()
	gone := generatedBy(whole, map[graph.Label]bool{t.Label: true})
	if _, err := rebuild(b.root, whole, generatedBy(whole, gens), add); err != nil {
		return fmt.Errorf("the rules it generated: %v", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byGen == nil {
		r.byGen, r.retired = map[graph.Label][]*graph.Target{}, map[*graph.Target]bool{}
	}
	if _, seen := r.byGen[t.Label]; !seen {
		r.order = append(r.order, t.Label)
	}
	r.byGen[t.Label] = targets
	// What this build would run of the old rules waits for t: retire it,
	// and what depends on it.
	for rt := range b.running {
		if gone[rt.Label] || dependsOnAny(rt, gone) {
			r.retired[rt] = true
		}
	}
	return nil
}

// dependsOnAny reports whether t depends, transitively, on a rule whose
// label is in set.
func dependsOnAny(t *graph.Target, set map[graph.Label]bool) bool {
	seen := map[*graph.Target]bool{}
	var walk func(*graph.Target) bool
	walk = func(t *graph.Target) bool {
		for _, d := range t.DepTargets {
			if set[d.Label] {
				return true
			}
			if !seen[d] {
				seen[d] = true
				if walk(d) {
					return true
				}
			}
		}
		return false
	}
	return walk(t)
}

// generatedBy returns the labels of the rules of g that the generators
// gens generated, transitively (a generated rule may be dynamic too).
func generatedBy(g *graph.Graph, gens map[graph.Label]bool) map[graph.Label]bool {
	out := map[graph.Label]bool{}
	for changed := true; changed; {
		changed = false
		for _, t := range g.Targets {
			if !out[t.Label] && t.Generated() && (gens[t.GeneratedBy] || out[t.GeneratedBy]) {
				out[t.Label] = true
				changed = true
			}
		}
	}
	return out
}

// rebuild returns a new resolved graph of g's rules but those in drop,
// then add.
func rebuild(root string, g *graph.Graph, drop map[graph.Label]bool, add []*graph.Target) (*graph.Graph, error) {
	n := graph.New()
	for _, p := range g.Packages() {
		n.AddPackage(p)
	}
	for _, gr := range g.Groups {
		if err := n.AddGroup(gr); err != nil {
			return nil, err
		}
	}
	for _, t := range slices.Concat(g.Targets, add) {
		if drop[t.Label] && !slices.Contains(add, t) {
			continue
		}
		if err := n.Add(unresolved(t)); err != nil {
			return nil, err
		}
	}
	if err := n.Resolve(root); err != nil {
		return nil, err
	}
	return n, nil
}

// unresolved returns a copy of t without what Resolve fills.
func unresolved(t *graph.Target) *graph.Target {
	c := *t
	c.Inputs, c.ToolFiles, c.OutFiles, c.DepTargets = nil, nil, nil, nil
	return &c
}

// newGraph returns the whole graph with what the pass generated in place
// of what the generators had generated before.
func (b *builder) newGraph() (*graph.Graph, error) {
	whole, err := b.wholeGraph()
	if err != nil {
		return nil, err
	}
	r := &b.regen
	gens := map[graph.Label]bool{}
	var add []*graph.Target
	for _, l := range r.order {
		gens[l] = true
		add = append(add, r.byGen[l]...)
	}
	return rebuild(b.root, whole, generatedBy(whole, gens), add)
}

// withGenerated returns g, as an evaluation made it, with the rules that
// its dynamic rules generated when they last ran (their rows in d, from
// before the evaluation). A generator whose rules no longer fit the
// graph (a BUILD file now defines one of their names or outputs) loses
// its row: it runs again, and fails saying why.
//
// It also returns the Starlark files the generated texts loaded.
func (w *Workspace) withGenerated(ctx context.Context, d *db.DB, g *graph.Graph, set map[string]string) (*graph.Graph, []string) {
	gens := w.generators(d, g.Targets)
	if len(gens) == 0 {
		return g, nil
	}
	acts := starlark.NewActions(ctx, starlark.ActionOptions{Root: w.Root, Set: set, Packages: g.Packages(),
		IsOutput: func(p string) bool { _, ok := g.Producer(p); return ok }})
	g = w.addGenerated(d, g, gens, acts)
	return g, acts.Files()
}

// addGenerated adds to g what gens generated, and what the dynamic rules
// among those generated, and so on.
func (w *Workspace) addGenerated(d *db.DB, g *graph.Graph, gens []generator, acts *starlark.Actions) *graph.Graph {
	for len(gens) > 0 {
		byGen := map[*graph.Target][]*graph.Target{}
		var add []*graph.Target
		for _, gen := range gens {
			ts, err := acts.Generate(gen.t, gen.text)
			if err != nil {
				w.forgetRow(d, gen.t)
				continue
			}
			byGen[gen.t] = ts
			add = append(add, ts...)
		}
		n, err := rebuild(w.Root, g, nil, add)
		if err != nil {
			// Some generator's rules clash with others: keep those that
			// fit alone.
			add = add[:0]
			for _, gen := range gens {
				if ts, ok := byGen[gen.t]; ok {
					if _, err := rebuild(w.Root, g, nil, ts); err == nil {
						add = append(add, ts...)
						continue
					}
					w.forgetRow(d, gen.t)
				}
			}
			if n, err = rebuild(w.Root, g, nil, add); err != nil {
				for _, gen := range gens {
					w.forgetRow(d, gen.t)
				}
				return g
			}
		}
		g = n
		// Generated rules may be dynamic too.
		var more []*graph.Target
		for _, t := range add {
			if t.Dynamic {
				nt, _ := g.Lookup(t.Label)
				more = append(more, nt)
			}
		}
		gens = w.generators(d, more)
	}
	return g
}

// generator is a dynamic rule with the text it last generated.
type generator struct {
	t    *graph.Target
	text string
}

// generators returns the dynamic rules among ts whose rows in d hold what
// they generated.
func (w *Workspace) generators(d *db.DB, ts []*graph.Target) []generator {
	var gens []generator
	for _, t := range ts {
		if !t.Dynamic {
			continue
		}
		if id, ok := d.RuleOf(t.Label.String()); ok {
			if row, ok := d.Row(id); ok && row.Generated != "" {
				gens = append(gens, generator{t, row.Generated})
			}
		}
	}
	return gens
}

// forgetRow deletes t's row, from the database as it was before the
// evaluation, so that t runs again.
func (w *Workspace) forgetRow(d *db.DB, t *graph.Target) {
	if id, ok := d.RuleOf(t.Label.String()); ok {
		d.DeleteRow(id)
	}
}
