// Package build is pex's builder: it turns the selected rules of a graph
// into exec tasks, runs their commands (process groups, fixed environment,
// channel files) and reports each rule as an Event the moment it settles.
package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pex-build/pex/cache"
	"github.com/pex-build/pex/exec"
	"github.com/pex-build/pex/graph"
	"github.com/pex-build/pex/internal/procs"
)

// Options configure a build.
type Options struct {
	Root      string
	Graph     *graph.Graph
	Selected  []*graph.Target // the rules asked for; what they need is added
	Jobs      int             // workers of the default group; < 1: number of CPUs
	KeepGoing bool
	DryRun    bool
	Verbose   bool // explain why each rule runs
	// GraphSum identifies the rule definitions (a digest of the encoded
	// graph); with it, a build that finds nothing changed since the last
	// one is answered from stat calls alone (see noop.go).
	GraphSum []byte
	NoCache  bool // run everything, and refresh the store
	// Cache is the workspace's cache; nil opens (and closes) one with
	// default options.
	Cache *Cache
	// HostEnv looks up the host's environment (os.LookupEnv if nil).
	HostEnv func(string) (string, bool)
	// Procs records the process groups of the commands the build starts,
	// so that none outlives a pex killed meanwhile; nil records nothing.
	Procs *procs.Table
	// OnEvent receives every event, from one goroutine, in order.
	OnEvent func(Event)
	// Proof, if set, asks for an up-to-date proof when the build ends
	// with every rule up to date (proof.go).
	Proof *ProofOptions
	// ChangedKnown says Changed lists every file of the rules that changed
	// since the last build, as a valid proof found (see Answer): the
	// stat-only check then trusts it instead of statting them again.
	ChangedKnown bool
	Changed      []string
}

// Event kinds.
const (
	EventBuildStarted  = "build_started"
	EventRule          = "rule"
	EventBuildFinished = "build_finished"
)

// Event reports progress: the start of a build, each rule as it settles,
// and the end with totals.
type Event struct {
	Event    string        `json:"event"`
	Label    string        `json:"label,omitempty"`
	Status   string        `json:"status,omitempty"` // ok warn failed timeout skipped
	Cache    string        `json:"cache,omitempty"`  // hit restored remote miss none
	Duration time.Duration `json:"-"`
	MS       int64         `json:"duration_ms"`
	Findings []string      `json:"findings,omitempty"`
	Reason   string        `json:"reason,omitempty"` // why it failed or was skipped
	ExitCode *int          `json:"exit_code,omitempty"`
	Output   string        `json:"output,omitempty"`
	Cmd      string        `json:"cmd,omitempty"`
	Why      []string      `json:"why,omitempty"` // why it ran (with -v or -n)
	// Note says why a rule that ran was not cached: a file it read
	// changed while it ran.
	Note   string `json:"note,omitempty"`
	Test   bool   `json:"test,omitempty"`
	DryRun bool   `json:"dry_run,omitempty"`

	Total  int            `json:"total,omitempty"`  // build_started: rules considered
	Counts map[string]int `json:"counts,omitempty"` // build_finished: rules by status
	OK     *bool          `json:"ok,omitempty"`     // build_finished

	Target *graph.Target `json:"-"`
}

// Summary is the outcome of a build.
type Summary struct {
	Counts   map[string]int // rules by status
	Cache    map[string]int // rules that ran to completion, by cache outcome
	Duration time.Duration
	Failed   bool // a rule failed or timed out
	Canceled bool // interrupted
	// Proven is, for a build answered from an up-to-date proof (see
	// Answer), the number of paths found unchanged; zero otherwise.
	Proven int
	// Reached is, for a build patched from a stale proof (see Patch), the
	// number of rules the changed files reached; zero otherwise.
	Reached int
}

