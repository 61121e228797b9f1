package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestGraphShape checks the promises of the package comment: every rule
// reads its private source first, then distinct shared sources, then the
// outputs of distinct rules one level down in earlier packages.
func TestGraphShape(t *testing.T) {
	for _, opts := range []Options{
		{Packages: 1, Rules: 1, Srcs: 1, Deps: 0, Seed: 1},
		{Packages: 3, Rules: 2, Srcs: 2, Deps: 5, Seed: 2},
		{Packages: 50, Rules: 10, Srcs: 3, Deps: 2, Seed: 3},
	} {
		g := NewGraph(opts)
		eachRule(g, func(r Rule) { checkRule(t, g, r) })
	}
}

func checkRule(t *testing.T, g *Graph, r Rule) {
	t.Helper()
	if r.Srcs[0] != r.ID.Index || len(r.Srcs) != g.Options.Srcs {
		t.Errorf("%v: srcs %v, want %d first and %d in all", r.ID, r.Srcs, r.ID.Index, g.Options.Srcs)
	}
	for _, s := range r.Srcs[1:] {
		if s < g.Options.Rules || s >= g.SourcesPerPackage() {
			t.Errorf("%v: shared source %d out of range", r.ID, s)
		}
	}
	if !distinct(r.Srcs) || !distinct(r.Deps) {
		t.Errorf("%v: repeated inputs: %v %v", r.ID, r.Srcs, r.Deps)
	}
	if len(r.Deps) > g.Options.Deps {
		t.Errorf("%v: %d deps, want at most %d", r.ID, len(r.Deps), g.Options.Deps)
	}
	for _, d := range r.Deps {
		if d.Pkg >= r.ID.Pkg || g.Rules[d.Pkg][d.Index].Level != r.Level-1 {
			t.Errorf("%v (level %d): dep %v is not one level down in an earlier package", r.ID, r.Level, d)
		}
	}
}

func distinct[T comparable](items []T) bool {
	seen := map[T]bool{}
	for _, x := range items {
		if seen[x] {
			return false
		}
		seen[x] = true
	}
	return true
}

func TestGraphDeterministic(t *testing.T) {
	opts := Options{Packages: 20, Rules: 10, Srcs: 3, Deps: 2, Seed: 7}
	if !reflect.DeepEqual(NewGraph(opts), NewGraph(opts)) {
		t.Error("two graphs from the same options differ")
	}
	other := opts
	other.Seed = 8
	if reflect.DeepEqual(NewGraph(opts).Rules, NewGraph(other).Rules) {
		t.Error("graphs from different seeds are equal")
	}
}

func TestLeafHasDependents(t *testing.T) {
	g := NewGraph(Options{Packages: 100, Rules: 10, Srcs: 3, Deps: 2, Seed: 1})
	leaf, n := g.Leaf()
	if leaf.Index%levels != 0 || n == 0 || n != g.Dependents()[leaf] {
		t.Errorf("Leaf() = %v, %d: want a level-0 rule with dependents", leaf, n)
	}
}

// TestWrite checks that the three forms name the same inputs for a rule.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	g := NewGraph(Options{Packages: 4, Rules: 5, Srcs: 2, Deps: 2, Seed: 1})
	if err := Write(g, dir); err != nil {
		t.Fatal(err)
	}
	r := g.Rules[3][1]
	build := readFile(t, filepath.Join(dir, "p0003", "BUILD"))
	ninja := readFile(t, filepath.Join(dir, "build.ninja"))
	mk := readFile(t, filepath.Join(dir, "Makefile"))
	inputs := strings.Join(rootPaths(r), " ")
	for _, want := range []struct{ text, line string }{
		{ninja, "build p0003/r0001.out: cat " + inputs + "\n"},
		{mk, "p0003/r0001.out: " + inputs + "\n\tcat $^ > $@\n"},
		{build, "srcs = [" + quoteList(pexSrcs(r)) + "]"},
	} {
		if !strings.Contains(want.text, want.line) {
			t.Errorf("missing %q", want.line)
		}
	}
	if err := Write(g, dir); err == nil {
		t.Error("Write into a non-empty directory succeeded")
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
