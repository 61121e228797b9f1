// Package builder is pex's builder: it turns a request (a command, where
// it was run, its patterns) into a build of exactly the rules that need
// one. Every build takes the same steps:
//
//  1. open the workspace's database (internal/db);
//  2. stat what the saved evaluation read, and evaluate the BUILD files
//     again only if something changed;
//  3. find the request's rules (selecting them by pattern the first time,
//     or after an evaluation);
//  4. check them: stat their files once, in parallel, and mark dirty the
//     rules whose files, definition, variables or dependencies changed,
//     and what depends on them;
//  5. replay when nothing is dirty; otherwise run exactly the dirty rules
//     through the engine (exec), each through the same check, run and
//     record code (cache.go), the others reported up to date;
//  6. save the database.
//
// --json, -n, pex test, pex run and pex watch all take these steps; pex
// watch keeps the workspace, and so its database, open between builds.
package builder

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/pex-build/pex/cache"
	"github.com/pex-build/pex/graph"
	"github.com/pex-build/pex/internal/db"
)

// Request is what a command asks of a workspace.
type Request struct {
	// Command names what is asked ("build", "test", "run", "watch"): with
	// the directory and the patterns it identifies the request.
	Command                             string
	Patterns                            []string
	Set                                 map[string]string // --set values
	Tests                               bool              // keep only the rules tagged test among those selected
	Jobs                                int               // workers of the default group; < 1: number of CPUs
	KeepGoing, DryRun, Verbose, NoCache bool
	// NoWait fails at once, instead of waiting, when another pex holds the
	// workspace and the build has work to do.
	NoWait  bool
	HostEnv func(string) (string, bool) // os.LookupEnv if nil
	OnEvent func(Event)                 // every event, from one goroutine, in order
	// OnNote receives what pex tells besides events, without "pex: ":
	// that it waits, what was asked of services, and with Verbose why
	// the BUILD files were evaluated again and how the check went.
	OnNote func(string)
	// Changed, when not nil, is every path that changed since the last
	// build of this request in this process (pex watch saw them): a
	// verified request then stats only those.
	Changed []string
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
	Action   string        `json:"action,omitempty"` // an action rule's function, "//pkg:file.star%fn"
	Why      []string      `json:"why,omitempty"`    // why it ran (with -v or -n)
	// Note says why a rule that ran was not cached: a file it read
	// changed while it ran.
	Note   string `json:"note,omitempty"`
	Test   bool   `json:"test,omitempty"`
	DryRun bool   `json:"dry_run,omitempty"`
	// GeneratedBy is the dynamic rule that generated the rule.
	GeneratedBy string `json:"generated_by,omitempty"`

	Total  int            `json:"total,omitempty"`  // build_started: rules considered
	Counts map[string]int `json:"counts,omitempty"` // build_finished: rules by status
	OK     *bool          `json:"ok,omitempty"`     // build_finished

	Target *graph.Target `json:"-"` // set for rules that were checked, not replayed
}

// Summary is the outcome of a build.
type Summary struct {
	Counts   map[string]int // rules by status
	Cache    map[string]int // rules that ended ok or warn, by cache outcome
	Duration time.Duration
	Failed   bool // a rule failed or timed out
	Canceled bool // interrupted
	// Roots are the labels of the rules asked for, in rule order (for
	// pex test, the tests); Services the services named.
	Roots, Services []string
	// Evaluated says why the BUILD files were evaluated again, "" if not.
	Evaluated string
	// Files is how many files the check stat'ed, Changed how many had
	// changed, Dirty how many rules it found to build; Verified that rows
	// needed no checking (see db.Check), or why they did.
	Files, Changed, Dirty int
	Verified              bool
	Unverified            string
	// Regenerated says that dynamic rules changed the graph: what a
	// watcher holds of it is stale.
	Regenerated bool
}

func (s *Summary) count(ev Event) {
	s.Counts[ev.Status]++
	if ev.Status == "ok" || ev.Status == "warn" {
		s.Cache[ev.Cache]++
	}
}