// Run builds the selected rules and what they need. Errors found before
// anything runs (a token no rule provides, a cycle through tokens) are
// returned as errors; rule failures are reported in events and the
// Summary.
func Run(ctx context.Context, opts Options) (*Summary, error) {
	start := time.Now()
	if opts.HostEnv == nil {
		opts.HostEnv = os.LookupEnv
	}
	if opts.OnEvent == nil {
		opts.OnEvent = func(Event) {}
	}
	plan, err := NewPlan(opts.Graph, opts.Selected)
	if err != nil {
		return nil, err
	}
	if opts.Cache == nil {
		c, err := OpenCache(opts.Root, CacheOptions{})
		if err != nil {
			return nil, err
		}
		defer c.Close()
		opts.Cache = c
	}
	b := &builder{opts: opts, cache: opts.Cache, keys: newKeys(opts.Cache, opts.Graph, opts.HostEnv)}
	defer b.closeClock()
	// A file that changes from here on may have been read before: the
	// build then leaves no proof or stamp (see keys.consistent).
	b.keys.since = b.clock().Now()
	if events, ok := b.tryNoop(plan); ok {
		sum := b.replayNoop(start, events)
		var warned []string
		for _, ev := range events {
			if ev.Status == "warn" {
				warned = append(warned, ev.Label)
			}
		}
		b.saveProof(plan, sum, warned)
		return sum, nil
	}
	if b.tmp, err = scratchDir(opts.Root); err != nil {
		return nil, err
	}
	defer b.removeScratch()
	tasks := plan.tasks(b.ruleFunc)
	b.byTask = make(map[*exec.Task]*graph.Target, len(tasks))
	for i, task := range tasks {
		b.byTask[task] = plan.Rules[i]
	}
	execOpts := exec.Options{
		Workers:   opts.Jobs,
		KeepGoing: opts.KeepGoing,
		Groups:    groups(opts.Graph, plan.Rules),
	}
	if opts.DryRun {
		execOpts.Workers = 1 // the order printed is a valid schedule
		for i := range execOpts.Groups {
			execOpts.Groups[i].Jobs = 1
		}
	}
	r, err := exec.Start(ctx, tasks, execOpts)
	if err != nil {
		return nil, err
	}
	opts.OnEvent(Event{Event: EventBuildStarted, Total: len(tasks)})
	sum := &Summary{Counts: map[string]int{}, Cache: map[string]int{}}
	warned := b.collect(r, sum, nil)
	sum.Duration = time.Since(start)
	if !opts.DryRun {
		b.saveStats(start, sum)
		b.saveNoop(plan, sum, warned)
		b.saveProof(plan, sum, warned)
	}
	ok := !sum.Failed && !sum.Canceled
	opts.OnEvent(Event{Event: EventBuildFinished, Counts: sum.Counts, OK: &ok,
		MS: sum.Duration.Milliseconds(), Duration: sum.Duration})
	return sum, nil
}

// collect reports the run's results as they come, counting them in sum,
// and waits for its end. It returns the labels of the rules that warned;
// each event also goes to also, if set.
func (b *builder) collect(r *exec.Run, sum *Summary, also func(Event)) (warned []string) {
	for res := range r.Results() {
		ev := b.event(res)
		sum.count(ev)
		if ev.Status == "warn" {
			warned = append(warned, ev.Label)
		}
		switch res.Status {
		case exec.StatusFailed, exec.StatusTimeout:
			sum.Failed = true
		case exec.StatusCanceled:
			sum.Canceled = true
		}
		if also != nil {
			also(ev)
		}
		b.opts.OnEvent(ev)
	}
	r.Wait()
	return warned
}

// scratchDir makes the build's directory for channel files and captured
// output under .pex/tmp.
func scratchDir(root string) (string, error) {
	dir := filepath.Join(root, ".pex", "tmp")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return "", fmt.Errorf("cannot create %s: %v", dir, err)
	}
	return os.MkdirTemp(dir, "build-")
}

type builder struct {
	opts   Options
	cache  *Cache
	keys   *keys
	tmp    string
	ids    int
	byTask map[*exec.Task]*graph.Target
	// clean are the rules the stat-only check found no change reaches
	// (see noop.go); they are settled from their state entries.
	clean map[*graph.Target]bool
	// stampID and stampKey identify the plan's no-op stamp (noop.go).
	stampID  string
	stampKey cache.Digest
	// files are the plan's files, when a no-op answered by the stamp
	// listed them (noop.go), for the proof (proof.go).
	files []string
	// shared is set when a rule started with or left shared values
	// (proof rules cannot carry them, see patch.go).
	shared atomic.Bool
	// uncached is set when a rule's result was not recorded because a
	// file it read changed while it ran: no proof or stamp may then say
	// the build is up to date.
	uncached atomic.Bool
	// fileClock, opened on first use, tells when the build and its
	// depfile rules start (see keys.consistent, discoveredInputs).
	fileClock     *cache.FileClock
	fileClockOnce sync.Once
}

// vouchable reports whether the build may leave an up-to-date proof or
// stamp behind, as far as what it read goes: no rule's result went
// unrecorded because a file changed while it ran, and no file changed
// after the rules reading it ran (see keys.consistent).
func (b *builder) vouchable() bool {
	return !b.uncached.Load() && b.keys.consistent()
}

// removeScratch removes the build's scratch directory.
func (b *builder) removeScratch() { os.RemoveAll(b.tmp) }

