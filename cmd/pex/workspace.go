// This file finds and loads the workspace and selects the rules the
// command line names.

package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/pex-build/pex/graph"
	"github.com/pex-build/pex/starlark"
)

// workspace is a loaded workspace and where the user stands in it.
type workspace struct {
	root   string
	cwdPkg string // the current directory relative to the root ("" at the root)
	graph  *graph.Graph
	sum    []byte // identifies the graph (starlark.Result.GraphSum)
}

func (a *app) load(ctx context.Context) (*workspace, error) {
	root, cwd, err := a.findWorkspace()
	if err != nil {
		return nil, err
	}
	return a.loadAt(ctx, root, cwd)
}

// findWorkspace finds the workspace root and the current directory relative to
// it ("" at the root).
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
	return root, cwd, nil
}

// loadAt evaluates the workspace at root (or reuses its snapshot).
func (a *app) loadAt(ctx context.Context, root, cwd string) (*workspace, error) {
	set, err := a.setValues()
	if err != nil {
		return nil, err
	}
	res, err := starlark.LoadCached(ctx, starlark.Options{Root: root, Set: set, Jobs: a.jobs},
		filepath.Join(root, ".pex", "graph"))
	if err != nil {
		return nil, loadError(err)
	}
	g := res.Graph
	return &workspace{root: root, cwdPkg: cwd, graph: g, sum: res.GraphSum}, nil
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

// selectTargets parses patterns (default: everything at and below the
// current directory) and returns the rules they select.
func (w *workspace) selectTargets(args []string) (*selection, error) {
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
