package db

import (
	"encoding/binary"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pex-build/pex/cache"
)

// reopen opens the database of d's workspace again, as the next pex would.
func reopen(t *testing.T, d *DB) *DB {
	t.Helper()
	d2, err := Open(d.layout)
	if err != nil || d2.Note != "" {
		t.Fatalf("reopen: %v %q", err, d2.Note)
	}
	d2.Now = func() time.Time { return time.Now().Add(time.Hour) }
	return d2
}

// rebuildA does what a build of //:a after an edit of a.txt does: new
// stats and digests for a.txt and a.out, a new row for //:a; and saves.
func rebuildA(t *testing.T, root string, d *DB, req *Request, content string) {
	t.Helper()
	writeFile(t, root, "a.txt", content)
	writeFile(t, root, "a.out", strings.ToUpper(content))
	c, err := d.Check(req, OS(root), noEnv)
	if err != nil || !slices.Equal(c.Dirty, []RuleID{0, 1}) {
		t.Fatalf("check after editing a.txt: dirty %v (%v)", c.Dirty, err)
	}
	st := OS(root).Statter()
	defer st.Close()
	row, _ := d.Row(0)
	for _, p := range []string{"a.txt", "a.out"} {
		id, _ := d.Lookup(p)
		digest, _ := OS(root).Hash(p)
		d.SetFile(id, st.Stat([]byte(p), false), digest, false)
	}
	a, _ := d.Lookup("a.txt")
	o, _ := d.Lookup("a.out")
	row = &Row{Key: cache.HashString(content), Def: row.Def, Status: "ok", Outputs: slices.Clone(row.Outputs),
		Read: []cache.Digest{d.File(a).Digest}}
	row.Outputs[0].Digest = d.File(o).Digest
	d.SetRow(0, row)
	brow, _ := d.Row(1)
	brow.DepGens = []uint64{row.Gen}
	d.SetRow(1, brow)
	d.MarkVerified(req, c.Plan)
	if err := d.Save(); err != nil {
		t.Fatal(err)
	}
}

// TestSaveAppends: a build that changed a few files and rows appends one
// record to the file, which the next pex reads back as the same state.
func TestSaveAppends(t *testing.T) {
	root, d, req := built(t)
	before, _ := os.Stat(d.layout.DB())
	rebuildA(t, root, d, req, "a2")
	after, _ := os.Stat(d.layout.DB())
	if !os.SameFile(before, after) || after.Size() <= before.Size() || after.Size()-before.Size() > 2000 {
		t.Fatalf("the save wrote %d bytes to a new file (same file: %v), want a small record appended",
			after.Size(), os.SameFile(before, after))
	}
	d2 := reopen(t, d)
	req2, ok := d2.Request(RequestKey("build", "", "[]"))
	if !ok {
		t.Fatal("request lost")
	}
	c, err := d2.Check(req2, OS(root), noEnv)
	if err != nil || !c.Verified || len(c.Dirty) != 0 {
		t.Fatalf("check after reopening: verified %v, dirty %v (%v)", c.Verified, c.Dirty, err)
	}
	if ev := d2.Replay(c, 0); ev.Status != "ok" || len(ev.Findings) != 0 {
		t.Errorf("//:a replays as %+v, want ok without findings", ev)
	}
	if ev := d2.Replay(c, 1); ev.Status != "warn" || !slices.Equal(ev.Findings, []string{"fb"}) {
		t.Errorf("//:b replays as %+v, want its findings", ev)
	}
	// Reverting a.txt makes both dirty again, through the edges the
	// appended record kept.
	writeFile(t, root, "a.txt", "a")
	if c, err := d2.Check(req2, OS(root), noEnv); err != nil || !slices.Equal(c.Dirty, []RuleID{0, 1}) || !c.Verified {
		t.Errorf("after reverting a.txt: dirty %v, verified %v (%v)", c.Dirty, c.Verified, err)
	}
}

