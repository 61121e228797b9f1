// Package session is pex watch: build, then rebuild what each batch of
// changes affects, as the user saves; start the services among the
// targets and restart them when what they are made of changes. One
// goroutine — the loop here — owns the loaded workspace, the scope and
// the services; the build, the Watcher and the services' output run on
// their own goroutines and talk to it through channels. The workspace,
// and with it the build database, stays open and locked between builds,
// which are told what changed.
package session

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pex-build/pex/graph"
	"github.com/pex-build/pex/internal/builder"
	"github.com/pex-build/pex/internal/status"
	"github.com/pex-build/pex/internal/watch"
)

// Options configure Run.
type Options struct {
	// Workspace is where to watch; Run holds its lock until it returns.
	Workspace *builder.Workspace
	// Request is what each build asks: its patterns, flags and values.
	Request        builder.Request
	Stdout, Stderr io.Writer
	JSON           bool
	Debounce       time.Duration // how long files must be quiet before a build
	Grace          time.Duration // between SIGTERM and SIGKILL to a service
	Poll           bool          // poll directories instead of inotify
	// InterruptCode is the exit status for an interruption (130, or 143
	// for SIGTERM).
	InterruptCode func() int
}

// ExitError ends a watch with an exit status.
type ExitError struct {
	Code int
	Msg  string
}

func (e *ExitError) Error() string { return e.Msg }

// session is the state of one pex watch, owned by its loop.
type session struct {
	o       Options
	ws      *builder.Workspace
	req     builder.Request
	watcher *watch.Watcher
	out     *watchOutput
	sup     *supervisor
	roots   []string // package paths the patterns cover recursively

	scope  atomic.Pointer[scope] // read by the Watcher's goroutine
	hungUp atomic.Bool           // SIGHUP ended the watch

	load     *builder.Loaded // the last load
	listed   map[string]bool // what its globbed directories held (listGlobDirs)
	graph    *graph.Graph    // the last good graph; nil while a BUILD file is broken
	selected []*graph.Target // what is built: the selection and what services need
	services []*graph.Target
}

// changes accumulates batches until a build takes them.
type changes struct {
	paths    []string // absolute, relevant
	reload   bool
	overflow bool
}

func (c *changes) any() bool { return len(c.paths) > 0 || c.reload || c.overflow }

// Run watches until interrupted, and returns why it stopped.
func Run(ctx context.Context, o Options) error {
	s, err := newSession(o)
	if err != nil {
		return err
	}
	defer s.watcher.Close()
	ctx, stop := s.onHangup(ctx)
	defer stop()
	if err := s.loadAll(ctx, true); err != nil {
		return err
	}
	s.rebuild(ctx, &changes{}, true)
	s.out.note("watching for changes; Ctrl-C to stop")
	err = s.loop(ctx)
	s.shutdown()
	return err
}

// loop waits for changes and rebuilds, until pex is interrupted.
func (s *session) loop(ctx context.Context) error {
	for ctx.Err() == nil {
		ch := &changes{}
		select {
		case <-ctx.Done():
		case b, ok := <-s.watcher.Batches():
			if !ok {
				return &ExitError{Code: 1, Msg: "the file watcher stopped"}
			}
			s.note(ch, b)
		case p := <-s.sup.exits:
			s.sup.exited(p)
		}
		if ch.any() && ctx.Err() == nil {
			s.rebuild(ctx, ch, false)
		}
	}
	if s.hungUp.Load() {
		return &ExitError{Code: 128 + int(syscall.SIGHUP), Msg: "hangup"}
	}
	return &ExitError{Code: s.o.InterruptCode(), Msg: "interrupted"}
}

// onHangup returns ctx, also cancelled on SIGHUP: when the terminal
// closes, the services stop as on Ctrl-C instead of outliving pex.
func (s *session) onHangup(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		select {
		case <-hup:
			s.hungUp.Store(true)
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(hup)
		cancel()
	}
}

