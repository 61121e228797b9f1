// This file runs Starlark actions: rule(action = fn) runs fn(ctx) at
// execution time instead of a command. The rule records where fn is (its
// file and name) and the digest of that file's code; at run time the file
// is run again, once per build, with rule() and group() registering
// nothing, and fn is called on a thread of its own with the ctx below.

package starlark

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pex-build/pex/graph"
	sl "go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// ActionOptions configures the actions of one build.
type ActionOptions struct {
	// Root is the workspace root; Set the --set values config() reads.
	Root string
	Set  map[string]string
	// Packages are every package path: glob, in a BUILD file run again,
	// leaves out their directories as it did when the file was evaluated.
	Packages []string
	// IsOutput reports whether a rule outputs the workspace-relative
	// path, which glob leaves out too. Nil: none.
	IsOutput func(path string) bool
}

// Actions runs the actions of one build. It is safe for concurrent use:
// each file is run again once, by the first action that needs it.
type Actions struct {
	opts ActionOptions
	l    *loader
	init sync.Once
	err  error // of pex.star

	mu    sync.Mutex
	files map[string]*actionFile
}

type actionFile struct {
	once    sync.Once
	globals sl.StringDict
	err     error
}

// NewActions returns the action runner of a build.
func NewActions(ctx context.Context, opts ActionOptions) *Actions {
	// What files print at top level was printed when they were evaluated.
	l := newLoader(ctx, opts.Root, Options{Root: opts.Root, Set: opts.Set, Jobs: 1, Print: func(graph.Pos, string) {}})
	l.actions = &opts
	l.packages = map[string]bool{}
	for _, p := range opts.Packages {
		l.packages[p] = true
	}
	return &Actions{opts: opts, l: l, files: map[string]*actionFile{}}
}

// RunArgs is a command an action runs with ctx.run.
type RunArgs struct {
	Argv    []string // the program and its arguments; nil when Shell is set
	Shell   string   // a command for /bin/sh -c
	Env     map[string]string
	Dir     string // workspace-relative directory to run in
	Timeout time.Duration
}

// RunResult is how a command ctx.run ran ended.
type RunResult struct {
	Code           int // -1 when killed by a signal
	Stdout, Stderr []byte
}

// ActionCall is one call of a rule's action.
type ActionCall struct {
	Target *graph.Target
	// Srcs are the rule's srcs relative to its package, labels resolved
	// to the files they stand for (ctx.srcs).
	Srcs []string
	// Shared are the values inherited from dependencies: strings, and
	// *Value for what actions shared that is not one.
	Shared map[string]any
	// Readable reports whether ctx.read may read the workspace-relative
	// (or, for a host tool, absolute) path: a declared input, a tool, an
	// output of a dependency the rule's key takes, or its own output.
	Readable func(path string) bool
	// Run runs a command for ctx.run, in the rule's environment.
	Run func(ctx context.Context, args RunArgs) (RunResult, error)
}

// ActionResult is what an action left.
type ActionResult struct {
	Output   []byte   // what it printed
	Findings []string // ctx.warn
	// Shared are the values it wrote to ctx.shared (new keys, or values
	// other than inherited), strings or *Value, and their keys in the
	// order written.
	Shared      map[string]any
	SharedOrder []string
	// Generated is the Starlark text of its ctx.rule calls (see
	// Actions.Generate), "" for none.
	Generated string
	// Digest is the code digest of the action's file as it ran: when it
	// is not Target.Action.Digest, the file changed since evaluation.
	Digest string
}

// ActionError is the failure of an action: a Starlark error, ctx.fail,
// or a command ctx.run ran with check = True.
type ActionError struct {
	Msg  string
	Code int // the exit status of the failing ctx.run command, else -1
}

func (e *ActionError) Error() string { return e.Msg }

