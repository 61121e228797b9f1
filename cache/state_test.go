package cache

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func loadState(t testing.TB, dir string) *State {
	t.Helper()
	s, err := LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func entryFor(n int) Entry {
	rec := sampleRecord()
	rec.Status = fmt.Sprintf("ok %d", n)
	return Entry{Key: HashString(fmt.Sprint("key", n)), Record: *rec}
}

// smallEntry is an entry with a small record, for tests that loop over
// every byte of a state file.
func smallEntry(n int) Entry {
	return Entry{Key: HashString(fmt.Sprint("key", n)), Record: Record{Status: fmt.Sprint("ok ", n)}}
}

func assertEntry(t *testing.T, s *State, id string, want Entry) {
	t.Helper()
	got, ok := s.Get(id)
	if !ok {
		t.Fatalf("no entry for %s", id)
	}
	if !got.Record.Created.Equal(want.Record.Created) {
		t.Fatalf("%s: Created differs", id)
	}
	got.Record.Created = want.Record.Created
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: got %+v, want %+v", id, got, want)
	}
}

func TestStateRoundTrip(t *testing.T) {
	dir := StateDir(t.TempDir())
	s := loadState(t, dir)
	if s.Len() != 0 {
		t.Fatal("new state is not empty")
	}
	s.Set("//a:a", entryFor(1))
	s.Set("//b:b", entryFor(2))
	stats := BuildStats{Start: time.Unix(100, 0), Duration: time.Second, Hits: 3, Misses: 2, Failed: 1}
	s.SetLastBuild(stats)
	src := memoiseFile(t, s)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}

	// Append: change one rule, delete another, add a third.
	s.Set("//a:a", entryFor(3))
	s.Delete("//b:b")
	s.Set("//c:c", entryFor(4))
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}

	s2 := loadState(t, dir)
	if ids := s2.IDs(); !reflect.DeepEqual(ids, []string{"//a:a", "//c:c"}) {
		t.Fatalf("IDs = %q", ids)
	}
	assertEntry(t, s2, "//a:a", entryFor(3))
	assertEntry(t, s2, "//c:c", entryFor(4))
	if k, ok := s2.Key("//c:c"); !ok || k != entryFor(4).Key {
		t.Error("Key differs")
	}
	if got, ok := s2.LastBuild(); !ok || !got.Start.Equal(stats.Start) || got.Hits != 3 || got.Failed != 1 {
		t.Errorf("LastBuild = %+v, %v", got, ok)
	}
	if s2.Memo().Len() != 1 {
		t.Errorf("memo has %d entries, want 1", s2.Memo().Len())
	}
	s2.Memo().mu.RLock()
	e := s2.Memo().entries[src]
	s2.Memo().mu.RUnlock()
	if e.digest != HashString("int a;") {
		t.Error("memo entry lost its digest")
	}
}

// TestStateTruncated simulates kill -9 at every byte of the second flush:
// loading never fails, never yields an entry that was not written whole,
// and the next flush leaves a file that loads completely.
func TestStateTruncated(t *testing.T) {
	dir := StateDir(t.TempDir())
	s := loadState(t, dir)
	s.Set("a", smallEntry(1))
	s.Set("b", smallEntry(2))
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, stateFileName)
	before, _ := os.ReadFile(path)
	s.Set("a", smallEntry(3))
	s.Set("c", smallEntry(4))
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	full, _ := os.ReadFile(path)
	allowed := map[string][]Entry{"a": {smallEntry(1), smallEntry(3)}, "b": {smallEntry(2)}, "c": {smallEntry(4)}}
	for n := len(before); n <= len(full); n++ {
		writeFile(t, path, full[:n])
		s := loadState(t, dir)
		checkAllowed(t, s, allowed)
		if e, _ := s.Get("b"); e.Key != smallEntry(2).Key {
			t.Fatalf("truncated to %d: lost an entry of the first flush", n)
		}
		s.Set("d", smallEntry(5))
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		s = loadState(t, dir)
		checkAllowed(t, s, allowed)
		assertEntry(t, s, "d", smallEntry(5))
	}
}

// checkAllowed fails if an entry of s is not one of those allowed for it.
func checkAllowed(t *testing.T, s *State, allowed map[string][]Entry) {
	t.Helper()
	for _, id := range s.IDs() {
		if id == "d" {
			continue
		}
		got, ok := s.Get(id)
		if !ok {
			t.Fatalf("entry %s does not decode", id)
		}
		match := false
		for _, a := range allowed[id] {
			got.Record.Created = a.Record.Created
			match = match || reflect.DeepEqual(got, a)
		}
		if !match {
			t.Fatalf("entry %s was never written: %+v", id, got)
		}
	}
}

