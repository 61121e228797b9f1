package build

import (
	"os"
	"testing"

	"github.com/pex-build/pex/exec"
	"github.com/pex-build/pex/graph"
)

// A rules section reads back what it was written from, and no prefix of
// it, nor it with a byte changed in its lists, reads as a good one with
// numbers out of range: a damaged proof sends the build down the full
// path, it never panics.
func TestRulesSectionRoundTrip(t *testing.T) {
	g := graph.New()
	for _, tg := range []*graph.Target{
		{Label: graph.Label{Name: "gen"}, Srcs: []string{"a.in"}, Outs: []string{"gen.h"}, Provides: []string{"tok"}, Cache: true},
		{Label: graph.Label{Name: "use"}, Srcs: []string{":gen", "b.c"}, Outs: []string{"use.o"}, Requires: []string{"tok"}, Group: "one", Cache: true},
	} {
		if err := g.Add(tg); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.AddGroup(graph.Group{Name: "one", Jobs: 1}); err != nil {
		t.Fatal(err)
	}
	if err := g.Resolve(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	plan, err := NewPlan(g, g.Targets)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	c, err := OpenCache(root, CacheOptions{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := &builder{opts: Options{Graph: g, GraphSum: []byte("g"), HostEnv: os.LookupEnv}, cache: c,
		byTask: map[*exec.Task]*graph.Target{}}
	files := []string{"a.in", "b.c", "gen.h", "use.o"}
	data := b.proofRules(plan, files)
	if data == nil {
		t.Fatal("no rules section")
	}
	changed := []bool{true, false, false, false} // a.in
	sec, touched, dependents, ok := readRules(data, len(files), changed)
	if !ok {
		t.Fatal("the section does not read back")
	}
	if len(sec.offsets) != 2 || !touched[0] || touched[1] || len(dependents[0]) != 2 || len(sec.groups) != 1 || sec.groups[0].Name != "one" {
		t.Fatalf("read back: %d rules, touched %v, dependents %v, groups %v", len(sec.offsets), touched, dependents, sec.groups)
	}
	e, ok := sec.entry(1)
	if !ok {
		t.Fatal("entry 1 does not read")
	}
	use, err := graph.DecodeTarget(e.target)
	if err != nil || use.Label.Name != "use" {
		t.Fatalf("entry 1 is %v (%v); want //:use", use, err)
	}
	want := [numLists][]int{{1}, nil, {3}, nil, {0}, {0}}
	for l := range want {
		if len(e.lists[l]) != len(want[l]) || len(want[l]) > 0 && e.lists[l][0] != want[l][0] {
			t.Errorf("list %d of //:use = %v; want %v", l, e.lists[l], want[l])
		}
	}
	for n := range len(data) {
		if _, _, _, ok := readRules(data[:n], len(files), changed); ok {
			t.Errorf("a section cut at %d of %d bytes reads as whole", n, len(data))
		}
	}
	for i := range data {
		bad := append([]byte(nil), data...)
		bad[i] ^= 0xff
		if sec, _, _, ok := readRules(bad, len(files), changed); ok {
			for r := range sec.offsets {
				sec.entry(r) // must not panic either
			}
		}
	}
}
