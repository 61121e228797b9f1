package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pex-build/pex/cache"
	"github.com/pex-build/pex/graph"
)

// noopWorkspace writes a workspace of rules reading sources of their own
// package and depending on rules of earlier packages, and returns its
// resolved graph. Rules run no command, so the first build costs no
// processes and the benchmark measures pex's own up-to-date machinery:
// stats, keys, state and scheduling.
func noopWorkspace(b *testing.B, packages, rules int) (string, *graph.Graph) {
	root := b.TempDir()
	g := graph.New()
	past := time.Now().Add(-time.Hour) // old enough to be memoised at once
	for p := range packages {
		pkg := fmt.Sprintf("p%04d", p)
		dir := filepath.Join(root, pkg)
		if err := os.MkdirAll(dir, 0o777); err != nil {
			b.Fatal(err)
		}
		for s := range rules {
			src := filepath.Join(dir, fmt.Sprintf("src%d.txt", s))
			if err := os.WriteFile(src, []byte(src), 0o666); err != nil {
				b.Fatal(err)
			}
			_ = os.Chtimes(src, past, past)
		}
		for r := range rules {
			t := &graph.Target{
				Label: graph.Label{Pkg: pkg, Name: fmt.Sprintf("r%d", r)},
				Srcs:  []string{fmt.Sprintf("src%d.txt", r), fmt.Sprintf("src%d.txt", (r+1)%rules)},
				Cache: true,
			}
			if p > 0 {
				t.Deps = []graph.Label{{Pkg: fmt.Sprintf("p%04d", p-1), Name: fmt.Sprintf("r%d", r)}}
			}
			if err := g.Add(t); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := g.Resolve(root); err != nil {
		b.Fatal(err)
	}
	return root, g
}

func benchNoop(b *testing.B, statOnly bool) {
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			root, g := noopWorkspace(b, n/10, 10)
			b.Setenv("PEX_CACHE_DIR", filepath.Join(root, ".store"))
			opts := Options{Root: root, Graph: g, Selected: g.Targets, Jobs: 2, GraphSum: []byte("bench")}
			build := func() *Summary {
				c, err := OpenCache(root, CacheOptions{})
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				if !statOnly {
					b := &builder{opts: opts}
					id, _ := b.stamp(&Plan{Rules: g.Targets})
					c.state.Delete(id)
				}
				opts.Cache = c
				sum, err := Run(context.Background(), opts)
				if err != nil {
					b.Fatal(err)
				}
				return sum
			}
			build()
			build() // the second build memoises and stamps
			b.ResetTimer()
			for b.Loop() {
				if sum := build(); sum.Cache["hit"] != n {
					b.Fatalf("not a no-op: %v", sum.Cache)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/build")
		})
	}
}

// BenchmarkNoopStatOnly is a no-op build answered by the stat-only check:
// the state is loaded, every file stat'ed, nothing scheduled.
func BenchmarkNoopStatOnly(b *testing.B) { benchNoop(b, true) }

// BenchmarkNoopFullCheck is a no-op build in which every rule goes through
// the scheduler and the full up-to-date check: key from memoised digests,
// state entry, outputs.
func BenchmarkNoopFullCheck(b *testing.B) { benchNoop(b, false) }

// BenchmarkPatch is a build after one source of the last package changed,
// answered by patching the last build's proof (patch.go): the proof's stat
// pass, then the two rules the change reaches rebuilt (they run no
// command) from the proof's rules section and a partial state.
func BenchmarkPatch(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			root, g := noopWorkspace(b, n/10, 10)
			b.Setenv("PEX_CACHE_DIR", filepath.Join(root, ".store"))
			proof := &ProofOptions{Path: filepath.Join(root, ".pex", "proof", "bench"), Request: []byte("bench"),
				Evaluation: func() ([]cache.ProofFile, bool) { return nil, true }}
			opts := Options{Root: root, Graph: g, Selected: g.Targets, Jobs: 2, GraphSum: []byte("bench"), Proof: proof}
			c, err := OpenCache(root, CacheOptions{})
			if err != nil {
				b.Fatal(err)
			}
			opts.Cache = c
			if _, err := Run(context.Background(), opts); err != nil {
				b.Fatal(err)
			}
			c.Close()
			leaf := filepath.Join(root, fmt.Sprintf("p%04d", n/10-1), "src0.txt")
			for i := 0; b.Loop(); i++ {
				if err := os.WriteFile(leaf, fmt.Appendf(nil, "version %d", i), 0o666); err != nil {
					b.Fatal(err)
				}
				_, check := Answer(proof.Path, root, proof.Request, nil, func(Event) {})
				if check.Stale == nil {
					b.Fatalf("no stale proof: %+v", check)
				}
				sum, ok, err := Patch(context.Background(), check.Stale, check.Payload, Options{Root: root, Jobs: 2, Proof: proof}, CacheOptions{})
				check.Close()
				if err != nil || !ok || sum.Reached != 2 || sum.Counts["ok"] != n {
					b.Fatalf("not patched: ok %v, err %v, %+v", ok, err, sum)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/build")
		})
	}
}