// newSession locks the workspace and starts watching (nothing yet:
// loadAll sets the directories).
func newSession(o Options) (*session, error) {
	ws := o.Workspace
	for _, arg := range o.Request.Patterns {
		if _, err := graph.ParsePattern(arg, ws.Cwd); err != nil {
			return nil, &ExitError{Code: 2, Msg: err.Error()}
		}
	}
	tty := !o.JSON && o.Stdout == os.Stdout && status.IsTerminal(os.Stdout)
	s := &session{o: o, ws: ws, req: o.Request, roots: walkRoots(o.Request.Patterns, ws.Cwd),
		out: &watchOutput{out: o.Stdout, errOut: o.Stderr, json: o.JSON, tty: tty, color: status.WantColor(tty), verbose: o.Request.Verbose}}
	s.req.Command = "watch"
	if err := ws.Lock(o.Request.OnNote); err != nil {
		return nil, &ExitError{Code: 2, Msg: err.Error()}
	}
	src, err := watch.NewFS(watch.FSOptions{PollOnly: o.Poll, OnWarning: func(msg string) { s.out.failure(errors.New(msg)) }})
	if err != nil {
		return nil, &ExitError{Code: 2, Msg: err.Error()}
	}
	s.watcher = watch.New(src, watch.Options{
		Debounce: o.Debounce,
		Ignore:   func(p string) bool { sc := s.scope.Load(); return sc != nil && sc.ignore(p) },
		OnError:  func(err error) { s.out.failure(err) },
	})
	s.sup = newSupervisor(s.out, o.Grace)
	return s, nil
}

// loadAll evaluates the BUILD files and selects the targets. A BUILD error
// is printed and the last good graph dropped until a change fixes it;
// only a selection error in the first load (a pattern that names nothing)
// ends the watch.
func (s *session) loadAll(ctx context.Context, first bool) error {
	err := s.evaluate(ctx)
	if err == nil {
		err = s.selectFrom(s.load.Graph)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		s.graph, s.selected, s.services = nil, nil, nil
		var ee *ExitError
		if first && errors.As(err, &ee) {
			return err
		}
		s.out.failure(err)
		s.out.note("fix it and save: watching goes on")
	}
	s.updateScope()
	return nil
}

// evaluate loads the BUILD files, and lists the globbed directories before
// and after (see listGlobDirs).
func (s *session) evaluate(ctx context.Context) error {
	var prevDirs []string
	if s.load != nil {
		prevDirs = s.load.GlobDirs
	}
	root := s.ws.Root
	before := listGlobDirs(root, prevDirs)
	l, err := s.ws.Load(ctx, s.req.Set, s.req.Jobs)
	if l == nil {
		l = &builder.Loaded{}
	}
	s.load = l
	beforeDirs := map[string]bool{}
	for _, d := range prevDirs {
		beforeDirs[filepath.Join(root, filepath.FromSlash(d))] = true
	}
	s.listed = keepBoth(before, listGlobDirs(root, l.GlobDirs), beforeDirs)
	return err
}

// selectFrom selects the targets in g: the rules the patterns name, and,
// for each service, what it needs.
func (s *session) selectFrom(g *graph.Graph) error {
	targets, services, err := s.ws.Select(g, s.req.Patterns)
	if err != nil {
		return &ExitError{Code: 2, Msg: err.Error()}
	}
	selected := slices.Clone(targets)
	in := make(map[*graph.Target]bool, len(selected))
	for _, t := range selected {
		in[t] = true
	}
	for _, svc := range services {
		for _, t := range planRules(g, []*graph.Target{svc}) {
			if t != svc && !in[t] {
				in[t] = true
				selected = append(selected, t)
			}
		}
	}
	s.graph, s.selected, s.services = g, selected, services
	return nil
}

// updateScope makes the scope of the current load and selection, and
// watches its directories.
func (s *session) updateScope() {
	src := scopeSource{root: s.ws.Root, load: s.load, walkRoots: s.roots, storeDir: s.ws.StoreDir(), listed: s.listed,
		prev: s.scope.Load(), discovered: s.ws.Discovered}
	if s.graph != nil {
		src.rules = append(planRules(s.graph, s.selected), s.services...)
	}
	sc := newScope(src)
	s.scope.Store(sc)
	if err := s.watcher.SetDirs(sc.dirs()); err != nil && s.req.Verbose {
		s.out.failure(err)
	}
}

// note adds a batch to ch, keeping only the changes that matter.
func (s *session) note(ch *changes, b watch.Batch) {
	sc := s.scope.Load()
	paths, reload := sc.classify(b.Paths)
	ch.paths = append(ch.paths, paths...)
	ch.reload = ch.reload || reload || b.Overflow || (s.graph == nil && len(paths) > 0)
	ch.overflow = ch.overflow || b.Overflow
}