// Run calls the action of call.Target.
func (a *Actions) Run(ctx context.Context, call *ActionCall) (*ActionResult, error) {
	t := call.Target
	fn, digest, err := a.function(t.Action)
	if err != nil {
		return nil, &ActionError{Msg: err.Error(), Code: -1}
	}
	res := &ActionResult{Digest: digest}
	var out bytes.Buffer
	var outMu sync.Mutex
	th := &sl.Thread{
		Name: t.Label.String(),
		Print: func(_ *sl.Thread, msg string) {
			outMu.Lock()
			out.WriteString(msg + "\n")
			outMu.Unlock()
		},
		Load: func(*sl.Thread, string) (sl.StringDict, error) {
			return nil, errors.New("load is not allowed while an action runs")
		},
	}
	stop := context.AfterFunc(ctx, func() { th.Cancel("interrupted") })
	defer stop()
	c, err := newActionCtx(ctx, a.opts.Root, call)
	if err != nil {
		return nil, &ActionError{Msg: err.Error(), Code: -1}
	}
	var kwargs []sl.Tuple
	if fn.NumParams() > 1 || fn.HasKwargs() {
		// A function that declares more than ctx takes kwargs as keyword
		// arguments too.
		for _, k := range sortedKeys(c.kwargs) {
			kwargs = append(kwargs, sl.Tuple{sl.String(k), c.kwargs[k]})
		}
	}
	_, callErr := sl.Call(th, fn, sl.Tuple{c}, kwargs)
	res.Output = out.Bytes()
	res.Findings = c.findings
	res.Generated = c.gen.text()
	if callErr != nil {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		var ae *ActionError
		if errors.As(callErr, &ae) {
			return res, ae
		}
		return res, &ActionError{Msg: actionMessage(callErr), Code: -1}
	}
	if err := c.sharedWrites(res); err != nil {
		return res, &ActionError{Msg: err.Error(), Code: -1}
	}
	return res, nil
}

// actionMessage formats an error of an action's Starlark code: the place
// and message, then the backtrace when it says more.
func actionMessage(err error) string {
	var ee *sl.EvalError
	if errors.As(err, &ee) {
		var inner *ActionError
		if errors.As(ee.Unwrap(), &inner) {
			return inner.Msg
		}
		msg := evalPos(ee).String() + ": " + ee.Msg
		if starlarkFrames(ee.CallStack) > 1 {
			msg += "\n" + ee.Backtrace()
		}
		return msg
	}
	return err.Error()
}

// function returns the action's function, running its file again the
// first time, and the digest of the file's code as it ran.
func (a *Actions) function(act *graph.Action) (*sl.Function, string, error) {
	a.init.Do(func() { a.err = a.l.evalWorkspace() })
	if a.err != nil {
		return nil, "", a.err
	}
	a.mu.Lock()
	f := a.files[act.File]
	if f == nil {
		f = &actionFile{}
		a.files[act.File] = f
	}
	a.mu.Unlock()
	f.once.Do(func() { f.globals, f.err = a.runFile(act.File) })
	if f.err != nil {
		return nil, "", f.err
	}
	fn, ok := f.globals[act.Name].(*sl.Function)
	if !ok {
		return nil, "", fmt.Errorf("action %s: %s no longer defines the function %s (it changed since the BUILD files were evaluated; run pex again)",
			act, act.File, act.Name)
	}
	return fn, a.l.digest(act.File), nil
}

// runFile runs a BUILD or .star file again for its globals.
func (a *Actions) runFile(file string) (sl.StringDict, error) {
	if strings.HasSuffix(file, ".star") {
		ref, err := parseModule("//"+path.Dir("/" + file)[1:]+":"+path.Base(file), "")
		if err != nil {
			return nil, err
		}
		globals, err := a.l.loadModule(new(loadThread), ref)
		if err != nil {
			return nil, positioned(err)
		}
		return globals, nil
	}
	src, err := os.ReadFile(filepath.Join(a.l.root, filepath.FromSlash(file)))
	if err != nil {
		return nil, &graph.Error{Pos: graph.Pos{File: file}, Msg: ioMessage(err)}
	}
	dir := path.Dir("/" + file)[1:]
	p := pkgFile{path: dir, file: file}
	env := &fileEnv{l: a.l, lt: new(loadThread), kind: kindBuild, file: file, dir: dir, pkg: newPkgState(p)}
	globals, _, err := a.l.execFile(env, src)
	return globals, err
}

