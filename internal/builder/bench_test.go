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

// benchPackages is the packages of BenchmarkDynamicFirstBuild.
var benchPackages = 100

// BenchmarkDynamicFirstBuild builds, from nothing, 100 packages of 50
// written rules and a dynamic rule that generates 10 more (the first
// build of a workspace with test discovery in 100 packages, 6,100 rules),
// with the fake runner; "written" is the same workspace with those 1,000
// rules written in the BUILD files instead. The difference is what
// registering generated rules costs: checking them against the whole
// graph, adding them to the running build, and the graph made anew and
// the request verified again at the end.
func BenchmarkDynamicFirstBuild(b *testing.B) {
	for _, generated := range []bool{true, false} {
		name := "written"
		if generated {
			name = "generated"
		}
		b.Run(name, func(b *testing.B) {
			files := map[string]string{}
			for p := range benchPackages {
				var build, gen strings.Builder
				for r := range 50 {
					fmt.Fprintf(&build, "rule(name = \"r%d\", srcs = [\"s.txt\"], outs = [\"r%d.out\"], cmd = \"cat\")\n", r, r)
				}
				for r := range 10 {
					fmt.Fprintf(&gen, "rule(name = \"g%d\", srcs = [\":r%d\"], outs = [\"g%d.out\"], cmd = \"cat\")\n", r, r, r)
				}
				if generated {
					build.WriteString("rule(name = \"gen\", srcs = [\"rules.star\"], dynamic = True, cmd = \"gen:rules.star\")\n")
					files[fmt.Sprintf("p%d/rules.star", p)] = gen.String()
				} else {
					build.WriteString("rule(name = \"gen\", srcs = [\"s.txt\"], cmd = \"cat\")\n" + gen.String())
				}
				files[fmt.Sprintf("p%d/BUILD", p)] = build.String()
				files[fmt.Sprintf("p%d/s.txt", p)] = fmt.Sprintf("%d\n", p)
			}
			root := writeTree(&testing.T{}, files)
			req := Request{Command: "build", HostEnv: func(string) (string, bool) { return "", false }}
			for b.Loop() {
				b.StopTimer()
				os.RemoveAll(filepath.Join(root, ".pex"))
				ws, _ := openTest(&testing.T{}, root, &fakeRunner{}, b.TempDir())
				b.StartTimer()
				sum, err := ws.Build(b.Context(), req)
				if err != nil || sum.Counts["ok"] != benchPackages*61 {
					b.Fatalf("%v: %v", err, sum.Counts)
				}
				b.StopTimer()
				ws.Close()
				b.StartTimer()
			}
		})
	}
}
