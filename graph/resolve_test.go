package graph

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestResolve(t *testing.T) {
	base := rule("//base:base", 1)
	gen := rule("//lib:gen", 1)
	gen.Outs = []string{"gen.h", "sub/x.h", "../common/shared.h"}
	cc := rule("//lib:cc", 5)
	cc.Deps = deps("//base:base")
	cc.Srcs = []string{"a.c", "gen.h", "//lib:sub/x.h", ":gen", "./b.c", "../common/c.c", "//base:base", "//other:file.c"}
	cc.Tools = []string{"cc.sh", "/usr/bin/gcc", ":gen", "//tools:fmt"}
	cc.Outs = []string{"cc.o"}
	common := rule("//common:common", 1)
	common.Srcs = []string{"shared.h", "own.c"}
	root := rule("//:top", 1)
	root.Outs = []string{"top.txt"}
	root.Srcs = []string{"lib/cc.o", "README"}
	tool := rule("//tools:fmt", 1) // registered after its user
	tool.Outs = []string{"fmt"}

	g := build(t, base, gen, cc, common, root, tool)
	if err := g.Resolve(""); err != nil {
		t.Fatal(err)
	}
	check := func(name string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	check("gen.OutFiles", gen.OutFiles, []string{"lib/gen.h", "lib/sub/x.h", "common/shared.h"})
	check("cc.Inputs", cc.Inputs, []string{"lib/a.c", "lib/b.c", "common/c.c", "other/file.c"})
	check("cc.ToolFiles", cc.ToolFiles, []string{"lib/cc.sh", "/usr/bin/gcc"})
	check("cc.OutFiles", cc.OutFiles, []string{"lib/cc.o"})
	if got, want := labels(cc.DepTargets), "//base:base //lib:gen //tools:fmt"; got != want {
		t.Errorf("cc.DepTargets = %s, want %s", got, want)
	}
	check("common.Inputs", common.Inputs, []string{"common/own.c"})
	if got, want := labels(common.DepTargets), "//lib:gen"; got != want {
		t.Errorf("common.DepTargets = %s, want %s", got, want)
	}
	check("root.OutFiles", root.OutFiles, []string{"top.txt"})
	check("root.Inputs", root.Inputs, []string{"README"})
	if got, want := labels(root.DepTargets), "//lib:cc"; got != want {
		t.Errorf("root.DepTargets = %s, want %s", got, want)
	}
	if base.DepTargets != nil || base.Inputs != nil || base.OutFiles != nil || base.ToolFiles != nil {
		t.Errorf("empty target got resolved fields: %+v", base)
	}
	for path, want := range map[string]*Target{"lib/gen.h": gen, "common/shared.h": gen, "./lib/cc.o": cc, "top.txt": root} {
		if got, ok := g.Producer(path); !ok || got != want {
			t.Errorf("Producer(%q) = %v, %v, want %s", path, got, ok, want.Label)
		}
	}
	if _, ok := g.Producer("lib/a.c"); ok {
		t.Errorf("a source file has a producer")
	}

	// The carved slices must not share capacity.
	gen.OutFiles = append(gen.OutFiles, "clobber")
	check("cc.OutFiles after append to gen.OutFiles", cc.OutFiles, []string{"lib/cc.o"})
}

func TestResolveRuleNamedLikeOutput(t *testing.T) {
	app := rule("//p:app", 1)
	app.Outs = []string{"app"}
	test := rule("//p:test", 2)
	test.Srcs = []string{":app", "app", "//p:app"}
	g := build(t, app, test)
	if err := g.Resolve(""); err != nil {
		t.Fatal(err)
	}
	if got := labels(test.DepTargets); got != "//p:app" {
		t.Errorf("DepTargets = %s, want //p:app", got)
	}
	if test.Inputs != nil {
		t.Errorf("Inputs = %q, want none", test.Inputs)
	}
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func() []*Target
		want  string
	}{
		{"absolute output", func() []*Target {
			x := rule("//lib:x", 3)
			x.Outs = []string{"/etc/x"}
			return []*Target{x}
		}, `lib/BUILD:3:1: rule "//lib:x": output "/etc/x" is an absolute path`},
		{"output outside", func() []*Target {
			x := rule("//lib:x", 3)
			x.Outs = []string{"ok", "../../x"}
			return []*Target{x}
		}, `lib/BUILD:3:1: rule "//lib:x": output "../../x" is outside the workspace`},
		{"output outside from root", func() []*Target {
			x := rule("//:x", 3)
			x.Outs = []string{"a/../../x"}
			return []*Target{x}
		}, `BUILD:3:1: rule "//:x": output "a/../../x" is outside the workspace`},
		{"output package dir", func() []*Target {
			x := rule("//lib:x", 3)
			x.Outs = []string{"sub/.."}
			return []*Target{x}
		}, `lib/BUILD:3:1: rule "//lib:x": output "sub/.." is the package directory`},
		{"output root", func() []*Target {
			x := rule("//lib:x", 3)
			x.Outs = []string{".."}
			return []*Target{x}
		}, `lib/BUILD:3:1: rule "//lib:x": output ".." is the workspace root`},
		{"empty output", func() []*Target {
			x := rule("//lib:x", 3)
			x.Outs = []string{""}
			return []*Target{x}
		}, `lib/BUILD:3:1: rule "//lib:x": empty path in outs`},
		{"label output", func() []*Target {
			x := rule("//lib:x", 3)
			x.Outs = []string{":y"}
			return []*Target{x}
		}, `lib/BUILD:3:1: rule "//lib:x": output ":y" is a label; outs are paths relative to the package`},
		{"output twice", func() []*Target {
			x := rule("//lib:x", 3)
			x.Outs = []string{"gen.h", "./gen.h"}
			return []*Target{x}
		}, `lib/BUILD:3:1: rule "//lib:x" lists output "./gen.h" twice`},
		{"two producers", func() []*Target {
			x := rule("//lib:x", 3)
			x.Outs = []string{"gen.h"}
			y := rule("//app:y", 5)
			y.Outs = []string{"../lib/gen.h"}
			return []*Target{x, y}
		}, `app/BUILD:5:1: rule "//app:y": output "lib/gen.h" is also an output of rule "//lib:x" (lib/BUILD:3:1)`},
		{"output named like another rule", func() []*Target {
			x := rule("//lib:x", 3)
			x.Outs = []string{"sub/../gen.h"}
			return []*Target{rule("//lib:gen.h", 1), x}
		}, `lib/BUILD:3:1: rule "//lib:x": output "gen.h" has the name of rule "//lib:gen.h" (lib/BUILD:1:1)`},
		{"root output named like another rule", func() []*Target {
			x := rule("//:x", 3)
			x.Outs = []string{"y"}
			return []*Target{x, rule("//:y", 4)}
		}, `BUILD:3:1: rule "//:x": output "y" has the name of rule "//:y" (BUILD:4:1)`},
		{"unknown dep", func() []*Target {
			x := rule("//app:app", 3)
			x.Deps = deps("//lib:nett")
			return []*Target{rule("//lib:net", 1), rule("//lib:log", 2), x}
		}, `app/BUILD:3:1: rule "//app:app": no rule "//lib:nett" (did you mean "//lib:net"?)`},
		{"unknown dep, nothing near", func() []*Target {
			x := rule("//app:app", 3)
			x.Deps = deps("//zzz:qqqq")
			return []*Target{rule("//lib:net", 1), x}
		}, `app/BUILD:3:1: rule "//app:app": no rule "//zzz:qqqq"`},
		{"unknown dep, same name elsewhere", func() []*Target {
			x := rule("//app:app", 3)
			x.Deps = deps("//lib:net")
			return []*Target{rule("//lib/net:net", 1), x}
		}, `app/BUILD:3:1: rule "//app:app": no rule "//lib:net" (did you mean "//lib/net:net"?)`},
		{"dep on a file", func() []*Target {
			gen := rule("//lib:gen", 1)
			gen.Outs = []string{"gen.h"}
			x := rule("//app:app", 3)
			x.Deps = deps("//lib:gen.h")
			return []*Target{gen, x}
		}, `app/BUILD:3:1: rule "//app:app": no rule "//lib:gen.h" (did you mean "//lib:gen", which outputs it?)`},
		{"empty src", func() []*Target {
			x := rule("//lib:x", 3)
			x.Srcs = []string{"a.c", ""}
			return []*Target{x}
		}, `lib/BUILD:3:1: rule "//lib:x": empty path in srcs`},
		{"absolute src", func() []*Target {
			x := rule("//lib:x", 3)
			x.Srcs = []string{"/etc/passwd"}
			return []*Target{x}
		}, `lib/BUILD:3:1: rule "//lib:x": srcs entry "/etc/passwd" is an absolute path`},
		{"src outside", func() []*Target {
			x := rule("//lib:x", 3)
			x.Srcs = []string{"../../x.c"}
			return []*Target{x}
		}, `lib/BUILD:3:1: rule "//lib:x": srcs entry "../../x.c" is outside the workspace`},
		{"tool outside", func() []*Target {
			x := rule("//lib:x", 3)
			x.Tools = []string{"../.."}
			return []*Target{x}
		}, `lib/BUILD:3:1: rule "//lib:x": tools entry "../.." is outside the workspace`},
		{"bad src label", func() []*Target {
			x := rule("//lib:x", 3)
			x.Srcs = []string{"//a//b:c"}
			return []*Target{x}
		}, `lib/BUILD:3:1: rule "//lib:x": srcs: invalid label "//a//b:c": double slash in package path`},
		{"unknown group", func() []*Target {
			x := rule("//lib:x", 3)
			x.Group = "lnit"
			return []*Target{x}
		}, `lib/BUILD:3:1: rule "//lib:x": no group "lnit" (did you mean "lint"?)`},
		{"unknown group, nothing near", func() []*Target {
			x := rule("//lib:x", 3)
			x.Group = "release"
			return []*Target{x}
		}, `lib/BUILD:3:1: rule "//lib:x": no group "release"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := build(t, tt.setup()...)
			for _, name := range []string{"lint", "deploy"} {
				if err := g.AddGroup(Group{Name: name}); err != nil {
					t.Fatal(err)
				}
			}
			err := g.Resolve("")
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("Resolve error = %v, want *Error %s", err, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("Resolve error:\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

func TestResolveCycles(t *testing.T) {
	tests := []struct {
		name  string
		setup func() []*Target
		want  string
	}{
		{"self dep", func() []*Target {
			x := rule("//a:x", 1)
			x.Deps = deps("//a:x")
			return []*Target{x}
		}, "dependency cycle: //a:x -> //a:x"},
		{"own output as src", func() []*Target {
			x := rule("//a:x", 1)
			x.Outs = []string{"out"}
			x.Srcs = []string{"out"}
			return []*Target{x}
		}, "dependency cycle: //a:x -> //a:x"},
		{"two rules", func() []*Target {
			x, y := rule("//a:x", 1), rule("//b:y", 1)
			x.Deps = deps("//b:y")
			y.Deps = deps("//a:x")
			return []*Target{x, y}
		}, "dependency cycle: //a:x -> //b:y -> //a:x"},
		{"through files, entered from a tail", func() []*Target {
			head, a, b, c := rule("//p:head", 1), rule("//p:a", 2), rule("//p:b", 3), rule("//p:c", 4)
			head.Deps = deps("//p:a")
			a.Srcs = []string{"b.out"}
			a.Outs = []string{"a.out"}
			b.Tools = []string{":c"}
			b.Outs = []string{"b.out"}
			c.Srcs = []string{"//p:a.out"}
			return []*Target{head, a, b, c}
		}, "dependency cycle: //p:a -> //p:b -> //p:c -> //p:a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := build(t, tt.setup()...)
			err := g.Resolve("")
			var cerr *CycleError
			if !errors.As(err, &cerr) {
				t.Fatalf("Resolve error = %v, want *CycleError %s", err, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("Resolve error:\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

func TestResolveLongChain(t *testing.T) {
	const n = 100_000
	ts := chain(n)
	if err := build(t, ts...).Resolve(""); err != nil {
		t.Fatalf("acyclic chain: %v", err)
	}

	ts = chain(n)
	ts[n-1].Deps = []Label{ts[0].Label}
	err := build(t, ts...).Resolve("")
	var cerr *CycleError
	if !errors.As(err, &cerr) {
		t.Fatalf("Resolve error = %v, want a *CycleError", err)
	}
	if len(cerr.Chain) != n+1 || cerr.Chain[0] != ts[0].Label || cerr.Chain[n] != ts[0].Label || cerr.Chain[n-1] != ts[n-1].Label {
		t.Errorf("chain of %d labels from %s to %s", len(cerr.Chain), cerr.Chain[0], cerr.Chain[len(cerr.Chain)-1])
	}
}

func TestResolveDedupesDeps(t *testing.T) {
	gen, lib := rule("//p:gen", 1), rule("//p:lib", 2)
	gen.Outs = []string{"a.h", "b.h"}
	x := rule("//p:x", 3)
	x.Deps = deps("//p:lib", "//p:gen", "//p:lib")
	x.Srcs = []string{"a.h", "b.h", ":lib", "x.c", "x.c"}
	x.Tools = []string{":gen"}
	if err := build(t, gen, lib, x).Resolve(""); err != nil {
		t.Fatal(err)
	}
	if got, want := labels(x.DepTargets), "//p:lib //p:gen"; got != want {
		t.Errorf("DepTargets = %s, want %s", got, want)
	}
	if want := []string{"p/x.c", "p/x.c"}; !slices.Equal(x.Inputs, want) {
		t.Errorf("Inputs = %q, want %q (as listed)", x.Inputs, want)
	}
}

func TestResolveIncremental(t *testing.T) {
	gen, x := rule("//lib:gen", 1), rule("//lib:x", 3)
	gen.Outs = []string{"gen.h"}
	x.Srcs = []string{"a.c", "gen.h"}
	g := build(t, gen, x)
	if err := g.Resolve(""); err != nil {
		t.Fatal(err)
	}
	oldDeps := x.DepTargets

	dyn := rule("//lib:dyn", 8)
	dyn.Srcs = []string{"gen.h"}
	dyn.Deps = deps("//lib:x", "//lib:dyn2")
	dyn.Outs = []string{"dyn.out"}
	dyn2 := rule("//lib:dyn2", 9)
	if err := g.Add(dyn); err != nil {
		t.Fatal(err)
	}
	if err := g.Add(dyn2); err != nil {
		t.Fatal(err)
	}
	if err := g.Resolve(""); err != nil {
		t.Fatal(err)
	}
	if got, want := labels(dyn.DepTargets), "//lib:x //lib:dyn2 //lib:gen"; got != want {
		t.Errorf("dyn.DepTargets = %s, want %s", got, want)
	}
	if &x.DepTargets[0] != &oldDeps[0] {
		t.Errorf("second Resolve rewrote an earlier target")
	}
	if got := labels(g.Closure([]*Target{dyn})); got != "//lib:gen //lib:x //lib:dyn //lib:dyn2" {
		t.Errorf("Closure(dyn) = %s", got)
	}

	bad := rule("//lib:bad", 12)
	bad.Outs = []string{"new.out", "a.c"}
	if err := g.Add(bad); err != nil {
		t.Fatal(err)
	}
	err := g.Resolve("")
	want := `lib/BUILD:12:1: rule "//lib:bad": output "lib/a.c" is already a source file of rule "//lib:x" (lib/BUILD:3:1)`
	if err == nil || err.Error() != want {
		t.Fatalf("Resolve error = %v, want %s", err, want)
	}
	if _, ok := g.Producer("lib/new.out"); ok {
		t.Errorf("failed Resolve left its outputs indexed")
	}
	if p, ok := g.Producer("lib/dyn.out"); !ok || p != dyn {
		t.Errorf("failed Resolve lost earlier outputs")
	}
	if err := g.Resolve(""); err == nil || err.Error() != want {
		t.Errorf("Resolve again = %v, want the same error", err)
	}
}

func TestResolveCycleRollsBack(t *testing.T) {
	x := rule("//a:x", 1)
	x.Deps = deps("//a:x")
	x.Outs = []string{"x.out"}
	g := build(t, x)
	if err := g.Resolve(""); err == nil {
		t.Fatal("no error")
	}
	if _, ok := g.Producer("a/x.out"); ok {
		t.Errorf("failed Resolve left its outputs indexed")
	}
	if len(g.deps) != 0 || len(g.depEnd) != 0 {
		t.Errorf("failed Resolve left edges: %v %v", g.deps, g.depEnd)
	}
}

func TestResolveSymlinks(t *testing.T) {
	outside := t.TempDir()
	real := t.TempDir()
	for _, dir := range []string{"lib/sub", "build"} {
		if err := os.MkdirAll(filepath.Join(real, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"lib/out":  outside,
		"lib/in":   filepath.Join(real, "build"),
		"lib/rel":  "../build",
		"lib/up":   "../..",
		"lib/dead": filepath.Join(real, "nonexistent"),
	}
	for link, target := range links {
		if err := os.Symlink(target, filepath.Join(real, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(real, "lib/file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// The workspace is reached through a symbolic link too.
	root := filepath.Join(t.TempDir(), "ws")
	if err := os.Symlink(real, root); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		out, want string
	}{
		{"x", ""},
		{"sub/x", ""},
		{"new/dir/x", ""},
		{"in/x", ""},
		{"rel/x/y", ""},
		{"file/x", ""}, // under a file: the rule will fail, not escape
		{"out", ""},    // the output itself may be a link
		{"out/x", `lib/BUILD:1:1: rule "//lib:x": output "out/x" leaves the workspace through symbolic link "lib/out"`},
		{"out/a/b/c", `lib/BUILD:1:1: rule "//lib:x": output "out/a/b/c" leaves the workspace through symbolic link "lib/out"`},
		{"up/x", `lib/BUILD:1:1: rule "//lib:x": output "up/x" leaves the workspace through symbolic link "lib/up"`},
		{"dead/x", `lib/BUILD:1:1: rule "//lib:x": output "dead/x" is under symbolic link "lib/dead", which cannot be resolved`},
	}
	for _, tt := range tests {
		x := rule("//lib:x", 1)
		x.Outs = []string{tt.out}
		err := build(t, x).Resolve(root)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("output %q: %v", tt.out, err)
		case tt.want != "" && (err == nil || err.Error() != tt.want):
			t.Errorf("output %q: error = %v, want %s", tt.out, err, tt.want)
		}
	}

	err := build(t, rule("//:x", 1)).Resolve(filepath.Join(real, "nonexistent"))
	if err == nil {
		t.Errorf("Resolve with a missing root succeeded")
	}
}
