// This file is the stat-only check: before scheduling anything, pex asks
// whether the build it is about to do is the one it last finished with
// every rule up to date. If the rules are defined as then and the
// variables they pass through have the same values, then a rule none of
// whose files (sources, tools, outputs, depfile inputs) changed stat since
// they were memoised, and none of whose dependencies is in that case, has
// the key and outputs it had: it is settled from its state entry with no
// hashing. When no file changed at all, the build is reported as all hits
// without scheduling anything. Only the rules a change reaches go through
// the full check of cache.go.
//
// Each set of rules (pex build, pex test, one target...) keeps its own
// stamp in the state, under an id made from noopPrefix and a digest of the
// rules' labels, so alternating between them keeps both fast. Its key
// digests the graph, the rules and the passed-through values; its record
// lists the rules that ended warn (to replay their findings). The depfile
// inputs to check are read from the rules' own state entries, which a
// build of other rules may have updated since.

package build

import (
	"runtime"
	"sync"
	"time"

	"github.com/pex-build/pex/cache"
	"github.com/pex-build/pex/graph"
)

// noopPrefix starts the state ids of no-op stamps; no label starts so.
const noopPrefix = "!noop "

// stamp returns, computed once per build, the state id of the plan's
// stamp (from its rules' labels) and the key it must have (also from the
// graph and the passed-through values).
func (b *builder) stamp(plan *Plan) (id string, key cache.Digest) {
	if b.stampID == "" {
		labels, all := cache.NewKeyBuilder(), cache.NewKeyBuilder()
		all.Command(string(b.opts.GraphSum))
		for _, t := range plan.Rules {
			labels.Command(t.Label.String())
			for _, name := range t.EnvPassthrough {
				v, ok := b.opts.HostEnv(name)
				if !ok {
					v = unsetMarker
				}
				all.Command(t.Label.String() + " " + name + "=" + v)
			}
		}
		ids, _ := labels.Sum()
		all.Command(string(ids[:]))
		b.stampID = noopPrefix + ids.String()[:16]
		b.stampKey, _ = all.Sum()
	}
	return b.stampID, b.stampKey
}

// noopPossible reports whether the plan may be answered by the stamp.
func (b *builder) noopPossible(plan *Plan) bool {
	if b.opts.GraphSum == nil || b.opts.DryRun || b.opts.NoCache {
		return false
	}
	for _, t := range plan.Rules {
		if !t.Cache {
			return false // it must run every time
		}
	}
	return true
}

// tryNoop returns the events of an all-hit build when the stamp matches
// and no file changed, or ok false. In the second case, when the stamp
// matches, it sets b.clean to the rules the changes do not reach.
func (b *builder) tryNoop(plan *Plan) (events []Event, ok bool) {
	if !b.noopPossible(plan) {
		return nil, false
	}
	id, key := b.stamp(plan)
	e, found := b.cache.state.Get(id)
	if !found || e.Key != key {
		return nil, false
	}
	// The discovered inputs come from the rules' entries, not the stamp:
	// a build of other rules may have rerun one since and found more.
	var changed map[string]bool
	disc := b.discovered(plan)
	if b.opts.ChangedKnown {
		// The proof listed every changed file it knew; depfile inputs
		// found since it was written are statted here.
		paths := make([]string, len(disc))
		for i, it := range disc {
			paths[i] = it.Name
		}
		changed = b.changedFiles(paths)
		for _, p := range b.opts.Changed {
			changed[p] = true
		}
	} else {
		b.files = planFiles(plan, disc)
		changed = b.changedFiles(b.files)
	}
	if len(changed) > 0 {
		b.files = nil
		b.clean = b.unreached(plan, changed)
		return nil, false
	}
	warn := make(map[string]bool, len(e.Record.Findings))
	for _, id := range e.Record.Findings {
		warn[id] = true
	}
	events = make([]Event, len(plan.Rules))
	for i, t := range plan.Rules {
		id := t.Label.String()
		ev := Event{Event: EventRule, Label: id, Status: "ok", Cache: "hit", Cmd: t.Cmd, Test: t.HasTag("test"), Target: t}
		if warn[id] {
			rec, ok := b.cache.state.Outcome(id)
			if !ok {
				return nil, false
			}
			ev.Status, ev.Findings = "warn", rec.Record.Findings
		}
		events[i] = ev
	}
	return events, true
}

