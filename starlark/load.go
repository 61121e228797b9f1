// This file holds the entry points: finding the workspace root, and loading
// a workspace into a graph. Loading runs in phases: evaluate pex.star, walk
// the tree for packages, evaluate every BUILD file in parallel, re-evaluate
// the few packages whose globs matched outputs declared elsewhere, then
// register everything into a graph in a fixed order and resolve it.

package starlark

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/pex-build/pex/graph"
	sl "go.starlark.net/starlark"
)

// WorkspaceFile is the name of the file that marks the workspace root.
const WorkspaceFile = "pex.star"

// Options configures Load.
type Options struct {
	// Root is the workspace root, the directory holding pex.star.
	Root string
	// Set holds the values given on the command line with --set name=value;
	// config() reads them.
	Set map[string]string
	// Jobs bounds how many BUILD files are evaluated at once; 0 means
	// runtime.GOMAXPROCS(0).
	Jobs int
	// Print receives the output of Starlark's print(), with the position of
	// the call. Calls are serialised. Nil writes "file:line:col: msg" lines
	// to standard error.
	Print func(pos graph.Pos, msg string)
}

// Result is a loaded workspace: its graph, and what was read to build it.
// All paths are slash-separated and relative to the workspace root; the
// root directory itself is ".".
type Result struct {
	// Graph holds every rule, resolved. It is nil when loading failed.
	Graph *graph.Graph
	// Packages are the package paths, sorted ("" is the root package).
	Packages []string
	// Files are the Starlark files read, sorted: pex.star, every BUILD or
	// BUILD.pex file, and every .star file loaded (including ones that a
	// load() asked for but that do not exist).
	Files []string
	// Dirs are the directories the package walk listed, sorted. A file or
	// directory created or removed in one of them may add or remove a
	// package.
	Dirs []string
	// GlobDirs are the directories that glob() listed, sorted. A file
	// created or removed in one of them may change what a glob returns.
	GlobDirs []string
	// Globs maps each package path to the sorted, package-relative paths
	// that glob() calls in its BUILD file returned. Packages that called no
	// glob are absent.
	Globs map[string][]string
}

// FindRoot returns the workspace root for dir: the nearest ancestor of dir
// (dir included) that holds pex.star.
func FindRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", &graph.Error{Msg: err.Error()}
	}
	for d := abs; ; {
		if fi, err := os.Stat(filepath.Join(d, WorkspaceFile)); err == nil && !fi.IsDir() {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	return "", &graph.Error{Msg: fmt.Sprintf(
		"no %s in %s or any parent directory; run \"pex init\" to make %s a workspace",
		WorkspaceFile, abs, abs)}
}

// Load evaluates the workspace at opts.Root and returns its resolved graph.
// See LoadAll for the errors it returns.
func Load(ctx context.Context, opts Options) (*graph.Graph, error) {
	res, err := LoadAll(ctx, opts)
	if err != nil {
		return nil, err
	}
	return res.Graph, nil
}

// LoadAll evaluates the workspace at opts.Root: pex.star first, then every
// BUILD file, in parallel. Rules are registered in package path order, and
// in call order within a package, whatever the evaluation order. It then
// resolves the graph.
//
// A BUILD or .star file error is a *graph.Error naming the file, line and
// column; when several packages fail, the error is the one of the first
// package in path order. The error of Graph.Resolve is returned as is. If ctx
// is cancelled, the error is ctx.Err(). On error the Result is still
// non-nil, with a nil Graph and the files and directories read so far, so
// that a watcher knows which changes could fix the error.
func LoadAll(ctx context.Context, opts Options) (*Result, error) {
	root, err := filepath.Abs(opts.Root)
	if err != nil {
		return &Result{}, &graph.Error{Msg: err.Error()}
	}
	l := newLoader(ctx, root, opts)
	res, err := l.load()
	res.Files = l.files()
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		res.Graph = nil
	}
	return res, err
}

