package starlark

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pex-build/pex/graph"
)

// ---- Action identity: what LoadAll records of rule(action = f) ----

// identityTree is a workspace whose rules run actions defined in a BUILD
// file and in .star modules, and whose files the identity tests edit.
var identityTree = map[string]string{
	"tools/util.star": "helper = 1\n",
	"tools/defs.star": `load(":util.star", "helper")

def build(ctx):
    pass

def _impl(ctx):
    pass

def macro(name):
    rule(name = name, action = _impl)
`,
	"other/unrelated.star": "x = 1\n",
	"other/BUILD": `load(":unrelated.star", "x")

def own(ctx):
    pass

rule(name = "o", action = own)
`,
	"lib/BUILD": `load("//tools:defs.star", "build", "macro")

def local(ctx):
    pass

rule(name = "a", action = local)
rule(name = "b", action = build)
rule(name = "c", action = build)
macro("m")
`,
	"solo/BUILD": `def own(ctx):
    pass

rule(name = "s", action = own)
`,
}

var hexDigest = regexp.MustCompile(`^[0-9a-f]{64}$`)

// actionsOf loads root and returns the Action of each rule, by label.
func actionsOf(t *testing.T, root string) map[string]graph.Action {
	t.Helper()
	g, err := Load(context.Background(), Options{Root: root})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	out := map[string]graph.Action{}
	for _, tg := range g.Targets {
		if tg.Action != nil {
			out[tg.Label.String()] = *tg.Action
		}
	}
	return out
}

func TestActionIdentity(t *testing.T) {
	root := writeWorkspace(t, identityTree)
	acts := actionsOf(t, root)
	for label, want := range map[string]graph.Action{
		"//lib:a":   {File: "lib/BUILD", Name: "local"},
		"//lib:b":   {File: "tools/defs.star", Name: "build"},
		"//lib:c":   {File: "tools/defs.star", Name: "build"},
		"//lib:m":   {File: "tools/defs.star", Name: "_impl"},
		"//other:o": {File: "other/BUILD", Name: "own"},
		"//solo:s":  {File: "solo/BUILD", Name: "own"},
	} {
		got, ok := acts[label]
		if !ok {
			t.Errorf("%s has no action", label)
			continue
		}
		if got.File != want.File || got.Name != want.Name {
			t.Errorf("%s: action %s in %s, want %s in %s", label, got.Name, got.File, want.Name, want.File)
		}
		if !hexDigest.MatchString(got.Digest) {
			t.Errorf("%s: digest %q, want 64 hex digits", label, got.Digest)
		}
	}
	if got := (&graph.Action{File: "tools/defs.star", Name: "build"}).String(); got != "//tools:defs.star%build" {
		t.Errorf("Action.String() = %q", got)
	}
	// One file, one digest; different files, different digests.
	if acts["//lib:b"].Digest != acts["//lib:c"].Digest || acts["//lib:b"].Digest != acts["//lib:m"].Digest {
		t.Errorf("rules with actions in the same file have different digests: %v", acts)
	}
	if acts["//lib:a"].Digest == acts["//lib:b"].Digest || acts["//other:o"].Digest == acts["//solo:s"].Digest {
		t.Errorf("actions in different files have the same digest: %v", acts)
	}
	// Loading again without changes gives the same digests.
	if again := actionsOf(t, root); !reflect.DeepEqual(again, acts) {
		t.Errorf("digests changed without an edit:\n%v\n%v", acts, again)
	}
}

func TestActionDigestChanges(t *testing.T) {
	all := []string{"//lib:a", "//lib:b", "//lib:c", "//lib:m", "//other:o", "//solo:s"}
	for _, tc := range []struct {
		what    string
		file    string
		edit    func(string) string
		changed []string
	}{
		{
			what: "the body of an action in a .star file",
			file: "tools/defs.star",
			edit: func(s string) string {
				return strings.Replace(s, "def build(ctx):\n    pass", "def build(ctx):\n    print(1)", 1)
			},
			changed: []string{"//lib:a", "//lib:b", "//lib:c", "//lib:m"},
		},
		{
			what:    "a comment in a .star file",
			file:    "tools/defs.star",
			edit:    func(s string) string { return s + "# more\n" },
			changed: []string{"//lib:a", "//lib:b", "//lib:c", "//lib:m"},
		},
		{
			what:    "a module the .star file loads",
			file:    "tools/util.star",
			edit:    func(string) string { return "helper = 2\n" },
			changed: []string{"//lib:a", "//lib:b", "//lib:c", "//lib:m"},
		},
		{
			what:    "a module no action file loads",
			file:    "other/unrelated.star",
			edit:    func(string) string { return "x = 2\n" },
			changed: []string{"//other:o"},
		},
		{
			what:    "the BUILD file defining an action",
			file:    "lib/BUILD",
			edit:    func(s string) string { return strings.Replace(s, "    pass", "    return None", 1) },
			changed: []string{"//lib:a"},
		},
		{
			what:    "another BUILD file",
			file:    "solo/BUILD",
			edit:    func(s string) string { return s + "rule(name = \"extra\")\n" },
			changed: []string{"//solo:s"},
		},
	} {
		t.Run(tc.what, func(t *testing.T) {
			root := writeWorkspace(t, identityTree)
			before := actionsOf(t, root)
			writeFile(t, root, tc.file, tc.edit(identityTree[tc.file]))
			after := actionsOf(t, root)
			for _, label := range all {
				changed := before[label].Digest != after[label].Digest
				if want := slices.Contains(tc.changed, label); changed != want {
					t.Errorf("editing %s: digest of %s changed = %v, want %v", tc.file, label, changed, want)
				}
			}
		})
	}
}

// TestActionDigestUnrelatedModule checks that a module that the action's
// file does not load, but that the same package's other modules do, is
// not part of the digest.
func TestActionDigestUnrelatedModule(t *testing.T) {
	files := map[string]string{
		"tools/a.star": "def act(ctx):\n    pass\n",
		"tools/b.star": "b = 1\n",
		"BUILD": `load("//tools:a.star", "act")
load("//tools:b.star", "b")
rule(name = "r", action = act, tags = [str(b)])
`,
	}
	root := writeWorkspace(t, files)
	before := actionsOf(t, root)["//:r"]
	writeFile(t, root, "tools/b.star", "b = 2\n")
	after := actionsOf(t, root)["//:r"]
	if before != after {
		t.Errorf("editing tools/b.star changed the action of //:r, defined in tools/a.star: %v -> %v", before, after)
	}
	writeFile(t, root, "tools/a.star", "def act(ctx):\n    fail(1)\n")
	if again := actionsOf(t, root)["//:r"]; again.Digest == after.Digest {
		t.Error("editing tools/a.star left the digest of its action as it was")
	}
}

func TestActionKwargsCanonical(t *testing.T) {
	res := mustLoad(t, map[string]string{
		"BUILD": `
def act(ctx):
    pass

rule(name = "x", action = act, kwargs = {"n": 1, "d": {"a": 1, "b": [2, (3,)]}, "s": struct(z = 1, y = "w")})
rule(name = "y", action = act, kwargs = {"s": struct(y = "w", z = 1), "d": {"b": [2, (3,)], "a": 1}, "n": 1})
rule(name = "none", action = act, kwargs = None)
`,
	}, Options{})
	x, y := target(t, res.Graph, "//:x"), target(t, res.Graph, "//:y")
	want := map[string]string{"n": "1", "d": `{"a": 1, "b": [2, (3,)]}`, "s": `struct(y = "w", z = 1)`}
	if !reflect.DeepEqual(x.Kwargs, want) {
		t.Errorf("x.Kwargs = %q, want %q", x.Kwargs, want)
	}
	if !reflect.DeepEqual(y.Kwargs, x.Kwargs) {
		t.Errorf("kwargs built in another order differ: %q vs %q", y.Kwargs, x.Kwargs)
	}
	if k := target(t, res.Graph, "//:none").Kwargs; len(k) != 0 {
		t.Errorf("kwargs = None gave %q", k)
	}
}

