// This file opens a workspace for building: its root, state directory,
// database, store and lock, and what every command in it does first
// (stop what a killed pex left running). It also evaluates the BUILD
// files when the saved evaluation no longer holds, and selects the rules
// a request's patterns name.

package builder

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/pex-build/pex/cache"
	"github.com/pex-build/pex/graph"
	"github.com/pex-build/pex/internal/db"
	"github.com/pex-build/pex/internal/procs"
	"github.com/pex-build/pex/starlark"
)

// Workspace is a workspace open for building.
type Workspace struct {
	Root   string
	Cwd    string // the directory pex was started in, relative to Root ("" at the root)
	layout db.Layout
	store  *cache.Store
	procs  *procs.Table
	fs     db.FS
	now    func() time.Time
	runner Runner

	db     *db.DB
	unlock func() // nil while not locked
	// Reaped is what opening found left by a killed pex, and stopped.
	Reaped procs.Report
}

// OpenOptions configure Open.
type OpenOptions struct {
	// Reaper is the pex executable that watches over this process's
	// commands (see internal/procs); "" for none.
	Reaper string
	// StoreDir overrides the store's location (default cache.DefaultDir).
	StoreDir string
	// FS, Now and Runner replace the file system the database checks,
	// the clock and the command runner: seams for tests.
	FS     db.FS
	Now    func() time.Time
	Runner Runner
}

// Open finds the workspace holding dir (the nearest directory up from it
// with a pex.star), stops the commands a killed pex left running there,
// and opens its store. Nothing is locked or read yet.
func Open(dir string, o OpenOptions) (*Workspace, error) {
	root, err := starlark.FindRoot(dir)
	if err != nil {
		return nil, err
	}
	abs, _ := filepath.Abs(dir)
	rel, err := filepath.Rel(root, abs)
	if err != nil {
		return nil, err
	}
	w := &Workspace{Root: root, Cwd: filepath.ToSlash(rel), layout: db.LayoutOf(root), fs: o.FS, now: o.Now, runner: o.Runner}
	if w.Cwd == "." {
		w.Cwd = ""
	}
	if w.fs == nil {
		w.fs = db.OS(root)
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.runner == nil {
		w.runner = processRunner{}
	}
	w.Reaped = procs.Reap(w.layout.Procs())
	w.procs = procs.Open(w.layout.Procs(), procs.Options{Reaper: o.Reaper})
	storeDir := o.StoreDir
	if storeDir == "" {
		if storeDir, err = cache.DefaultDir(); err != nil {
			return nil, err
		}
	}
	if w.store, err = cache.OpenStore(storeDir); err != nil {
		return nil, err
	}
	return w, nil
}

// Close releases the workspace: its lock, and the record of the process
// groups it started.
func (w *Workspace) Close() {
	w.release()
	w.procs.Close()
}

// Procs returns the record of the process groups this process starts.
func (w *Workspace) Procs() *procs.Table { return w.procs }

// TestsDir returns the directory where pex test records which tests
// failed (see pex test --failed).
func (w *Workspace) TestsDir() string { return w.layout.Tests() }

// StoreDir returns the directory of the content-addressed store.
func (w *Workspace) StoreDir() string { return w.store.Dir() }

// lock takes the workspace lock, waiting (and saying so through onWait)
// when another pex holds it, unless wait is false: then the error wraps
// cache.ErrLocked and names the holder.
func (w *Workspace) lock(wait bool, onWait func()) error {
	if w.unlock != nil {
		return nil
	}
	unlock, err := cache.Lock(w.layout.Lock(), wait, onWait)
	if err != nil {
		return err
	}
	w.unlock = unlock
	return nil
}

// Lock takes the workspace lock for as long as the workspace is open (pex
// watch holds it), waiting, and saying so through onWait, while another
// pex holds it.
func (w *Workspace) Lock(onWait func(string)) error {
	return w.lock(true, func() {
		if onWait != nil {
			onWait("waiting for another pex process in this workspace to finish...")
		}
	})
}

func (w *Workspace) release() {
	if w.unlock != nil {
		w.unlock()
		w.unlock = nil
	}
}

// database returns the workspace's database, opening it if needed, or
// again when fresh (after waiting for the lock: another pex may have
// saved it meanwhile).
func (w *Workspace) database(fresh bool) (*db.DB, error) {
	if w.db != nil && !fresh {
		return w.db, nil
	}
	d, err := db.Open(w.layout)
	if err != nil {
		return nil, err
	}
	d.Now = w.now
	w.db = d
	return d, nil
}

// shape is what, besides files, evaluating the BUILD files depends on.
func shape(set map[string]string) db.Shape {
	s := db.Shape{Set: set, Host: fmt.Sprintf("%s/%s/%d", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())}
	if exe, err := os.Executable(); err == nil {
		s.Pex = exe + " " + cache.StatPath(exe).String()
	}
	return s
}

// evaluate makes sure the database's evaluation holds for set, evaluating
// the BUILD files again when it does not, and says why it did ("" if it
// did not). An evaluation error is returned as loading returns it
// (positioned), and the database keeps the last good one.
func (w *Workspace) evaluate(ctx context.Context, d *db.DB, set map[string]string, jobs int) (*graph.Graph, string, error) {
	sh := shape(set)
	why := d.Evaluated(sh, w.fs)
	if why == "" {
		return nil, "", nil
	}
	_, g, err := w.reevaluate(ctx, d, sh, set, jobs)
	if err != nil {
		return nil, why, err
	}
	return g, why, nil
}

// reevaluate evaluates the BUILD files, adds the rules dynamic rules
// generated when they last ran, and saves the evaluation in d. On an
// evaluation error, the result still lists what was read.
func (w *Workspace) reevaluate(ctx context.Context, d *db.DB, sh db.Shape, set map[string]string, jobs int) (*starlark.Result, *graph.Graph, error) {
	res, err := starlark.LoadAll(ctx, starlark.Options{Root: w.Root, Set: set, Jobs: jobs})
	if err != nil {
		return res, nil, err
	}
	g, loaded := w.withGenerated(ctx, d, res.Graph, set)
	files := res.Files
	for _, f := range loaded {
		if !slices.Contains(files, f) {
			files = append(files, f)
		}
	}
	in := db.EvalInputs{Files: files, WalkDirs: res.Dirs, GlobDirs: res.GlobDirs}
	if err := d.SetEvaluation(g, in, sh, w.fs); err != nil {
		return res, nil, err
	}
	return res, g, nil
}

// patterns parses a request's patterns; none means everything at and
// below the current directory.
func (w *Workspace) patterns(args []string) ([]graph.Pattern, error) {
	if len(args) == 0 {
		if w.Cwd == "" {
			args = []string{"//..."}
		} else {
			args = []string{"//" + w.Cwd + "/..."}
		}
	}
	pats := make([]graph.Pattern, 0, len(args))
	for _, s := range args {
		p, err := graph.ParsePattern(s, w.Cwd)
		if err != nil {
			return nil, err
		}
		pats = append(pats, p)
	}
	return pats, nil
}

// ServiceNote is what a build that was asked for services says of them.
func ServiceNote(services []string) string {
	it := "they"
	if len(services) == 1 {
		it = "it"
	}
	return fmt.Sprintf("%s tagged service: built what %s needs; use 'pex run %s' or 'pex watch' to start it",
		strings.Join(services, ", "), it, services[0])
}