// actionCtx is the ctx an action receives.
type actionCtx struct {
	ctx      context.Context
	root     string
	call     *ActionCall
	attrs    sl.StringDict
	kwargs   sl.StringDict
	shared   *sl.Dict
	seeded   map[string]sl.Value
	mu       sync.Mutex
	findings []string
	gen      generated // ctx.rule calls
}

var _ sl.HasAttrs = (*actionCtx)(nil)

func newActionCtx(ctx context.Context, root string, call *ActionCall) (*actionCtx, error) {
	t := call.Target
	c := &actionCtx{ctx: ctx, root: root, call: call, kwargs: sl.StringDict{}, shared: sl.NewDict(len(call.Shared)),
		seeded: map[string]sl.Value{}}
	kw := sl.NewDict(len(t.Kwargs))
	for _, k := range sortedKeys(t.Kwargs) {
		v, err := parseValue(t.Kwargs[k])
		if err != nil {
			return nil, fmt.Errorf("kwargs %q: %v", k, err)
		}
		c.kwargs[k] = v
		_ = kw.SetKey(sl.String(k), v)
	}
	kw.Freeze()
	for _, k := range sortedKeys(call.Shared) {
		var v sl.Value
		switch x := call.Shared[k].(type) {
		case string:
			v = sl.String(x)
		case *Value:
			v = x.v
		default:
			v = sl.String(fmt.Sprint(x))
		}
		c.seeded[k] = v
		_ = c.shared.SetKey(sl.String(k), v)
	}
	srcs := make([]sl.Value, len(call.Srcs))
	for i, s := range call.Srcs {
		srcs[i] = sl.String(s)
	}
	outs := make([]sl.Value, len(t.Outs))
	for i, o := range t.Outs {
		outs[i] = sl.String(o)
	}
	srcList, outList := sl.NewList(srcs), sl.NewList(outs)
	srcList.Freeze()
	outList.Freeze()
	c.attrs = sl.StringDict{
		"name":   sl.String(t.Label.Name),
		"label":  sl.String(t.Label.String()),
		"srcs":   srcList,
		"outs":   outList,
		"kwargs": kw,
		"shared": c.shared,
		"run":    sl.NewBuiltin("ctx.run", c.run),
		"read":   sl.NewBuiltin("ctx.read", c.read),
		"write":  sl.NewBuiltin("ctx.write", c.write),
		"warn":   sl.NewBuiltin("ctx.warn", c.warn),
		"fail":   sl.NewBuiltin("ctx.fail", c.fail),
		"rule":   sl.NewBuiltin("ctx.rule", c.rule),
	}
	return c, nil
}

func (c *actionCtx) String() string        { return "<ctx " + c.call.Target.Label.String() + ">" }
func (c *actionCtx) Type() string          { return "ctx" }
func (c *actionCtx) Freeze()               {}
func (c *actionCtx) Truth() sl.Bool        { return true }
func (c *actionCtx) Hash() (uint32, error) { return 0, errors.New("unhashable type: ctx") }
func (c *actionCtx) AttrNames() []string   { return sortedKeys(c.attrs) }
func (c *actionCtx) Attr(name string) (sl.Value, error) {
	if v, ok := c.attrs[name]; ok {
		return v, nil
	}
	return nil, nil // the interpreter says "ctx has no .x field or method"
}

