// This file runs Starlark files: the dialect's options, the thread each
// file runs on, and the conversion of Starlark errors into positioned
// *graph.Error values.

package starlark

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"

	"github.com/pex-build/pex/cache"
	"github.com/pex-build/pex/graph"
	"go.starlark.net/resolve"
	sl "go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"
)

// fileOptions is the dialect of pex.star, BUILD and .star files: what Bazel
// users expect, plus a few conveniences (set, while, recursion, top-level
// if and for, reassigning globals).
var fileOptions = &syntax.FileOptions{
	Set:             true,
	While:           true,
	TopLevelControl: true,
	GlobalReassign:  true,
	Recursion:       true,
}

// fileKind says which kind of file a thread runs at top level.
type fileKind int

const (
	kindWorkspace fileKind = iota // pex.star
	kindBuild                     // a BUILD or BUILD.pex file
	kindModule                    // a .star file, run by load()
)

// envKey is the thread-local key under which a thread's *fileEnv lives.
const envKey = "pex.env"

// A fileEnv is what builtins know of the file a thread runs at top level.
// Functions defined in a .star module and called from a BUILD file run on
// the BUILD file's thread, so they see its package.
type fileEnv struct {
	l    *loader
	lt   *loadThread
	kind fileKind
	file string    // workspace-relative path of the file
	dir  string    // its directory, the package path for a BUILD file
	pkg  *pkgState // the package being evaluated, for kindBuild only
	// loaded are the digests of the modules the file loaded, in the
	// order of its load statements: part of the file's own digest.
	loaded []string
}

func envOf(th *sl.Thread) (*fileEnv, error) {
	env, ok := th.Local(envKey).(*fileEnv)
	if !ok {
		return nil, errors.New("called outside the evaluation of a pex file")
	}
	return env, nil
}

// evalPackage evaluates the BUILD file of p.
func (l *loader) evalPackage(p pkgFile) *pkgState {
	s := newPkgState(p)
	l.noteFile(p.file)
	src, err := os.ReadFile(filepath.Join(l.root, filepath.FromSlash(p.file)))
	if err != nil {
		s.err = &graph.Error{Pos: graph.Pos{File: p.file}, Msg: ioMessage(err)}
		return s
	}
	env := &fileEnv{l: l, lt: new(loadThread), kind: kindBuild, file: p.file, dir: p.path, pkg: s}
	_, _, s.err = l.execFile(env, src)
	return s
}

// execFile compiles and runs src as env.file, and returns its frozen
// globals and syntax tree.
func (l *loader) execFile(env *fileEnv, src []byte) (sl.StringDict, *syntax.File, error) {
	f, prog, err := sl.SourceProgramOptions(fileOptions, env.file, src, l.predeclared.Has)
	if err != nil {
		return nil, f, positioned(err)
	}
	th := &sl.Thread{
		Name: env.file,
		Print: func(th *sl.Thread, msg string) {
			l.printf(callerPos(th), msg)
		},
		Load: env.load,
	}
	th.SetLocal(envKey, env)
	stop := context.AfterFunc(l.ctx, func() { th.Cancel("interrupted") })
	defer stop()
	globals, err := prog.Init(th, l.predeclared)
	if err != nil {
		return nil, f, positioned(err)
	}
	globals.Freeze()
	l.digests.Store(env.file, codeDigest(src, env.loaded))
	return globals, f, nil
}

// codeDigest identifies the code of a file: its source and the digests of
// the modules it loads, and so, transitively, of every module it reaches.
// (BLAKE3, as every digest of pex: crypto/sha256 would link Go's FIPS
// module, whose start-up every pex command would pay.)
func codeDigest(src []byte, loaded []string) string {
	b := make([]byte, 0, len(src)+16+len(loaded)*65)
	b = append(b, fmt.Sprintf("%d\n", len(src))...)
	b = append(b, src...)
	for _, d := range loaded {
		b = append(b, "\n"+d...)
	}
	return cache.HashBytes(b).String()
}

// digest returns the code digest of a file run so far, "" if none.
func (l *loader) digest(file string) string {
	d, _ := l.digests.Load(file)
	s, _ := d.(string)
	return s
}