// planFiles lists, once each, every file the plan's rules read or write.
func planFiles(plan *Plan, discovered []cache.Item) []string {
	seen := make(map[string]struct{}, 4*len(plan.Rules))
	var paths []string
	add := func(ps []string) {
		for _, p := range ps {
			if _, dup := seen[p]; !dup {
				seen[p] = struct{}{}
				paths = append(paths, p)
			}
		}
	}
	for _, t := range plan.Rules {
		add(t.Inputs)
		add(t.ToolFiles)
		add(t.OutFiles)
	}
	for _, it := range discovered {
		add([]string{it.Name})
	}
	return paths
}

// changedFiles stats the paths on a few goroutines and returns those that
// no longer have the stat of their memoised digest.
func (b *builder) changedFiles(paths []string) map[string]bool {
	workers := min(4, max(1, runtime.GOMAXPROCS(0)*2))
	found := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(paths); i += workers {
				if !b.cache.memo.Unchanged(b.cache.abs(paths[i])) {
					found[w] = append(found[w], paths[i])
				}
			}
		}()
	}
	wg.Wait()
	changed := map[string]bool{}
	for _, ps := range found {
		for _, p := range ps {
			changed[p] = true
		}
	}
	return changed
}

// unreached returns the rules of the plan that no changed file reaches:
// none of their own files changed, nor anything they depend on.
func (b *builder) unreached(plan *Plan, changed map[string]bool) map[*graph.Target]bool {
	touched := func(t *graph.Target) bool {
		for _, list := range [][]string{t.Inputs, t.ToolFiles, t.OutFiles} {
			for _, p := range list {
				if changed[p] {
					return true
				}
			}
		}
		if t.Depfile != "" {
			e, ok := b.cache.state.Outcome(t.Label.String())
			if !ok {
				return true
			}
			for _, it := range e.Record.Discovered {
				if changed[it.Name] {
					return true
				}
			}
		}
		return false
	}
	rdeps := plan.dependents()
	reached := make(map[*graph.Target]bool)
	var stack []*graph.Target
	for _, t := range plan.Rules {
		if touched(t) {
			reached[t] = true
			stack = append(stack, t)
		}
	}
	for len(stack) > 0 {
		t := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, d := range rdeps[t] {
			if !reached[d] {
				reached[d] = true
				stack = append(stack, d)
			}
		}
	}
	clean := make(map[*graph.Target]bool, len(plan.Rules)-len(reached))
	for _, t := range plan.Rules {
		if !reached[t] {
			clean[t] = true
		}
	}
	return clean
}

// saveNoop stamps the plan as up to date after a build in which every rule
// succeeded; otherwise it removes the stamp. Files that changed during the
// build, or were hashed too recently to memoise, have no memo entry with
// their current stat, so the next check finds them changed.
func (b *builder) saveNoop(plan *Plan, sum *Summary, warned []string) {
	state := b.cache.state
	id, key := b.stamp(plan)
	ok := b.noopPossible(plan) && sum.Counts["ok"]+sum.Counts["warn"] == len(plan.Rules) && b.vouchable()
	if !ok {
		state.Delete(id)
		return
	}
	rec := cache.Record{Status: "ok", Findings: warned, Created: time.Now()}
	state.Set(id, cache.Entry{Key: key, Record: rec})
}

// discovered returns the inputs the plan's depfile rules reported when
// they last ran, from their state entries.
func (b *builder) discovered(plan *Plan) []cache.Item {
	var items []cache.Item
	for _, t := range plan.Rules {
		if t.Depfile == "" {
			continue
		}
		if e, found := b.cache.state.Outcome(t.Label.String()); found {
			items = append(items, e.Record.Discovered...)
		}
	}
	return items
}
