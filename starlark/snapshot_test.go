package starlark

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// age moves the clock of the racy check a minute past every change made
// so far, so that a snapshot may be saved (it never trusts paths changed
// in the last 2 s).
func age(t *testing.T, _ string) {
	t.Helper()
	later := time.Now().Add(time.Minute)
	now = func() time.Time { return later }
	t.Cleanup(func() { now = time.Now })
}

func TestLoadCachedReusesAndInvalidates(t *testing.T) {
	root := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	write("pex.star", `config("mode", "a")`)
	write("lib/BUILD", `rule(name = "l", srcs = glob(["src/*.c"]), cmd = "echo " + config("mode"))`)
	write("lib/src/a.c", "")
	snap := filepath.Join(root, ".pex", "graph")
	load := func(set map[string]string) *Result {
		t.Helper()
		age(t, root)
		res, err := LoadCached(context.Background(), Options{Root: root, Set: set}, snap)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	srcs := func(res *Result) []string { return res.Graph.Targets[0].Srcs }

	if res := load(nil); res.FromSnapshot {
		t.Fatal("first load came from a snapshot")
	}
	res := load(nil)
	if !res.FromSnapshot {
		t.Fatal("second load evaluated again")
	}
	if !slices.Equal(srcs(res), []string{"src/a.c"}) || len(res.Graph.Targets[0].Inputs) != 1 {
		t.Fatalf("snapshot graph not resolved as before: %v", res.Graph.Targets[0])
	}

	// A new file matching a glob invalidates it.
	write("lib/src/b.c", "")
	if res := load(nil); res.FromSnapshot || !slices.Equal(srcs(res), []string{"src/a.c", "src/b.c"}) {
		t.Fatalf("new globbed file: from snapshot %v, srcs %v", res.FromSnapshot, srcs(res))
	}
	if res := load(nil); !res.FromSnapshot {
		t.Fatal("unchanged workspace evaluated again")
	}
	// A --set value does.
	if res := load(map[string]string{"mode": "b"}); res.FromSnapshot || res.Graph.Targets[0].Cmd != "echo b" {
		t.Fatalf("--set: from snapshot %v, cmd %q", res.FromSnapshot, res.Graph.Targets[0].Cmd)
	}
	// A BUILD edit does, and so does a new package.
	write("lib/BUILD", `rule(name = "l2", cmd = "true")`)
	if res := load(map[string]string{"mode": "b"}); res.FromSnapshot || res.Graph.Targets[0].Label.Name != "l2" {
		t.Fatal("BUILD edit not seen")
	}
	write("new/deeper/BUILD", `rule(name = "n", cmd = "true")`)
	if res := load(map[string]string{"mode": "b"}); res.FromSnapshot || len(res.Graph.Targets) != 2 {
		t.Fatal("new package not seen")
	}
	// A damaged snapshot is ignored.
	if err := os.WriteFile(snap, []byte("pexs garbage"), 0o666); err != nil {
		t.Fatal(err)
	}
	if res := load(map[string]string{"mode": "b"}); res.FromSnapshot {
		t.Fatal("damaged snapshot used")
	}
}

func TestLoadCachedSkipsRacySnapshot(t *testing.T) {
	root := t.TempDir()
	for rel, content := range map[string]string{"pex.star": "", "BUILD": `rule(name = "x", cmd = "true")`} {
		if err := os.WriteFile(filepath.Join(root, rel), []byte(content), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	snap := filepath.Join(root, ".pex", "graph")
	if _, err := LoadCached(context.Background(), Options{Root: root}, snap); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(snap); err == nil {
		t.Fatal("a snapshot of files changed just now was saved")
	}
}

func TestHoldsSeesListingsNotOutputs(t *testing.T) {
	root := t.TempDir()
	for rel, content := range map[string]string{
		"pex.star":    "",
		"lib/BUILD":   `rule(name = "l", srcs = glob(["*.c"]), outs = ["l.out"], cmd = "cat $SRCS > $OUT")`,
		"lib/a.c":     "",
		"lib/keep.md": "",
	} {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	snap := filepath.Join(root, ".pex", "graph")
	age(t, root)
	res, err := LoadCached(context.Background(), Options{Root: root}, snap)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(res.Inputs(), "lib") || !slices.Contains(res.Inputs(), "lib/BUILD") {
		t.Fatalf("Inputs = %v, want the BUILD file and the globbed directory", res.Inputs())
	}
	if !res.Holds() {
		t.Fatal("an unchanged workspace does not hold")
	}
	// An output written where a glob looked moves the directory's times
	// but not what the glob sees.
	if err := os.WriteFile(filepath.Join(root, "lib", "l.out"), nil, 0o666); err != nil {
		t.Fatal(err)
	}
	age(t, root)
	if !res.Holds() {
		t.Fatal("an output written in a globbed directory broke the evaluation")
	}
	if again, err := LoadCached(context.Background(), Options{Root: root}, snap); err != nil || !again.FromSnapshot {
		t.Fatalf("the snapshot was not reused after an output was written: %v", err)
	}
	// A new file the glob matches does.
	if err := os.WriteFile(filepath.Join(root, "lib", "b.c"), nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if res.Holds() {
		t.Fatal("a new globbed file did not break the evaluation")
	}
	// A Result with no snapshot behind it never holds.
	if (&Result{}).Holds() || (&Result{}).Inputs() != nil {
		t.Fatal("a Result without a snapshot holds")
	}
}