// A loader holds the state of one LoadAll call shared by all goroutines.
type loader struct {
	ctx         context.Context
	root        string
	jobs        int
	predeclared sl.StringDict

	printMu sync.Mutex
	print   func(pos graph.Pos, msg string)

	modules moduleCache
	config  *configState

	// Set while pex.star is evaluated, read-only afterwards.
	ignore   map[string]bool // workspace-relative directories never walked
	nested   map[string]bool // roots of nested workspaces, set by the walk
	wsGroups []graph.Group

	// Set by the walk, read-only afterwards.
	packages map[string]bool

	// Outputs that glob() must not return (workspace-relative); grows
	// between evaluation rounds, read-only during one.
	exclude map[string]bool

	filesMu   sync.Mutex
	readFiles []string

	// digests holds the code digest of each file run (see codeDigest),
	// by workspace-relative path.
	digests sync.Map

	// actions is set when the loader runs files again for their action
	// functions (see Actions): rules and groups they register are dropped.
	actions *ActionOptions
}

func newLoader(ctx context.Context, root string, opts Options) *loader {
	jobs := opts.Jobs
	if jobs <= 0 {
		jobs = runtime.GOMAXPROCS(0)
	}
	print := opts.Print
	if print == nil {
		print = func(pos graph.Pos, msg string) { fmt.Fprintf(os.Stderr, "%s: %s\n", pos, msg) }
	}
	l := &loader{
		ctx:     ctx,
		root:    root,
		jobs:    jobs,
		print:   print,
		config:  newConfigState(opts.Set),
		ignore:  map[string]bool{},
		nested:  map[string]bool{},
		exclude: map[string]bool{},
	}
	l.predeclared = predeclared()
	l.modules.entries = map[string]*module{}
	return l
}

func (l *loader) load() (*Result, error) {
	res := &Result{Globs: map[string][]string{}}
	if err := l.evalWorkspace(); err != nil {
		return res, err
	}
	pkgs, dirs, err := l.findPackages()
	res.Dirs = dirs
	if err != nil {
		return res, err
	}
	states, err := l.evalPackages(pkgs)
	for _, p := range pkgs {
		res.Packages = append(res.Packages, p.path)
	}
	res.GlobDirs, res.Globs = globRecords(states)
	if err != nil {
		return res, err
	}
	g, err := l.register(states)
	if err != nil {
		return res, err
	}
	if err := l.config.checkUnused(); err != nil {
		return res, err
	}
	if err := g.Resolve(l.root); err != nil {
		return res, err
	}
	res.Graph = g
	return res, nil
}

// maxGlobRounds bounds how many times packages are re-evaluated so that
// their globs stop matching outputs declared elsewhere. One extra round is
// all that real workspaces need.
const maxGlobRounds = 8

// evalPackages evaluates every package, then re-evaluates those whose globs
// returned a file that some rule declares as output (a rule declared later
// in the package, or in another package), excluding all known outputs from
// glob, until no glob returns an output.
func (l *loader) evalPackages(pkgs []pkgFile) ([]*pkgState, error) {
	states := make([]*pkgState, len(pkgs))
	todo := make([]int, len(pkgs))
	for i := range todo {
		todo[i] = i
	}
	for round := 0; len(todo) > 0; round++ {
		if round == maxGlobRounds {
			p := pkgs[todo[0]]
			return states, &graph.Error{Pos: graph.Pos{File: p.file},
				Msg: "glob results do not settle: every round matches outputs declared by other rules"}
		}
		l.evalParallel(pkgs, todo, states)
		if err := firstError(states); err != nil {
			return states, err
		}
		outs := outputs(states)
		for out := range outs {
			l.exclude[out] = true
		}
		todo = todo[:0]
		for i, s := range states {
			if s.globbedOutput(outs) {
				todo = append(todo, i)
			}
		}
	}
	return states, nil
}

