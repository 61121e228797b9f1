// What pex watch looks at. A scope is made from one load of the workspace
// and one selection: the directories to watch, the paths whose changes are
// never wanted (outputs, .pex/, the store, editors' temporary files), and
// how to read a batch of changed paths — rebuild, re-load the BUILD files
// first, or nothing. A scope is immutable once made: the Watcher's
// goroutine calls ignore while the loop makes the next one.

package session

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pex-build/pex/graph"
	"github.com/pex-build/pex/internal/builder"
	"github.com/pex-build/pex/internal/watch"
)

type scope struct {
	root     string
	inputs   map[string]bool // srcs, tools and depfile inputs of the rules watched
	starlark map[string]bool // pex.star, BUILD and .star files read
	walked   map[string]bool // directories the package walk listed, under the patterns
	globbed  map[string]bool // directories glob() listed, in the packages watched
	listed   map[string]bool // what the globbed directories held when the globs ran
	outputs  map[string]bool // declared outputs of every rule
	outDirs  map[string]bool // directories made for outputs, holding nothing else watched
	skip     []string        // directories whose whole trees are ignored
}

// scopeSource is what a scope is made from. All paths in the load and in
// the targets are relative to root.
type scopeSource struct {
	root string
	load *builder.Loaded // the last load, successful or not
	// rules are the selected rules, what they need and the services
	// (nil when the load failed: prev's inputs are kept).
	rules      []*graph.Target
	discovered func(*graph.Target) []string // depfile inputs last recorded
	walkRoots  []string                     // package paths the patterns cover recursively
	listed     map[string]bool              // what the globbed directories held (see listGlobDirs)
	storeDir   string
	prev       *scope
}

func newScope(src scopeSource) *scope {
	root := src.root
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return filepath.Clean(p)
		}
		return filepath.Join(root, filepath.FromSlash(p))
	}
	s := &scope{
		root: root, inputs: map[string]bool{}, starlark: map[string]bool{}, walked: map[string]bool{},
		globbed: map[string]bool{}, listed: src.listed, outputs: map[string]bool{}, outDirs: map[string]bool{},
		skip: []string{filepath.Join(root, ".pex")},
	}
	if src.storeDir != "" {
		s.skip = append(s.skip, filepath.Clean(src.storeDir))
	}
	res := src.load
	for _, f := range res.Files {
		s.starlark[abs(f)] = true
	}
	for _, d := range res.Dirs {
		if underAny(d, src.walkRoots) {
			s.walked[abs(d)] = true
		}
	}
	if res.Graph == nil {
		// The load failed: keep what was watched, and every directory
		// walked, since any of them may hold the fix.
		for _, d := range res.Dirs {
			s.walked[abs(d)] = true
		}
		if src.prev != nil {
			s.inputs, s.outputs, s.outDirs = src.prev.inputs, src.prev.outputs, src.prev.outDirs
			s.globbed = maps.Clone(src.prev.globbed)
		}
		for _, d := range res.GlobDirs {
			s.globbed[abs(d)] = true
		}
		return s
	}
	pkgs := map[string]bool{}
	for _, t := range src.rules {
		pkgs[t.Label.Pkg] = true
		files := append(slices.Clone(t.Inputs), t.ToolFiles...)
		if src.discovered != nil {
			files = append(files, src.discovered(t)...)
		}
		for _, f := range files {
			s.inputs[abs(f)] = true
		}
	}
	for _, t := range res.Graph.Targets {
		for _, o := range t.OutFiles {
			s.outputs[abs(o)] = true
		}
	}
	for p := range s.outputs {
		delete(s.inputs, p) // a depfile may name a generated header
	}
	pkgList := slices.Collect(maps.Keys(pkgs))
	for _, d := range res.GlobDirs {
		if underAny(d, pkgList) {
			s.globbed[abs(d)] = true
		}
	}
	s.findOutDirs(res.Graph)
	return s
}

// listGlobDirs returns the entries of the directories (workspace-relative)
// that globs listed, as absolute paths. A scope compares a changed path
// with it to tell a file that appeared or went, which may change what a
// glob returns, from one that was only written. Take one listing before
// a load and one after, and keep what both hold (keepBoth): a file created
// or removed while the globs ran then counts as a change.
func listGlobDirs(root string, dirs []string) map[string]bool {
	listed := map[string]bool{}
	for _, d := range dirs {
		abs := filepath.Join(root, filepath.FromSlash(d))
		entries, _ := os.ReadDir(abs)
		for _, e := range entries {
			listed[filepath.Join(abs, e.Name())] = true
		}
	}
	return listed
}

// keepBoth returns the entries of after that before holds too, or that
// are in directories before did not list.
func keepBoth(before, after map[string]bool, beforeDirs map[string]bool) map[string]bool {
	kept := make(map[string]bool, len(after))
	for p := range after {
		if before[p] || !beforeDirs[filepath.Dir(p)] {
			kept[p] = true
		}
	}
	return kept
}

