// This file runs the dirty rules of a check through the engine: it
// decodes them and the rules they need, settles those that are up to date
// from their rows, makes one exec task per dirty rule, reports the rest up
// to date, and, as each rule settles, records its row; at the end it
// writes back to the file table what the build learned.

package builder

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pex-build/pex/cache"
	"github.com/pex-build/pex/exec"
	"github.com/pex-build/pex/graph"
	"github.com/pex-build/pex/internal/db"
	"github.com/pex-build/pex/starlark"
)

type builder struct {
	opts  Request
	root  string
	db    *db.DB
	store *cache.Store
	memo  *cache.Memo
	keys  *keys
	tmp   string
	now   func() time.Time
	run   Runner

	w       *Workspace
	ids     map[*graph.Target]db.RuleID
	byTask  map[*exec.Task]*graph.Target
	running map[*graph.Target]bool       // the rules with a task
	shared  map[db.RuleID]map[string]any // what up-to-date rules pass on, by rule
	fileIDs map[string]db.FileID         // see intern
	n       atomic.Int32
	mu      sync.Mutex // guards shared
	// dbMu serialises the workers' use of the database (see row).
	dbMu    sync.Mutex
	written []db.RuleID // rules whose rows this build set or deleted; guarded by dbMu
	// uncached is set when a rule's result was not recorded because a
	// file it read changed while it ran.
	uncached atomic.Bool
	// since is when the build started, as the file clock tells it.
	since         int64
	fileClock     *cache.FileClock
	fileClockOnce sync.Once
	ctx           context.Context
	whole         *graph.Graph // the whole graph, when the build has it
	regen         regen        // what dynamic rules generated
	// late are the rules dynamic rules added while the build runs (see
	// dynamic.go); lateMu guards them.
	lateMu sync.Mutex
	late   lateRules
	plan   *Plan
	inPlan map[db.RuleID]bool // the rules the check found up to date or dirty; set with dynamic rules only
	// actionRunner runs the build's Starlark actions; made on first use.
	actionRunner *starlark.Actions
	actionsOnce  sync.Once
}

// ruleResult is what a rule's task returns as its value.
type ruleResult struct {
	output string
	cache  string // hit restored miss
	code   *int
	dry    bool     // dry run: it would run (or be restored)
	why    []string // why it ran
	note   string   // why its result was not cached, if it was not
	// added is how many rules it added to the build (a dynamic rule),
	// less those it retired.
	added int
}