// TestTornRecordIsDropped: a record cut short by a kill, or whose bytes
// were lost, is ignored with the ones after it; the next save writes the
// file whole rather than after it.
func TestTornRecordIsDropped(t *testing.T) {
	root, d, req := built(t)
	whole, _ := os.ReadFile(d.layout.DB())
	rebuildA(t, root, d, req, "a2")
	full, _ := os.ReadFile(d.layout.DB())
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"cut short", full[:len(full)-5]},
		{"a byte lost", func() []byte { b := slices.Clone(full); b[len(whole)+20] ^= 1; return b }()},
		{"only its length", full[:len(whole)+4]},
	} {
		if err := os.WriteFile(d.layout.DB(), tc.data, 0o666); err != nil {
			t.Fatal(err)
		}
		d2 := reopen(t, d)
		a, _ := d2.Lookup("a.txt")
		if f := d2.File(a); f.Digest != cache.HashString("a") {
			t.Errorf("%s: a.txt's entry is from the dropped record", tc.name)
		}
		if d2.size >= 0 {
			t.Errorf("%s: the next save would append after the torn record", tc.name)
		}
		d2.SetLastBuild(BuildStats{Hits: 1})
		if err := d2.Save(); err != nil {
			t.Fatal(err)
		}
		if d3 := reopen(t, d2); d3.Stats().Last.Hits != 1 || d3.Rules() != 2 {
			t.Errorf("%s: after writing it whole: %+v, %d rules", tc.name, d3.Stats(), d3.Rules())
		}
	}
}

// TestAppendedRecordsAreBounded: records appended past a 32nd of the
// file (and minAppended) are folded into it by writing it whole.
func TestAppendedRecordsAreBounded(t *testing.T) {
	root, d, req := built(t)
	size := func() int64 { fi, _ := os.Stat(d.layout.DB()); return fi.Size() }
	rewrites, whole := 0, d.whole
	for i := range 300 {
		rebuildA(t, root, d, req, "a"+strings.Repeat("x", i%7)+string(rune('a'+i%26)))
		if s := size(); s > d.whole+minAppended+2000 {
			t.Fatalf("save %d: %d bytes appended after %d written whole", i, s-d.whole, d.whole)
		}
		if d.whole != whole {
			rewrites++
			whole = d.whole
		}
	}
	if rewrites == 0 {
		t.Error("never written whole again")
	}
	if d2 := reopen(t, d); d2.Stats().WriteGen != d.Stats().WriteGen {
		t.Errorf("reopened at write generation %d, want %d", d2.Stats().WriteGen, d.Stats().WriteGen)
	}
}

// TestAnotherWriterMeansWhole: when the file is not the one this process
// read (another pex wrote it meanwhile), a save writes it whole instead
// of appending to a file it did not read.
func TestAnotherWriterMeansWhole(t *testing.T) {
	root, d, req := built(t)
	other := reopen(t, d)
	other.SetLastBuild(BuildStats{Misses: 7})
	if err := other.writeWhole(); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(d.layout.DB())
	rebuildA(t, root, d, req, "a3")
	after, _ := os.Stat(d.layout.DB())
	if os.SameFile(before, after) {
		t.Error("appended to a file another pex wrote")
	}
	if d2 := reopen(t, d); d2.Stats().Last.Misses == 7 {
		t.Error("the other pex's file survived")
	}
}

// TestDamagedRowsFoundLate: the rule and row data and the digests are
// checked only when a build reads them; damage there fails the check
// with ErrDamaged (the builder then starts from an empty database), never
// a wrong answer.
func TestDamagedRowsFoundLate(t *testing.T) {
	for _, sec := range []int{secRuleData, secRowData, secDigests} {
		root, d, req := built(t)
		data, _ := os.ReadFile(d.layout.DB())
		e := data[headerFixed+(sec-1)*sectionEntry:]
		data[binary.LittleEndian.Uint64(e[8:])+3] ^= 0xff
		if err := os.WriteFile(d.layout.DB(), data, 0o666); err != nil {
			t.Fatal(err)
		}
		d2 := reopen(t, d)
		req2, _ := d2.Request(RequestKey("build", "", "[]"))
		writeFile(t, root, "a.txt", "a2") // the check must read more than stats
		if _, err := d2.Check(req2, OS(root), noEnv); !errors.Is(err, ErrDamaged) {
			t.Errorf("section %d: check reading it: %v, want ErrDamaged", sec, err)
		}
		if _, err := d2.Check(&Request{Roots: req.Roots}, OS(root), noEnv); !errors.Is(err, ErrDamaged) {
			t.Errorf("section %d: full check: %v, want ErrDamaged", sec, err)
		}
		if _, ok := d2.Row(0); ok && sec == secRowData {
			t.Error("a damaged row was read")
		}
		d2.Reset("damaged")
		if d2.Rules() != 0 || d2.Note != "damaged" || d2.Evaluated(Shape{Host: "linux"}, OS(root)) == "" {
			t.Errorf("after Reset: %d rules, note %q", d2.Rules(), d2.Note)
		}
	}
}