// findOutDirs records the directories below a package that only outputs
// were put in (prepareOutputs creates them), so that their creation does
// not look like a new directory that may hold packages.
func (s *scope) findOutDirs(g *graph.Graph) {
	held := map[string]bool{}
	for _, set := range []map[string]bool{s.inputs, s.starlark, s.globbed} {
		for p := range set {
			for d := filepath.Dir(p); len(d) > len(s.root); d = filepath.Dir(d) {
				held[d] = true
			}
		}
	}
	for _, t := range g.Targets {
		pkgDir := filepath.Join(s.root, filepath.FromSlash(t.Label.Pkg))
		for _, o := range t.OutFiles {
			for d := filepath.Dir(filepath.Join(s.root, filepath.FromSlash(o))); len(d) > len(pkgDir) && !held[d]; d = filepath.Dir(d) {
				s.outDirs[d] = true
			}
		}
	}
}

// dirs returns the directories to watch, sorted: those holding inputs and
// Starlark files, and those walked and globbed. Nothing outside the
// workspace is watched (a host compiler changes rarely; the next rebuild
// still sees it).
func (s *scope) dirs() []string {
	set := map[string]bool{}
	add := func(d string) {
		if d == s.root || strings.HasPrefix(d, s.root+string(filepath.Separator)) {
			set[d] = true
		}
	}
	for _, files := range []map[string]bool{s.inputs, s.starlark} {
		for f := range files {
			add(filepath.Dir(f))
		}
	}
	for _, dirs := range []map[string]bool{s.walked, s.globbed} {
		for d := range dirs {
			add(d)
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// ignore reports whether a change to path is never wanted: an output of a
// rule, anything under .pex/ or the store, an editor's temporary file.
func (s *scope) ignore(path string) bool {
	if s.outputs[path] || s.outDirs[path] || watch.IsEditorTemp(path) {
		return true
	}
	for _, d := range s.skip {
		if path == d || strings.HasPrefix(path, d+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// effect is what a change to one path calls for.
type effect int

const (
	noEffect   effect = iota // nothing reads it
	rebuildNow               // an input changed
	reloadNow                // a Starlark file changed, or a BUILD file came or went
	// reloadLater: a file or directory came or went where a glob or the
	// package walk looks. Load again — but not while a build runs: builds
	// make and remove temporary files (ar, compilers, editors' savers), and
	// cancelling one for them would start a loop. Once it is over, a path
	// that is gone again is forgotten.
	reloadLater
)

// classify reads a batch: the paths that matter (for the header, and to
// cancel a running build) and whether the BUILD files must be loaded
// again. A change to a file nothing reads is dropped.
func (s *scope) classify(paths []string) (relevant []string, reload bool) {
	for _, p := range paths {
		switch s.affects(p) {
		case rebuildNow:
			relevant = append(relevant, p)
		case reloadNow, reloadLater:
			relevant, reload = append(relevant, p), true
		}
	}
	return relevant, reload
}

// split separates, during a build, the paths that must cancel it (now)
// from those to look at again once it is over (later).
func (s *scope) split(paths []string) (now, later []string) {
	for _, p := range paths {
		switch s.affects(p) {
		case rebuildNow, reloadNow:
			now = append(now, p)
		case reloadLater:
			later = append(later, p)
		}
	}
	return now, later
}

// affects says what a change to p calls for.
func (s *scope) affects(p string) effect {
	dir, base := filepath.Dir(p), filepath.Base(p)
	switch {
	case s.ignore(p):
		return noEffect
	case s.starlark[p]:
		return reloadNow
	case s.walked[dir] && (base == "BUILD" || base == "BUILD.pex" || base == "pex.star"):
		return reloadNow // a package appears or goes
	case s.globbed[dir] && exists(p) != s.listed[p]:
		return reloadLater // what a glob returns may change
	case s.inputs[p]:
		return rebuildNow
	case s.walked[p] || s.globbed[p]:
		return reloadLater // a directory removed or renamed away
	case s.walked[dir] && isDir(p):
		return reloadLater // a new directory may hold packages
	}
	// A directory created, removed or renamed stands for everything under it.
	prefix := p + string(filepath.Separator)
	under := func(set map[string]bool) bool {
		for q := range set {
			if strings.HasPrefix(q, prefix) {
				return true
			}
		}
		return false
	}
	switch {
	case under(s.starlark):
		return reloadNow
	case under(s.inputs):
		return rebuildNow
	case under(s.walked) || under(s.globbed):
		return reloadLater
	}
	return noEffect
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func isDir(p string) bool {
	st, err := os.Lstat(p)
	return err == nil && st.IsDir()
}

// underAny reports whether the package path p is one of roots or below
// one ("" covers everything).
func underAny(p string, roots []string) bool {
	if p == "." {
		p = ""
	}
	for _, r := range roots {
		if r == "" || p == r || strings.HasPrefix(p, r+"/") {
			return true
		}
	}
	return false
}

// walkRoots returns the package paths that recursive patterns cover:
// there, a new BUILD file adds rules to the selection.
func walkRoots(args []string, cwdPkg string) []string {
	if len(args) == 0 {
		return []string{cwdPkg}
	}
	var roots []string
	for _, a := range args {
		if p, err := graph.ParsePattern(a, cwdPkg); err == nil && p.Recursive {
			roots = append(roots, p.Pkg)
		}
	}
	return roots
}

// rel returns p relative to the root, slash-separated, for display.
func (s *scope) rel(p string) string {
	if r, err := filepath.Rel(s.root, p); err == nil && !strings.HasPrefix(r, "..") {
		return filepath.ToSlash(r)
	}
	return p
}