// Build builds what req asks. Errors found before anything runs (a BUILD
// file error, a pattern that names nothing, a token no rule provides) are
// returned as errors; rule failures are in the events and the Summary.
func (w *Workspace) Build(ctx context.Context, req Request) (*Summary, error) {
	start := w.now()
	if req.HostEnv == nil {
		req.HostEnv = os.LookupEnv
	}
	if req.OnEvent == nil {
		req.OnEvent = func(Event) {}
	}
	if req.OnNote == nil {
		req.OnNote = func(string) {}
	}
	// Take the lock if it is free; else look without it, which answers an
	// up-to-date build while another pex (a pex watch) holds it.
	busy := w.lock(false, nil)
	if busy != nil && !errors.Is(busy, cache.ErrLocked) {
		return nil, busy
	}
	locked := busy == nil
	for {
		st, err := w.prepare(ctx, req, locked)
		if errors.Is(err, db.ErrDamaged) {
			// A part of the database read only now failed its checksum:
			// start again from an empty one, which takes the lock.
			damage := err
			st, err = nil, nil
			if locked {
				w.db.Reset(fmt.Sprintf("ignored %v: every rule is checked again", damage))
				st, err = w.prepare(ctx, req, locked)
			}
		}
		if err != nil {
			return nil, err
		}
		if st != nil {
			return w.finish(ctx, req, st, start)
		}
		// There is work, which needs the lock: wait for it, then look
		// again at what its holder left.
		if req.NoWait {
			return nil, fmt.Errorf("%v (wait for it, or drop --no-wait)", busy)
		}
		if err := w.lock(true, func() { req.OnNote("waiting for another pex process in this workspace to finish...") }); err != nil {
			return nil, err
		}
		locked = true
		w.db = nil // its holder may have saved it: read it again
	}
}

// step is a build prepared: the database, the request's entry and plan,
// what the check found, and the graph if one is at hand.
type step struct {
	d         *db.DB
	key       cache.Digest
	req       *db.Request
	check     *db.Check
	graph     *graph.Graph // the whole graph, when it was evaluated or decoded
	evaluated string
}

// prepare takes steps 1 to 4. Without the lock it returns nil when the
// build has anything to do but replay.
func (w *Workspace) prepare(ctx context.Context, req Request, locked bool) (*step, error) {
	d, err := w.database(!locked)
	if err != nil {
		return nil, err
	}
	if d.Note != "" && locked {
		req.OnNote("note: " + d.Note)
		d.Note = ""
	}
	st := &step{d: d}
	if locked {
		if st.graph, st.evaluated, err = w.evaluate(ctx, d, req.Set, req.Jobs); err != nil {
			return nil, err
		}
	} else if d.Evaluated(shape(req.Set), w.fs) != "" {
		return nil, nil
	}
	st.key = db.RequestKey(req.Command, w.Cwd, fmt.Sprint(req.Patterns), fmt.Sprint(req.Tests))
	var ok bool
	if st.req, ok = d.Request(st.key); !ok {
		if !locked {
			return nil, nil
		}
		if st.req, err = w.selectRequest(d, st, req); err != nil {
			return nil, err
		}
	}
	if req.Changed != nil && st.req.Verified == d.Stats().ContentGen {
		st.check, err = d.CheckPaths(st.req, req.Changed, w.fs, req.HostEnv)
	} else {
		st.check, err = d.Check(st.req, w.fs, req.HostEnv)
	}
	if err != nil {
		return nil, err
	}
	if req.NoCache || req.DryRun && len(st.check.Dirty) > 0 {
		st.check.Dirty = st.check.Plan // -n checks every rule: it says why each would run
	}
	if !locked && len(st.check.Dirty) > 0 {
		return nil, nil
	}
	return st, nil
}

// selectRequest selects the rules req's patterns name in the whole graph
// and records them as the request's.
func (w *Workspace) selectRequest(d *db.DB, st *step, req Request) (*db.Request, error) {
	if st.graph == nil {
		g, err := d.Graph()
		if err != nil {
			return nil, err
		}
		st.graph = g
	}
	targets, named, err := w.Select(st.graph, req.Patterns)
	if err != nil {
		return nil, err
	}
	index := make(map[*graph.Target]db.RuleID, len(st.graph.Targets))
	for i, t := range st.graph.Targets {
		index[t] = db.RuleID(i)
	}
	// A dynamic rule asked for brings what it generated.
	gens := map[graph.Label]bool{}
	for _, t := range targets {
		if t.Dynamic {
			gens[t.Label] = true
		}
	}
	if len(gens) > 0 {
		generated := generatedBy(st.graph, gens)
		for _, t := range st.graph.Targets {
			if generated[t.Label] {
				targets = append(targets, t)
			}
		}
	}
	var roots, services []db.RuleID
	for _, t := range targets {
		// pex test builds the dynamic rules asked for: they may generate
		// tests.
		if !req.Tests || t.HasTag("test") || t.Dynamic {
			roots = append(roots, index[t])
		}
	}
	if !req.Tests {
		for _, t := range named {
			services = append(services, index[t])
		}
	}
	if req.Tests && len(roots) == 0 {
		return nil, fmt.Errorf("no rule tagged \"test\" among %s", patternsText(req.Patterns))
	}
	slices.Sort(roots)
	roots = slices.Compact(roots)
	if err := checkTokens(st.graph, roots); err != nil {
		return nil, err
	}
	return d.SetRequest(st.key, roots, services), nil
}

