package builder

import (
	"fmt"
	"os"
	"path/filepath"
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

// benchRules writes n independent rules, each copying a source of its own
// to an output, with rule (which holds %d for the rule's number), and
// opens the workspace with real processes.
func benchRules(b *testing.B, n int, rule string, extra map[string]string) *Workspace {
	files := map[string]string{}
	var build strings.Builder
	for i := range n {
		fmt.Fprintf(&build, rule+"\n", i, i, i)
		files[fmt.Sprintf("s%d.txt", i)] = fmt.Sprintf("source %d\n", i)
	}
	files["BUILD"] = build.String()
	for k, v := range extra {
		files[k] = v
	}
	root := writeTree(&testing.T{}, files)
	ws, _ := openTest(&testing.T{}, root, nil, b.TempDir())
	b.Cleanup(ws.Close)
	return ws
}

// benchRun builds every rule of ws, none from the cache, b.N times, and
// reports the time per rule.
func benchRun(b *testing.B, ws *Workspace, n int) {
	req := Request{Command: "build", NoCache: true, HostEnv: func(k string) (string, bool) {
		if k == "PATH" {
			return os.LookupEnv(k)
		}
		return "", false
	}}
	for b.Loop() {
		sum, err := ws.Build(b.Context(), req)
		if err != nil || sum.Counts["ok"] != n {
			b.Fatalf("%v: %v", err, sum.Counts)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n)/1e3, "µs/rule")
}

// BenchmarkRuleCmd and BenchmarkRuleAction build 200 rules that copy a
// file: with a command (cat, run directly, without sh) and with a
// Starlark action (ctx.read, ctx.write) doing the same. Their ratio is
// what an action costs over the equivalent cmd rule.
func BenchmarkRuleCmd(b *testing.B) {
	ws := benchRules(b, 200, `rule(name = "r%d", srcs = ["s%d.txt"], outs = ["o%d.txt"], cmd = "cat $SRCS > $OUT")`, nil)
	benchRun(b, ws, 200)
}

func BenchmarkRuleAction(b *testing.B) {
	ws := benchRules(b, 200, `rule(name = "r%d", srcs = ["s%d.txt"], outs = ["o%d.txt"], action = copy)`,
		map[string]string{"defs.star": "def copy(ctx):\n    ctx.write(ctx.outs[0], ctx.read(ctx.srcs[0]))\n"})
	writeBUILDPrefix(b, ws.Root, `load(":defs.star", "copy")`)
	benchRun(b, ws, 200)
}

// BenchmarkRuleActionRun is BenchmarkRuleAction with the copy done by a
// command the action runs (ctx.run), the cost of an action that starts
// a process.
func BenchmarkRuleActionRun(b *testing.B) {
	ws := benchRules(b, 200, `rule(name = "r%d", srcs = ["s%d.txt"], outs = ["o%d.txt"], action = copy)`,
		map[string]string{"defs.star": "def copy(ctx):\n    ctx.run(['cp', ctx.srcs[0], ctx.outs[0]])\n"})
	writeBUILDPrefix(b, ws.Root, `load(":defs.star", "copy")`)
	benchRun(b, ws, 200)
}

func writeBUILDPrefix(b *testing.B, root, line string) {
	data, err := os.ReadFile(filepath.Join(root, "BUILD"))
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "BUILD"), append([]byte(line+"\n"), data...), 0o666); err != nil {
		b.Fatal(err)
	}
}