// closeClock closes the build's file clock, if it was opened.
func (b *builder) closeClock() {
	if b.fileClock != nil {
		b.fileClock.Close()
	}
}

// clock returns the build's file clock, whose marker is .pex/clock; nil
// (which answers early, to be safe) if it cannot be opened.
func (b *builder) clock() *cache.FileClock {
	b.fileClockOnce.Do(func() {
		b.fileClock, _ = cache.OpenFileClock(filepath.Join(cache.StateDir(b.opts.Root), "clock"))
	})
	return b.fileClock
}

// ruleResult is what a rule's task returns as its value.
type ruleResult struct {
	output string
	cache  string // hit restored miss
	code   *int
	dry    bool     // dry run: it would run (or be restored)
	why    []string // why it ran
	note   string   // why its result was not cached, if it was not
}

func (b *builder) ruleFunc(t *graph.Target) exec.Func {
	b.ids++
	id := b.ids
	return func(ctx context.Context, shared map[string]any, _ map[string]any) (any, error) {
		defer func() {
			if len(shared) > 0 {
				b.shared.Store(true)
			}
		}()
		rr := &ruleResult{cache: "miss"}
		if b.clean[t] {
			if e, ok := b.cache.state.Outcome(t.Label.String()); ok {
				rr.cache = "hit"
				replay(ctx, shared, &e.Record)
				b.keys.settle(t, e.Key, e.Record.Outputs)
				return rr, nil
			}
		}
		key, parts, reads, err := b.keys.key(t, shared)
		if err != nil {
			b.cache.forget(t)
			return rr, err
		}
		if t.Cache && !b.opts.NoCache {
			if v, rec := b.cache.check(t, key, b.opts.DryRun, b.keys.digest); v != mustRun {
				rr.cache = "hit"
				if v == restored || v == restore {
					rr.cache, rr.dry = "restored", v == restore
				}
				replay(ctx, shared, rec)
				b.keys.useDiscovered(rec.Discovered)
				b.keys.settle(t, key, rec.Outputs)
				return rr, nil
			}
		}
		if b.opts.DryRun {
			rr.dry, rr.why = true, b.cache.reasons(t, key, parts)
			if deps := b.keys.dirtyDeps(t); len(deps) > 0 {
				rr.why = []string{"it needs " + strings.Join(deps, ", ") + ", which would run first"}
			}
			b.keys.settleDirty(t) // dependents cannot know what it will produce
			return rr, nil
		}
		if b.opts.Verbose {
			rr.why = b.cache.reasons(t, key, parts)
		}
		known, seq := b.knownInputs(t), b.keys.settledSoFar()
		o := &outcome{}
		for _, out := range t.OutFiles {
			b.cache.memo.Forget(b.cache.abs(out)) // the command rewrites it
		}
		if t.Cmd != "" {
			c := &command{root: b.opts.Root, tmp: b.tmp, id: id, t: t, hostEnv: b.opts.HostEnv, shared: shared,
				srcs: srcFiles(b.opts.Graph, t), procs: b.opts.Procs}
			if t.Depfile != "" {
				c.clock = b.clock()
			}
			o, err = c.run(ctx)
			if o != nil {
				rr.output = string(o.output)
			}
			var ae *ActionError
			if errors.As(err, &ae) {
				code := ae.ExitCode
				rr.code = &code
			}
			if err != nil {
				b.cache.forget(t)
				return rr, err
			}
		}
		for _, f := range o.findings {
			exec.Report(ctx, f)
		}
		for k, v := range o.shared {
			shared[k] = v
		}
		status := "ok"
		if len(o.findings) > 0 {
			status = "warn"
		}
		rec, note, err := b.recordRun(t, key, parts, o, status, reads, known, seq)
		if err != nil {
			b.cache.forget(t)
			return rr, &ActionError{Label: t.Label, ExitCode: -1, Msg: err.Error()}
		}
		if note != "" {
			rr.note = note + "; its result is not cached"
			b.uncached.Store(true)
		}
		b.keys.settle(t, key, rec.Outputs)
		return rr, nil
	}
}

// recordRun records what a run of t produced (see Cache.record), unless a
// file the command read changed while it ran: then note says which, and
// nothing is recorded.
func (b *builder) recordRun(t *graph.Target, key cache.Digest, parts cache.Parts, o *outcome, status string,
	reads []read, known map[string]read, seq int) (*cache.Record, string, error) {
	note := ""
	if t.Cmd != "" && t.Cache {
		note = b.changedWhileRunning(t, reads)
	}
	var disc []cache.Item
	if t.Depfile != "" {
		var dnote string
		var err error
		if disc, dnote, err = b.discoveredInputs(t, reads, known, o.started, seq); err != nil {
			return nil, "", err
		}
		if note == "" && t.Cache {
			note = dnote
		}
		b.keys.useDiscovered(disc)
	}
	rec, snote, err := b.cache.record(t, key, parts, o, status, t.Cache && note == "", disc)
	if note == "" {
		note = snote
	}
	return rec, note, err
}

