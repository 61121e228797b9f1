// pex watch: build, then rebuild what each batch of changes affects, as
// the user saves; start the services among the targets and restart them
// when what they are made of changes. One goroutine — the loop here — owns
// the loaded workspace, the scope and the services; the build, the
// Watcher and the services' output run on their own goroutines and talk
// to it through channels.

package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/pex-build/pex/cache"
	"github.com/pex-build/pex/graph"
	"github.com/pex-build/pex/internal/build"
	"github.com/pex-build/pex/internal/status"
	"github.com/pex-build/pex/internal/watch"
	"github.com/pex-build/pex/starlark"
)

type watchFlags struct {
	debounce time.Duration
	grace    time.Duration
	poll     bool
}

func (a *app) watchCommand() *cobra.Command {
	var f watchFlags
	c := &cobra.Command{
		Use:   "watch [patterns]",
		Short: "Build, then rebuild what changes affect as files are saved; run services",
		Long: `Build the rules the patterns name (as pex build does), then watch their inputs
and the BUILD and .star files, and rebuild what each change affects, through
the cache: a file saved with the same bytes, or touched, runs nothing. A
change arriving during a build cancels it (its commands are killed) and a
new build starts with everything changed so far. Outputs of rules, .pex/
and the cache's store never trigger a build. A BUILD error is shown and
watching goes on; fixing the file resumes.

Rules tagged service among the patterns are long-running processes (a dev
server): each starts once what it needs is built, its output prefixed with
its label. It is restarted — SIGTERM to its process group, --grace, then
SIGKILL, and only then the new one — when a rule it needs ran or was
restored, or its own command, environment or inputs changed. Ctrl-C (or
SIGTERM, or SIGHUP when the terminal closes) stops every service and every
command; a second Ctrl-C skips the grace period.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.dryRun {
				return failed(exitUsage, "pex watch does not take -n/--dry-run")
			}
			return a.watch(cmd.Context(), args, f)
		},
	}
	fl := c.Flags()
	fl.DurationVar(&f.debounce, "debounce", watch.DefaultDebounce, "wait until files have been quiet for `D` before building")
	fl.DurationVar(&f.grace, "grace", defaultGrace, "give a service `D` to exit after SIGTERM before SIGKILL")
	fl.BoolVar(&f.poll, "poll", false, "poll directories instead of using inotify (network file systems)")
	return c
}

// session is the state of one pex watch, owned by its loop.
type session struct {
	a        *app
	args     []string
	root     string
	cwdPkg   string
	set      map[string]string
	cache    *build.Cache
	watcher  *watch.Watcher
	out      *watchOutput
	sup      *supervisor
	storeDir string
	roots    []string // package paths the patterns cover recursively

	scope  atomic.Pointer[scope] // read by the Watcher's goroutine
	hungUp atomic.Bool           // SIGHUP ended the watch

	res      *starlark.Result // the last load
	listed   map[string]bool  // what its globbed directories held (listGlobDirs)
	graph    *graph.Graph     // the last good graph; nil while a BUILD file is broken
	selected []*graph.Target  // what is built: the selection and what services need
	services []*graph.Target
}

// changes accumulates batches until a build takes them.
type changes struct {
	paths    []string // absolute, relevant
	reload   bool
	overflow bool
}

func (c *changes) any() bool { return len(c.paths) > 0 || c.reload || c.overflow }

func (a *app) watch(ctx context.Context, args []string, f watchFlags) error {
	s, err := a.newSession(args, f)
	if err != nil {
		return err
	}
	defer s.close()
	ctx, stop := s.onHangup(ctx)
	defer stop()
	if err := s.load(ctx, true); err != nil {
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
				return failed(exitFailed, "the file watcher stopped")
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
		return failed(128+int(syscall.SIGHUP), "hangup")
	}
	return failed(s.a.interruptCode(), "interrupted")
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

// newSession finds the workspace, locks it and starts watching (nothing
// yet: load sets the directories).
func (a *app) newSession(args []string, f watchFlags) (*session, error) {
	root, cwd, err := a.findWorkspace()
	if err != nil {
		return nil, err
	}
	w := &workspace{root: root, cwdPkg: cwd}
	set, err := a.setValues()
	if err != nil {
		return nil, err
	}
	for _, arg := range args {
		if _, err := graph.ParsePattern(arg, w.cwdPkg); err != nil {
			return nil, failed(exitUsage, "%v", err)
		}
	}
	tty := !a.json && a.stdout == os.Stdout && status.IsTerminal(os.Stdout)
	s := &session{a: a, args: args, root: root, cwdPkg: w.cwdPkg, set: set, roots: walkRoots(args, w.cwdPkg),
		out: &watchOutput{out: a.stdout, errOut: a.stderr, json: a.json, tty: tty, color: status.WantColor(tty), verbose: a.verbose}}
	if s.storeDir, _ = cache.DefaultDir(); s.storeDir != "" {
		s.storeDir, _ = filepath.Abs(s.storeDir)
	}
	if s.cache, err = a.openCache(root); err != nil {
		return nil, err
	}
	src, err := watch.NewFS(watch.FSOptions{PollOnly: f.poll, OnWarning: func(msg string) { s.out.failure(errors.New(msg)) }})
	if err != nil {
		s.cache.Close()
		return nil, failed(exitUsage, "%v", err)
	}
	s.watcher = watch.New(src, watch.Options{
		Debounce: f.debounce,
		Ignore:   func(p string) bool { sc := s.scope.Load(); return sc != nil && sc.ignore(p) },
		OnError:  func(err error) { s.out.failure(err) },
	})
	s.sup = newSupervisor(s.out, f.grace)
	return s, nil
}

func (s *session) close() {
	s.watcher.Close()
	s.cache.Close()
}

// load evaluates the BUILD files and selects the targets. A BUILD error is
// printed and the last good graph dropped until a change fixes it; only a
// selection error in the first load (a pattern that names nothing) ends
// the watch.
func (s *session) load(ctx context.Context, first bool) error {
	res, err := s.evaluate(ctx)
	if err == nil {
		err = s.selectFrom(res.Graph)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		s.graph, s.selected, s.services = nil, nil, nil
		var ee *exitError
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
func (s *session) evaluate(ctx context.Context) (*starlark.Result, error) {
	var prevDirs []string
	if s.res != nil {
		prevDirs = s.res.GlobDirs
	}
	before := listGlobDirs(s.root, prevDirs)
	res, err := starlark.LoadCached(ctx, starlark.Options{Root: s.root, Set: s.set, Jobs: s.a.jobs},
		filepath.Join(s.root, ".pex", "graph"))
	s.res = res
	beforeDirs := map[string]bool{}
	for _, d := range prevDirs {
		beforeDirs[filepath.Join(s.root, filepath.FromSlash(d))] = true
	}
	s.listed = keepBoth(before, listGlobDirs(s.root, res.GlobDirs), beforeDirs)
	return res, err
}

// selectFrom selects the targets in g: the rules the patterns name, and,
// for each service, what it needs.
func (s *session) selectFrom(g *graph.Graph) error {
	w := &workspace{root: s.root, cwdPkg: s.cwdPkg, graph: g}
	sel, err := w.selectTargets(s.args)
	if err != nil {
		return err
	}
	selected := slices.Clone(sel.targets)
	in := make(map[*graph.Target]bool, len(selected))
	for _, t := range selected {
		in[t] = true
	}
	for _, svc := range sel.services {
		plan, err := build.NewPlan(g, []*graph.Target{svc})
		if err != nil {
			return err
		}
		for _, t := range plan.Rules {
			if t != svc && !in[t] {
				in[t] = true
				selected = append(selected, t)
			}
		}
	}
	s.graph, s.selected, s.services = g, selected, sel.services
	return nil
}

// updateScope makes the scope of the current load and selection, and
// watches its directories.
func (s *session) updateScope() {
	src := scopeSource{root: s.root, res: s.res, walkRoots: s.roots, storeDir: s.storeDir, listed: s.listed,
		prev: s.scope.Load(), discovered: s.cache.Discovered}
	if s.graph != nil {
		if plan, err := build.NewPlan(s.graph, s.selected); err == nil {
			src.rules = append(plan.Rules, s.services...)
		}
	}
	sc := newScope(src)
	s.scope.Store(sc)
	if err := s.watcher.SetDirs(sc.dirs()); err != nil && s.a.verbose {
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
			_ = s.load(ctx, false)
		}
		if s.graph == nil || ctx.Err() != nil {
			return
		}
		next, deferred := &changes{}, []string(nil)
		results, sum := s.build(ctx, next, &deferred)
		canceled := sum == nil || sum.Canceled
		if ctx.Err() != nil {
			return
		}
		if !canceled {
			s.out.summary(sum)
		} else if next.any() {
			s.out.note("build cancelled: more changes came")
		}
		_ = s.cache.State().Flush() // a watch killed later keeps this build's records
		s.updateScope()
		if len(deferred) > 0 {
			s.note(next, watch.Batch{Paths: deferred}) // those still there, or still gone
		}
		s.sup.update(ctx, s.graph, s.services, results, canceled, s.serviceKey, s.startService)
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

// build runs one build of the selection. Changes to inputs and Starlark
// files that arrive meanwhile cancel it and are added to next; files and
// directories that come or go are added to deferred, to be looked at once
// it is over. It returns the rule events by label, and the summary (nil
// if the build could not start).
func (s *session) build(ctx context.Context, next *changes, deferred *[]string) (map[string]build.Event, *build.Summary) {
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := map[string]build.Event{}
	printer := s.out.printer()
	type outcome struct {
		sum *build.Summary
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		sum, err := build.Run(bctx, build.Options{
			Cache: s.cache, Root: s.root, Graph: s.graph, Selected: s.selected, GraphSum: s.res.GraphSum,
			Jobs: s.a.jobs, KeepGoing: s.a.keepGoing, NoCache: s.a.noCache, Verbose: s.a.verbose,
			Procs: s.a.procs,
			OnEvent: func(ev build.Event) {
				if ev.Event == build.EventRule {
					results[ev.Label] = ev
				}
				printer.Event(ev)
			},
		})
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

func (s *session) serviceKey(t *graph.Target) (string, error) {
	return s.cache.ServiceKey(s.graph, t, nil)
}

func (s *session) startService(t *graph.Target) (*build.Service, error) {
	label := t.Label.String()
	return build.StartService(build.ServiceOptions{
		ProcessOptions: build.ProcessOptions{Root: s.root, Graph: s.graph, Target: t, Cache: s.cache, Procs: s.a.procs},
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
