package graph

import (
	"slices"
	"testing"
)

func TestReads(t *testing.T) {
	g := New()
	gen := &Target{Label: Label{Pkg: "p", Name: "gen"}, Outs: []string{"a.h", "b.h"}}
	lib := &Target{Label: Label{Pkg: "lib", Name: "lib"}, Outs: []string{"lib.a"}}
	byFile := &Target{Label: Label{Pkg: "p", Name: "one"}, Srcs: []string{"a.h", "main.c"}, Tools: []string{"/usr/bin/cc"}}
	byLabel := &Target{Label: Label{Pkg: "q", Name: "two"}, Srcs: []string{"//p:b.h", "//lib"}, Deps: []Label{{Pkg: "p", Name: "gen"}}}
	for _, tg := range []*Target{gen, lib, byFile, byLabel} {
		if err := g.Add(tg); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Resolve(""); err != nil {
		t.Fatal(err)
	}
	rules, files := g.Reads(byFile)
	if len(rules) != 0 || !slices.Equal(files, []string{"p/a.h", "p/main.c"}) {
		t.Errorf("Reads(%s) = %v, %v; want no rules, the files it names", byFile.Label, rules, files)
	}
	rules, files = g.Reads(byLabel)
	if !slices.Equal(rules, []*Target{gen, lib}) || !slices.Equal(files, []string{"p/b.h"}) {
		t.Errorf("Reads(%s) = %v, %v; want the rules it names whole and p/b.h", byLabel.Label, rules, files)
	}
}