// run runs st's dirty rules (step 5 of Build), and what dynamic rules
// generate meanwhile (see dynamic.go).
func (w *Workspace) run(ctx context.Context, req Request, st *step, sum *Summary) error {
	d, c := st.d, st.check
	b := &builder{opts: req, root: w.Root, db: d, store: w.store, memo: cache.NewMemoAt(w.now), now: w.now,
		run: w.runner, w: w, ids: map[*graph.Target]db.RuleID{}, shared: map[db.RuleID]map[string]any{},
		ctx: ctx, whole: st.graph}
	b.since = b.clock().Now()
	defer b.closeClock()
	targets, g, err := b.decode(c.Dirty, st.graph)
	if err != nil {
		return err
	}
	b.keys = newKeys(w.Root, b.memo, g, req.HostEnv)
	b.keys.graphFor = b.graphFor
	dirty := make(map[db.RuleID]bool, len(c.Dirty))
	for _, r := range c.Dirty {
		dirty[r] = true
	}
	// What the dirty rules need that is up to date settles from its row.
	for t, r := range b.ids {
		if !dirty[r] {
			if row, ok := d.Row(r); ok {
				b.keys.settle(t, row.Key, row.Outputs)
			}
		}
	}
	rules := make([]*graph.Target, len(c.Dirty))
	for i, r := range c.Dirty {
		rules[i] = targets[r]
	}
	b.seedMemo(c.Dirty)
	if b.tmp, err = scratchDir(w.layout); err != nil {
		return err
	}
	defer os.RemoveAll(b.tmp)
	plan := &Plan{Rules: rules, providers: map[string][]*graph.Target{}}
	for _, t := range rules {
		for _, tok := range t.Provides {
			plan.providers[tok] = append(plan.providers[tok], t)
		}
	}
	b.plan = plan
	tasks := plan.tasks(b.ruleFunc)
	b.byTask = make(map[*exec.Task]*graph.Target, len(tasks))
	b.running = make(map[*graph.Target]bool, len(tasks))
	for i, task := range tasks {
		b.byTask[task] = rules[i]
		b.running[rules[i]] = true
		// What is up to date has settled: wait only for what is not.
		task.Requires = slices.DeleteFunc(task.Requires, func(r any) bool {
			switch r := r.(type) {
			case ruleToken:
				return !dirty[b.ids[r]]
			case tokenName:
				return len(plan.providers[string(r)]) == 0
			}
			return false
		})
	}
	opts := exec.Options{Workers: req.Jobs, KeepGoing: req.KeepGoing, Groups: groups(d.Groups(), rules)}
	if slices.ContainsFunc(rules, func(t *graph.Target) bool { return t.Dynamic }) {
		// What they generate may use any group.
		opts.Groups = opts.Groups[:0]
		for _, gr := range d.Groups() {
			opts.Groups = append(opts.Groups, exec.Group{Name: gr.Name, Jobs: gr.Jobs, Priority: gr.Priority})
		}
		b.inPlan = make(map[db.RuleID]bool, len(c.Plan))
		for _, id := range c.Plan {
			b.inPlan[id] = true
		}
	}
	if req.DryRun {
		opts.Workers = 1 // the order printed is a valid schedule
		for i := range opts.Groups {
			opts.Groups[i].Jobs = 1
		}
	}
	req.OnEvent(Event{Event: EventBuildStarted, Total: len(c.Plan)})
	for i, id := range c.Plan {
		if !dirty[id] {
			replayed(req, d.Replay(c, i), sum)
		}
	}
	r, err := exec.Start(ctx, tasks, opts)
	if err != nil {
		return err
	}
	b.collect(r, sum, len(c.Plan))
	if req.DryRun {
		return nil
	}
	b.writeFiles()
	if b.regen.changed() {
		// The graph holds what the dynamic rules generated now.
		g, err := b.newGraph()
		if err != nil {
			// What the generators generated does not fit together (a
			// cycle through two of them): keep none of it, and let them
			// run again next time.
			req.OnNote(fmt.Sprintf("the rules dynamic rules generated do not fit together, and are dropped (their generators run again next time): %v", err))
			sum.Failed = true
			if g, err = b.withoutGenerated(); err != nil {
				return err
			}
		}
		d.SetGraph(g)
		if err := d.AddEvalFiles(b.actions().Files(), w.fs); err != nil {
			return err
		}
		sum.Regenerated = true
		w.selectAgain(req, st, g, sum, !sum.Failed && !sum.Canceled && !b.uncached.Load() && b.consistent())
		return nil
	}
	if !sum.Failed && !sum.Canceled && !b.uncached.Load() && b.consistent() {
		d.MarkVerified(st.req, c.Plan)
	}
	return nil
}

// selectAgain selects the request's rules in g, the graph dynamic rules
// changed (which drops requests): sum's roots are then those of g (the
// tests generated among them). If verify, it checks them and vouches
// for them if none is dirty, so that the next build is a verified no-op.
func (w *Workspace) selectAgain(req Request, st *step, g *graph.Graph, sum *Summary, verify bool) {
	d := st.d
	nreq, err := w.selectRequest(d, &step{d: d, key: st.key, graph: g}, req)
	if err != nil {
		return
	}
	sum.Roots = roots(d, nreq, req)
	if !verify {
		return
	}
	if c, err := d.Check(nreq, w.fs, req.HostEnv); err == nil && len(c.Dirty) == 0 {
		d.MarkVerified(nreq, c.Plan)
	}
}

