// This file finds and loads the workspace and selects the rules the
// command line names.

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pex-build/pex/cache"
	"github.com/pex-build/pex/graph"
	"github.com/pex-build/pex/internal/procs"
	"github.com/pex-build/pex/starlark"
)

// workspace is a loaded workspace and where the user stands in it.
type workspace struct {
	root   string
	cwdPkg string // the current directory relative to the root ("" at the root)
	graph  *graph.Graph
	sum    []byte // identifies the graph (starlark.Result.GraphSum)
	res    *starlark.Result
}

func (a *app) load(ctx context.Context) (*workspace, error) {
	root, cwd, err := a.findWorkspace()
	if err != nil {
		return nil, err
	}
	return a.loadAt(ctx, root, cwd)
}

// findWorkspace finds the workspace root and the current directory relative to
// it ("" at the root). Before anything else happens in the workspace, it
// stops what a pex killed there left running (see internal/procs), and
// readies the record of the process groups this one will start.
func (a *app) findWorkspace() (root, cwd string, err error) {
	dir, err := a.workDir()
	if err != nil {
		return "", "", err
	}
	root, err = starlark.FindRoot(dir)
	if err != nil {
		return "", "", failed(exitUsage, "%v", err)
	}
	abs, _ := filepath.Abs(dir)
	rel, err := filepath.Rel(root, abs)
	if err != nil {
		return "", "", failed(exitUsage, "%v", err)
	}
	cwd = filepath.ToSlash(rel)
	if cwd == "." {
		cwd = ""
	}
	if a.procs == nil {
		a.reap(root)
	}
	return root, cwd, nil
}

// reap stops the commands and services that pex processes killed in the
// workspace at root left running, saying so once, and opens this
// process's record of the groups it starts.
func (a *app) reap(root string) {
	stateDir := cache.StateDir(root)
	rep := procs.Reap(stateDir)
	for _, n := range rep.Notes {
		fmt.Fprintln(a.stderr, "pex: note: "+n)
	}
	if msg := rep.Message(); msg != "" {
		fmt.Fprintln(a.stderr, "pex: "+msg)
	}
	exe, _ := os.Executable()
	a.procs = procs.Open(stateDir, procs.Options{Reaper: exe})
}

// loadAt evaluates the workspace at root (or reuses its snapshot).
func (a *app) loadAt(ctx context.Context, root, cwd string) (*workspace, error) {
	return a.loadTrusting(ctx, root, cwd, false)
}

// snapshotPath is where the evaluated workspace is saved.
func snapshotPath(root string) string {
	return filepath.Join(root, ".pex", "graph")
}

// loadTrusting is loadAt that, if trust, takes the saved evaluation
// without checking what it was made from: an up-to-date proof did.
func (a *app) loadTrusting(ctx context.Context, root, cwd string, trust bool) (*workspace, error) {
	set, err := a.setValues()
	if err != nil {
		return nil, err
	}
	res, err := starlark.LoadCached(ctx, starlark.Options{Root: root, Set: set, Jobs: a.jobs, TrustSnapshot: trust},
		snapshotPath(root))
	if err != nil {
		return nil, loadError(err)
	}
	g := res.Graph
	return &workspace{root: root, cwdPkg: cwd, graph: g, sum: res.GraphSum, res: res}, nil
}

// loadError maps an error from loading BUILD files to exit status 2.
func loadError(err error) error {
	if errors.Is(err, context.Canceled) {
		return failed(exitInterrupt, "interrupted")
	}
	return failed(exitUsage, "%v", err)
}

// selection is what the command line asked for.
type selection struct {
	targets  []*graph.Target
	services []*graph.Target // named explicitly; only their needs are built
}

// patterns parses the command line's patterns; none means everything at
// and below the current directory.
func (w *workspace) patterns(args []string) ([]graph.Pattern, error) {
	if len(args) == 0 {
		if w.cwdPkg == "" {
			args = []string{"//..."}
		} else {
			args = []string{"//" + w.cwdPkg + "/..."}
		}
	}
	pats := make([]graph.Pattern, 0, len(args))
	for _, s := range args {
		p, err := graph.ParsePattern(s, w.cwdPkg)
		if err != nil {
			return nil, failed(exitUsage, "%v", err)
		}
		pats = append(pats, p)
	}
	return pats, nil
}

// selectTargets returns the rules the patterns select.
func (w *workspace) selectTargets(args []string) (*selection, error) {
	pats, err := w.patterns(args)
	if err != nil {
		return nil, err
	}
	ts, err := w.graph.Select(pats)
	if err != nil {
		return nil, failed(exitUsage, "%v", err)
	}
	sel := &selection{}
	for _, t := range ts {
		if t.HasTag("service") {
			sel.services = append(sel.services, t)
			sel.targets = append(sel.targets, t.DepTargets...)
			continue
		}
		sel.targets = append(sel.targets, t)
	}
	return sel, nil
}

func serviceNote(services []*graph.Target) string {
	var names []string
	for _, s := range services {
		names = append(names, s.Label.String())
	}
	return fmt.Sprintf("%s tagged service: built what %s needs; use 'pex run %s' or 'pex watch' to start it",
		strings.Join(names, ", "), pronoun(len(names)), names[0])
}

func pronoun(n int) string {
	if n == 1 {
		return "it"
	}
	return "they"
}

// matching returns every rule the patterns match, manual and service rules
// included (for pex clean, which must not leave their outputs behind).
func (w *workspace) matching(args []string) ([]*graph.Target, error) {
	pats, err := w.patterns(args)
	if err != nil {
		return nil, err
	}
	if _, err := w.graph.Select(pats); err != nil {
		return nil, failed(exitUsage, "%v", err) // what names nothing
	}
	var ts []*graph.Target
	for _, t := range w.graph.Targets {
		for _, p := range pats {
			if p.Match(t.Label) {
				ts = append(ts, t)
				break
			}
		}
	}
	return ts, nil
}

// selectOne returns the one rule pattern selects.
func (w *workspace) selectOne(pattern, command string) (*graph.Target, error) {
	p, err := graph.ParsePattern(pattern, w.cwdPkg)
	if err != nil {
		return nil, failed(exitUsage, "%v", err)
	}
	ts, err := w.graph.Select([]graph.Pattern{p})
	if err != nil {
		return nil, failed(exitUsage, "%v", err)
	}
	if len(ts) != 1 {
		var names []string
		for _, t := range ts {
			names = append(names, t.Label.String())
		}
		if len(names) > 5 {
			names = append(names[:5], "...")
		}
		return nil, failed(exitUsage, "pex %s takes one rule; %q selects %d%s", command, pattern, len(ts), listSuffix(names))
	}
	return ts[0], nil
}

func listSuffix(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return ": " + strings.Join(names, " ")
}