func TestStateDamaged(t *testing.T) {
	dir := StateDir(t.TempDir())
	s := loadState(t, dir)
	for i := range 10 {
		s.Set(fmt.Sprint(i), entryFor(i))
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, stateFileName)
	good, _ := os.ReadFile(path)
	for i := stateHeaderLen; i < len(good); i += 37 {
		bad := append([]byte(nil), good...)
		bad[i] ^= 0xff
		writeFile(t, path, bad)
		s := loadState(t, dir)
		for _, id := range s.IDs() {
			var n int
			fmt.Sscan(id, &n)
			assertEntry(t, s, id, entryFor(n))
		}
		if s.Len() == 10 {
			t.Fatalf("byte %d damaged, yet every entry loaded", i)
		}
	}
	for _, junk := range [][]byte{nil, []byte("pexstate"), []byte("not a state file at all")} {
		writeFile(t, path, junk)
		s := loadState(t, dir)
		if s.Len() != 0 {
			t.Fatal("junk loaded")
		}
		s.Set("x", entryFor(1))
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		assertEntry(t, loadState(t, dir), "x", entryFor(1))
	}
}

func TestStateCompacts(t *testing.T) {
	dir := StateDir(t.TempDir())
	s := loadState(t, dir)
	path := filepath.Join(dir, stateFileName)
	var largest, smallest int64 = 0, 1 << 62
	for i := range 40 {
		for id := range 100 {
			s.Set(fmt.Sprint(id), smallEntry(i))
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(path)
		largest, smallest = max(largest, fi.Size()), min(smallest, fi.Size())
	}
	// 100 live entries may carry 2*100+compactSlack frames in all.
	if limit := smallest * (2*100 + compactSlack + 100) / 100; largest > limit {
		t.Errorf("log grew to %d bytes, limit %d", largest, limit)
	}
	if s.fileFrames >= 40*100 {
		t.Error("the log was never compacted")
	}
	assertEntry(t, loadState(t, dir), "7", smallEntry(39))
}

func TestStateReplacedFile(t *testing.T) {
	dir := StateDir(t.TempDir())
	a := loadState(t, dir)
	a.Set("a", entryFor(1))
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}
	// Another process rewrites the file meanwhile (say, pex clean and a
	// build): appending to it at a's offset would be wrong.
	b := loadState(t, dir)
	b.Set("b", entryFor(2))
	b.needRewrite = true
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	a.Set("c", entryFor(3))
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}
	s := loadState(t, dir)
	assertEntry(t, s, "a", entryFor(1))
	assertEntry(t, s, "c", entryFor(3))
}

// BenchmarkLoadState loads a state of 100k rules and 100k memo entries.
func BenchmarkLoadState(b *testing.B) {
	dir := StateDir(b.TempDir())
	s, _ := LoadState(dir)
	rec := sampleRecord()
	for i := range 100_000 {
		rec.Outputs[0].Path = fmt.Sprintf("pkg%d/out%d.o", i/100, i)
		s.Set(fmt.Sprintf("//pkg%d:rule%d", i/100, i), Entry{Key: HashString(fmt.Sprint(i)), Record: *rec})
		s.memo.entries[fmt.Sprintf("pkg%d/src%d.c", i/100, i)] = memoEntry{fileStat{int64(i), int64(i), uint64(i), int64(i)}, HashString(fmt.Sprint(i))}
	}
	s.needRewrite = true
	if err := s.Flush(); err != nil {
		b.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(dir, stateFileName))
	b.ResetTimer()
	for b.Loop() {
		s, err := LoadState(dir)
		if err != nil || s.Len() != 100_000 || s.Memo().Len() != 100_000 {
			b.Fatal("bad load", err)
		}
	}
	b.ReportMetric(float64(fi.Size())/(1<<20), "file-MiB")
}

// FuzzLoadState checks that no state file makes LoadState fail or panic,
// that every entry it reports decodes, and that Flush then writes a file
// that loads to the same entries.
func FuzzLoadState(f *testing.F) {
	dir := StateDir(f.TempDir())
	s, _ := LoadState(dir)
	s.Set("a", entryFor(1))
	s.SetLastBuild(BuildStats{Hits: 1})
	s.memo.entries["x"] = memoEntry{fileStat{1, 2, 3, 4}, HashString("x")}
	s.memo.dirty["x"] = true
	_ = s.Flush()
	s.Delete("a")
	s.memo.forget("x")
	_ = s.Flush()
	good, _ := os.ReadFile(filepath.Join(dir, stateFileName))
	f.Add(good)
	f.Add([]byte("pexstate\x01\x00\x00\x00\x05\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := StateDir(t.TempDir())
		writeFile(t, filepath.Join(dir, stateFileName), data)
		s := loadState(t, dir)
		want := map[string]Entry{}
		for _, id := range s.IDs() {
			if e, ok := s.Get(id); ok {
				want[id] = e
			}
		}
		s.Set("new", Entry{})
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		s2 := loadState(t, dir)
		for id, e := range want {
			got, ok := s2.Get(id)
			if !ok || !reflect.DeepEqual(got, e) {
				t.Fatalf("entry %q changed across Flush: %+v, want %+v", id, got, e)
			}
		}
		if _, ok := s2.Get("new"); !ok {
			t.Fatal("new entry lost")
		}
	})
}