// roots returns the labels of the request's roots; for pex test, of the
// tests among them (it builds the dynamic rules asked for too).
func roots(d *db.DB, r *db.Request, req Request) []string {
	var out []string
	filter := req.Tests && d.HasDynamic() // else every root is a test
	for _, id := range r.Roots {
		if !filter || d.IsTest(id) {
			out = append(out, d.Label(id))
		}
	}
	return out
}

// replayed reports a rule up to date.
func replayed(req Request, ev db.Replayed, sum *Summary) {
	e := Event{Event: EventRule, Label: ev.Label, Status: ev.Status, Cache: "hit", Findings: ev.Findings, Test: ev.Test,
		GeneratedBy: ev.GeneratedBy}
	sum.count(e)
	req.OnEvent(e)
}

// decode decodes the rules dirty and the rules they need (dependencies
// and providers), links their DepTargets, and returns them with a graph
// of them all (for what reads labels: Reads, srcFiles). When the build
// has the whole graph at hand (it evaluated the BUILD files, or decoded
// it to select the rules), its targets are taken instead: a second copy
// of every rule would double a clean build's memory.
func (b *builder) decode(dirty []db.RuleID, whole *graph.Graph) (map[db.RuleID]*graph.Target, *graph.Graph, error) {
	d := b.db
	targets := map[db.RuleID]*graph.Target{}
	if whole != nil {
		index := make(map[*graph.Target]db.RuleID, len(whole.Targets))
		for i, t := range whole.Targets {
			index[t] = db.RuleID(i)
		}
		for _, r := range dirty {
			t := whole.Targets[r]
			targets[r], b.ids[t] = t, r
			for _, dt := range t.DepTargets {
				targets[index[dt]], b.ids[dt] = dt, index[dt]
			}
		}
		return targets, whole, nil
	}
	get := func(r db.RuleID) (*graph.Target, error) {
		if t, ok := targets[r]; ok {
			return t, nil
		}
		t, err := d.Target(r)
		if err != nil {
			return nil, err
		}
		targets[r], b.ids[t] = t, r
		return t, nil
	}
	for _, r := range dirty {
		t, err := get(r)
		if err != nil {
			return nil, nil, err
		}
		for _, dep := range d.Deps(r) {
			dt, err := get(dep)
			if err != nil {
				return nil, nil, err
			}
			t.DepTargets = append(t.DepTargets, dt)
		}
	}
	g := graph.New()
	ordered := make([]db.RuleID, 0, len(targets))
	for r := range targets {
		ordered = append(ordered, r)
	}
	slices.Sort(ordered)
	for _, r := range ordered {
		if err := g.Add(targets[r]); err != nil {
			return nil, nil, err
		}
	}
	return targets, g, nil
}

// seedMemo memoises what the file table vouches for of the dirty rules'
// files, so that a file nothing changed is not hashed again.
func (b *builder) seedMemo(dirty []db.RuleID) {
	for _, r := range dirty {
		for _, id := range b.db.RuleFiles(r) {
			if f := b.db.File(id); !f.Racy && f.Stat.Kind == cache.File {
				b.memo.Seed(abs(b.root, f.Path), f.Stat, f.Digest)
			}
		}
	}
}

// collect reports the run's results as they come, counting them in sum,
// and waits for its end.
// total is how many rules the build started with; it grows as dynamic
// rules add rules, and a new build_started event says so.
func (b *builder) collect(r *exec.Run, sum *Summary, total int) {
	for res := range r.Results() {
		rr, _ := res.Value.(*ruleResult)
		if b.regen.isRetired(b.taskTarget(res.Task)) {
			continue // its generator generated other rules, which replace it
		}
		if rr != nil && rr.added != 0 {
			total += rr.added
			b.opts.OnEvent(Event{Event: EventBuildStarted, Total: total})
		}
		ev := b.event(res)
		sum.count(ev)
		switch res.Status {
		case exec.StatusFailed, exec.StatusTimeout:
			sum.Failed = true
		case exec.StatusCanceled:
			sum.Canceled = true
		}
		b.opts.OnEvent(ev)
	}
	r.Wait()
}

