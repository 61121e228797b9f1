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
// other text), the new rules are checked against the whole graph, added
// to the database's rule table and to the running engine (exec's tasks
// added on the fly), and start as soon as what they need is done. The
// rules it had generated before, which wait for it, are retired: they
// neither run nor report (those of other generators that depend on them
// are added again, linked to the new ones). At the end of the build the
// graph is made anew with what was generated.

package builder

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/pex-build/pex/exec"
	"github.com/pex-build/pex/graph"
	"github.com/pex-build/pex/internal/db"
	"github.com/pex-build/pex/starlark"
)

// regen is what the dynamic rules of one build generated that differs
// from the graph.
type regen struct {
	check   sync.Mutex // held while a generator's rules are checked
	mu      sync.Mutex
	byGen   map[graph.Label][]*graph.Target // new generated rules, by generator
	order   []graph.Label                   // generators, in the order they settled
	retired map[*graph.Target]bool          // rules of the graph that must not run
	full    *graph.Graph                    // the whole graph, decoded once
	readers map[string]*graph.Target        // see sourceReaders
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
// this build). New rules are evaluated, checked against the whole graph
// with what other generators generated in this build (an error is t's
// failure), and added to the build, whose run ctx is. It returns how
// many rules the build gained.
func (b *builder) generated(ctx context.Context, t *graph.Target, before, text string) (int, error) {
	if text == before {
		return 0, nil
	}
	targets, err := b.actions().Generate(t, text)
	if err != nil {
		return 0, fmt.Errorf("the rules it generated: %v", err)
	}
	whole, err := b.wholeGraph()
	if err != nil {
		return 0, err
	}
	r := &b.regen
	// The new rules must fit the graph with what other generators of
	// this build generated: one generator at a time.
	r.check.Lock()
	defer r.check.Unlock()
	r.mu.Lock()
	gens := map[graph.Label]bool{t.Label: true}
	var others []*graph.Target
	for _, l := range r.order {
		if l != t.Label {
			gens[l] = true
			others = append(others, r.byGen[l]...)
		}
	}
	r.mu.Unlock()
	// What this build would run of the old rules waits for t: retire it,
	// and what depends on it. Those t did not generate are added again,
	// linked to the new rules.
	gone := generatedBy(whole, map[graph.Label]bool{t.Label: true})
	var retired, again []*graph.Target
	deps := &dependsOn{set: gone, memo: map[*graph.Target]bool{}}
	for _, rt := range b.runningRules() {
		// Only generated rules depend on generated ones (BUILD files
		// cannot name them).
		if len(gone) > 0 && rt.Generated() && (gone[rt.Label] || deps.any(rt)) {
			retired = append(retired, rt)
			if !gone[rt.Label] && !slices.ContainsFunc(targets, func(nt *graph.Target) bool { return nt.Label == rt.Label }) {
				again = append(again, rt)
			}
		}
	}
	n, err := b.checkNew(whole, generatedBy(whole, gens), others, targets, again)
	if err != nil {
		return 0, fmt.Errorf("the rules it generated: %v", err)
	}
	var labels []graph.Label
	for _, nt := range slices.Concat(targets, again) {
		labels = append(labels, nt.Label)
	}
	r.mu.Lock()
	if r.byGen == nil {
		r.byGen, r.retired = map[graph.Label][]*graph.Target{}, map[*graph.Target]bool{}
	}
	if _, seen := r.byGen[t.Label]; !seen {
		r.order = append(r.order, t.Label)
	}
	r.byGen[t.Label] = targets
	for _, rt := range retired {
		r.retired[rt] = true
	}
	r.mu.Unlock()
	if err := b.addRules(ctx, n, labels); err != nil {
		return 0, err
	}
	return len(labels) - len(retired), nil
}

// checkNew checks the rules a generator generated, batch, against the
// whole graph without the rules gone (those the generators of this
// build generated before) and with others (what the other generators
// generated): a name or an output taken, an output another rule reads as
// a source, a rule it names that does not exist. It returns a small
// resolved graph of batch and again (rules added again, see generated),
// with stand-ins holding only the label and outputs of every rule they
// name or read, and of the rules of their packages. The build's end
// resolves the whole graph again (newGraph), which finds the rest.
func (b *builder) checkNew(whole *graph.Graph, gone map[graph.Label]bool, others, batch, again []*graph.Target) (*graph.Graph, error) {
	readers := b.regen.sourceReaders(whole)
	byLabel := map[graph.Label]*graph.Target{}
	byOut := map[string]*graph.Target{}
	for _, o := range others {
		byLabel[o.Label] = o
		for _, out := range o.Outs {
			byOut[path.Join(o.Label.Pkg, out)] = o
		}
	}
	existing := func(l graph.Label) *graph.Target {
		if o := byLabel[l]; o != nil {
			return o
		}
		if w, ok := whole.Lookup(l); ok && !gone[l] {
			return w
		}
		return nil
	}
	producer := func(p string) *graph.Target {
		if o := byOut[p]; o != nil {
			return o
		}
		if w, ok := whole.Producer(p); ok && !gone[w.Label] {
			return w
		}
		return nil
	}
	for _, nt := range batch {
		if ex := existing(nt.Label); ex != nil {
			return nil, &graph.Error{Pos: nt.Pos, Msg: fmt.Sprintf("rule %q already defined at %s", nt.Label.String(), ex.Pos)}
		}
		for _, out := range nt.Outs {
			p := path.Join(nt.Label.Pkg, out)
			if ex := producer(p); ex != nil {
				return nil, &graph.Error{Pos: nt.Pos, Msg: fmt.Sprintf("rule %q: output %q is also an output of rule %q (%s)",
					nt.Label.String(), p, ex.Label.String(), ex.Pos)}
			}
			switch rd := readers[p]; {
			case rd == nil || gone[rd.Label]:
			case !rd.Generated():
				return nil, graph.GeneratedDepError(rd, nt) // as Graph.Resolve says it
			default:
				return nil, &graph.Error{Pos: nt.Pos, Msg: fmt.Sprintf("rule %q: output %q is already a source file of rule %q (%s)",
					nt.Label.String(), p, rd.Label.String(), rd.Pos)}
			}
		}
	}
	s := graph.New()
	in := map[graph.Label]bool{}
	full := slices.Concat(batch, again)
	for _, t := range full {
		in[t.Label] = true
	}
	for _, t := range full {
		if err := s.Add(unresolved(t)); err != nil {
			return nil, err
		}
	}
	stub := func(l graph.Label) {
		if in[l] {
			return
		}
		if ex := existing(l); ex != nil {
			in[l] = true
			_ = s.Add(&graph.Target{Label: ex.Label, Pos: ex.Pos, Outs: ex.Outs, Cache: true})
		}
	}
	pkgs := map[string]bool{}
	for _, t := range full {
		pkgs[t.Label.Pkg] = true
		for _, l := range t.Deps {
			stub(l)
		}
		for _, list := range [2][]string{t.Srcs, t.Tools} {
			for _, e := range list {
				switch {
				case strings.HasPrefix(e, "//") || strings.HasPrefix(e, ":"):
					if l, err := graph.ParseLabel(e, t.Label.Pkg); err == nil {
						stub(l)
						if p := producer(l.Path()); p != nil {
							stub(p.Label)
						}
					}
				case !path.IsAbs(e):
					if p := producer(path.Join(t.Label.Pkg, e)); p != nil {
						stub(p.Label)
					}
				}
			}
		}
	}
	for _, w := range whole.Targets {
		if pkgs[w.Label.Pkg] && !gone[w.Label] {
			stub(w.Label)
		}
	}
	for _, o := range others {
		if pkgs[o.Label.Pkg] {
			stub(o.Label)
		}
	}
	for _, gr := range whole.Groups {
		_ = s.AddGroup(gr)
	}
	if err := s.Resolve(b.root); err != nil {
		return nil, err
	}
	return s, nil
}

// sourceReaders returns, for each file a rule of g reads as a source
// (or tool), one such rule; made once per build.
func (r *regen) sourceReaders(g *graph.Graph) map[string]*graph.Target {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.readers == nil {
		r.readers = map[string]*graph.Target{}
		for _, t := range g.Targets {
			for _, files := range [2][]string{t.Inputs, t.ToolFiles} {
				for _, p := range files {
					if _, ok := r.readers[p]; !ok {
						r.readers[p] = t
					}
				}
			}
		}
	}
	return r.readers
}

// runningRules returns the rules the build has a task for.
func (b *builder) runningRules() []*graph.Target {
	out := make([]*graph.Target, 0, len(b.running))
	for t := range b.running {
		out = append(out, t)
	}
	b.lateMu.Lock()
	defer b.lateMu.Unlock()
	for t := range b.late.running {
		out = append(out, t)
	}
	return out
}

// lateRules are the rules added to a running build.
type lateRules struct {
	ids     map[*graph.Target]db.RuleID
	running map[*graph.Target]bool // those with a task
	tasks   map[*exec.Task]*graph.Target
	graphs  map[*graph.Target]*graph.Graph // what Reads and srcFiles ask of each
	// current are the build's rules by label, once a rule is added: the
	// latest of a label, linked to what its dependents are added with.
	current map[graph.Label]*graph.Target
}

// addRules adds the rules labels names, as n (a graph with the new rules)
// resolves them, to the database and to the running build.
func (b *builder) addRules(ctx context.Context, n *graph.Graph, labels []graph.Label) error {
	src := make([]*graph.Target, len(labels))
	for i, l := range labels {
		src[i], _ = n.Lookup(l)
	}
	b.dbMu.Lock()
	ids, err := b.db.AddRules(src)
	b.dbMu.Unlock()
	if err != nil {
		return err
	}
	b.lateMu.Lock()
	defer b.lateMu.Unlock()
	late := &b.late
	if late.ids == nil {
		late.ids, late.tasks = map[*graph.Target]db.RuleID{}, map[*exec.Task]*graph.Target{}
		late.running = map[*graph.Target]bool{}
		late.graphs, late.current = map[*graph.Target]*graph.Graph{}, map[graph.Label]*graph.Target{}
		for t := range b.ids {
			late.current[t.Label] = t
		}
	}
	added := make([]*graph.Target, len(src))
	for i, st := range src {
		t := *st
		added[i] = &t
		late.ids[added[i]] = ids[i]
		late.running[added[i]] = true
		late.current[t.Label] = added[i]
	}
	// Link each to the build's rules by label. A dependency the build
	// does not have is settled from its row if the check found it up to
	// date (it is in the plan), and else added too: its task builds it
	// or finds it up to date.
	for i := 0; i < len(added); i++ {
		t := added[i]
		deps := make([]*graph.Target, len(t.DepTargets))
		g := graph.New()
		for j, d := range t.DepTargets {
			if deps[j] = late.current[d.Label]; deps[j] == nil {
				dt, id, err := b.decodeLate(d.Label)
				if err != nil {
					return err
				}
				late.ids[dt] = id
				late.current[d.Label] = dt
				if b.inPlan[id] {
					b.settleFromRow(dt, id)
				} else {
					late.running[dt] = true
					added = append(added, dt)
				}
				deps[j] = dt
			}
			_ = g.Add(deps[j])
		}
		t.DepTargets = deps
		late.graphs[t] = g
	}
	plan := &Plan{Rules: added, providers: b.plan.providers}
	tasks := plan.tasks(b.ruleFunc)
	for i, task := range tasks {
		late.tasks[task] = added[i]
		// What is up to date has settled: wait only for what runs.
		task.Requires = slices.DeleteFunc(task.Requires, func(r any) bool {
			switch r := r.(type) {
			case ruleToken:
				return !b.running[r] && !late.running[r]
			case tokenName:
				return len(b.plan.providers[string(r)]) == 0
			}
			return false
		})
	}
	run := exec.FromContext(ctx)
	if run == nil {
		return fmt.Errorf("rules generated outside a build")
	}
	return run.Add(tasks...)
}

// decodeLate decodes the rule labelled l from the database, its
// dependencies as targets holding only their labels (see addRules).
func (b *builder) decodeLate(l graph.Label) (*graph.Target, db.RuleID, error) {
	b.dbMu.Lock()
	defer b.dbMu.Unlock()
	id, ok := b.db.RuleOf(l.String())
	if !ok {
		return nil, 0, fmt.Errorf("rule %s: no such rule", l)
	}
	t, err := b.db.Target(id)
	if err != nil {
		return nil, 0, err
	}
	for _, dep := range b.db.Deps(id) {
		dl, err := graph.ParseLabel(b.db.Label(dep), "")
		if err != nil {
			return nil, 0, err
		}
		t.DepTargets = append(t.DepTargets, &graph.Target{Label: dl})
	}
	return t, id, nil
}

// settleFromRow settles t, rule id, up to date, from its row.
func (b *builder) settleFromRow(t *graph.Target, id db.RuleID) {
	if row, ok := b.row(id); ok {
		b.keys.settle(t, row.Key, row.Outputs)
	}
}

// id returns t's rule number.
func (b *builder) id(t *graph.Target) db.RuleID {
	if id, ok := b.ids[t]; ok {
		return id
	}
	b.lateMu.Lock()
	defer b.lateMu.Unlock()
	return b.late.ids[t]
}

// isRunning reports whether the build has a task for t.
func (b *builder) isRunning(t *graph.Target) bool {
	if b.running[t] {
		return true
	}
	b.lateMu.Lock()
	defer b.lateMu.Unlock()
	return b.late.running[t]
}

// taskTarget returns the rule of a task.
func (b *builder) taskTarget(task *exec.Task) *graph.Target {
	if t, ok := b.byTask[task]; ok {
		return t
	}
	b.lateMu.Lock()
	defer b.lateMu.Unlock()
	return b.late.tasks[task]
}

// graphFor returns the graph that holds t's dependencies, for Reads and
// srcFiles.
func (b *builder) graphFor(t *graph.Target) *graph.Graph {
	if _, ok := b.ids[t]; ok {
		return b.keys.g
	}
	b.lateMu.Lock()
	defer b.lateMu.Unlock()
	if g, ok := b.late.graphs[t]; ok {
		return g
	}
	return b.keys.g
}

// dependsOn reports whether a rule depends, transitively, on one whose
// label is in set; it remembers its answers.
type dependsOn struct {
	set  map[graph.Label]bool
	memo map[*graph.Target]bool
}

func (d *dependsOn) any(t *graph.Target) bool {
	if v, ok := d.memo[t]; ok {
		return v
	}
	d.memo[t] = false // a cycle is impossible; this stops the walk anyway
	v := false
	for _, dep := range t.DepTargets {
		if d.set[dep.Label] || d.any(dep) {
			v = true
			break
		}
	}
	d.memo[t] = v
	return v
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

// newGraph returns the whole graph with what the build generated in place
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

// withoutGenerated returns the whole graph without what the generators
// that generated anew in this build generated, before or now, and
// forgets their rows, so that they run again.
func (b *builder) withoutGenerated() (*graph.Graph, error) {
	whole, err := b.wholeGraph()
	if err != nil {
		return nil, err
	}
	r := &b.regen
	gens := map[graph.Label]bool{}
	for _, l := range r.order {
		gens[l] = true
		if id, ok := b.db.RuleOf(l.String()); ok {
			b.db.DeleteRow(id)
		}
	}
	return rebuild(b.root, whole, generatedBy(whole, gens), nil)
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
