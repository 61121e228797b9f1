package starlark

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pex-build/pex/graph"
)

func TestRuleFields(t *testing.T) {
	res := mustLoad(t, map[string]string{
		"pex.star": `group(name = "gpu", jobs = 2, priority = 1)`,
		"lib/BUILD": `
a = rule(name = "a", cmd = "cc -c a.c", srcs = ["a.c"], outs = ["a.o"])
if a != "//lib:a":
    fail("rule returned", a)
rule(
    name = "b",
    cmd = "link",
    srcs = ["a.o"],
    outs = ["bin/b"],
    deps = [a, "//tools:gen"],
    requires = ["db"],
    provides = ["app"],
    claims = ["port"],
    uses = ["net"],
    priority = -1,
    group = "gpu",
    timeout = "1m30s",
    env = {"CC": "gcc"},
    env_passthrough = ["HOME"],
    tools = ["//tools:gen.sh"],
    kwargs = {"n": 1, "s": "x", "l": [True]},
    tags = ["test"],
    cache = False,
)
rule(name = "alias", deps = [":b"])
`,
		"lib/a.c":        "",
		"tools/BUILD":    `rule(name = "gen", cmd = "true")`,
		"tools/gen.sh":   "",
		"tools/unused.c": "",
	}, Options{})
	b := target(t, res.Graph, "//lib:b")
	want := &graph.Target{
		Label:          graph.Label{Pkg: "lib", Name: "b"},
		Pos:            b.Pos,
		Cmd:            "link",
		Srcs:           []string{"a.o"},
		Outs:           []string{"bin/b"},
		Deps:           []graph.Label{{Pkg: "lib", Name: "a"}, {Pkg: "tools", Name: "gen"}},
		Requires:       []string{"db"},
		Provides:       []string{"app"},
		Claims:         []string{"port"},
		Uses:           []string{"net"},
		Priority:       -1,
		Group:          "gpu",
		Timeout:        90 * time.Second,
		Env:            map[string]string{"CC": "gcc"},
		EnvPassthrough: []string{"HOME"},
		Tools:          []string{"//tools:gen.sh"},
		Kwargs:         map[string]string{"n": "1", "s": `"x"`, "l": "[True]"},
		Tags:           []string{"test"},
		Cache:          false,
	}
	got := *b
	got.Inputs, got.ToolFiles, got.OutFiles, got.DepTargets = nil, nil, nil, nil
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("target b:\ngot  %+v\nwant %+v", &got, want)
	}
	if want := (graph.Pos{File: "lib/BUILD", Line: 5, Col: 5}); b.Pos != want {
		t.Errorf("b.Pos = %v, want %v", b.Pos, want)
	}
	alias := target(t, res.Graph, "//lib:alias")
	if alias.Cmd != "" || !alias.Cache || len(alias.Deps) != 1 {
		t.Errorf("alias = %+v, want no command, cached, one dep", alias)
	}
}

func TestRulePositionInMacro(t *testing.T) {
	res := mustLoad(t, map[string]string{
		"tools/defs.star": `
def binary(name):
    rule(name = name, cmd = "true")
`,
		"lib/BUILD": `load("//tools:defs.star", "binary")

binary("x")
`,
	}, Options{})
	pos := target(t, res.Graph, "//lib:x").Pos
	if pos.File != "lib/BUILD" || pos.Line != 3 {
		t.Errorf("Pos = %v, want lib/BUILD:3 (the macro call)", pos)
	}
}

func TestPackagesAndOrder(t *testing.T) {
	res := mustLoad(t, map[string]string{
		"BUILD":            `rule(name = "z")` + "\n" + `rule(name = "a")`,
		"b/BUILD.pex":      `rule(name = "one")`,
		"b/c/BUILD":        `rule(name = "two")`,
		"b-c/BUILD":        `rule(name = "three")`,
		"empty/BUILD":      "# no rules",
		"nobuild/x.c":      "",
		".git/BUILD":       "syntax error",
		"x/.pex/BUILD":     "syntax error",
		"nested/pex.star":  "",
		"nested/BUILD":     "syntax error",
		"nested/sub/BUILD": "syntax error",
		"build/README":     "", // a directory named like a BUILD file is no package
	}, Options{})
	if want := []string{"", "b", "b-c", "b/c", "empty"}; !slices.Equal(res.Packages, want) {
		t.Errorf("Packages = %q, want %q", res.Packages, want)
	}
	if got := res.Graph.Packages(); !slices.Equal(got, res.Packages) {
		t.Errorf("graph packages = %q, want %q", got, res.Packages)
	}
	if got, want := labels(res.Graph), []string{"//:z", "//:a", "//b:one", "//b-c:three", "//b/c:two"}; !slices.Equal(got, want) {
		t.Errorf("targets = %q, want %q", got, want)
	}
	for _, f := range []string{"BUILD", "b/BUILD.pex", "empty/BUILD", "pex.star"} {
		if !slices.Contains(res.Files, f) {
			t.Errorf("Files = %q, want it to hold %s", res.Files, f)
		}
	}
	if slices.Contains(res.Dirs, "nested/sub") || !slices.Contains(res.Dirs, "nobuild") {
		t.Errorf("Dirs = %q, want nobuild and not nested/sub", res.Dirs)
	}
}