// rebuild loads again if needed and builds; changes arriving meanwhile
// cancel the build and start another with everything changed so far.
func (s *session) rebuild(ctx context.Context, ch *changes, first bool) {
	for {
		if !first {
			s.triggered(ch)
		}
		if ch.reload && !first {
			_ = s.loadAll(ctx, false)
		}
		if s.graph == nil || ctx.Err() != nil {
			return
		}
		next, deferred := &changes{}, []string(nil)
		results, sum := s.build(ctx, ch, first, next, &deferred)
		canceled := sum == nil || sum.Canceled
		if ctx.Err() != nil {
			return
		}
		if !canceled {
			s.out.summary(sum)
		} else if next.any() {
			s.out.note("build cancelled: more changes came")
		}
		if sum != nil && sum.Regenerated {
			_ = s.loadAll(ctx, false) // dynamic rules changed the graph: watch what it holds now
		} else {
			s.updateScope()
		}
		if len(deferred) > 0 {
			s.note(next, watch.Batch{Paths: deferred}) // those still there, or still gone
		}
		s.sup.update(ctx, s.graph, s.services, results, canceled, func(t *graph.Target) (string, error) {
			return s.ws.ServiceKey(s.graph, t)
		}, s.startService)
		if !next.any() {
			return
		}
		ch, first = next, false
	}
}

func (s *session) triggered(ch *changes) {
	sc := s.scope.Load()
	rel := make([]string, 0, len(ch.paths))
	for _, p := range ch.paths {
		rel = append(rel, sc.rel(p))
	}
	slices.Sort(rel)
	s.out.triggered(slices.Compact(rel), ch.overflow)
}

// build runs one build of the selection, told what ch says changed
// (unless it is the first, or the BUILD files were loaded again, or the
// watcher lost events: then it checks everything). Changes to inputs and
// Starlark files that arrive meanwhile cancel it and are added to next;
// files and directories that come or go are added to deferred, to be
// looked at once it is over. It returns the rule events by label, and the
// summary (nil if the build could not start).
func (s *session) build(ctx context.Context, ch *changes, first bool, next *changes, deferred *[]string) (map[string]builder.Event, *builder.Summary) {
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := map[string]builder.Event{}
	printer := s.out.printer()
	req := s.req
	if !first && !ch.reload && !ch.overflow {
		sc := s.scope.Load()
		req.Changed = make([]string, 0, len(ch.paths))
		for _, p := range ch.paths {
			req.Changed = append(req.Changed, sc.rel(p))
		}
	}
	req.OnEvent = func(ev builder.Event) {
		if ev.Event == builder.EventRule {
			results[ev.Label] = ev
		}
		printer.Event(ev)
	}
	type outcome struct {
		sum *builder.Summary
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		sum, err := s.ws.Build(bctx, req)
		done <- outcome{sum, err}
	}()
	batches := s.watcher.Batches()
	for {
		select {
		case o := <-done:
			if o.err != nil {
				s.out.failure(o.err)
			}
			return results, o.sum
		case b, ok := <-batches:
			if !ok {
				batches = nil // the loop reports it once the build is over
				continue
			}
			now, later := s.scope.Load().split(b.Paths)
			*deferred = append(*deferred, later...)
			s.note(next, watch.Batch{Paths: now, Overflow: b.Overflow})
			if next.any() {
				cancel()
			}
		case p := <-s.sup.exits:
			s.sup.exited(p)
		}
	}
}

// planRules returns ts and what they need: dependencies and the
// providers of the tokens they require.
func planRules(g *graph.Graph, ts []*graph.Target) []*graph.Target {
	plan, err := builder.NewPlan(g, ts)
	if err != nil {
		return ts
	}
	return plan.Rules
}

func (s *session) startService(t *graph.Target) (*builder.Service, error) {
	label := t.Label.String()
	return builder.StartService(builder.ServiceOptions{
		ProcessOptions: builder.ProcessOptions{Root: s.ws.Root, Graph: s.graph, Target: t, Workspace: s.ws, Procs: s.ws.Procs()},
		OnLine:         func(line string) { s.out.serviceLine(label, line) },
		OnExit:         s.sup.onExit,
	})
}

// shutdown stops every service. A second Ctrl-C skips the grace period.
func (s *session) shutdown() {
	force, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-force.Done():
		}
	}()
	s.sup.stopAll(force)
}