// scratchDir makes the build's directory for channel files and captured
// output.
func scratchDir(l db.Layout) (string, error) {
	if err := os.MkdirAll(l.Tmp(), 0o777); err != nil {
		return "", fmt.Errorf("cannot create %s: %v", l.Tmp(), err)
	}
	return os.MkdirTemp(l.Tmp(), "build-")
}

// closeClock closes the build's file clock, if it was opened.
func (b *builder) closeClock() {
	if b.fileClock != nil {
		b.fileClock.Close()
	}
}

// clock returns the build's file clock; nil (which answers early, to be
// safe) if it cannot be opened.
func (b *builder) clock() *cache.FileClock {
	b.fileClockOnce.Do(func() {
		b.fileClock, _ = cache.OpenFileClock(b.w.layout.Clock())
	})
	return b.fileClock
}

func (b *builder) ruleFunc(t *graph.Target) exec.Func {
	id := int(b.n.Add(1))
	return func(ctx context.Context, shared map[string]any, _ map[string]any) (any, error) {
		if b.regen.isRetired(t) {
			return &ruleResult{}, nil // collect reports nothing of it
		}
		r := b.id(t)
		b.inherit(t, shared)
		rr := &ruleResult{cache: "miss"}
		before := "" // what t generated last, which the graph holds
		if t.Dynamic {
			if row, ok := b.row(r); ok {
				before = row.Generated
			}
		}
		key, parts, reads, err := b.keys.key(t, shared)
		if err != nil {
			b.deleteRow(r)
			return rr, err
		}
		if t.Cache && !b.opts.NoCache {
			if v, rec := b.check(t, r, key); v != mustRun {
				rr.cache = "hit"
				if v == restored || v == restore {
					rr.cache, rr.dry = "restored", v == restore
				}
				replay(ctx, shared, rec, t.Label.String())
				if t.Dynamic && v != restore {
					if rr.added, err = b.generated(ctx, t, before, rec.Generated); err != nil {
						b.deleteRow(r)
						return rr, &ActionError{Label: t.Label, ExitCode: -1, Msg: err.Error()}
					}
				}
				if v != restore {
					b.setRow(t, key, rec, reads)
				}
				b.keys.settle(t, key, rec.Outputs)
				return rr, nil
			}
		}
		if b.opts.DryRun {
			rr.dry, rr.why = true, b.reasons(t, r, key, parts)
			if deps := b.keys.dirtyDeps(t); len(deps) > 0 {
				rr.why = []string{"it needs " + strings.Join(deps, ", ") + ", which would run first"}
			}
			b.keys.settleDirty(t) // dependents cannot know what it will produce
			return rr, nil
		}
		if b.opts.Verbose {
			rr.why = b.reasons(t, r, key, parts)
		}
		known, seq := b.knownInputs(t, r), b.keys.settledSoFar()
		o := &outcome{}
		for _, out := range t.OutFiles {
			b.memo.Forget(abs(b.root, out)) // the command rewrites it
		}
		switch {
		case t.Action != nil:
			o, err = b.runAction(ctx, t, shared, id)
			if o != nil {
				rr.output = string(o.output)
			}
			var ae *ActionError
			if errors.As(err, &ae) && ae.ExitCode >= 0 {
				code := ae.ExitCode
				rr.code = &code
			}
			if err != nil {
				b.deleteRow(r)
				return rr, err
			}
		case t.Cmd != "":
			if err := checkShared(t, shared); err != nil {
				b.deleteRow(r)
				return rr, err
			}
			c := &command{root: b.root, tmp: b.tmp, id: id, t: t, hostEnv: b.opts.HostEnv, shared: shared,
				srcs: srcFiles(b.graphFor(t), t), procs: b.w.procs}
			if t.Depfile != "" {
				c.clock = b.clock()
			}
			o, err = b.run.run(ctx, c)
			if o != nil {
				rr.output = string(o.output)
			}
			var ae *ActionError
			if errors.As(err, &ae) {
				code := ae.ExitCode
				rr.code = &code
			}
			if err != nil {
				b.deleteRow(r)
				return rr, err
			}
		}
		if t.Dynamic {
			if rr.added, err = b.generated(ctx, t, before, o.generated); err != nil {
				b.deleteRow(r)
				return rr, &ActionError{Label: t.Label, ExitCode: -1, Msg: err.Error()}
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
			b.deleteRow(r)
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

// recordRun records what a run of t produced (see record), unless a file
// the command read changed while it ran: then note says which, and
// nothing is recorded.
func (b *builder) recordRun(t *graph.Target, key cache.Digest, parts cache.Parts, o *outcome, status string,
	reads []read, known map[string]read, seq int) (*cache.Record, string, error) {
	note := ""
	if (t.Cmd != "" || t.Action != nil) && t.Cache {
		note = b.changedWhileRunning(t, reads)
	}
	if note == "" {
		note = o.note
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
	}
	rec, stored, snote, err := b.record(t, key, parts, o, status, t.Cache && note == "", disc)
	if note == "" {
		note = snote
	}
	if err != nil {
		return nil, "", err
	}
	switch {
	case stored:
		b.setRow(t, key, rec, reads)
	case t.Dynamic && !t.Cache && note == "":
		// It always runs, but the graph holds what it generated: its row
		// says what that was.
		b.setRow(t, key, rec, reads)
	default:
		b.deleteRow(b.id(t))
	}
	return rec, note, nil
}

// setRow records t's row: the key it ran or was restored under, what it
// read, and the record of its run; its outputs, just checked or written,
// go into the file table at the end (writeFiles).
func (b *builder) setRow(t *graph.Target, key cache.Digest, rec *cache.Record, reads []read) {
	d, r := b.db, b.id(t)
	depIDs := make([]db.RuleID, len(t.DepTargets)) // before dbMu: b.id may take lateMu
	for i, dep := range t.DepTargets {
		depIDs[i] = b.id(dep)
	}
	b.dbMu.Lock()
	defer b.dbMu.Unlock()
	row := &db.Row{Key: key, Def: d.Def(r), Status: rec.Status, Findings: rec.Findings, Shared: rec.Shared,
		Outputs: rec.Outputs, Env: db.EnvDigest(t.EnvPassthrough, b.opts.HostEnv), Generated: rec.Generated}
	for _, rd := range reads {
		row.Read = append(row.Read, rd.digest)
	}
	for _, it := range rec.Discovered {
		row.Discovered = append(row.Discovered, db.Discovered{File: b.intern(it.Name), Digest: it.Digest})
	}
	for _, dep := range depIDs {
		var gen uint64
		if drow, ok := d.Row(dep); ok {
			gen = drow.Gen
		}
		row.DepGens = append(row.DepGens, gen)
	}
	d.SetRow(r, row)
	b.written = append(b.written, r)
}

// row, path and deleteRow are the database accessors the workers use:
// a DB is not safe for concurrent use.
func (b *builder) row(r db.RuleID) (*db.Row, bool) {
	b.dbMu.Lock()
	defer b.dbMu.Unlock()
	return b.db.Row(r)
}

func (b *builder) path(id db.FileID) string {
	b.dbMu.Lock()
	defer b.dbMu.Unlock()
	return b.db.File(id).Path
}

func (b *builder) label(r db.RuleID) string {
	b.dbMu.Lock()
	defer b.dbMu.Unlock()
	return b.db.Label(r)
}

func (b *builder) deleteRow(r db.RuleID) {
	b.dbMu.Lock()
	defer b.dbMu.Unlock()
	b.db.DeleteRow(r)
	b.written = append(b.written, r)
}

// inherit adds to shared what the up-to-date rules t needs pass on (those
// that run pass theirs through the engine): their recorded shared values,
// and what they received, transitively, the nearer winning.
func (b *builder) inherit(t *graph.Target, shared map[string]any) {
	for _, dep := range t.DepTargets {
		if b.isRunning(dep) {
			continue
		}
		for k, v := range b.passedOn(b.id(dep)) {
			if _, set := shared[k]; !set {
				shared[k] = v
			}
		}
	}
}

// passedOn returns what the up-to-date rule r passes on to its
// dependents: what it received from its own dependencies, then its own
// shared values over them.
func (b *builder) passedOn(r db.RuleID) map[string]any {
	b.mu.Lock()
	m, ok := b.shared[r]
	b.mu.Unlock()
	if ok {
		return m
	}
	m = map[string]any{}
	for _, dep := range b.db.Deps(r) {
		for k, v := range b.passedOn(dep) {
			m[k] = v
		}
	}
	if row, ok := b.row(r); ok {
		from := b.label(r)
		for _, p := range row.Shared {
			m[p.Key] = sharedValue(p.Value, from)
		}
	}
	b.mu.Lock()
	b.shared[r] = m
	b.mu.Unlock()
	return m
}

// replay gives a rule that did not run what its recorded run reported.
// label is the rule that recorded it.
func replay(ctx context.Context, shared map[string]any, rec *cache.Record, label string) {
	for _, f := range rec.Findings {
		exec.Report(ctx, f)
	}
	for _, p := range rec.Shared {
		shared[p.Key] = sharedValue(p.Value, label)
	}
}

// writeFiles writes back to the file table what the build learned: the
// files it hashed (memoised, or too recent to memoise), and the outputs
// of the rules it checked, as their rows have them.
func (b *builder) writeFiles() {
	d := b.db
	b.memo.Changes(func(p string, st cache.Stat, digest cache.Digest, ok bool) {
		id := b.intern(b.rel(p))
		if ok {
			d.SetFile(id, st, digest, false)
		} else {
			d.SetFile(id, cache.Stat{}, cache.Digest{}, false)
		}
	})
	b.keys.sources.Range(func(_, v any) bool {
		if r := v.(read); r.seen.Racy() {
			d.SetFile(b.intern(r.path), r.seen.Stat(), r.digest, true)
		}
		return true
	})
	now := b.now()
	for _, r := range b.written {
		row, ok := d.Row(r)
		if !ok {
			continue
		}
		for _, o := range row.Outputs {
			p := abs(b.root, o.Path)
			st := cache.StatPath(p)
			if o.IsLink() {
				st = cache.LstatPath(p)
			}
			d.SetFile(b.intern(o.Path), st, o.Digest, st.Recent(now))
		}
	}
}

// intern returns the file table's number for path: from the files of the
// rules this build decoded, which hold nearly every path it learns about,
// else from the database (whose index of every path is built on first
// use, a pass over the whole table). Callers hold dbMu or run alone.
func (b *builder) intern(path string) db.FileID {
	if b.fileIDs == nil {
		b.fileIDs = map[string]db.FileID{}
		for _, r := range b.ids {
			for _, f := range b.db.RuleFiles(r) {
				b.fileIDs[b.db.File(f).Path] = f
			}
		}
	}
	if id, ok := b.fileIDs[path]; ok {
		return id
	}
	id := b.db.Intern(path)
	b.fileIDs[path] = id
	return id
}

// consistent reports whether the files this build hashed are as they were
// when it began: a file saved meanwhile, after the rules reading it ran,
// was read with one content by some and is in the file table with
// another, so the request cannot be verified (see db.Request).
func (b *builder) consistent() bool {
	ok := true
	b.keys.sources.Range(func(_, v any) bool {
		ok = !cache.ChangedSince(abs(b.root, v.(read).path), b.since)
		return ok
	})
	return ok
}

// rel returns p relative to the workspace when it is inside it.
func (b *builder) rel(p string) string {
	if r, ok := strings.CutPrefix(p, b.root+string(os.PathSeparator)); ok {
		return path.Clean(strings.ReplaceAll(r, string(os.PathSeparator), "/"))
	}
	return p
}

// event turns an exec result into a rule event.
func (b *builder) event(res *exec.Result) Event {
	t := b.taskTarget(res.Task)
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
	if t.Generated() {
		ev.GeneratedBy = t.GeneratedBy.String()
	}
	if t.Action != nil {
		ev.Action = t.Action.String()
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
