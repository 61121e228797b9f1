// This file evaluates pex.star and walks the workspace tree for packages.

package starlark

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"sync"

	"github.com/pex-build/pex/graph"
	sl "go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Names of the files that make a directory a package.
const (
	buildFile    = "BUILD"
	buildPexFile = "BUILD.pex"
)

// pkgFile is a package found by the walk.
type pkgFile struct {
	path string // package path, "" for the root
	file string // its BUILD or BUILD.pex file, workspace-relative
}

// evalWorkspace evaluates pex.star, which declares groups and config
// defaults, and may set ignore.
func (l *loader) evalWorkspace() error {
	l.noteFile(WorkspaceFile)
	src, err := os.ReadFile(filepath.Join(l.root, WorkspaceFile))
	if errors.Is(err, fs.ErrNotExist) {
		_, err := FindRoot(l.root)
		if err == nil {
			err = &graph.Error{Msg: fmt.Sprintf("%s is not the workspace root: it holds no %s", l.root, WorkspaceFile)}
		}
		return err
	}
	if err != nil {
		return &graph.Error{Pos: graph.Pos{File: WorkspaceFile}, Msg: ioMessage(err)}
	}
	env := &fileEnv{l: l, lt: new(loadThread), file: WorkspaceFile, kind: kindWorkspace}
	globals, f, err := l.execFile(env, src)
	if err != nil {
		return err
	}
	return l.setIgnore(globals["ignore"], f)
}

// setIgnore records pex.star's ignore list: directories, relative to the
// root, that are never walked for packages nor globbed.
func (l *loader) setIgnore(v sl.Value, f *syntax.File) error {
	if v == nil {
		return nil
	}
	pos := assignPos(f, "ignore")
	bad := func(format string, args ...any) error {
		return &graph.Error{Pos: pos, Msg: "ignore: " + fmt.Sprintf(format, args...)}
	}
	var dirs stringList
	if err := dirs.Unpack(v); err != nil {
		return bad("%v", err)
	}
	for _, d := range dirs {
		clean := path.Clean(d)
		if d == "" || path.IsAbs(clean) || clean == "." || clean == ".." || hasDotDotPrefix(clean) {
			return bad("%q is not a directory path inside the workspace", d)
		}
		l.ignore[clean] = true
	}
	return nil
}

// assignPos returns the position of the last top-level assignment to name
// in f, or the start of the file.
func assignPos(f *syntax.File, name string) graph.Pos {
	pos := graph.Pos{File: f.Path, Line: 1, Col: 1}
	for _, stmt := range f.Stmts {
		if a, ok := stmt.(*syntax.AssignStmt); ok {
			if id, ok := a.LHS.(*syntax.Ident); ok && id.Name == name {
				pos = toPos(id.NamePos)
			}
		}
	}
	return pos
}

// findPackages walks the tree from the root and returns its packages in
// path order, and every directory it listed. Directories are listed in
// parallel, since listing is all the walk does. When several directories
// are in error, the error is that of the first in path order.
func (l *loader) findPackages() ([]pkgFile, []string, error) {
	w := &walker{l: l, sem: make(chan struct{}, walkers)}
	w.visit("")
	w.wg.Wait()
	sort.Slice(w.pkgs, func(i, j int) bool { return w.pkgs[i].path < w.pkgs[j].path })
	sort.Strings(w.dirs)
	l.packages = map[string]bool{}
	for _, p := range w.pkgs {
		l.packages[p.path] = true
	}
	for _, dir := range w.nested {
		l.nested[dir] = true
	}
	if err := l.ctx.Err(); err != nil {
		return w.pkgs, w.dirs, err
	}
	if len(w.errs) > 0 {
		sort.Slice(w.errs, func(i, j int) bool { return w.errs[i].dir < w.errs[j].dir })
		return w.pkgs, w.dirs, w.errs[0].err
	}
	return w.pkgs, w.dirs, nil
}

// walkers bounds the goroutines listing directories. Listing waits on the
// file system more than on the CPU, so it is not tied to Options.Jobs.
const walkers = 16

// A walker is the state of one walk of the workspace tree.
type walker struct {
	l   *loader
	sem chan struct{}
	wg  sync.WaitGroup

	mu     sync.Mutex
	pkgs   []pkgFile
	dirs   []string
	nested []string // roots of nested workspaces
	errs   []dirError
}