func TestSymlinks(t *testing.T) {
	root := writeWorkspace(t, map[string]string{
		"BUILD":         `rule(name = "r", tags = glob(["**/*.c"]))`,
		"real/a.c":      "",
		"real/BUILD.in": `rule(name = "x")`,
		"other/b.c":     "",
	})
	for _, link := range [][2]string{
		{"real/a.c", "link.c"},      // a link to a file is a file
		{"other", "linkdir"},        // a link to a directory is not entered
		{"BUILD.in", "real/BUILD"},  // a BUILD file may be a link
		{"missing.c", "dangling.c"}, // a dangling link is nothing
	} {
		if err := os.Symlink(link[0], filepath.Join(root, filepath.FromSlash(link[1]))); err != nil {
			t.Skip(err)
		}
	}
	res, err := LoadAll(context.Background(), Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := target(t, res.Graph, "//:r").Tags, []string{"link.c", "other/b.c"}; !slices.Equal(got, want) {
		t.Errorf("glob = %q, want %q", got, want)
	}
	if want := []string{"", "real"}; !slices.Equal(res.Packages, want) {
		t.Errorf("Packages = %q, want %q", res.Packages, want)
	}
}

func TestNoWorkspaceFile(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(context.Background(), Options{Root: dir})
	var ge *graph.Error
	if !errors.As(err, &ge) || !strings.Contains(ge.Msg, WorkspaceFile) {
		t.Errorf("error %v, want a *graph.Error about %s", err, WorkspaceFile)
	}
}

func TestIgnore(t *testing.T) {
	res := mustLoad(t, map[string]string{
		"pex.star":          `ignore = ["third_party", "vendor/x/"]`,
		"BUILD":             `rule(name = "all", tags = glob(["**/*.txt"]))`,
		"a.txt":             "",
		"third_party/BUILD": "syntax error",
		"third_party/b.txt": "",
		"vendor/x/BUILD":    "syntax error",
		"vendor/x/c.txt":    "",
		"vendor/y/BUILD":    `rule(name = "y")`,
		"vendor/d.txt":      "",
	}, Options{})
	if want := []string{"", "vendor/y"}; !slices.Equal(res.Packages, want) {
		t.Errorf("Packages = %q, want %q", res.Packages, want)
	}
	if got, want := target(t, res.Graph, "//:all").Tags, []string{"a.txt", "vendor/d.txt"}; !slices.Equal(got, want) {
		t.Errorf("glob = %q, want %q", got, want)
	}
}

// globTree is the package used by TestGlob; every glob runs in pkg.
var globTree = map[string]string{
	"pex.star":            `ignore = ["pkg/third"]`,
	"pkg/a.c":             "",
	"pkg/b.c":             "",
	"pkg/.hidden.c":       "",
	"pkg/README.md":       "",
	"pkg/src/x.c":         "",
	"pkg/src/deep/y.c":    "",
	"pkg/src/deep/z.h":    "",
	"pkg/src/.cache/w.c":  "",
	"pkg/sub/BUILD":       "",
	"pkg/sub/s.c":         "",
	"pkg/.git/g.c":        "",
	"pkg/third/t.c":       "",
	"pkg/nested/pex.star": "",
	"pkg/nested/n.c":      "",
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		call string
		want []string
	}{
		{`glob(["*.c"])`, []string{"a.c", "b.c"}},
		{`glob(["**/*.c"])`, []string{"a.c", "b.c", "src/deep/y.c", "src/x.c"}},
		{`glob(["**"])`, []string{"BUILD", "README.md", "a.c", "b.c", "src/deep/y.c", "src/deep/z.h", "src/x.c"}},
		{`glob(["src/**"])`, []string{"src/deep/y.c", "src/deep/z.h", "src/x.c"}},
		{`glob(["src/**/*.h"])`, []string{"src/deep/z.h"}},
		{`glob(["**/*.c"], exclude = ["src/**"])`, []string{"a.c", "b.c"}},
		{`glob(["**/*.c"], exclude = ["**/y.c", "a.*"])`, []string{"b.c", "src/x.c"}},
		{`glob(["*.c", "a.c", "b.*"])`, []string{"a.c", "b.c"}},
		{`glob([".*.c"])`, []string{".hidden.c"}},
		{`glob(["src/.cache/*"])`, []string{"src/.cache/w.c"}},
		{`glob(["src/*/?.[ch]"])`, []string{"src/deep/y.c", "src/deep/z.h"}},
		{`glob(["src"])`, []string{}},
		{`glob(["nope/*.c"])`, []string{}},
		{`glob(["sub/*.c", "third/*.c", ".git/*.c", "nested/*.c"])`, []string{}},
		{`glob(include = ["README.md"])`, []string{"README.md"}},
	} {
		t.Run(tc.call, func(t *testing.T) {
			files := maps(globTree, map[string]string{"pkg/BUILD": `rule(name = "r", tags = ` + tc.call + `)`})
			got := target(t, mustLoad(t, files, Options{}).Graph, "//pkg:r").Tags
			if !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestGlobRecords(t *testing.T) {
	files := maps(globTree, map[string]string{
		"pkg/BUILD": `rule(name = "r", srcs = glob(["src/**/*.c"]) + glob(["*.md"]))`,
	})
	res := mustLoad(t, files, Options{})
	if want := []string{"pkg", "pkg/src", "pkg/src/deep"}; !slices.Equal(res.GlobDirs, want) {
		t.Errorf("GlobDirs = %q, want %q", res.GlobDirs, want)
	}
	want := map[string][]string{"pkg": {"README.md", "src/deep/y.c", "src/x.c"}}
	if !reflect.DeepEqual(res.Globs, want) {
		t.Errorf("Globs = %q, want %q", res.Globs, want)
	}
}

func TestGlobSkipsOutputs(t *testing.T) {
	res := mustLoad(t, map[string]string{
		"pkg/BUILD": `
rule(name = "gen_early", cmd = "touch early.h", outs = ["early.h"])
rule(name = "headers", tags = glob(["**/*.h"]))
rule(name = "lib", cmd = "cc", srcs = glob(["*.h"]) + ["late.h"])
rule(name = "gen_late", cmd = "touch late.h gen/deep.h", outs = ["late.h", "gen/deep.h"])
`,
		"other/BUILD": `rule(name = "gen_far", cmd = "touch ../pkg/far.h", outs = ["../pkg/far.h"])`,
		// Outputs left by an earlier build:
		"pkg/early.h":    "",
		"pkg/late.h":     "",
		"pkg/gen/deep.h": "",
		"pkg/far.h":      "",
		"pkg/real.h":     "",
	}, Options{})
	if got, want := target(t, res.Graph, "//pkg:headers").Tags, []string{"real.h"}; !slices.Equal(got, want) {
		t.Errorf("glob = %q, want %q", got, want)
	}
	if got, want := target(t, res.Graph, "//pkg:lib").Srcs, []string{"real.h", "late.h"}; !slices.Equal(got, want) {
		t.Errorf("srcs = %q, want %q (an output named explicitly stays)", got, want)
	}
	if got, want := res.Globs["pkg"], []string{"real.h"}; !slices.Equal(got, want) {
		t.Errorf("Globs[pkg] = %q, want %q", got, want)
	}
}

func TestLoadCache(t *testing.T) {
	files := map[string]string{
		"tools/defs.star": `
print("evaluating defs")
counter = [0]
def stamp(name):
    return rule(name = name, tags = [package_name()])
`,
	}
	for i := range 50 {
		files[fmt.Sprintf("p%02d/BUILD", i)] = `load("//tools:defs.star", "stamp")` + "\nstamp(\"s\")\n"
	}
	var prints []string
	res := mustLoad(t, files, Options{Jobs: 16, Print: func(pos graph.Pos, msg string) {
		prints = append(prints, pos.String()+": "+msg)
	}})
	if want := []string{"tools/defs.star:2:6: evaluating defs"}; !slices.Equal(prints, want) {
		t.Errorf("prints = %q, want %q (evaluated once)", prints, want)
	}
	if got := len(res.Graph.Targets); got != 50 {
		t.Errorf("%d targets, want 50", got)
	}
	if got := target(t, res.Graph, "//p07:s").Tags; !slices.Equal(got, []string{"p07"}) {
		t.Errorf("macro saw package %q, want p07", got)
	}
	if !slices.Contains(res.Files, "tools/defs.star") {
		t.Errorf("Files = %q, want tools/defs.star", res.Files)
	}
}

func TestLoadForms(t *testing.T) {
	res := mustLoad(t, map[string]string{
		"BUILD":         `load("//:top.star", "top")` + "\nrule(name = top)\n",
		"top.star":      `top = "top"`,
		"lib/BUILD":     `load(":defs.star", "x", y = "x")` + "\nrule(name = x + y)\n",
		"lib/defs.star": `load("//tools:sub/a.star", ax = "a")` + "\nx = ax\n",
		"tools/sub/a.star": `load(":b.star", "b")
a = b`,
		"tools/sub/b.star": `b = "ok"`,
	}, Options{})
	if got, want := labels(res.Graph), []string{"//:top", "//lib:okok"}; !slices.Equal(got, want) {
		t.Errorf("targets = %q, want %q", got, want)
	}
}

// TestLoadCycleParallel loads two modules that load each other from two
// packages at once: whichever goroutine closes the cycle must report it,
// and neither may wait forever.
func TestLoadCycleParallel(t *testing.T) {
	files := map[string]string{
		"a/BUILD":  `load("//m:x.star", "x")`,
		"b/BUILD":  `load("//m:y.star", "y")`,
		"m/x.star": `load(":y.star", "y")` + "\nx = 1\n",
		"m/y.star": `load(":x.star", "x")` + "\ny = 1\n",
	}
	root := writeWorkspace(t, files)
	for range 50 {
		done := make(chan error, 1)
		go func() {
			_, err := LoadAll(context.Background(), Options{Root: root, Jobs: 2})
			done <- err
		}()
		select {
		case err := <-done:
			var ge *graph.Error
			if !errors.As(err, &ge) {
				t.Fatalf("error %v, want *graph.Error", err)
			}
			if ge.Msg != "load cycle: //m:x.star -> //m:y.star -> //m:x.star" &&
				ge.Msg != "load cycle: //m:y.star -> //m:x.star -> //m:y.star" {
				t.Fatalf("error %q, want a load cycle between x and y", ge.Msg)
			}
			if ge.Pos.Line != 1 || !strings.HasPrefix(ge.Pos.File, "m/") {
				t.Fatalf("error at %v, want a load statement in m/", ge.Pos)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("deadlock: LoadAll did not return")
		}
	}
}

func TestConfig(t *testing.T) {
	pex := `
config("jobs", default = 4)
config("mode", default = "debug")
`
	for _, tc := range []struct {
		call string
		set  map[string]string
		want string
	}{
		{`config("n", default = 3)`, nil, "3"},
		{`config("n", default = 3)`, map[string]string{"n": "7"}, "7"},
		{`config("n", default = 3)`, map[string]string{"n": "0x10"}, "16"},
		{`config("b", default = False)`, map[string]string{"b": "true"}, "True"},
		{`config("b", default = True)`, map[string]string{"b": "0"}, "False"},
		{`config("f", default = 1.5)`, map[string]string{"f": "2.25"}, "2.25"},
		{`config("s", default = "x")`, map[string]string{"s": "y z"}, `"y z"`},
		{`config("s")`, map[string]string{"s": "12"}, `"12"`},
		{`config("s", None)`, map[string]string{"s": "12"}, `"12"`},
		{`config("l", default = ["a"])`, nil, `["a"]`},
		{`config("jobs")`, nil, "4"},
		{`config("jobs")`, map[string]string{"jobs": "8"}, "8"},
		{`config("mode")`, map[string]string{"mode": "opt"}, `"opt"`},
		{`config("jobs", default = "many")`, map[string]string{"jobs": "8"}, `"8"`},
	} {
		t.Run(tc.call, func(t *testing.T) {
			set := tc.set
			if set == nil {
				set = map[string]string{}
			}
			res := mustLoad(t, map[string]string{
				"pex.star": pex,
				"BUILD":    `rule(name = "r", tags = [repr(` + tc.call + `)])`,
			}, Options{Set: set})
			if got := target(t, res.Graph, "//:r").Tags[0]; got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestUnknownSet(t *testing.T) {
	files := map[string]string{
		"pex.star": `config("name", default = "a")`,
		"BUILD":    `config("other", default = 1)`,
	}
	for _, tc := range []struct {
		set  map[string]string
		want string
	}{
		{map[string]string{"nam": "x"}, `--set nam: no config() named "nam" (did you mean "name"?)`},
		{map[string]string{"zzzzzz": "x", "name": "b"}, `--set zzzzzz: no config() named "zzzzzz" (known: "name", "other")`},
	} {
		ge := loadErr(t, files, Options{Set: tc.set})
		if ge.Msg != tc.want || ge.Pos != (graph.Pos{}) {
			t.Errorf("error %q at %v, want %q", ge.Msg, ge.Pos, tc.want)
		}
	}
}

func TestGroups(t *testing.T) {
	mustLoad(t, map[string]string{
		"pex.star":    `group(name = "db", jobs = 1)`,
		"a/BUILD":     `group(name = "gpu", jobs = 2, priority = -1)` + "\n" + `rule(name = "x", group = "db")`,
		"b/BUILD":     `rule(name = "y", group = "gpu")`, // declared in another package
		"c/BUILD.pex": `rule(name = "z", group = "db")`,
	}, Options{})
}

func TestSmallBuiltins(t *testing.T) {
	res := mustLoad(t, map[string]string{
		"lib/BUILD": `
s = struct(a = 1)
rule(name = "r", tags = [
    host.os, host.arch, str(host.cpus > 0), package_name(), str(s.a),
    label(":x"), label("x"), label("//a/b"), label("//a:b"),
])
`,
	}, Options{})
	got := target(t, res.Graph, "//lib:r").Tags
	want := []string{runtime.GOOS, runtime.GOARCH, "True", "lib", "1", "//lib:x", "//lib:x", "//a/b:b", "//a:b"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestDeterminism loads 200 packages in parallel twice: the order of
// targets must not depend on which goroutine finished first.
func TestDeterminism(t *testing.T) {
	files := map[string]string{}
	var want []string
	for i := range 200 {
		pkg := fmt.Sprintf("d%d/p%03d", i%7, i)
		files[pkg+"/BUILD"] = "rule(name = \"c\")\nrule(name = \"a\")\nrule(name = \"b\", deps = [\":a\"])\n"
	}
	for _, f := range sortedKeys(files) {
		if f == WorkspaceFile {
			continue
		}
		pkg := strings.TrimSuffix(f, "/BUILD")
		want = append(want, "//"+pkg+":c", "//"+pkg+":a", "//"+pkg+":b")
	}
	root := writeWorkspace(t, files)
	for range 2 {
		g, err := Load(context.Background(), Options{Root: root, Jobs: 8})
		if err != nil {
			t.Fatal(err)
		}
		if got := labels(g); !slices.Equal(got, want) {
			t.Fatalf("targets in order %q..., want %q...", got[:6], want[:6])
		}
	}
}

func TestFirstErrorInPathOrder(t *testing.T) {
	files := map[string]string{}
	for i := range 40 {
		files[fmt.Sprintf("p%02d/BUILD", i)] = fmt.Sprintf("fail(\"p%02d\")", i)
	}
	root := writeWorkspace(t, files)
	for range 5 {
		_, err := Load(context.Background(), Options{Root: root, Jobs: 8})
		var ge *graph.Error
		if !errors.As(err, &ge) || ge.Msg != "p00" || ge.Pos.File != "p00/BUILD" {
			t.Fatalf("error %v, want p00/BUILD's", err)
		}
	}
}

func TestErrorKeepsFiles(t *testing.T) {
	root := writeWorkspace(t, map[string]string{
		"lib/BUILD": `load("//tools:missing.star", "x")`,
	})
	res, err := LoadAll(context.Background(), Options{Root: root})
	if err == nil {
		t.Fatal("no error")
	}
	if res.Graph != nil {
		t.Error("Graph is not nil")
	}
	if want := []string{"lib/BUILD", "pex.star", "tools/missing.star"}; !slices.Equal(res.Files, want) {
		t.Errorf("Files = %q, want %q", res.Files, want)
	}
}

func TestCancel(t *testing.T) {
	root := writeWorkspace(t, map[string]string{"BUILD": `rule(name = "x")`})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Load(ctx, Options{Root: root}); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	root = writeWorkspace(t, map[string]string{"BUILD": "while True:\n    pass\n"})
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := Load(ctx, Options{Root: root}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want context.DeadlineExceeded", err)
	}
}

func TestFindRoot(t *testing.T) {
	root := writeWorkspace(t, map[string]string{"a/b/c.txt": ""})
	got, err := FindRoot(filepath.Join(root, "a", "b"))
	if err != nil || got != root {
		t.Errorf("FindRoot = %q, %v, want %q", got, err, root)
	}
	dir := t.TempDir()
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), WorkspaceFile)); err == nil {
		t.Skip("a pex.star above the temporary directory")
	}
	_, err = FindRoot(dir)
	if err == nil || !strings.Contains(err.Error(), "pex init") {
		t.Errorf("FindRoot error %v, want one suggesting pex init", err)
	}
}

// maps returns the union of ms, later ones winning.
func maps(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
