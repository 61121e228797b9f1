package db

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pex-build/pex/cache"
	"github.com/pex-build/pex/graph"
)

// ticks stamps each file a test writes a second after the one before, in
// the past: no two writes share a timestamp and none is recent.
var ticks int64

func writeFile(t *testing.T, root, name, content string) {
	t.Helper()
	p := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o666); err != nil {
		t.Fatal(err)
	}
	ticks++
	when := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(ticks) * time.Second)
	for _, q := range []string{p, filepath.Dir(p)} {
		if err := os.Chtimes(q, when, when); err != nil {
			t.Fatal(err)
		}
	}
}

// built makes a workspace of two rules, //:a (a.txt -> a.out) and //:b
// (a.out, b.txt -> b.out), records them as a build that ran both would,
// saves the database and opens it again.
func built(t *testing.T) (string, *DB, *Request) {
	t.Helper()
	root := t.TempDir()
	for name, content := range map[string]string{
		"pex.star": "", "BUILD": "...", "a.txt": "a", "b.txt": "b", "a.out": "A", "b.out": "AB",
	} {
		writeFile(t, root, name, content)
	}
	g := twoRules(t, root, "cp a.txt a.out")
	layout := Layout{Dir: filepath.Join(root, ".pex")}
	d, err := Open(layout)
	if err != nil || d.Note != "" {
		t.Fatalf("open: %v %q", err, d.Note)
	}
	d.Now = func() time.Time { return time.Now().Add(time.Hour) }
	fsys := OS(root)
	in := EvalInputs{Files: []string{"pex.star", "BUILD"}, WalkDirs: []string{"."}}
	if err := d.SetEvaluation(g, in, Shape{Host: "linux"}, fsys); err != nil {
		t.Fatal(err)
	}
	record(t, d, fsys)
	req := d.SetRequest(RequestKey("build", "", "[]"), []RuleID{1}, nil)
	c, err := d.Check(req, fsys, noEnv)
	if err != nil || len(c.Dirty) != 0 {
		t.Fatalf("check after recording: %v, dirty %v", err, c.Dirty)
	}
	d.MarkVerified(req, c.Plan)
	if err := d.Save(); err != nil {
		t.Fatal(err)
	}
	if d, err = Open(layout); err != nil || d.Note != "" {
		t.Fatalf("reopen: %v %q", err, d.Note)
	}
	d.Now = func() time.Time { return time.Now().Add(time.Hour) }
	req, ok := d.Request(RequestKey("build", "", "[]"))
	if !ok {
		t.Fatal("request not saved")
	}
	return root, d, req
}

// twoRules returns the resolved graph of //:a (a.txt -> a.out, by cmdA)
// and //:b (a.out, b.txt -> b.out).
func twoRules(t *testing.T, root, cmdA string) *graph.Graph {
	t.Helper()
	g := graph.New()
	for _, tg := range []*graph.Target{
		{Label: graph.Label{Name: "a"}, Srcs: []string{"a.txt"}, Outs: []string{"a.out"}, Cmd: cmdA, Cache: true},
		{Label: graph.Label{Name: "b"}, Srcs: []string{":a", "b.txt"}, Outs: []string{"b.out"}, Cmd: "cat", Cache: true},
	} {
		tg.Pos = graph.Pos{File: "BUILD", Line: 1, Col: 1}
		if err := g.Add(tg); err != nil {
			t.Fatal(err)
		}
	}
	g.AddPackage("")
	if err := g.Resolve(root); err != nil {
		t.Fatal(err)
	}
	return g
}

func noEnv(string) (string, bool) { return "", false }

// record does what the builder does after running every rule: the file
// table gets each file's stat and digest, and each rule a row.
func record(t *testing.T, d *DB, fsys FS) {
	t.Helper()
	st := fsys.Statter()
	defer st.Close()
	seen := func(p string) cache.Digest {
		id := d.Intern(p)
		digest, err := fsys.Hash(p)
		if err != nil {
			t.Fatal(err)
		}
		d.SetFile(id, st.Stat([]byte(p), false), digest, false)
		return digest
	}
	for r := range RuleID(d.Rules()) {
		tg, err := d.Target(r)
		if err != nil {
			t.Fatal(err)
		}
		row := &Row{Key: cache.HashString(tg.Label.String()), Def: d.Def(r), Status: "warn", Findings: []string{"f" + tg.Label.Name}}
		for _, p := range append(slices.Clone(tg.Inputs), tg.ToolFiles...) {
			row.Read = append(row.Read, seen(p))
		}
		for _, p := range tg.OutFiles {
			row.Outputs = append(row.Outputs, cache.Output{Path: p, Digest: seen(p), Mode: 0o444})
		}
		for _, dep := range d.Deps(r) {
			drow, _ := d.Row(dep)
			row.DepGens = append(row.DepGens, drow.Gen)
		}
		d.SetRow(r, row)
	}
}