func TestActionKwargsErrors(t *testing.T) {
	for _, tc := range []struct {
		build string
		line  int
		want  string
	}{
		{"def act(ctx):\n    pass\n\nrule(\n    name = \"x\",\n    action = act,\n    kwargs = {\"f\": act},\n)\n",
			4, `value of "f": a function cannot be encoded`},
		{"def act(ctx):\n    pass\nrule(name = \"x\", action = act, kwargs = {\"n\": [1, float(\"nan\")]})\n",
			3, `value of "n": the float nan cannot be encoded`},
		{"def act(ctx):\n    pass\nrule(name = \"x\", action = act, kwargs = {\"s\": set([1])})\n",
			3, `value of "s": a set cannot be encoded`},
		{"def act(ctx):\n    pass\nrule(name = \"x\", action = act, kwargs = {1: 2})\n",
			3, "key 1 is int, want string"},
		{"def act(ctx):\n    pass\nrule(name = \"x\", action = act, kwargs = [1])\n",
			3, "got list, want dict"},
	} {
		ge := loadErr(t, map[string]string{"pkg/BUILD": tc.build}, Options{})
		if ge.Pos.File != "pkg/BUILD" || ge.Pos.Line != tc.line {
			t.Errorf("error at %v, want pkg/BUILD:%d (the rule call)\n%v", ge.Pos, tc.line, ge)
		}
		if !strings.Contains(ge.Msg, tc.want) || !strings.Contains(ge.Msg, "kwargs") {
			t.Errorf("error %q, want it to name kwargs and contain %q", ge.Msg, tc.want)
		}
	}
}

// ---- Actions.Run ----

// actionEnv is a workspace on disk, loaded, and the actions of a build
// of it.
type actionEnv struct {
	root string
	res  *Result
	acts *Actions
}

func newActionEnv(t *testing.T, files map[string]string) *actionEnv {
	t.Helper()
	root := writeWorkspace(t, files)
	res, err := LoadAll(context.Background(), Options{Root: root})
	if err != nil {
		t.Fatalf("LoadAll: %v", err)
	}
	e := &actionEnv{root: root, res: res}
	e.reset()
	return e
}

// reset starts a new build: files are run again afresh.
func (e *actionEnv) reset() {
	e.acts = NewActions(context.Background(), ActionOptions{Root: e.root, Packages: e.res.Packages})
}

// fakeRun stands in for running processes: it records what ctx.run asked
// and answers with result.
type fakeRun struct {
	mu     sync.Mutex
	calls  []RunArgs
	result RunResult
	err    error
}

func (f *fakeRun) run(_ context.Context, args RunArgs) (RunResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, args)
	return f.result, f.err
}

// call returns the call of label's action: its srcs as written, the
// readable paths given, and fake to run commands.
func (e *actionEnv) call(t *testing.T, label string, fake *fakeRun, readable ...string) *ActionCall {
	t.Helper()
	tg := target(t, e.res.Graph, label)
	if fake == nil {
		fake = &fakeRun{}
	}
	return &ActionCall{
		Target:   tg,
		Srcs:     tg.Srcs,
		Shared:   map[string]any{"V": "1"},
		Readable: func(p string) bool { return slices.Contains(readable, p) },
		Run:      fake.run,
	}
}

func (e *actionEnv) run(t *testing.T, call *ActionCall) (*ActionResult, error) {
	t.Helper()
	return e.acts.Run(context.Background(), call)
}

// mustRun runs call and fails the test on error.
func (e *actionEnv) mustRun(t *testing.T, call *ActionCall) *ActionResult {
	t.Helper()
	res, err := e.run(t, call)
	if err != nil {
		t.Fatalf("Run %s: %v", call.Target.Label, err)
	}
	return res
}

// runErr runs call and returns its error as an *ActionError, failing the
// test if there is none.
func (e *actionEnv) runErr(t *testing.T, call *ActionCall) (*ActionResult, *ActionError) {
	t.Helper()
	res, err := e.run(t, call)
	if err == nil {
		t.Fatalf("Run %s succeeded, want an error (output %q)", call.Target.Label, res.Output)
	}
	var ae *ActionError
	if !errors.As(err, &ae) {
		t.Fatalf("Run error is %T (%v), want *ActionError", err, err)
	}
	return res, ae
}

func TestActionCtxAttrs(t *testing.T) {
	e := newActionEnv(t, map[string]string{
		"lib/BUILD": `
def show(ctx):
    print(ctx.name, ctx.label, ctx.srcs, ctx.outs, type(ctx), str(ctx))
    print(sorted(dir(ctx)))

rule(name = "r", action = show, srcs = ["a.c", "sub/b.c"], outs = ["o.txt", "gen/p.txt"])

def bad(ctx):
    return ctx.nope

rule(name = "bad", action = bad)

def frozen(ctx):
    ctx.srcs.append("x")

rule(name = "frozen", action = frozen, srcs = ["a.c"])
`,
		"lib/a.c":     "",
		"lib/sub/b.c": "",
	})
	res := e.mustRun(t, e.call(t, "//lib:r", nil))
	want := `r //lib:r ["a.c", "sub/b.c"] ["o.txt", "gen/p.txt"] ctx <ctx //lib:r>
["fail", "kwargs", "label", "name", "outs", "read", "rule", "run", "shared", "srcs", "warn", "write"]
`
	if string(res.Output) != want {
		t.Errorf("output:\n%s\nwant:\n%s", res.Output, want)
	}
	if !hexDigest.MatchString(res.Digest) {
		t.Errorf("Digest = %q", res.Digest)
	}
	_, ae := e.runErr(t, e.call(t, "//lib:bad", nil))
	if !strings.Contains(ae.Msg, "ctx has no .nope field or method") || !strings.HasPrefix(ae.Msg, "lib/BUILD:9:") || ae.Code != -1 {
		t.Errorf("error %q (code %d), want lib/BUILD:9: ctx has no .nope field, code -1", ae.Msg, ae.Code)
	}
	_, ae = e.runErr(t, e.call(t, "//lib:frozen", nil))
	if !strings.Contains(ae.Msg, "frozen") {
		t.Errorf("appending to ctx.srcs: %q, want a frozen list error", ae.Msg)
	}
}

