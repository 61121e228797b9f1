// This file holds what the commands besides pex build ask of a workspace:
// the whole graph, one rule by pattern, what a rule would do (explain),
// the command of a rule run in the foreground (pex run), removing outputs
// (clean), and the store's statistics.

package builder

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/pex-build/pex/cache"
	"github.com/pex-build/pex/graph"
	"github.com/pex-build/pex/internal/db"
)

// Loaded is an evaluation of the workspace: its graph, and what it read.
type Loaded struct {
	Graph *graph.Graph // nil when the BUILD files have an error
	// Files are the Starlark files read, Dirs the directories the package
	// walk listed, GlobDirs those globs listed: workspace-relative. When
	// evaluating failed, what was read until then, which may hold the fix.
	Files, Dirs, GlobDirs []string
}

// Load returns the workspace's evaluation, evaluating the BUILD files
// again first if the saved one no longer holds (and saving it, with the
// lock).
func (w *Workspace) Load(ctx context.Context, set map[string]string, jobs int) (*Loaded, error) {
	locked := w.lock(false, nil) == nil
	d, err := w.database(!locked)
	if err != nil {
		return nil, err
	}
	sh := shape(set)
	if d.Evaluated(sh, w.fs) == "" {
		g, err := d.Graph()
		if err == nil {
			in := d.Inputs()
			return &Loaded{Graph: g, Files: in.Files, Dirs: in.WalkDirs, GlobDirs: in.GlobDirs}, nil
		}
		if !errors.Is(err, db.ErrDamaged) {
			return nil, err
		}
		d.Reset(fmt.Sprintf("ignored %v: every rule is checked again", err)) // and evaluate
	}
	res, g, err := w.reevaluate(ctx, d, sh, set, jobs)
	if err != nil {
		if g == nil && res != nil && res.Graph == nil {
			return &Loaded{Files: res.Files, Dirs: res.Dirs, GlobDirs: res.GlobDirs}, err
		}
		return nil, err
	}
	in := d.Inputs()
	l := &Loaded{Graph: g, Files: in.Files, Dirs: in.WalkDirs, GlobDirs: in.GlobDirs}
	if locked {
		if err := d.Save(); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Graph returns the whole graph (see Load).
func (w *Workspace) Graph(ctx context.Context, set map[string]string, jobs int) (*graph.Graph, error) {
	l, err := w.Load(ctx, set, jobs)
	if err != nil {
		return nil, err
	}
	return l.Graph, nil
}

// Select returns the rules the patterns name in g: those to build, and
// the services named, whose needs are among those to build.
func (w *Workspace) Select(g *graph.Graph, patterns []string) (targets, services []*graph.Target, err error) {
	pats, err := w.patterns(patterns)
	if err != nil {
		return nil, nil, err
	}
	ts, err := g.Select(pats)
	if err != nil {
		return nil, nil, err
	}
	for _, t := range ts {
		if t.HasTag("service") {
			services = append(services, t)
			targets = append(targets, t.DepTargets...)
			continue
		}
		targets = append(targets, t)
	}
	return targets, services, nil
}

// One returns the one rule pattern selects in g, for a command that takes
// one (pex run, pex explain).
func (w *Workspace) One(g *graph.Graph, pattern, command string) (*graph.Target, error) {
	p, err := graph.ParsePattern(pattern, w.Cwd)
	if err != nil {
		return nil, err
	}
	ts, err := g.Select([]graph.Pattern{p})
	if err != nil {
		return nil, err
	}
	if len(ts) != 1 {
		var names []string
		for _, t := range ts {
			names = append(names, t.Label.String())
		}
		if len(names) > 5 {
			names = append(names[:5], "...")
		}
		suffix := ""
		if len(names) > 0 {
			suffix = ": " + strings.Join(names, ", ")
		}
		return nil, fmt.Errorf("pex %s takes one rule; %q selects %d%s", command, pattern, len(ts), suffix)
	}
	return ts[0], nil
}

// Explain says what a build of t would do, as a dry run of it: the events
// of t and of what it needs that would run first.
func (w *Workspace) Explain(ctx context.Context, req Request, t *graph.Target) ([]Event, error) {
	var events []Event
	req.Command, req.Patterns, req.DryRun, req.KeepGoing, req.Jobs = "explain", []string{t.Label.String()}, true, true, 1
	req.OnEvent = func(ev Event) {
		if ev.Event == EventRule {
			events = append(events, ev)
		}
	}
	if _, err := w.Build(ctx, req); err != nil {
		return nil, err
	}
	return events, nil
}

// RunCommand builds what t needs, as req says, and returns its command,
// ready to start in the foreground with args appended; nil for a dry run.
// The summary is the build's (nil when t needs nothing). The workspace is
// released before it returns: the command may run for long.
func (w *Workspace) RunCommand(ctx context.Context, req Request, g *graph.Graph, t *graph.Target, args []string) (*osexec.Cmd, *Summary, error) {
	var sum *Summary
	if len(t.DepTargets) > 0 {
		req.Command, req.Patterns = "run", nil
		for _, d := range t.DepTargets {
			req.Patterns = append(req.Patterns, d.Label.String())
		}
		var err error
		if sum, err = w.Build(ctx, req); err != nil || sum.Failed || sum.Canceled || ctx.Err() != nil {
			return nil, sum, err
		}
	}
	cmd := Command(ProcessOptions{Root: w.Root, Graph: g, Target: t, Args: args, Procs: w.procs, Workspace: w})
	w.release()
	if req.DryRun {
		return nil, sum, nil
	}
	return cmd, sum, nil
}

// Matching returns every rule the patterns match, manual and service rules
// included (pex clean must not leave their outputs behind).
func (w *Workspace) Matching(g *graph.Graph, patterns []string) ([]*graph.Target, error) {
	pats, err := w.patterns(patterns)
	if err != nil {
		return nil, err
	}
	if _, err := g.Select(pats); err != nil {
		return nil, err // what names nothing
	}
	var ts []*graph.Target
	for _, t := range g.Targets {
		for _, p := range pats {
			if p.Match(t.Label) {
				ts = append(ts, t)
				break
			}
		}
	}
	return ts, nil
}

// Clean removes the declared outputs of ts, and returns how many it
// removed and what it could not remove. With all, it also removes the
// workspace's state, but for the lock and the records of the process
// groups running pex processes started.
func (w *Workspace) Clean(ts []*graph.Target, all, wait bool) (int, []error, error) {
	removed := 0
	var errs []error
	for _, t := range ts {
		for _, out := range t.OutFiles {
			err := os.Remove(filepath.Join(w.Root, filepath.FromSlash(out)))
			switch {
			case err == nil:
				removed++
			case !errors.Is(err, fs.ErrNotExist):
				errs = append(errs, err)
			}
		}
	}
	if !all {
		return removed, errs, nil
	}
	if err := w.lock(wait, nil); err != nil {
		return removed, errs, err
	}
	entries, err := os.ReadDir(w.layout.Dir)
	if err != nil {
		return removed, errs, err
	}
	for _, e := range entries {
		p := filepath.Join(w.layout.Dir, e.Name())
		if p == w.layout.Lock() || p == w.layout.Procs() {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			return removed, errs, err
		}
	}
	w.db = nil
	return removed, errs, nil
}

// Stats are the store's counts and the workspace's last build.
type Stats struct {
	Dir                          string
	Blobs, Records               int
	Bytes                        int64
	LastStart                    time.Time // zero if no build is recorded
	Hits, Restored, Remote, Runs int
	Failed, Skipped              int
}

// StoreStats counts the store's entries and reads the workspace's last
// build (w may be nil: outside a workspace, the store is all there is).
func StoreStats(w *Workspace) (Stats, error) {
	s, err := openStore(w)
	if err != nil {
		return Stats{}, err
	}
	st, err := s.Stats()
	if err != nil {
		return Stats{}, err
	}
	out := Stats{Dir: s.Dir(), Blobs: st.Blobs, Records: st.Records, Bytes: st.Bytes}
	if w == nil {
		return out, nil
	}
	d, err := db.Open(w.layout)
	if err != nil {
		return out, err
	}
	if last := d.Stats().Last; last.StartUnixNano != 0 {
		out.LastStart = time.Unix(0, last.StartUnixNano)
		out.Hits, out.Restored, out.Remote, out.Runs = last.Hits, last.Restored, last.Remote, last.Misses
		out.Failed, out.Skipped = last.Failed, last.Skipped
	}
	return out, nil
}

// GC trims the store to maxSize bytes, least recently used first, and
// returns what it holds then.
func GC(maxSize int64) (Stats, error) {
	s, err := openStore(nil)
	if err != nil {
		return Stats{}, err
	}
	if _, err := s.GC(maxSize); err != nil {
		return Stats{}, err
	}
	st, err := s.Stats()
	return Stats{Dir: s.Dir(), Blobs: st.Blobs, Records: st.Records, Bytes: st.Bytes}, err
}

func openStore(w *Workspace) (*cache.Store, error) {
	if w != nil {
		return w.store, nil
	}
	dir, err := cache.DefaultDir()
	if err != nil {
		return nil, err
	}
	return cache.OpenStore(dir)
}