// pkgPath returns the workspace-relative path of p, a path relative to
// the rule's package, or an error if it leaves the workspace.
func (c *actionCtx) pkgPath(fn, p string) (string, error) {
	if path.IsAbs(p) {
		return path.Clean(p), nil
	}
	ws := path.Join(c.call.Target.Label.Pkg, p)
	if ws == ".." || hasDotDotPrefix(ws) {
		return "", fmt.Errorf("%s: %q is outside the workspace", fn, p)
	}
	return ws, nil
}

func (c *actionCtx) read(_ *sl.Thread, b *sl.Builtin, args sl.Tuple, kwargs []sl.Tuple) (sl.Value, error) {
	var p string
	if err := sl.UnpackArgs(b.Name(), args, kwargs, "path", &p); err != nil {
		return nil, err
	}
	ws, err := c.pkgPath(b.Name(), p)
	if err != nil {
		return nil, err
	}
	t := c.call.Target
	if !c.call.Readable(ws) {
		return nil, fmt.Errorf("%s: %s is not a declared input of %s; an action reads only its srcs, tools and the outputs of the rules it depends on: add %q to srcs (or tools), or name the rule that makes it in srcs or deps",
			b.Name(), ws, t.Label, p)
	}
	file := ws
	if !path.IsAbs(ws) {
		file = filepath.Join(c.root, filepath.FromSlash(ws))
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", b.Name(), ioMessage(err))
	}
	return sl.String(data), nil
}

func (c *actionCtx) write(_ *sl.Thread, b *sl.Builtin, args sl.Tuple, kwargs []sl.Tuple) (sl.Value, error) {
	var p, text string
	if err := sl.UnpackArgs(b.Name(), args, kwargs, "path", &p, "text", &text); err != nil {
		return nil, err
	}
	t := c.call.Target
	i := slices.IndexFunc(t.Outs, func(o string) bool { return path.Clean(o) == path.Clean(p) })
	if i < 0 {
		return nil, fmt.Errorf("%s: %q is not a declared output of %s (outs: %s); an action writes only its outputs",
			b.Name(), p, t.Label, quoteList(t.Outs))
	}
	dst := filepath.Join(c.root, filepath.FromSlash(t.OutFiles[i]))
	if err := os.MkdirAll(filepath.Dir(dst), 0o777); err != nil {
		return nil, fmt.Errorf("%s: %v", b.Name(), err)
	}
	if err := os.WriteFile(dst, []byte(text), 0o666); err != nil {
		return nil, fmt.Errorf("%s: %s", b.Name(), ioMessage(err))
	}
	return sl.None, nil
}

func (c *actionCtx) warn(_ *sl.Thread, b *sl.Builtin, args sl.Tuple, kwargs []sl.Tuple) (sl.Value, error) {
	var msg string
	if err := sl.UnpackArgs(b.Name(), args, kwargs, "msg", &msg); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.findings = append(c.findings, msg)
	c.mu.Unlock()
	return sl.None, nil
}

func (c *actionCtx) fail(th *sl.Thread, b *sl.Builtin, args sl.Tuple, kwargs []sl.Tuple) (sl.Value, error) {
	var msg string
	if err := sl.UnpackArgs(b.Name(), args, kwargs, "msg", &msg); err != nil {
		return nil, err
	}
	return nil, &ActionError{Msg: callerPos(th).String() + ": " + msg, Code: -1}
}