// load implements the load statement of env's file.
func (env *fileEnv) load(_ *sl.Thread, module string) (sl.StringDict, error) {
	ref, err := parseModule(module, env.dir)
	if err != nil {
		return nil, err
	}
	globals, err := env.l.loadModule(env.lt, ref)
	if err == nil {
		env.loaded = append(env.loaded, env.l.digest(ref.path))
	}
	return globals, err
}

// needPackage returns an error unless env evaluates a BUILD file: fn (a
// builtin) needs a package.
func (env *fileEnv) needPackage(fn string) error {
	switch {
	case env.pkg != nil:
		return nil
	case env.kind == kindWorkspace:
		return fmt.Errorf("%s: not allowed in %s; call it in a BUILD file", fn, WorkspaceFile)
	}
	return fmt.Errorf("%s: not allowed while loading %s; call it in a BUILD file, or in a function that a BUILD file calls",
		fn, moduleName(env.file))
}

func predeclared() sl.StringDict {
	d := sl.StringDict{
		"config":       sl.NewBuiltin("config", builtinConfig),
		"fail":         sl.NewBuiltin("fail", builtinFail),
		"glob":         sl.NewBuiltin("glob", builtinGlob),
		"group":        sl.NewBuiltin("group", builtinGroup),
		"host":         hostStruct(),
		"label":        sl.NewBuiltin("label", builtinLabel),
		"package_name": sl.NewBuiltin("package_name", builtinPackageName),
		"rule":         sl.NewBuiltin("rule", builtinRule),
		"struct":       sl.NewBuiltin("struct", starlarkstruct.Make),
	}
	d.Freeze()
	return d
}

// positioned converts an error from compiling or running a file into a
// *graph.Error. An error that already is one, from a module that a load
// statement ran, is returned as is: its position is the most precise.
func positioned(err error) error {
	var ge *graph.Error
	if errors.As(err, &ge) {
		return ge
	}
	var ee *sl.EvalError
	if errors.As(err, &ee) {
		e := &graph.Error{Pos: evalPos(ee), Msg: ee.Msg}
		if starlarkFrames(ee.CallStack) > 1 {
			e.Backtrace = ee.Backtrace() // only when it says more than Pos
		}
		var ce *loadCycleError
		if errors.As(err, &ce) {
			e.Msg = ce.Error()
		}
		return e
	}
	var se syntax.Error
	if errors.As(err, &se) {
		return &graph.Error{Pos: toPos(se.Pos), Msg: se.Msg}
	}
	var rl resolve.ErrorList
	if errors.As(err, &rl) {
		return &graph.Error{Pos: toPos(rl[0].Pos), Msg: rl[0].Msg}
	}
	return &graph.Error{Msg: err.Error()}
}

// evalPos returns the position of the innermost Starlark frame of an
// evaluation error: for an error of a builtin, the place that called it.
func evalPos(ee *sl.EvalError) graph.Pos {
	for i := len(ee.CallStack) - 1; i >= 0; i-- {
		if p := ee.CallStack[i].Pos; p.Filename() != "<builtin>" {
			return toPos(p)
		}
	}
	return graph.Pos{}
}

func toPos(p syntax.Position) graph.Pos {
	return graph.Pos{File: p.Filename(), Line: int(p.Line), Col: int(p.Col)}
}

// callerPos returns the position of the call to the running builtin.
func callerPos(th *sl.Thread) graph.Pos {
	return toPos(th.CallFrame(1).Pos)
}

// filePos returns the position, in file, of the innermost call running on
// th: for a builtin called from a function of a .star module that a BUILD
// file called, the position of that call in the BUILD file.
func filePos(th *sl.Thread, file string) graph.Pos {
	for i := 1; i < th.CallStackDepth(); i++ {
		if p := th.CallFrame(i).Pos; p.Filename() == file {
			return toPos(p)
		}
	}
	return callerPos(th)
}

// moduleName returns the canonical label of the .star file at the
// workspace-relative path p: "//dir:file.star".
func moduleName(p string) string {
	dir, file := path.Split(p)
	return "//" + path.Clean("/" + dir)[1:] + ":" + file
}

// starlarkFrames counts the frames of a call stack that are in Starlark
// code, not builtins.
func starlarkFrames(stack sl.CallStack) int {
	n := 0
	for _, f := range stack {
		if f.Pos.IsValid() && f.Pos.Filename() != "<builtin>" {
			n++
		}
	}
	return n
}