// replay gives a rule that did not run what its recorded run reported.
func replay(ctx context.Context, shared map[string]any, rec *cache.Record) {
	for _, f := range rec.Findings {
		exec.Report(ctx, f)
	}
	for _, p := range rec.Shared {
		shared[p.Key] = p.Value
	}
}

// event turns an exec result into a rule event.
func (b *builder) event(res *exec.Result) Event {
	t := b.byTask[res.Task]
	ev := Event{
		Event:    EventRule,
		Label:    res.Task.Name,
		Status:   res.Status.String(),
		Cache:    "none",
		Duration: res.Duration(),
		MS:       res.Duration().Milliseconds(),
		Findings: res.Findings,
		Reason:   res.Reason,
		Cmd:      t.Cmd,
		Test:     t.HasTag("test"),
		Target:   t,
	}
	if rr, ok := res.Value.(*ruleResult); ok {
		ev.Cache, ev.Output, ev.ExitCode, ev.DryRun, ev.Why, ev.Note = rr.cache, rr.output, rr.code, rr.dry, rr.why, rr.note
	}
	switch res.Status {
	case exec.StatusFailed:
		ev.Reason = res.Err.Error()
	case exec.StatusTimeout:
		ev.Reason = fmt.Sprintf("timed out after %s (its timeout); its processes were killed", t.Timeout)
	case exec.StatusCanceled:
		ev.Status = "skipped"
		if res.Start.IsZero() {
			ev.Reason = "interrupted before it started"
		} else {
			ev.Status = "failed"
			ev.Reason = "interrupted"
		}
	}
	if res.Start.IsZero() {
		ev.Cache = "none"
	}
	return ev
}

// srcFiles returns a rule's srcs as paths relative to its package, in the
// order listed; a label naming a rule stands for that rule's outputs.
func srcFiles(g *graph.Graph, t *graph.Target) []string {
	out := make([]string, 0, len(t.Srcs))
	pkg := t.Label.Pkg
	for _, s := range t.Srcs {
		if !strings.HasPrefix(s, "//") && !strings.HasPrefix(s, ":") {
			out = append(out, s)
			continue
		}
		l, err := graph.ParseLabel(s, pkg)
		if err != nil {
			continue
		}
		files := []string{l.Path()}
		if r, ok := g.Lookup(l); ok && len(r.OutFiles) > 0 {
			files = r.OutFiles
		}
		for _, f := range files {
			out = append(out, relTo(pkg, f))
		}
	}
	return out
}

// relTo returns the workspace-relative path p relative to package pkg.
func relTo(pkg, p string) string {
	if pkg == "" {
		return p
	}
	if strings.HasPrefix(p, pkg+"/") {
		return p[len(pkg)+1:]
	}
	up := strings.Repeat("../", strings.Count(pkg, "/")+1)
	return path.Clean(up + p)
}

// saveStats records the build's totals for pex cache stats.
func (b *builder) saveStats(start time.Time, sum *Summary) {
	st := cache.BuildStats{Start: start, Duration: sum.Duration,
		Failed: sum.Counts["failed"] + sum.Counts["timeout"], Skipped: sum.Counts["skipped"]}
	st.Hits, st.Restored, st.Misses = sum.Cache["hit"], sum.Cache["restored"], sum.Cache["miss"]
	b.cache.state.SetLastBuild(st)
}

func (s *Summary) count(ev Event) {
	s.Counts[ev.Status]++
	if ev.Status == "ok" || ev.Status == "warn" {
		s.Cache[ev.Cache]++
	}
}

// replayNoop reports an all-hit build found by the no-op check.
func (b *builder) replayNoop(start time.Time, events []Event) *Summary {
	b.opts.OnEvent(Event{Event: EventBuildStarted, Total: len(events)})
	sum := &Summary{Counts: map[string]int{}, Cache: map[string]int{}}
	for _, ev := range events {
		sum.count(ev)
		b.opts.OnEvent(ev)
	}
	sum.Duration = time.Since(start)
	ok := true
	b.opts.OnEvent(Event{Event: EventBuildFinished, Counts: sum.Counts, OK: &ok,
		MS: sum.Duration.Milliseconds(), Duration: sum.Duration})
	b.saveStats(start, sum)
	return sum
}