func (c *actionCtx) run(th *sl.Thread, b *sl.Builtin, args sl.Tuple, kwargs []sl.Tuple) (sl.Value, error) {
	var (
		cmd     sl.Value
		env     stringDict
		cwd     sl.Value = sl.None
		timeout sl.Value = sl.None
		check            = true
	)
	if err := sl.UnpackArgs(b.Name(), args, kwargs, "cmd", &cmd, "env?", &env, "cwd?", &cwd,
		"timeout?", &timeout, "check?", &check); err != nil {
		return nil, err
	}
	t := c.call.Target
	ra := RunArgs{Env: env, Dir: t.Label.Pkg}
	switch x := cmd.(type) {
	case sl.String:
		ra.Shell = string(x)
	case *sl.List, sl.Tuple:
		var argv stringList
		if err := argv.Unpack(x); err != nil {
			return nil, fmt.Errorf("%s: cmd: %v", b.Name(), err)
		}
		if len(argv) == 0 {
			return nil, fmt.Errorf("%s: cmd is an empty list; give a program and its arguments", b.Name())
		}
		ra.Argv = argv
	default:
		return nil, fmt.Errorf("%s: cmd is %s; want a shell command (string) or a program and its arguments (list of strings)", b.Name(), cmd.Type())
	}
	if s, ok := sl.AsString(cwd); ok {
		dir, err := c.pkgPath(b.Name()+": cwd", s)
		if err != nil || path.IsAbs(s) {
			return nil, fmt.Errorf("%s: cwd %q: want a directory inside the workspace, relative to the package", b.Name(), s)
		}
		ra.Dir = dir
	} else if cwd != sl.None {
		return nil, fmt.Errorf("%s: cwd is %s, want string", b.Name(), cwd.Type())
	}
	switch x := timeout.(type) {
	case sl.NoneType:
	case sl.String:
		d, err := time.ParseDuration(string(x))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf(`%s: timeout: bad duration %q: want a number and a unit, such as "30s"`, b.Name(), string(x))
		}
		ra.Timeout = d
	case sl.Int, sl.Float:
		f, _ := sl.AsFloat(x)
		if f <= 0 {
			return nil, fmt.Errorf("%s: timeout must be positive, got %s", b.Name(), x)
		}
		ra.Timeout = time.Duration(f * float64(time.Second))
	default:
		return nil, fmt.Errorf("%s: timeout is %s; want a duration string (\"30s\") or seconds", b.Name(), timeout.Type())
	}
	res, err := c.call.Run(c.ctx, ra)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", b.Name(), err)
	}
	if check && res.Code != 0 {
		what := "exited with status " + fmt.Sprint(res.Code)
		if res.Code < 0 {
			what = "was killed"
		}
		shown := cmd.String()
		msg := fmt.Sprintf("%s: %s: command %s %s", callerPos(th), b.Name(), shown, what)
		if out := strings.TrimRight(string(res.Stdout)+string(res.Stderr), "\n"); out != "" {
			msg += "\n" + out
		}
		return nil, &ActionError{Msg: msg, Code: res.Code}
	}
	r := starlarkstruct.FromStringDict(sl.String("result"), sl.StringDict{
		"code":   sl.MakeInt(res.Code),
		"stdout": sl.String(res.Stdout),
		"stderr": sl.String(res.Stderr),
	})
	r.Freeze()
	return r, nil
}

// sharedWrites fills res.Shared with what the action wrote to ctx.shared.
func (c *actionCtx) sharedWrites(res *ActionResult) error {
	label := c.call.Target.Label.String()
	for _, kv := range c.shared.Items() {
		k, ok := sl.AsString(kv[0])
		if !ok {
			return fmt.Errorf("ctx.shared: key %s is %s; shared values are named by strings", kv[0], kv[0].Type())
		}
		if old, seeded := c.seeded[k]; seeded {
			if eq, err := sl.Equal(old, kv[1]); err == nil && eq {
				continue
			}
		}
		if res.Shared == nil {
			res.Shared = map[string]any{}
		}
		res.SharedOrder = append(res.SharedOrder, k)
		if s, ok := kv[1].(sl.String); ok {
			res.Shared[k] = string(s)
			continue
		}
		text, err := Canonical(kv[1])
		if err != nil {
			return fmt.Errorf("ctx.shared[%q]: %v", k, err)
		}
		kv[1].Freeze()
		res.Shared[k] = &Value{Text: text, From: label, Type: kv[1].Type(), v: kv[1]}
	}
	return nil
}