func patternsText(args []string) string {
	if len(args) == 0 {
		return "the rules at and below the current directory"
	}
	return fmt.Sprint(args)
}

// checkTokens fails, as planning would, when a rule the roots need
// requires a token no rule provides.
func checkTokens(g *graph.Graph, roots []db.RuleID) error {
	selected := make([]*graph.Target, len(roots))
	for i, r := range roots {
		selected[i] = g.Targets[r]
	}
	_, err := NewPlan(g, selected)
	return err
}

// finish takes steps 5 and 6: replay, or run the dirty rules, then save.
func (w *Workspace) finish(ctx context.Context, req Request, st *step, start time.Time) (*Summary, error) {
	d, c := st.d, st.check
	sum := &Summary{Counts: map[string]int{}, Cache: map[string]int{}, Evaluated: st.evaluated,
		Files: c.Files, Changed: c.Changed, Dirty: len(c.Dirty), Verified: c.Verified, Unverified: c.Unverified}
	sum.Roots = roots(d, st.req, req)
	for _, r := range st.req.Services {
		sum.Services = append(sum.Services, d.Label(r))
	}
	if len(sum.Services) > 0 {
		req.OnNote("note: " + ServiceNote(sum.Services))
	}
	if req.Verbose {
		w.explainCheck(req, sum)
	}
	if len(c.Dirty) == 0 {
		w.replay(req, st, sum)
	} else if err := w.run(ctx, req, st, sum); err != nil {
		return nil, err
	}
	sum.Duration = w.now().Sub(start)
	if !req.DryRun && w.unlock != nil {
		if len(c.Dirty) > 0 {
			d.SetLastBuild(db.BuildStats{StartUnixNano: start.UnixNano(), DurationNano: int64(sum.Duration),
				Hits: sum.Cache["hit"], Restored: sum.Cache["restored"], Misses: sum.Cache["miss"],
				Failed: sum.Counts["failed"] + sum.Counts["timeout"], Skipped: sum.Counts["skipped"]})
		}
		if d.Modified() {
			if err := d.Save(); err != nil {
				return nil, err
			}
		}
	}
	ok := !sum.Failed && !sum.Canceled
	req.OnEvent(Event{Event: EventBuildFinished, Counts: sum.Counts, OK: &ok,
		MS: sum.Duration.Milliseconds(), Duration: sum.Duration})
	return sum, nil
}

// explainCheck says, with -v, why the BUILD files were evaluated and how
// the check went.
func (w *Workspace) explainCheck(req Request, sum *Summary) {
	if sum.Evaluated != "" {
		req.OnNote("evaluated the BUILD files: " + sum.Evaluated)
	}
	switch {
	case sum.Dirty == 0 && sum.Verified:
		req.OnNote(fmt.Sprintf("up to date: the %d files and directories the last build depended on are unchanged", sum.Files))
	case sum.Verified:
		req.OnNote(fmt.Sprintf("%d changed files reached %d rules; the build database vouched for the rest", sum.Changed, sum.Dirty))
	default:
		req.OnNote(fmt.Sprintf("checked every rule against the database (%s): %d to build", sum.Unverified, sum.Dirty))
	}
}

// replay reports every rule of the plan up to date, as its row says.
func (w *Workspace) replay(req Request, st *step, sum *Summary) {
	d := st.d
	req.OnEvent(Event{Event: EventBuildStarted, Total: len(st.check.Plan)})
	for i := range st.check.Plan {
		replayed(req, d.Replay(st.check, i), sum)
	}
	if w.unlock != nil && !req.DryRun {
		d.MarkVerified(st.req, st.check.Plan)
	}
}