func TestStateOutcomeLeavesOutParts(t *testing.T) {
	s, err := LoadState(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rec := Record{Status: "warn", Findings: []string{"f"}, Shared: []Pair{{"K", "V"}},
		Outputs:    []Output{{Path: "a.o", Digest: HashString("a"), Mode: 0o644}},
		Discovered: []Item{{Name: "a.h", Digest: HashString("h")}},
		Parts:      Parts{Command: HashString("cc"), Inputs: []Item{{Name: "a.c"}}}}
	s.Set("//:a", Entry{Key: HashString("k"), Record: rec})
	e, ok := s.Outcome("//:a")
	if !ok {
		t.Fatal("Outcome found nothing")
	}
	want := rec
	want.Parts = Parts{}
	if e.Key != HashString("k") || !reflect.DeepEqual(e.Record, want) {
		t.Errorf("Outcome = %+v, want %+v", e.Record, want)
	}
	if full, _ := s.Get("//:a"); !reflect.DeepEqual(full.Record.Parts, rec.Parts) {
		t.Errorf("Get lost the parts: %+v", full.Record.Parts)
	}
	if _, ok := s.Outcome("//:missing"); ok {
		t.Error("Outcome of a missing rule")
	}
}

// A partial load reads only the rules asked for and no memo, and what it
// then flushes is appended: a whole load sees every rule, old and new.
func TestStateLoadFor(t *testing.T) {
	dir := StateDir(t.TempDir())
	if _, ok, err := LoadStateFor(dir, map[string]bool{"//a:a": true}); ok || err != nil {
		t.Fatalf("partial load of a missing state: ok %v, err %v; want neither", ok, err)
	}
	s := loadState(t, dir)
	for i, id := range []string{"//a:a", "//b:b", "//c:c"} {
		s.Set(id, entryFor(i+1))
	}
	memoiseFile(t, s)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}

	p, ok, err := LoadStateFor(dir, map[string]bool{"//a:a": true, "//c:c": true})
	if !ok || err != nil {
		t.Fatalf("partial load: ok %v, err %v", ok, err)
	}
	if p.Len() != 2 || p.Memo().Len() != 0 {
		t.Fatalf("partial load holds %d rules and %d memo entries; want 2 and 0", p.Len(), p.Memo().Len())
	}
	if e, ok := p.Get("//c:c"); !ok || e.Key != entryFor(3).Key {
		t.Fatalf("//c:c = %v, %v; want its entry", e.Key, ok)
	}
	if _, ok := p.Get("//b:b"); ok {
		t.Fatal("//b:b was loaded without being asked for")
	}
	p.Set("//c:c", entryFor(9))
	p.Delete("//a:a")
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}

	whole := loadState(t, dir)
	if whole.Len() != 2 || whole.Memo().Len() != 1 {
		t.Fatalf("after a partial flush: %d rules and %d memo entries; want 2 and 1", whole.Len(), whole.Memo().Len())
	}
	if e, _ := whole.Get("//c:c"); e.Key != entryFor(9).Key {
		t.Fatal("the partial flush's entry was lost")
	}
	if _, ok := whole.Get("//b:b"); !ok {
		t.Fatal("a rule the partial load skipped was lost")
	}

	// A damaged file is left to the whole load, which sets it right.
	f, err := os.OpenFile(filepath.Join(dir, stateFileName), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{9, 0, 0, 0, 1, 2, 3, 4, 5})
	f.Close()
	if _, ok, err := LoadStateFor(dir, map[string]bool{"//c:c": true}); ok || err != nil {
		t.Fatalf("partial load of a damaged state: ok %v, err %v; want neither", ok, err)
	}
}

// memoiseFile writes a file, old enough to be memoised at once, has s's
// memo digest it, and returns its path.
func memoiseFile(t *testing.T, s *State) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "a.c")
	writeFile(t, src, []byte("int a;"))
	s.Memo().now = func() time.Time { return time.Now().Add(time.Hour) }
	if _, err := s.Memo().Digest(src); err != nil {
		t.Fatal(err)
	}
	return src
}
