package graph

import (
	"testing"
)

// queryGraph is a small resolved workspace:
//
//	//:fmt                      (root package)
//	//lib:gen   outs gen.h      manual
//	//lib:lib   srcs gen.h
//	//lib/net:net  deps //lib
//	//app:app   deps //lib/net
//	//app:serve deps //app      service
//	//app:test  srcs app        tags test
//	//docs      (no rules)
func queryGraph(t *testing.T) *Graph {
	t.Helper()
	fmt_ := rule("//:fmt", 1)
	gen := rule("//lib:gen", 1)
	gen.Outs = []string{"gen.h"}
	gen.Tags = []string{"manual"}
	lib := rule("//lib:lib", 2)
	lib.Srcs = []string{"gen.h", "lib.c"}
	net := rule("//lib/net:net", 1)
	net.Deps = deps("//lib")
	app := rule("//app:app", 1)
	app.Deps = deps("//lib/net")
	app.Outs = []string{"app"}
	serve := rule("//app:serve", 2)
	serve.Deps = deps("//app")
	serve.Tags = []string{"service"}
	test := rule("//app:test", 3)
	test.Srcs = []string{"app"}
	test.Tags = []string{"test"}
	g := build(t, fmt_, gen, lib, net, app, serve, test)
	g.AddPackage("docs")
	if err := g.Resolve(""); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestSelect(t *testing.T) {
	g := queryGraph(t)
	tests := []struct {
		cwd      string
		patterns []string
		want     string
	}{
		{"", []string{"//..."}, "//:fmt //lib:lib //lib/net:net //app:app //app:test"},
		{"", []string{"//lib/..."}, "//lib:lib //lib/net:net"},
		{"", []string{"//lib:all"}, "//lib:lib"},
		{"", []string{"//lib:gen"}, "//lib:gen"},
		{"", []string{"//lib/...", "//lib:gen"}, "//lib:gen //lib:lib //lib/net:net"},
		{"", []string{"//app:serve"}, "//app:serve"},
		{"app", []string{"serve", ":test"}, "//app:serve //app:test"},
		{"app", []string{"..."}, "//app:app //app:test"},
		{"lib", []string{"net/", "../app"}, "//lib/net:net //app:app"},
		{"", []string{"//lib:gen.h"}, "//lib:gen"},
		{"", []string{"//app:app"}, "//app:app"},
		{"", []string{"//docs/..."}, ""},
		{"", []string{"//docs:all"}, ""},
		{"", []string{"//app:app", "//app:all", "//..."}, "//:fmt //lib:lib //lib/net:net //app:app //app:test"},
		{"", nil, ""},
	}
	for _, tt := range tests {
		var ps []Pattern
		for _, s := range tt.patterns {
			p, err := ParsePattern(s, tt.cwd)
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
		}
		ts, err := g.Select(ps)
		if err != nil {
			t.Errorf("Select(%q in %q): %v", tt.patterns, tt.cwd, err)
			continue
		}
		if got := labels(ts); got != tt.want {
			t.Errorf("Select(%q in %q) = %s, want %s", tt.patterns, tt.cwd, got, tt.want)
		}
	}
}

func TestSelectErrors(t *testing.T) {
	g := queryGraph(t)
	p, _ := ParsePattern("net", "lib")
	_, err := g.Select([]Pattern{p})
	if want := `no rule "//lib:net" (did you mean "//lib/net:net"?)`; err == nil || err.Error() != want {
		t.Errorf("Select(net in lib) error = %v, want %s", err, want)
	}
	if err := g.Add(rule("//lib:net", 9)); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ pattern, want string }{
		{"//lib:nett", `no rule "//lib:nett" (did you mean "//lib:net"?)`},
		{"//lib:zzzzz", `no rule "//lib:zzzzz" (rules in //lib: gen, lib, net)`},
		{"//nowhere:x", `no rule "//nowhere:x" (no package "//nowhere")`},
		{"//nope:app", `no rule "//nope:app" (did you mean "//app:app"?)`},
		{"//foo/...", `no packages match "//foo/..."`},
		{"//ap/...", `no packages match "//ap/..." (did you mean "//app/..."?)`},
		{"//lib/ne:all", `no packages match "//lib/ne:all" (did you mean "//lib/net:all"?)`},
		{"//li/...", `no packages match "//li/..." (did you mean "//lib/..."?)`},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.pattern, "")
		if err != nil {
			t.Fatal(err)
		}
		_, err = g.Select([]Pattern{p})
		if err == nil || err.Error() != tt.want {
			t.Errorf("Select(%s) error = %v, want %s", tt.pattern, err, tt.want)
		}
	}
	if _, err := New().Select([]Pattern{{Recursive: true}}); err == nil || err.Error() != `no packages match "//..."` {
		t.Errorf("Select(//...) on an empty graph: %v", err)
	}
}

func TestClosureAndDependents(t *testing.T) {
	g := queryGraph(t)
	get := func(s string) *Target {
		l, err := ParseLabel(s, "")
		if err != nil {
			t.Fatal(err)
		}
		x, ok := g.Lookup(l)
		if !ok {
			t.Fatalf("no %s", s)
		}
		return x
	}
	tests := []struct {
		of                []string
		closure, rdepends string
	}{
		{[]string{"//app:test"}, "//lib:gen //lib:lib //lib/net:net //app:app //app:test", "//app:test"},
		{[]string{"//lib:gen"}, "//lib:gen", "//lib:gen //lib:lib //lib/net:net //app:app //app:serve //app:test"},
		{[]string{"//app:serve", "//:fmt"}, "//:fmt //lib:gen //lib:lib //lib/net:net //app:app //app:serve", "//:fmt //app:serve"},
		{[]string{"//app:app", "//app:app"}, "//lib:gen //lib:lib //lib/net:net //app:app", "//app:app //app:serve //app:test"},
		{nil, "", ""},
	}
	for _, tt := range tests {
		var ts []*Target
		for _, s := range tt.of {
			ts = append(ts, get(s))
		}
		if got := labels(g.Closure(ts)); got != tt.closure {
			t.Errorf("Closure(%q) = %s, want %s", tt.of, got, tt.closure)
		}
		if got := labels(g.Dependents(ts)); got != tt.rdepends {
			t.Errorf("Dependents(%q) = %s, want %s", tt.of, got, tt.rdepends)
		}
	}
	stranger := rule("//app:app", 1)
	if got := g.Closure([]*Target{stranger}); len(got) != 0 {
		t.Errorf("Closure of a target not in the graph = %s", labels(got))
	}
}
