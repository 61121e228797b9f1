package graph

import (
	"fmt"
	"strings"
	"testing"
)

// rule returns a target with the label, positioned at line of its
// package's BUILD file.
func rule(label string, line int) *Target {
	l, err := ParseLabel(label, "")
	if err != nil {
		panic(err)
	}
	file := "BUILD"
	if l.Pkg != "" {
		file = l.Pkg + "/BUILD"
	}
	return &Target{Label: l, Pos: Pos{File: file, Line: line, Col: 1}}
}

// build adds the targets to a new graph.
func build(t testing.TB, targets ...*Target) *Graph {
	t.Helper()
	g := New()
	for _, x := range targets {
		if err := g.Add(x); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

// labels formats targets as a space-separated list of labels.
func labels(ts []*Target) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.Label.String()
	}
	return strings.Join(s, " ")
}

func deps(ls ...string) []Label {
	out := make([]Label, len(ls))
	for i, s := range ls {
		l, err := ParseLabel(s, "")
		if err != nil {
			panic(err)
		}
		out[i] = l
	}
	return out
}

// chain returns n targets //c:t0 ... where each depends on the next.
func chain(n int) []*Target {
	ts := make([]*Target, n)
	for i := range ts {
		ts[i] = rule(fmt.Sprintf("//c:t%d", i), i+1)
	}
	for i := 0; i+1 < n; i++ {
		ts[i].Deps = []Label{ts[i+1].Label}
	}
	return ts
}