func TestActionWrite(t *testing.T) {
	e := newActionEnv(t, map[string]string{
		"lib/BUILD": `
def w(ctx):
    ctx.write("out/x.txt", "hello " + ctx.name)
    ctx.write(path = "./y.txt", text = "")

rule(name = "w", action = w, outs = ["out/x.txt", "y.txt"])

def undeclared(ctx):
    ctx.write("other.txt", "no")

rule(name = "undeclared", action = undeclared, outs = ["out/z.txt"])

def escape(ctx):
    ctx.write("../lib2/x.txt", "no")

rule(name = "escape", action = escape, outs = ["x.txt"])

def unclean(ctx):
    ctx.write(ctx.outs[0], "u")
    ctx.write(ctx.outs[1], "v")
    ctx.write("u.txt", "u2")

rule(name = "unclean", action = unclean, outs = ["./u.txt", "d//v.txt"])

def notext(ctx):
    ctx.write("t.txt", 3)

rule(name = "notext", action = notext, outs = ["t.txt"])
`,
	})
	e.mustRun(t, e.call(t, "//lib:w", nil))
	data, err := os.ReadFile(filepath.Join(e.root, "lib", "out", "x.txt"))
	if err != nil || string(data) != "hello w" {
		t.Errorf("lib/out/x.txt = %q, %v; want %q", data, err, "hello w")
	}
	if fi, err := os.Stat(filepath.Join(e.root, "lib", "y.txt")); err != nil || fi.Size() != 0 {
		t.Errorf("lib/y.txt: %v, want an empty file", err)
	}

	// Outputs declared in another spelling of their path are outputs all
	// the same: ctx.write(ctx.outs[i]) writes them.
	e.mustRun(t, e.call(t, "//lib:unclean", nil))
	for p, want := range map[string]string{"lib/u.txt": "u2", "lib/d/v.txt": "v"} {
		if data, err := os.ReadFile(filepath.Join(e.root, filepath.FromSlash(p))); err != nil || string(data) != want {
			t.Errorf("%s = %q, %v; want %q", p, data, err, want)
		}
	}

	for _, tc := range []struct{ label, want string }{
		{"//lib:undeclared", `ctx.write: "other.txt" is not a declared output of //lib:undeclared (outs: "out/z.txt")`},
		{"//lib:escape", `"../lib2/x.txt" is not a declared output of //lib:escape`},
		{"//lib:notext", "ctx.write: for parameter text: got int, want string"},
	} {
		_, ae := e.runErr(t, e.call(t, tc.label, nil))
		if !strings.Contains(ae.Msg, tc.want) {
			t.Errorf("%s: error %q, want it to contain %q", tc.label, ae.Msg, tc.want)
		}
		if !strings.HasPrefix(ae.Msg, "lib/BUILD:") {
			t.Errorf("%s: error %q, want it positioned in lib/BUILD", tc.label, ae.Msg)
		}
	}
	for _, p := range []string{"lib/other.txt", "lib2/x.txt"} {
		if _, err := os.Stat(filepath.Join(e.root, filepath.FromSlash(p))); err == nil {
			t.Errorf("%s was written", p)
		}
	}
}

