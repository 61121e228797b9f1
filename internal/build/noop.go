// This file is the no-op check: before scheduling anything, pex asks
// whether the build it is about to do is the one it last finished with
// every rule up to date. If the rules are defined as then, the variables
// they pass through have the same values, and every file they read or
// write (sources, tools, outputs, depfile inputs) still has the stat of its
// memoised digest, every key is what it was and every output is in place:
// the build is reported as all hits after stat calls alone, with no
// hashing, scheduling or process. Anything else takes the normal path.
//
// The stamp is kept in the state under noopID: its key digests the graph,
// the rules and the passed-through values; its record lists the rules that
// ended warn (to replay their findings) and the depfile inputs.

package build

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pex-build/pex/cache"
)

// noopID is the state id of the no-op stamp; it cannot be a label.
const noopID = "!noop"

// noopKey digests what, besides files, decides that the plan is up to date.
func (b *builder) noopKey(plan *Plan) cache.Digest {
	kb := cache.NewKeyBuilder()
	kb.Command(string(b.opts.GraphSum))
	for _, t := range plan.Rules {
		kb.Command(t.Label.String())
		for _, name := range t.EnvPassthrough {
			v, ok := b.opts.HostEnv(name)
			if !ok {
				v = unsetMarker
			}
			kb.Command(name + "=" + v)
		}
	}
	key, _ := kb.Sum()
	return key
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
// and no file changed, or ok false.
func (b *builder) tryNoop(plan *Plan) (events []Event, ok bool) {
	if !b.noopPossible(plan) {
		return nil, false
	}
	e, found := b.cache.state.Get(noopID)
	if !found || e.Key != b.noopKey(plan) {
		return nil, false
	}
	paths := planFiles(plan, e.Record.Discovered)
	if !b.allUnchanged(paths) {
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
			rec, ok := b.cache.state.Get(id)
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

// allUnchanged stats the paths on a few goroutines and reports whether
// each still has the stat of its memoised digest.
func (b *builder) allUnchanged(paths []string) bool {
	workers := min(4, max(1, runtime.GOMAXPROCS(0)*2))
	var changed atomic.Bool
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(paths) && !changed.Load(); i += workers {
				if !b.cache.memo.Unchanged(b.cache.abs(paths[i])) {
					changed.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	return !changed.Load()
}

// saveNoop stamps the plan as up to date after a build in which every rule
// succeeded from digests the memo keeps; otherwise it removes the stamp.
func (b *builder) saveNoop(plan *Plan, sum *Summary, warned []string) {
	state := b.cache.state
	ok := b.noopPossible(plan) && !b.keys.untrusted.Load() &&
		sum.Counts["ok"]+sum.Counts["warn"] == len(plan.Rules)
	if !ok {
		state.Delete(noopID)
		return
	}
	rec := cache.Record{Status: "ok", Findings: warned, Created: time.Now()}
	for _, t := range plan.Rules {
		if t.Depfile == "" {
			continue
		}
		if e, found := state.Get(t.Label.String()); found {
			rec.Discovered = append(rec.Discovered, e.Record.Discovered...)
		}
	}
	state.Set(noopID, cache.Entry{Key: b.noopKey(plan), Record: rec})
}