// evalParallel evaluates pkgs[i] for each i in todo into states[i], at most
// l.jobs at a time. Once a package fails, packages after it in path order
// are not started, since only the first error is reported.
func (l *loader) evalParallel(pkgs []pkgFile, todo []int, states []*pkgState) {
	var (
		next   atomic.Int64
		failed atomic.Int64
		wg     sync.WaitGroup
	)
	failed.Store(int64(len(pkgs)))
	workers := min(l.jobs, len(todo))
	for range workers {
		wg.Go(func() {
			for {
				k := int(next.Add(1) - 1)
				if k >= len(todo) || l.ctx.Err() != nil {
					return
				}
				i := todo[k]
				if int64(i) > failed.Load() {
					states[i] = &pkgState{err: errSkipped}
					continue
				}
				states[i] = l.evalPackage(pkgs[i])
				if states[i].err != nil {
					for cur := failed.Load(); int64(i) < cur && !failed.CompareAndSwap(cur, int64(i)); {
						cur = failed.Load()
					}
				}
			}
		})
	}
	wg.Wait()
}

// errSkipped marks a package not evaluated because an earlier one failed.
var errSkipped = errors.New("not evaluated")

func firstError(states []*pkgState) error {
	for _, s := range states {
		if s == nil {
			return context.Canceled // cancelled before it started
		}
		if s.err != nil && s.err != errSkipped {
			return s.err
		}
	}
	return nil
}

// outputs returns the workspace-relative outputs of every rule.
func outputs(states []*pkgState) map[string]bool {
	outs := map[string]bool{}
	for _, s := range states {
		for out := range s.outs {
			outs[out] = true
		}
	}
	return outs
}

// register adds the packages, groups and rules to a new graph in a fixed
// order: packages in path order, pex.star's groups, then each package's
// groups and rules in call order.
func (l *loader) register(states []*pkgState) (*graph.Graph, error) {
	g := graph.New()
	for _, s := range states {
		g.AddPackage(s.path)
	}
	groups := map[string]bool{}
	addGroups := func(gs []graph.Group) error {
		for _, gr := range gs {
			if err := g.AddGroup(gr); err != nil {
				return err
			}
			groups[gr.Name] = true
		}
		return nil
	}
	if err := addGroups(l.wsGroups); err != nil {
		return nil, err
	}
	for _, s := range states {
		if err := addGroups(s.groups); err != nil {
			return nil, err
		}
	}
	for _, s := range states {
		for _, t := range s.targets {
			if t.Group != "" && !groups[t.Group] {
				return nil, unknownGroup(t, groups)
			}
			if t.Action != nil {
				t.Action.Digest = l.digest(t.Action.File)
			}
			if err := g.Add(t); err != nil {
				return nil, err
			}
		}
	}
	return g, nil
}

func unknownGroup(t *graph.Target, groups map[string]bool) error {
	msg := fmt.Sprintf("rule %q: unknown group %q", t.Label, t.Group)
	if len(groups) == 0 {
		msg += " (no group is declared; declare it with group() in pex.star)"
	} else {
		known := sortedKeys(groups)
		if near := nearest(t.Group, known); near != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", near)
		} else {
			msg += " (known groups: " + quoteList(known) + ")"
		}
	}
	return &graph.Error{Pos: t.Pos, Msg: msg}
}

// globRecords gathers what glob() read and returned in every package.
func globRecords(states []*pkgState) (dirs []string, globs map[string][]string) {
	set := map[string]bool{}
	globs = map[string][]string{}
	for _, s := range states {
		if s == nil {
			continue
		}
		for d := range s.globDirs {
			set[d] = true
		}
		if len(s.globbed) > 0 {
			globs[s.path] = s.globbedPaths()
		}
	}
	return sortedKeys(set), globs
}

// files returns the Starlark files read so far, sorted.
func (l *loader) files() []string {
	l.filesMu.Lock()
	defer l.filesMu.Unlock()
	set := map[string]bool{}
	for _, f := range l.readFiles {
		set[f] = true
	}
	return sortedKeys(set)
}

func (l *loader) noteFile(file string) {
	l.filesMu.Lock()
	l.readFiles = append(l.readFiles, file)
	l.filesMu.Unlock()
}

func (l *loader) printf(pos graph.Pos, msg string) {
	l.printMu.Lock()
	defer l.printMu.Unlock()
	l.print(pos, msg)
}
