package graph

import (
	"errors"
	"slices"
	"testing"
)

func TestAdd(t *testing.T) {
	g := New()
	x := rule("//a:x", 3)
	if err := g.Add(x); err != nil {
		t.Fatal(err)
	}
	if got, ok := g.Lookup(Label{"a", "x"}); !ok || got != x {
		t.Errorf("Lookup(//a:x) = %v, %v", got, ok)
	}
	if _, ok := g.Lookup(Label{"a", "y"}); ok {
		t.Errorf("Lookup(//a:y) found a target")
	}

	err := g.Add(rule("//a:x", 7))
	want := `a/BUILD:7:1: rule "//a:x" already defined at a/BUILD:3:1`
	var perr *Error
	if !errors.As(err, &perr) || err.Error() != want {
		t.Errorf("second Add error = %v, want *Error %s", err, want)
	}
	if len(g.Targets) != 1 {
		t.Errorf("failed Add registered the target")
	}
}

func TestAddInvalidLabel(t *testing.T) {
	tests := []struct {
		l    Label
		want string
	}{
		{Label{"a", ""}, "a/BUILD:1:1: empty rule name"},
		{Label{"a", "x:y"}, `a/BUILD:1:1: invalid rule name "x:y": colon`},
		{Label{"a", "x/"}, `a/BUILD:1:1: invalid rule name "x/": trailing slash`},
		{Label{"a", ".."}, `a/BUILD:1:1: invalid rule name "..": ".." segment`},
		{Label{"a//b", "x"}, `a/BUILD:1:1: invalid package path "a//b": double slash`},
	}
	for _, tt := range tests {
		err := New().Add(&Target{Label: tt.l, Pos: Pos{"a/BUILD", 1, 1}})
		if err == nil || err.Error() != tt.want {
			t.Errorf("Add(%#v) error = %v, want %s", tt.l, err, tt.want)
		}
	}
}

func TestGroups(t *testing.T) {
	g := New()
	lint := Group{Name: "lint", Jobs: 1, Pos: Pos{"pex.star", 2, 1}}
	if err := g.AddGroup(lint); err != nil {
		t.Fatal(err)
	}
	if err := g.AddGroup(Group{Name: "deploy", Pos: Pos{"pex.star", 3, 1}}); err != nil {
		t.Fatal(err)
	}
	err := g.AddGroup(Group{Name: "lint", Pos: Pos{"pex.star", 4, 1}})
	if want := `pex.star:4:1: group "lint" already defined at pex.star:2:1`; err == nil || err.Error() != want {
		t.Errorf("duplicate AddGroup error = %v, want %s", err, want)
	}
	err = g.AddGroup(Group{Pos: Pos{"pex.star", 5, 1}})
	if want := `pex.star:5:1: group with an empty name`; err == nil || err.Error() != want {
		t.Errorf("AddGroup without name error = %v, want %s", err, want)
	}
	if got, ok := g.Group("lint"); !ok || got != lint {
		t.Errorf(`Group("lint") = %v, %v`, got, ok)
	}
	if _, ok := g.Group("nope"); ok {
		t.Errorf(`Group("nope") found a group`)
	}
	if names := g.groupNames(); !slices.Equal(names, []string{"lint", "deploy"}) {
		t.Errorf("groups in order %q", names)
	}
}

func TestPackages(t *testing.T) {
	g := build(t, rule("//lib/net:net", 1), rule("//:fmt", 1), rule("//lib:lib", 1), rule("//lib:util", 2))
	g.AddPackage("docs")
	want := []string{"", "docs", "lib", "lib/net"}
	if got := g.Packages(); !slices.Equal(got, want) {
		t.Errorf("Packages() = %q, want %q", got, want)
	}
	g.AddPackage("app")
	want = []string{"", "app", "docs", "lib", "lib/net"}
	if got := g.Packages(); !slices.Equal(got, want) {
		t.Errorf("after AddPackage, Packages() = %q, want %q", got, want)
	}
}

func TestHasPackageIn(t *testing.T) {
	g := New()
	for _, p := range []string{"lib-x", "lib.y", "lib/net", "libz", "a"} {
		g.AddPackage(p)
	}
	for dir, want := range map[string]bool{
		"": true, "lib": true, "lib/net": true, "lib/n": false, "li": false,
		"lib-x": true, "libz": true, "b": false, "a": true, "lib/net/x": false,
	} {
		if got := g.hasPackageIn(dir); got != want {
			t.Errorf("hasPackageIn(%q) = %v, want %v", dir, got, want)
		}
	}
	if New().hasPackageIn("") {
		t.Errorf("an empty graph has packages")
	}
}

func TestZeroGraph(t *testing.T) {
	var g Graph
	if _, ok := g.Lookup(Label{"a", "b"}); ok {
		t.Error("zero graph finds a target")
	}
	if err := g.Add(rule("//a:b", 1)); err != nil {
		t.Fatal(err)
	}
	if err := g.Resolve(""); err != nil {
		t.Fatal(err)
	}
}
