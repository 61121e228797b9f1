package builder

import (
	"fmt"
	"strings"
	"testing"
)

// benchWorkspace writes n rules in packages of ten, each concatenating a
// source of its own and the output of the rule before it in the package.
func benchWorkspace(b *testing.B, n int) (string, *Workspace, *fakeRunner) {
	files := map[string]string{}
	for p := 0; p < n/10; p++ {
		var build strings.Builder
		for r := range 10 {
			srcs := fmt.Sprintf(`"s%d.txt"`, r)
			if r > 0 {
				srcs += fmt.Sprintf(`, ":r%d"`, r-1)
			}
			fmt.Fprintf(&build, "rule(name = \"r%d\", srcs = [%s], outs = [\"r%d.out\"], cmd = \"cat\")\n", r, srcs, r)
			files[fmt.Sprintf("p%d/s%d.txt", p, r)] = fmt.Sprintf("%d.%d\n", p, r)
		}
		files[fmt.Sprintf("p%d/BUILD", p)] = build.String()
	}
	root := writeTree(&testing.T{}, files)
	f := &fakeRunner{}
	ws, _ := openTest(&testing.T{}, root, f, b.TempDir())
	b.Cleanup(ws.Close)
	if _, err := ws.Build(b.Context(), Request{Command: "build", HostEnv: func(string) (string, bool) { return "", false }}); err != nil {
		b.Fatal(err)
	}
	return root, ws, f
}

// BenchmarkBuildNoop measures a no-op build of 2,000 rules in a
// workspace kept open, as pex watch keeps it: the check and the replay,
// without process start or reading the database.
func BenchmarkBuildNoop(b *testing.B) {
	_, ws, f := benchWorkspace(b, 2000)
	req := Request{Command: "build", HostEnv: func(string) (string, bool) { return "", false }}
	for b.Loop() {
		if _, err := ws.Build(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
	if ran := f.took(); len(ran) != 2000 {
		b.Fatalf("ran %d rules in all, want the first build's 2000", len(ran))
	}
}