type dirError struct {
	dir string
	err error
}

// visit lists dir and visits its subdirectories, on new goroutines while
// there are free slots, else on this one.
func (w *walker) visit(dir string) {
	if w.l.ctx.Err() != nil {
		return
	}
	entries, p, nested, err := w.l.listPackageDir(dir)
	w.mu.Lock()
	w.dirs = append(w.dirs, dirPath(dir))
	if nested {
		w.nested = append(w.nested, dir)
	}
	if p != nil {
		w.pkgs = append(w.pkgs, *p)
	}
	if err != nil {
		w.errs = append(w.errs, dirError{dir, err})
	}
	w.mu.Unlock()
	for _, e := range entries {
		sub := joinPath(dir, e.Name())
		if !e.IsDir() || !w.l.walkable(sub) {
			continue
		}
		select {
		case w.sem <- struct{}{}:
			w.wg.Go(func() {
				defer func() { <-w.sem }()
				w.visit(sub)
			})
		default:
			w.visit(sub)
		}
	}
}

// listPackageDir lists dir and returns the entries to walk and the package
// it holds, if any. The root of a nested workspace holds neither.
func (l *loader) listPackageDir(dir string) (_ []os.DirEntry, _ *pkgFile, nested bool, _ error) {
	entries, err := os.ReadDir(filepath.Join(l.root, filepath.FromSlash(dir)))
	if err != nil {
		return nil, nil, false, &graph.Error{Pos: graph.Pos{File: dirPath(dir)}, Msg: fmt.Sprintf(
			"cannot list directory: %s (add it to ignore in pex.star to skip it)", ioMessage(err))}
	}
	if dir != "" && holdsWorkspace(entries) {
		return nil, nil, true, nil
	}
	p, err := l.packageFile(dir, entries)
	return entries, p, false, err
}

// packageFile returns the package held by dir, or nil if it holds neither
// BUILD nor BUILD.pex.
func (l *loader) packageFile(dir string, entries []os.DirEntry) (*pkgFile, error) {
	var found []string
	for _, e := range entries {
		if name := e.Name(); name == buildFile || name == buildPexFile {
			if isFile(filepath.Join(l.root, filepath.FromSlash(dir), name), e) {
				found = append(found, joinPath(dir, name))
			}
		}
	}
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		return &pkgFile{path: dir, file: found[0]}, nil
	}
	return nil, &graph.Error{Pos: graph.Pos{File: found[1]}, Msg: fmt.Sprintf(
		"directory %s holds both %s and %s; remove one", dirPath(dir), buildFile, buildPexFile)}
}

// walkable reports whether the walk and glob may enter the directory dir
// (workspace-relative): it is neither .git, .pex, nor ignored.
func (l *loader) walkable(dir string) bool {
	switch path.Base(dir) {
	case ".git", ".pex":
		return false
	}
	return !l.ignore[dir]
}

// holdsWorkspace reports whether a directory with these entries holds
// pex.star.
func holdsWorkspace(entries []os.DirEntry) bool {
	for _, e := range entries {
		if e.Name() == WorkspaceFile {
			return true
		}
	}
	return false
}

// isFile reports whether the directory entry e, found at name, is a regular
// file or a symbolic link to one.
func isFile(name string, e os.DirEntry) bool {
	if e.Type().IsRegular() {
		return true
	}
	if e.Type()&fs.ModeSymlink == 0 {
		return false
	}
	fi, err := os.Stat(name)
	return err == nil && fi.Mode().IsRegular()
}

// joinPath joins a workspace-relative directory ("" for the root) and a
// relative path.
func joinPath(dir, name string) string {
	switch {
	case dir == "":
		return name
	case name == "":
		return dir
	}
	return dir + "/" + name
}

// dirPath names a workspace-relative directory in messages and records:
// the root is ".".
func dirPath(dir string) string {
	if dir == "" {
		return "."
	}
	return dir
}

func hasDotDotPrefix(p string) bool {
	return len(p) >= 3 && p[:3] == "../"
}

// ioMessage returns the text of a file system error without the path,
// which the caller gives in a better form.
func ioMessage(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