func TestRoundTrip(t *testing.T) {
	root, d, req := built(t)
	if d.Rules() != 2 || d.Label(0) != "//:a" || d.Label(1) != "//:b" {
		t.Fatalf("rules after reopening: %d, %q %q", d.Rules(), d.Label(0), d.Label(1))
	}
	if deps := d.Deps(1); !slices.Equal(deps, []RuleID{0}) {
		t.Errorf("//:b deps %v", deps)
	}
	tb, err := d.Target(1)
	if err != nil || tb.Cmd != "cat" || !slices.Equal(tb.Inputs, []string{"b.txt"}) {
		t.Errorf("//:b decoded as %+v (%v)", tb, err)
	}
	row, ok := d.Row(1)
	if !ok || row.Status != "warn" || !slices.Equal(row.Findings, []string{"fb"}) || len(row.Read) != 1 || !slices.Equal(row.DepGens, []uint64{1}) ||
		row.Outputs[0].Path != "b.out" || row.Outputs[0].Mode != 0o444 {
		t.Errorf("//:b row %+v", row)
	}
	// The verified request stats its files and nothing else.
	c, err := d.Check(req, OS(root), noEnv)
	if err != nil || !c.Verified || len(c.Dirty) != 0 || c.Files != 4 || !slices.Equal(c.Plan, []RuleID{0, 1}) {
		t.Errorf("no-op check: %+v (%v)", c, err)
	}
	if ev := d.Replay(c, 1); ev.Label != "//:b" || ev.Status != "warn" || !slices.Equal(ev.Findings, []string{"fb"}) {
		t.Errorf("replay %+v", ev)
	}
	// Saving what did not change writes nothing.
	if d.Modified() {
		t.Errorf("a no-op check modified the database")
	}
	if why := d.Evaluated(Shape{Host: "linux"}, OS(root)); why != "" {
		t.Errorf("evaluation after reopening: %q", why)
	}
	if why := d.Evaluated(Shape{Host: "darwin"}, OS(root)); why != "the host changed" {
		t.Errorf("another host: %q", why)
	}
}

func TestCheckSpreadsDirtiness(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(root string)
		dirty  []RuleID
	}{
		{"source edited", func(root string) { writeFile(t, root, "a.txt", "a2") }, []RuleID{0, 1}},
		{"source of the dependent", func(root string) { writeFile(t, root, "b.txt", "b2") }, []RuleID{1}},
		{"output deleted", func(root string) { os.Remove(filepath.Join(root, "b.out")) }, []RuleID{1}},
		{"output of the dependency edited", func(root string) { writeFile(t, root, "a.out", "X") }, []RuleID{0, 1}},
		{"saved unchanged", func(root string) { writeFile(t, root, "a.txt", "a") }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, d, req := built(t)
			tc.change(root)
			c, err := d.Check(req, OS(root), noEnv)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Dirty, tc.dirty) {
				t.Fatalf("dirty %v, want %v", c.Dirty, tc.dirty)
			}
			// The same answer from the rows alone, as when the request is
			// not verified (another request's build moved the database).
			full, err := d.Check(&Request{Roots: req.Roots}, OS(root), noEnv)
			if err != nil || !slices.Equal(full.Dirty, tc.dirty) || full.Verified {
				t.Errorf("unverified check: dirty %v (%v)", full.Dirty, err)
			}
		})
	}
}

func TestDamagedIsIgnored(t *testing.T) {
	root, d, _ := built(t)
	path := d.layout.DB()
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data func() []byte
		note string
	}{
		{"garbage", func() []byte { return []byte("not a database at all, really") }, "not a pex database"},
		{"truncated", func() []byte { return good[:len(good)/2] }, ""},
		{"a byte flipped in a section", func() []byte {
			b := slices.Clone(good)
			e := b[headerFixed+(secFiles-1)*sectionEntry:] // the stats, read by every build
			b[binary.LittleEndian.Uint64(e[8:])+10] ^= 0xff
			return b
		}, "fails its checksum"},
		{"another version", func() []byte {
			b := slices.Clone(good)
			b[8]++
			return b
		}, "another version of pex"},
	} {
		if err := os.WriteFile(path, tc.data(), 0o666); err != nil {
			t.Fatal(err)
		}
		d, err := Open(d.layout)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if d.Note == "" || !strings.Contains(d.Note, tc.note) || d.Rules() != 0 {
			t.Errorf("%s: note %q, %d rules", tc.name, d.Note, d.Rules())
		}
		if why := d.Evaluated(Shape{}, OS(root)); why == "" {
			t.Errorf("%s: a damaged database vouched for the evaluation", tc.name)
		}
	}
}

func TestRowsSurviveEvaluation(t *testing.T) {
	root, d, _ := built(t)
	// A new evaluation with //:a changed and //:b as it was: //:b keeps
	// its row, //:a's no longer matches its definition.
	g := twoRules(t, root, "cp -v a.txt a.out")
	if err := d.SetEvaluation(g, EvalInputs{Files: []string{"pex.star", "BUILD"}}, Shape{}, OS(root)); err != nil {
		t.Fatal(err)
	}
	req := d.SetRequest(RequestKey("x"), []RuleID{1}, nil)
	c, err := d.Check(req, OS(root), noEnv)
	if err != nil || !slices.Equal(c.Dirty, []RuleID{0, 1}) {
		t.Errorf("after re-evaluation: dirty %v (%v)", c.Dirty, err)
	}
}