func TestActionRead(t *testing.T) {
	host := filepath.ToSlash(filepath.Join(t.TempDir(), "tool.txt"))
	if err := os.WriteFile(filepath.FromSlash(host), []byte("host tool"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := `
def r(ctx):
    print(ctx.read("in.txt"))
    print(ctx.read("sub/deep.txt"))
    print(ctx.read("../data/d.txt"))

rule(name = "r", action = r, srcs = ["in.txt"])

def host(ctx):
    print(ctx.read(ctx.kwargs["tool"]))

rule(name = "host", action = host, kwargs = {"tool": HOST})

def secret(ctx):
    ctx.read("secret.txt")

rule(name = "secret", action = secret)

def outside(ctx):
    ctx.read("../../etc/passwd")

rule(name = "outside", action = outside)

def missing(ctx):
    ctx.read("gone.txt")

rule(name = "missing", action = missing)
`
	e := newActionEnv(t, map[string]string{
		"lib/BUILD":        strings.Replace(build, "HOST", strconv.Quote(host), 1),
		"lib/in.txt":       "input",
		"lib/sub/deep.txt": "deep",
		"lib/secret.txt":   "secret",
		"data/d.txt":       "data",
	})
	var asked []string
	call := e.call(t, "//lib:r", nil)
	call.Readable = func(p string) bool {
		asked = append(asked, p)
		return p == "lib/in.txt" || p == "lib/sub/deep.txt" || p == "data/d.txt"
	}
	res := e.mustRun(t, call)
	if want := "input\ndeep\ndata\n"; string(res.Output) != want {
		t.Errorf("output %q, want %q", res.Output, want)
	}
	if want := []string{"lib/in.txt", "lib/sub/deep.txt", "data/d.txt"}; !slices.Equal(asked, want) {
		t.Errorf("Readable asked for %q, want workspace-relative %q", asked, want)
	}

	// A host tool is read by its absolute path.
	res = e.mustRun(t, e.call(t, "//lib:host", nil, host))
	if string(res.Output) != "host tool\n" {
		t.Errorf("reading a host tool: %q", res.Output)
	}
	if _, ae := e.runErr(t, e.call(t, "//lib:host", nil)); !strings.Contains(ae.Msg, host+" is not a declared input") {
		t.Errorf("reading an undeclared host file: %q", ae.Msg)
	}

	_, ae := e.runErr(t, e.call(t, "//lib:secret", nil))
	for _, want := range []string{"lib/BUILD:15:", "ctx.read:", "lib/secret.txt is not a declared input of //lib:secret",
		`add "secret.txt" to srcs (or tools)`, "deps"} {
		if !strings.Contains(ae.Msg, want) {
			t.Errorf("reading an undeclared file: %q, want it to contain %q", ae.Msg, want)
		}
	}
	if strings.Contains(ae.Msg, "\"secret\"\n") || strings.HasSuffix(ae.Msg, "secret\n") {
		t.Errorf("the error shows the contents: %q", ae.Msg)
	}
	_, ae = e.runErr(t, e.call(t, "//lib:outside", nil))
	if !strings.Contains(ae.Msg, `"../../etc/passwd" is outside the workspace`) {
		t.Errorf("reading outside the workspace: %q", ae.Msg)
	}
	_, ae = e.runErr(t, e.call(t, "//lib:missing", nil, "lib/gone.txt"))
	if !strings.Contains(ae.Msg, "ctx.read:") || strings.Contains(ae.Msg, e.root) {
		t.Errorf("reading a missing file: %q, want a ctx.read error without the root", ae.Msg)
	}
}

func TestActionRun(t *testing.T) {
	e := newActionEnv(t, map[string]string{
		"lib/BUILD": `
def shell(ctx):
    r = ctx.run("echo hi > out.txt")
    print(r.code, repr(r.stdout), repr(r.stderr))

rule(name = "shell", action = shell)

def argv(ctx):
    ctx.run(["cc", "-c", "a.c"], env = {"CC": "gcc", "X": "1"}, cwd = "sub", timeout = "2s")
    ctx.run(("ls",), timeout = 1.5)
    ctx.run(["ls"], timeout = 3, cwd = "..")
    ctx.run(["ls"], cwd = ".")

rule(name = "argv", action = argv)
`,
	})
	fake := &fakeRun{result: RunResult{Code: 0, Stdout: []byte("out\n"), Stderr: []byte("err")}}
	res := e.mustRun(t, e.call(t, "//lib:shell", fake))
	if want := []RunArgs{{Shell: "echo hi > out.txt", Dir: "lib"}}; !reflect.DeepEqual(fake.calls, want) {
		t.Errorf("RunArgs = %+v, want %+v", fake.calls, want)
	}
	if want := "0 \"out\\n\" \"err\"\n"; string(res.Output) != want {
		t.Errorf("output %q, want %q", res.Output, want)
	}

	fake = &fakeRun{}
	e.mustRun(t, e.call(t, "//lib:argv", fake))
	want := []RunArgs{
		{Argv: []string{"cc", "-c", "a.c"}, Env: map[string]string{"CC": "gcc", "X": "1"}, Dir: "lib/sub", Timeout: 2 * time.Second},
		{Argv: []string{"ls"}, Dir: "lib", Timeout: 1500 * time.Millisecond},
		{Argv: []string{"ls"}, Dir: ".", Timeout: 3 * time.Second}, // the root
		{Argv: []string{"ls"}, Dir: "lib"},
	}
	if len(fake.calls) != len(want) {
		t.Fatalf("%d commands run, want %d: %+v", len(fake.calls), len(want), fake.calls)
	}
	for i := range want {
		if !reflect.DeepEqual(fake.calls[i], want[i]) {
			t.Errorf("command %d: %+v, want %+v", i, fake.calls[i], want[i])
		}
	}
}

func TestActionRunArgErrors(t *testing.T) {
	for _, tc := range []struct{ call, want string }{
		{`ctx.run([])`, "ctx.run: cmd is an empty list"},
		{`ctx.run(3)`, "ctx.run: cmd is int; want a shell command (string) or a program and its arguments"},
		{`ctx.run(["a", 1])`, "ctx.run: cmd: element 1 is int, want string"},
		{`ctx.run("x", timeout = "soon")`, `ctx.run: timeout: bad duration "soon"`},
		{`ctx.run("x", timeout = "-1s")`, `ctx.run: timeout: bad duration "-1s"`},
		{`ctx.run("x", timeout = 0)`, "ctx.run: timeout must be positive, got 0"},
		{`ctx.run("x", timeout = -0.5)`, "ctx.run: timeout must be positive, got -0.5"},
		{`ctx.run("x", timeout = [1])`, "ctx.run: timeout is list"},
		{`ctx.run("x", cwd = "/tmp")`, `ctx.run: cwd "/tmp": want a directory inside the workspace`},
		{`ctx.run("x", cwd = "../..")`, `ctx.run: cwd "../..": want a directory inside the workspace`},
		{`ctx.run("x", cwd = 1)`, "ctx.run: cwd is int, want string"},
		{`ctx.run("x", env = {"A": 1})`, `value of "A" is int, want string`},
		{`ctx.run("x", nope = 1)`, "unexpected keyword argument"},
	} {
		t.Run(tc.call, func(t *testing.T) {
			e := newActionEnv(t, map[string]string{
				"lib/BUILD": "def act(ctx):\n    " + tc.call + "\n\nrule(name = \"r\", action = act)\n",
			})
			fake := &fakeRun{}
			_, ae := e.runErr(t, e.call(t, "//lib:r", fake))
			if !strings.Contains(ae.Msg, tc.want) {
				t.Errorf("error %q, want it to contain %q", ae.Msg, tc.want)
			}
			if !strings.HasPrefix(ae.Msg, "lib/BUILD:2:") {
				t.Errorf("error %q, want it positioned at lib/BUILD:2", ae.Msg)
			}
			if ae.Code != -1 {
				t.Errorf("Code = %d, want -1", ae.Code)
			}
			if len(fake.calls) != 0 {
				t.Errorf("ran %+v despite the error", fake.calls)
			}
		})
	}
}

func TestActionRunCheck(t *testing.T) {
	e := newActionEnv(t, map[string]string{
		"lib/BUILD": `
def checked(ctx):
    ctx.run(["make", "all"])
    print("not reached")

rule(name = "checked", action = checked)

def unchecked(ctx):
    r = ctx.run("false", check = False)
    print(r.code, r.stdout, r.stderr)
    if r.code != 0:
        print("failed as expected")

rule(name = "unchecked", action = unchecked)

def helper_fails(ctx):
    ctx.run("exit 1")

rule(name = "shellfail", action = helper_fails)
`,
	})
	fake := &fakeRun{result: RunResult{Code: 3, Stdout: []byte("compiling\n"), Stderr: []byte("error: boom\n")}}
	res, ae := e.runErr(t, e.call(t, "//lib:checked", fake))
	if ae.Code != 3 {
		t.Errorf("Code = %d, want 3", ae.Code)
	}
	for _, want := range []string{"lib/BUILD:3:", `ctx.run: command ["make", "all"] exited with status 3`, "compiling\nerror: boom"} {
		if !strings.Contains(ae.Msg, want) {
			t.Errorf("error %q, want it to contain %q", ae.Msg, want)
		}
	}
	if strings.Contains(string(res.Output), "not reached") {
		t.Error("the action went on after a failed command")
	}

	fake = &fakeRun{result: RunResult{Code: -1}}
	_, ae = e.runErr(t, e.call(t, "//lib:shellfail", fake))
	if ae.Code != -1 || !strings.Contains(ae.Msg, `command "exit 1" was killed`) {
		t.Errorf("killed command: %q code %d, want was killed, -1", ae.Msg, ae.Code)
	}

	fake = &fakeRun{result: RunResult{Code: 2, Stdout: []byte("o"), Stderr: []byte("e")}}
	res = e.mustRun(t, e.call(t, "//lib:unchecked", fake))
	if want := "2 o e\nfailed as expected\n"; string(res.Output) != want {
		t.Errorf("output %q, want %q", res.Output, want)
	}

	fake = &fakeRun{err: errors.New("cannot start sh: no such file")}
	_, ae = e.runErr(t, e.call(t, "//lib:unchecked", fake))
	if !strings.Contains(ae.Msg, "ctx.run: cannot start sh: no such file") || ae.Code != -1 {
		t.Errorf("run error: %q code %d", ae.Msg, ae.Code)
	}
}

func TestActionWarnFailPrint(t *testing.T) {
	e := newActionEnv(t, map[string]string{
		"tools/defs.star": `
def check(ctx, ok):
    if not ok:
        ctx.fail("not ok: " + ctx.name)
`,
		"lib/BUILD": `load("//tools:defs.star", "check")

def noisy(ctx):
    print("hello")
    ctx.warn("deprecated flag")
    print("a", 1, [2])
    ctx.warn(msg = "second")

rule(name = "noisy", action = noisy)

def failing(ctx):
    print("before")
    ctx.warn("w")
    ctx.fail("broken")

rule(name = "failing", action = failing)

def deep(ctx):
    check(ctx, False)

rule(name = "deep", action = deep)

def crash(ctx):
    x = {}
    return x["missing"]

rule(name = "crash", action = crash)
`,
	})
	res := e.mustRun(t, e.call(t, "//lib:noisy", nil))
	if want := "hello\na 1 [2]\n"; string(res.Output) != want {
		t.Errorf("output %q, want %q", res.Output, want)
	}
	if want := []string{"deprecated flag", "second"}; !slices.Equal(res.Findings, want) {
		t.Errorf("findings %q, want %q", res.Findings, want)
	}

	res, ae := e.runErr(t, e.call(t, "//lib:failing", nil))
	if ae.Msg != "lib/BUILD:14:13: broken" || ae.Code != -1 {
		t.Errorf("ctx.fail: %q code %d, want %q, -1", ae.Msg, ae.Code, "lib/BUILD:14:13: broken")
	}
	if string(res.Output) != "before\n" || !slices.Equal(res.Findings, []string{"w"}) {
		t.Errorf("a failed action lost its output %q or findings %q", res.Output, res.Findings)
	}

	_, ae = e.runErr(t, e.call(t, "//lib:deep", nil))
	if ae.Msg != "tools/defs.star:4:17: not ok: deep" {
		t.Errorf("ctx.fail in a helper: %q, want it positioned in tools/defs.star", ae.Msg)
	}

	_, ae = e.runErr(t, e.call(t, "//lib:crash", nil))
	if !strings.HasPrefix(ae.Msg, "lib/BUILD:25:") || !strings.Contains(ae.Msg, `key "missing" not in dict`) || ae.Code != -1 {
		t.Errorf("a Starlark error: %q code %d", ae.Msg, ae.Code)
	}
}

func TestActionShared(t *testing.T) {
	e := newActionEnv(t, map[string]string{
		"lib/BUILD": `
def s(ctx):
    print(ctx.shared["V"], type(ctx.shared["L"]), ctx.shared["L"], ctx.shared["U"])
    ctx.shared["Z"] = "new"
    ctx.shared["N"] = {"b": [1, (2,)], "a": struct(y = 1, x = 2)}
    ctx.shared["V"] = "1"      # as inherited: not written
    ctx.shared["L"] = [1, 2]   # equal to the inherited value: not written
    ctx.shared["C"] = "3"      # changed
    ctx.shared["I"] = 7

rule(name = "s", action = s)

def none(ctx):
    pass

rule(name = "none", action = none)

def fn(ctx):
    ctx.shared["F"] = fn

rule(name = "fn", action = fn)

def key(ctx):
    ctx.shared[1] = "x"

rule(name = "key", action = key)

def mutate(ctx):
    ctx.shared["L"].append(3)

rule(name = "mutate", action = mutate)

def nan(ctx):
    ctx.shared["X"] = [float("nan")]

rule(name = "nan", action = nan)
`,
	})
	list, err := ParseValue("[1, 2]", "//dep:d")
	if err != nil {
		t.Fatal(err)
	}
	shared := map[string]any{"V": "1", "L": list, "C": "2", "U": "u"}
	call := e.call(t, "//lib:s", nil)
	call.Shared = shared
	res := e.mustRun(t, call)
	if want := "1 list [1, 2] u\n"; string(res.Output) != want {
		t.Errorf("output %q, want %q", res.Output, want)
	}
	if len(res.Shared) != 4 {
		t.Errorf("Shared = %v, want C, I, N and Z only", res.Shared)
	}
	if res.Shared["Z"] != "new" || res.Shared["C"] != "3" {
		t.Errorf("Shared strings: Z = %#v, C = %#v, want Go strings \"new\" and \"3\"", res.Shared["Z"], res.Shared["C"])
	}
	for _, k := range []string{"V", "L", "U"} {
		if _, ok := res.Shared[k]; ok {
			t.Errorf("Shared holds the inherited, unchanged %s", k)
		}
	}
	n, ok := res.Shared["N"].(*Value)
	if !ok {
		t.Fatalf("Shared[N] is %T, want *Value", res.Shared["N"])
	}
	if want := (Value{Text: `{"a": struct(x = 2, y = 1), "b": [1, (2,)]}`, From: "//lib:s", Type: "dict"}); n.Text != want.Text || n.From != want.From || n.Type != want.Type {
		t.Errorf("Shared[N] = %+v, want %+v", *n, want)
	}
	if i, ok := res.Shared["I"].(*Value); !ok || i.Text != "7" || i.Type != "int" || i.From != "//lib:s" {
		t.Errorf("Shared[I] = %#v, want the int 7 from //lib:s", res.Shared["I"])
	}
	// The keys come in order: new keys in the order written, each once.
	if len(res.SharedOrder) != len(res.Shared) {
		t.Errorf("SharedOrder = %q, want one entry per key of %v", res.SharedOrder, res.Shared)
	}
	for _, k := range sortedKeys(res.Shared) {
		if !slices.Contains(res.SharedOrder, k) {
			t.Errorf("SharedOrder = %q lacks %s", res.SharedOrder, k)
		}
	}
	if zi, ni, ii := slices.Index(res.SharedOrder, "Z"), slices.Index(res.SharedOrder, "N"), slices.Index(res.SharedOrder, "I"); !(zi < ni && ni < ii) {
		t.Errorf("SharedOrder = %q, want Z, N, I in the order written", res.SharedOrder)
	}
	// What an action shared, passed on, reads back as it was written.
	call = e.call(t, "//lib:none", nil)
	call.Shared = res.Shared
	if res := e.mustRun(t, call); res.Shared != nil || res.SharedOrder != nil {
		t.Errorf("passing shared values on unchanged gave %v %q", res.Shared, res.SharedOrder)
	}
	// An action that shares nothing returns nothing.
	if res := e.mustRun(t, e.call(t, "//lib:none", nil)); len(res.Shared) != 0 || len(res.SharedOrder) != 0 {
		t.Errorf("Shared = %v %q, want none", res.Shared, res.SharedOrder)
	}

	for _, tc := range []struct{ label, want string }{
		{"//lib:fn", `ctx.shared["F"]: a function cannot be encoded`},
		{"//lib:nan", `ctx.shared["X"]: the float nan cannot be encoded`},
		{"//lib:key", "ctx.shared: key 1 is int; shared values are named by strings"},
		{"//lib:mutate", "frozen"},
	} {
		call := e.call(t, tc.label, nil)
		call.Shared = shared
		_, ae := e.runErr(t, call)
		if !strings.Contains(ae.Msg, tc.want) {
			t.Errorf("%s: error %q, want it to contain %q", tc.label, ae.Msg, tc.want)
		}
	}
}

func TestActionKwargs(t *testing.T) {
	e := newActionEnv(t, map[string]string{
		"lib/BUILD": `
def plain(ctx):
    print(ctx.kwargs["word"], ctx.kwargs["n"], ctx.kwargs["d"], type(ctx.kwargs["t"]), sorted(ctx.kwargs.keys()))

rule(name = "plain", action = plain, kwargs = {"word": "hi", "n": 2, "d": {"b": 1, "a": 2}, "t": (1,)})

def params(ctx, word = "x", n = 0, d = None, t = None):
    print(word, n, d["a"], t, ctx.kwargs["word"])

rule(name = "params", action = params, kwargs = {"word": "hi", "n": 2, "d": {"b": 1, "a": 2}, "t": (1,)})

def defaults(ctx, word = "x"):
    print(word)

rule(name = "defaults", action = defaults)

def star(ctx, **kw):
    print(sorted(kw.items()))

rule(name = "star", action = star, kwargs = {"b": 1, "a": "2"})

def strict(ctx, word = "x"):
    pass

rule(name = "strict", action = strict, kwargs = {"word": "w", "other": 1})

def frozen(ctx):
    ctx.kwargs["new"] = 1

rule(name = "frozen", action = frozen, kwargs = {"a": 1})
`,
	})
	for _, tc := range []struct{ label, want string }{
		{"//lib:plain", "hi 2 {\"a\": 2, \"b\": 1} tuple [\"d\", \"n\", \"t\", \"word\"]\n"},
		{"//lib:params", "hi 2 2 (1,) hi\n"},
		{"//lib:defaults", "x\n"},
		{"//lib:star", "[(\"a\", \"2\"), (\"b\", 1)]\n"},
	} {
		if res := e.mustRun(t, e.call(t, tc.label, nil)); string(res.Output) != tc.want {
			t.Errorf("%s: output %q, want %q", tc.label, res.Output, tc.want)
		}
	}
	_, ae := e.runErr(t, e.call(t, "//lib:strict", nil))
	if !strings.Contains(ae.Msg, "other") {
		t.Errorf("a kwarg the function does not take: %q, want it named", ae.Msg)
	}
	_, ae = e.runErr(t, e.call(t, "//lib:frozen", nil))
	if !strings.Contains(ae.Msg, "frozen") {
		t.Errorf("writing ctx.kwargs: %q, want a frozen dict error", ae.Msg)
	}
}

func TestActionBadKwargsText(t *testing.T) {
	e := newActionEnv(t, map[string]string{
		"BUILD": "def act(ctx):\n    pass\nrule(name = \"r\", action = act)\n",
	})
	call := e.call(t, "//:r", nil)
	tg := *call.Target
	tg.Kwargs = map[string]string{"k": "[1,"} // a record gone bad
	call.Target = &tg
	_, ae := e.runErr(t, call)
	if !strings.Contains(ae.Msg, `kwargs "k": cannot decode the value "[1,"`) {
		t.Errorf("error %q", ae.Msg)
	}
}

func TestActionDigestAtRun(t *testing.T) {
	files := map[string]string{
		"tools/defs.star": "def build(ctx):\n    print(\"v1\")\n",
		"lib/BUILD": `load("//tools:defs.star", "build")

def local(ctx):
    print("local v1")

rule(name = "star", action = build)
rule(name = "local", action = local)
`,
	}
	e := newActionEnv(t, files)
	for _, label := range []string{"//lib:star", "//lib:local"} {
		res := e.mustRun(t, e.call(t, label, nil))
		if want := target(t, e.res.Graph, label).Action.Digest; res.Digest != want {
			t.Errorf("%s: Digest %q, want Target.Action.Digest %q (nothing changed)", label, res.Digest, want)
		}
	}

	// Edit both files after loading: a new build runs the files as they
	// are now, and says so by their digests.
	writeFile(t, e.root, "tools/defs.star", "def build(ctx):\n    print(\"v2\")\n")
	// The same build keeps running the files as it first ran them.
	if res := e.mustRun(t, e.call(t, "//lib:star", nil)); string(res.Output) != "v1\n" || res.Digest != target(t, e.res.Graph, "//lib:star").Action.Digest {
		t.Errorf("within one build: output %q digest %q, want the file as first run", res.Output, res.Digest)
	}
	e.reset()
	for _, label := range []string{"//lib:star", "//lib:local"} {
		res := e.mustRun(t, e.call(t, label, nil))
		if res.Digest == target(t, e.res.Graph, label).Action.Digest {
			t.Errorf("%s: Digest unchanged after editing tools/defs.star", label)
		}
		if label == "//lib:star" && string(res.Output) != "v2\n" {
			t.Errorf("%s: output %q, want the edited function's", label, res.Output)
		}
	}

	// A fresh load agrees with the digest the run reported.
	g, err := Load(context.Background(), Options{Root: e.root})
	if err != nil {
		t.Fatal(err)
	}
	res := e.mustRun(t, e.call(t, "//lib:star", nil))
	if got := target(t, g, "//lib:star").Action.Digest; got != res.Digest {
		t.Errorf("reloaded digest %q, run digest %q: want equal", got, res.Digest)
	}

	// A function gone or broken since loading.
	writeFile(t, e.root, "tools/defs.star", "def renamed(ctx):\n    pass\n")
	e.reset()
	_, ae := e.runErr(t, e.call(t, "//lib:star", nil))
	if !strings.Contains(ae.Msg, "tools/defs.star no longer defines the function build") || !strings.Contains(ae.Msg, "run pex again") {
		t.Errorf("error %q", ae.Msg)
	}
	writeFile(t, e.root, "tools/defs.star", "def build(ctx)\n    pass\n")
	e.reset()
	_, ae = e.runErr(t, e.call(t, "//lib:local", nil))
	if !strings.HasPrefix(ae.Msg, "tools/defs.star:2:1: got newline, want ':'") {
		t.Errorf("error %q, want the syntax error in tools/defs.star", ae.Msg)
	}
}

// TestActionFileRunAgain checks what running a BUILD file again at build
// time does and does not do: its rules register nothing, glob still
// works, and its top-level code sees the same config.
func TestActionFileRunAgain(t *testing.T) {
	files := map[string]string{
		"pex.star": `config("mode", default = "debug")`,
		"lib/BUILD": `
files = glob(["*.c"])
mode = config("mode")

def act(ctx):
    print(files, mode)

rule(name = "r", action = act)
rule(name = "out", cmd = "touch gen.c", outs = ["gen.c"])
`,
		"lib/a.c":       "",
		"lib/gen.c":     "", // an output: glob leaves it out
		"lib/sub/BUILD": "",
		"lib/sub/s.c":   "",
	}
	root := writeWorkspace(t, files)
	res, err := LoadAll(context.Background(), Options{Root: root, Set: map[string]string{"mode": "opt"}})
	if err != nil {
		t.Fatal(err)
	}
	acts := NewActions(context.Background(), ActionOptions{
		Root: root, Set: map[string]string{"mode": "opt"}, Packages: res.Packages,
		IsOutput: func(p string) bool { return p == "lib/gen.c" },
	})
	tg := target(t, res.Graph, "//lib:r")
	out, err := acts.Run(context.Background(), &ActionCall{Target: tg, Readable: func(string) bool { return false }})
	if err != nil {
		t.Fatal(err)
	}
	if want := "[\"a.c\"] opt\n"; string(out.Output) != want {
		t.Errorf("output %q, want %q", out.Output, want)
	}
	if out.Digest != tg.Action.Digest {
		t.Errorf("Digest %q, want %q", out.Digest, tg.Action.Digest)
	}
}

func TestActionConcurrent(t *testing.T) {
	files := map[string]string{
		"tools/defs.star": `
def build(ctx):
    ctx.shared[ctx.name] = [ctx.name]
    ctx.warn(ctx.name)
    print(ctx.name)
`,
	}
	var build strings.Builder
	build.WriteString(`load("//tools:defs.star", "build")` + "\n")
	for i := range 20 {
		fmt.Fprintf(&build, "rule(name = \"r%d\", action = build)\n", i)
	}
	files["lib/BUILD"] = build.String()
	e := newActionEnv(t, files)
	var wg sync.WaitGroup
	errs := make([]error, 20)
	results := make([]*ActionResult, 20)
	for i := range 20 {
		wg.Go(func() {
			call := e.call(t, fmt.Sprintf("//lib:r%d", i), nil)
			results[i], errs[i] = e.acts.Run(context.Background(), call)
		})
	}
	wg.Wait()
	for i := range 20 {
		name := fmt.Sprintf("r%d", i)
		if errs[i] != nil {
			t.Errorf("%s: %v", name, errs[i])
			continue
		}
		r := results[i]
		if string(r.Output) != name+"\n" || !slices.Equal(r.Findings, []string{name}) {
			t.Errorf("%s: output %q findings %q", name, r.Output, r.Findings)
		}
		if v, ok := r.Shared[name].(*Value); !ok || v.Text != fmt.Sprintf("[%q]", name) || v.From != "//lib:"+name {
			t.Errorf("%s: shared %v", name, r.Shared)
		}
		if r.Digest != results[0].Digest {
			t.Errorf("%s: digest %q, want %q", name, r.Digest, results[0].Digest)
		}
	}
}

func TestActionCancel(t *testing.T) {
	e := newActionEnv(t, map[string]string{
		"lib/BUILD": "def spin(ctx):\n    while True:\n        pass\n\nrule(name = \"spin\", action = spin)\n",
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := e.acts.Run(ctx, e.call(t, "//lib:spin", nil))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the action did not stop when its context was cancelled")
	}

	// A context cancelled before the call stops it at once.
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := e.acts.Run(ctx, e.call(t, "//lib:spin", nil))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to stop", d)
	}
}

// TestActionCancelInRun checks that the context given to Run reaches the
// commands the action runs.
func TestActionCancelInRun(t *testing.T) {
	e := newActionEnv(t, map[string]string{
		"BUILD": "def act(ctx):\n    ctx.run(\"sleep 100\")\n\nrule(name = \"r\", action = act)\n",
	})
	ctx, cancel := context.WithCancel(context.Background())
	call := e.call(t, "//:r", nil)
	call.Run = func(ctx context.Context, args RunArgs) (RunResult, error) {
		cancel()
		<-ctx.Done()
		return RunResult{Code: -1}, nil
	}
	_, err := e.acts.Run(ctx, call)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}

// ---- ctx.rule and Actions.Generate ----

var dynamicTree = map[string]string{
	"tools/defs.star": `
def build(ctx):
    ctx.write(ctx.outs[0], "built " + ctx.name + " " + str(ctx.kwargs.get("z")))

def other(ctx):
    pass

def gen(ctx):
    a = ctx.rule(name = "a", action = build, outs = ["a.txt"], kwargs = {"z": 1, "y": [2]})
    ctx.rule(name = "b", cmd = "cat a.txt > b.txt", srcs = ["a.txt"], outs = ["b.txt"], deps = [a])
    ctx.rule(name = "c", action = build, outs = ["c.txt"])
    ctx.rule(name = "d", action = other, tags = ["x"])
    print(a)

def _private(ctx):
    pass

def gen_private(ctx):
    ctx.rule(name = "p", action = _private)
`,
	"lib/BUILD": `load("//tools:defs.star", "build", "gen", "gen_private")

def local(ctx):
    pass

def gen_local(ctx):
    ctx.rule(name = "x", action = local)

def static(ctx):
    ctx.rule(name = "x")

def nothing(ctx):
    pass

def bad_args(ctx):
    ctx.rule("x")

def no_name(ctx):
    ctx.rule(cmd = "true")

def bad_kwargs(ctx):
    ctx.rule(name = "x", kwargs = {"f": local})

def bad_action(ctx):
    ctx.rule(name = "x", action = lambda ctx: None)

rule(name = "g", action = gen, dynamic = True)
rule(name = "gen_local", action = gen_local, dynamic = True)
rule(name = "static", action = static)
rule(name = "nothing", action = nothing, dynamic = True)
rule(name = "bad_args", action = bad_args, dynamic = True)
rule(name = "no_name", action = no_name, dynamic = True)
rule(name = "bad_kwargs", action = bad_kwargs, dynamic = True)
rule(name = "bad_action", action = bad_action, dynamic = True)
rule(name = "ref", action = build, outs = ["ref.txt"])
rule(name = "gen_private", action = gen_private, dynamic = True)
`,
}

func TestCtxRule(t *testing.T) {
	e := newActionEnv(t, dynamicTree)
	res := e.mustRun(t, e.call(t, "//lib:g", nil))
	wantText := `load("//tools:defs.star", _action1 = "build")
load("//tools:defs.star", _action2 = "other")
rule(name = "a", action = _action1, outs = ["a.txt"], kwargs = {"y": [2], "z": 1})
rule(name = "b", cmd = "cat a.txt > b.txt", srcs = ["a.txt"], outs = ["b.txt"], deps = ["//lib:a"])
rule(name = "c", action = _action1, outs = ["c.txt"])
rule(name = "d", action = _action2, tags = ["x"])
`
	if res.Generated != wantText {
		t.Errorf("Generated:\n%s\nwant:\n%s", res.Generated, wantText)
	}
	if string(res.Output) != "//lib:a\n" {
		t.Errorf("ctx.rule returned %q, want the label //lib:a", res.Output)
	}
	if res := e.mustRun(t, e.call(t, "//lib:nothing", nil)); res.Generated != "" {
		t.Errorf("an action that calls no ctx.rule generated %q", res.Generated)
	}

	for _, tc := range []struct{ label, want string }{
		{"//lib:static", "ctx.rule: //lib:static is not dynamic: add dynamic = True to it to let it register rules"},
		{"//lib:gen_local", "ctx.rule: action: local is defined in lib/BUILD; the action of a generated rule must be defined in a .star file"},
		{"//lib:bad_args", "ctx.rule: takes keyword arguments only"},
		{"//lib:no_name", "ctx.rule: missing name"},
		{"//lib:bad_kwargs", "ctx.rule: kwargs: a function cannot be encoded"},
		{"//lib:bad_action", "ctx.rule: action: lambda"},
	} {
		res, ae := e.runErr(t, e.call(t, tc.label, nil))
		if !strings.Contains(ae.Msg, tc.want) {
			t.Errorf("%s: error %q, want it to contain %q", tc.label, ae.Msg, tc.want)
		}
		if !strings.HasPrefix(ae.Msg, "lib/BUILD:") {
			t.Errorf("%s: error %q, want it positioned in lib/BUILD", tc.label, ae.Msg)
		}
		if res.Generated != "" {
			t.Errorf("%s: generated %q despite the error", tc.label, res.Generated)
		}
	}

	// A private function cannot be loaded by the generated text: say so
	// where ctx.rule is called, not in text the user never wrote.
	_, ae := e.runErr(t, e.call(t, "//lib:gen_private", nil))
	if !strings.HasPrefix(ae.Msg, "tools/defs.star:19:13: ctx.rule: action: _private is private to tools/defs.star") ||
		!strings.Contains(ae.Msg, "rename it") {
		t.Errorf("a private action: %q", ae.Msg)
	}
}

func TestGenerate(t *testing.T) {
	e := newActionEnv(t, dynamicTree)
	gen := target(t, e.res.Graph, "//lib:g")
	res := e.mustRun(t, e.call(t, "//lib:g", nil))
	targets, err := e.acts.Generate(gen, res.Generated)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	var got []string
	for _, tg := range targets {
		got = append(got, tg.Label.String())
	}
	if want := []string{"//lib:a", "//lib:b", "//lib:c", "//lib:d"}; !slices.Equal(got, want) {
		t.Fatalf("generated %q, want %q", got, want)
	}
	byName := map[string]*graph.Target{}
	for _, tg := range targets {
		byName[tg.Label.Name] = tg
		if tg.GeneratedBy != gen.Label || !tg.Generated() {
			t.Errorf("%s: GeneratedBy = %v, want %v", tg.Label, tg.GeneratedBy, gen.Label)
		}
		if len(tg.Deps) == 0 || tg.Deps[0] != gen.Label {
			t.Errorf("%s: Deps = %v, want the generator first", tg.Label, tg.Deps)
		}
		if tg.Pos.File != GeneratedFile(gen.Label) {
			t.Errorf("%s: Pos = %v, want in %s", tg.Label, tg.Pos, GeneratedFile(gen.Label))
		}
	}
	if want := []graph.Label{gen.Label, {Pkg: "lib", Name: "a"}}; !slices.Equal(byName["b"].Deps, want) {
		t.Errorf("b.Deps = %v, want %v", byName["b"].Deps, want)
	}
	if byName["b"].Cmd != "cat a.txt > b.txt" || byName["b"].Action != nil {
		t.Errorf("b = %+v, want the cmd rule", byName["b"])
	}
	starDigest := target(t, e.res.Graph, "//lib:ref").Action.Digest
	for name, fn := range map[string]string{"a": "build", "c": "build", "d": "other"} {
		act := byName[name].Action
		if act == nil {
			t.Errorf("%s has no action", name)
			continue
		}
		if act.File != "tools/defs.star" || act.Name != fn || act.Digest != starDigest {
			t.Errorf("%s: action %+v, want %s in tools/defs.star with digest %s", name, *act, fn, starDigest)
		}
	}
	if want := map[string]string{"y": "[2]", "z": "1"}; !reflect.DeepEqual(byName["a"].Kwargs, want) {
		t.Errorf("a.Kwargs = %q, want %q", byName["a"].Kwargs, want)
	}
	if !slices.Equal(byName["d"].Tags, []string{"x"}) {
		t.Errorf("d.Tags = %q", byName["d"].Tags)
	}
	if gen.Label.String()+" (generated)" != GeneratedFile(gen.Label) {
		t.Errorf("GeneratedFile = %q", GeneratedFile(gen.Label))
	}

	// The generated rules join the graph and their actions run.
	g := e.res.Graph
	for _, tg := range targets {
		if err := g.Add(tg); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Resolve(e.root); err != nil {
		t.Fatal(err)
	}
	a := byName["a"]
	out, err := e.acts.Run(context.Background(), &ActionCall{Target: a, Readable: func(string) bool { return false }})
	if err != nil {
		t.Fatalf("running the generated //lib:a: %v", err)
	}
	if out.Digest != a.Action.Digest {
		t.Errorf("Digest %q, want %q", out.Digest, a.Action.Digest)
	}
	if data, err := os.ReadFile(filepath.Join(e.root, "lib", "a.txt")); err != nil || string(data) != "built a 1" {
		t.Errorf("lib/a.txt = %q, %v", data, err)
	}

	// Running the generator again gives the same text.
	e.reset()
	if again := e.mustRun(t, e.call(t, "//lib:g", nil)); again.Generated != res.Generated {
		t.Errorf("the generator's text changed between runs:\n%s\n%s", res.Generated, again.Generated)
	}
}

// TestGenerateText evaluates text written by hand, as a cmd rule writes
// it to $PEX_DYNAMIC.
func TestGenerateText(t *testing.T) {
	e := newActionEnv(t, maps(dynamicTree, map[string]string{
		"lib/local.star": "def act(ctx):\n    pass\nsuffix = \"_s\"\n",
	}))
	gen := target(t, e.res.Graph, "//lib:g")
	targets, err := e.acts.Generate(gen, `load(":local.star", "act", "suffix")
for i in range(3):
    rule(name = "n%d" % i + suffix, deps = [":ref"] if i == 1 else [], action = act if i == 2 else None)
rule(name = "dup_dep", deps = ["//lib:g"])
`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tg := range targets {
		got = append(got, tg.Label.String()+fmt.Sprint(tg.Deps))
	}
	want := []string{"//lib:n0_s[//lib:g]", "//lib:n1_s[//lib:g //lib:ref]", "//lib:n2_s[//lib:g]", "//lib:dup_dep[//lib:g]"}
	if !slices.Equal(got, want) {
		t.Errorf("generated %q, want %q", got, want)
	}
	if act := targets[2].Action; act == nil || act.File != "lib/local.star" || !hexDigest.MatchString(act.Digest) {
		t.Errorf("n2_s action %+v, want act in lib/local.star with a digest", act)
	}
	if targets[3].Pos != (graph.Pos{File: GeneratedFile(gen.Label), Line: 4, Col: 5}) {
		t.Errorf("dup_dep at %v", targets[3].Pos)
	}
	if targets, err := e.acts.Generate(gen, ""); err != nil || len(targets) != 0 {
		t.Errorf("empty text: %v, %v", targets, err)
	}
}

func TestGenerateErrors(t *testing.T) {
	e := newActionEnv(t, dynamicTree)
	gen := target(t, e.res.Graph, "//lib:g")
	file := GeneratedFile(gen.Label)
	for _, tc := range []struct {
		what, text string
		file       string
		line       int
		want       string
	}{
		{"syntax", "rule(name = \"a\")\nrule(name = = \"b\")\n", file, 2, "got '=', want primary expression"},
		{"unclosed", "rule(name = \"a\")\n\nrule(name = \"b\",\n", file, 4, "got end of file"},
		{"runtime", "rule(name = \"a\")\n\nfail(\"nope\")\n", file, 3, "nope"},
		{"undefined", "x = 1\nrule(name = y)\n", file, 2, "undefined: y"},
		{"rule arg", "rule(name = \"a\")\nrule(name = \"b\", bogus = 1)\n", file, 2, "unexpected keyword argument \"bogus\""},
		{"bad rule", "rule(name = \"a/b\")\n", file, 1, "a rule name cannot contain"},
		{"group", "rule(name = \"a\")\ngroup(name = \"g2\")\n", file, 2, "group() is not allowed in generated rules"},
		{"missing module", "load(\"//nope:x.star\", \"x\")\n", file, 1, "nope/x.star does not exist"},
		{"module error", "load(\"//bad:m.star\", \"x\")\n", "bad/m.star", 2, "boom"},
		{"inline action", "def f(ctx):\n    pass\n\nrule(name = \"q\", action = f)\n", file, 4,
			`rule "//lib:q": action: f is defined in the generated text, where it cannot be found when the build runs: define it in a .star file and load it`},
		{"int + string", "rule(name = \"a\")\nrule(name = 1 + \"b\")\n", file, 2, "unknown binary op: int + string"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			writeFile(t, e.root, "bad/m.star", "x = 1\nfail(\"boom\")\n")
			targets, err := e.acts.Generate(gen, tc.text)
			if err == nil {
				t.Fatalf("Generate gave %d targets, want an error", len(targets))
			}
			var ge *graph.Error
			if !errors.As(err, &ge) {
				t.Fatalf("error %T %v, want *graph.Error", err, err)
			}
			if ge.Pos.File != tc.file || ge.Pos.Line != tc.line {
				t.Errorf("error at %v, want %s:%d\n%v", ge.Pos, tc.file, tc.line, ge)
			}
			if !strings.Contains(ge.Msg, tc.want) {
				t.Errorf("message %q, want it to contain %q", ge.Msg, tc.want)
			}
			if targets != nil {
				t.Errorf("targets %v with the error", targets)
			}
		})
	}
}

// TestGenerateConcurrent runs generators and evaluates what they generate
// from several goroutines at once, as a build does.
func TestGenerateConcurrent(t *testing.T) {
	e := newActionEnv(t, maps(dynamicTree, map[string]string{"lib/local.star": "def act(ctx):\n    pass\n"}))
	gen := target(t, e.res.Graph, "//lib:g")
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 20 {
		wg.Go(func() {
			res, err := e.acts.Run(context.Background(), e.call(t, "//lib:g", nil))
			if err != nil {
				errs <- err
				return
			}
			targets, err := e.acts.Generate(gen, res.Generated)
			if err != nil {
				errs <- err
				return
			}
			if len(targets) != 4 || targets[0].Action.Digest != target(t, e.res.Graph, "//lib:ref").Action.Digest {
				errs <- fmt.Errorf("run %d: %d targets", i, len(targets))
			}
		})
		wg.Go(func() {
			text := fmt.Sprintf("load(\":local.star\", \"act\")\nrule(name = \"t%d\", action = act)\n", i)
			if i%2 == 0 {
				text = fmt.Sprintf("rule(name = \"t%d\")\nfail(\"bad %d\")\n", i, i)
			}
			_, err := e.acts.Generate(gen, text)
			if i%2 == 0 {
				var ge *graph.Error
				if !errors.As(err, &ge) || ge.Msg != fmt.Sprintf("bad %d", i) || ge.Pos.Line != 2 {
					errs <- fmt.Errorf("text %d: error %v", i, err)
				}
			} else if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
