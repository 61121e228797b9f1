package graph

import (
	"fmt"
	"testing"
)

// synthetic returns n targets in n/10 packages, shaped like a C project:
// each compiles a source file and includes a generated header of its
// package, depends on a rule of an earlier package, and uses a tool.
func synthetic(n int) []*Target {
	ts := make([]*Target, 0, n+1)
	cc := rule("//tools:cc", 1)
	cc.Outs = []string{"cc"}
	ts = append(ts, cc)
	for i := range n {
		pkg := fmt.Sprintf("src/mod%d/pkg%d", i/1000, i/10)
		t := rule(fmt.Sprintf("//%s:t%d", pkg, i), i%10+1)
		t.Outs = []string{fmt.Sprintf("obj/t%d.o", i)}
		t.Srcs = []string{fmt.Sprintf("t%d.c", i), fmt.Sprintf("t%d.h", i)}
		if i%10 != 0 {
			t.Srcs = append(t.Srcs, fmt.Sprintf(":obj/t%d.o", i-1))
		}
		if i >= 10 {
			prev := fmt.Sprintf("//src/mod%d/pkg%d:t%d", (i-10)/1000, (i-10)/10, i-10)
			t.Deps = deps(prev)
		}
		t.Tools = []string{"//tools:cc"}
		ts = append(ts, t)
	}
	return ts
}

func BenchmarkResolve(b *testing.B) {
	for _, n := range []int{10_000, 50_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ts := synthetic(n)
			root := b.TempDir()
			for b.Loop() {
				b.StopTimer()
				g := build(b, ts...)
				b.StartTimer()
				if err := g.Resolve(root); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestSynthetic(t *testing.T) {
	ts := synthetic(100)
	g := build(t, ts...)
	if err := g.Resolve(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	x := ts[15] // //src/mod0/pkg1:t14
	if got, want := labels(x.DepTargets), "//src/mod0/pkg0:t4 //src/mod0/pkg1:t13 //tools:cc"; got != want {
		t.Errorf("DepTargets = %s, want %s", got, want)
	}
	if got := len(g.Closure(ts[len(ts)-1:])); got != 101 {
		t.Errorf("closure of the last target has %d targets, want all", got)
	}
}
