package cache

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"
)

func newStore(t testing.TB) *Store {
	t.Helper()
	s, err := OpenStore(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDefaultDir(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	tests := []struct{ pex, xdg, want string }{
		{"/p", "/x", "/p"},
		{"", "/x", "/x/pex"},
		{"", "relative", filepath.Join(home, ".cache", "pex")},
		{"", "", filepath.Join(home, ".cache", "pex")},
	}
	for _, tt := range tests {
		t.Setenv("PEX_CACHE_DIR", tt.pex)
		t.Setenv("XDG_CACHE_HOME", tt.xdg)
		if got, err := DefaultDir(); err != nil || got != tt.want {
			t.Errorf("DefaultDir with PEX_CACHE_DIR=%q XDG_CACHE_HOME=%q = %q, %v; want %q", tt.pex, tt.xdg, got, err, tt.want)
		}
	}
}

func TestPutFileRestore(t *testing.T) {
	s := newStore(t)
	ws := t.TempDir()
	src := filepath.Join(ws, "bin", "tool")
	data := randomBytes(300<<10, 7)
	writeFile(t, src, data)
	d, err := s.PutFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if d != HashBytes(data) || !s.Has(d) {
		t.Fatalf("PutFile = %v, Has = %v", d, s.Has(d))
	}
	if d2, err := s.PutFile(src); err != nil || d2 != d {
		t.Fatalf("second PutFile = %v, %v", d2, err)
	}
	dst := filepath.Join(ws, "out", "sub", "tool")
	if err := s.Restore(d, dst, 0o755); err != nil {
		t.Fatal(err)
	}
	assertFile(t, dst, data, 0o755)
	// Restoring over an existing read-only file replaces it.
	if err := os.Chmod(dst, 0o444); err != nil {
		t.Fatal(err)
	}
	small, _ := s.PutBytes([]byte("small"))
	if err := s.Restore(small, dst, 0o644); err != nil {
		t.Fatal(err)
	}
	assertFile(t, dst, []byte("small"), 0o644)
	assertNoTemps(t, filepath.Dir(dst))
}

func assertFile(t *testing.T, path string, data []byte, perm fs.FileMode) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("%s: contents differ", path)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != perm {
		t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), perm)
	}
}

func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name()[0] == '.' {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestRestoreMissingAndCorrupt(t *testing.T) {
	s := newStore(t)
	dst := filepath.Join(t.TempDir(), "out")
	err := s.Restore(HashString("never stored"), dst, 0o644)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Restore of a missing blob: %v, want fs.ErrNotExist", err)
	}
	d, _ := s.PutBytes([]byte("original"))
	blob := s.blobPath(d)
	if err := os.Chmod(blob, 0o644); err != nil {
		t.Fatal(err)
	}
	writeFile(t, blob, []byte("damaged!"))
	writeFile(t, dst, []byte("previous"))
	if err := s.Restore(d, dst, 0o644); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Restore of a damaged blob: %v, want ErrCorrupt", err)
	}
	assertFile(t, dst, []byte("previous"), 0o644)
	if s.Has(d) {
		t.Error("damaged blob is still in the store")
	}
	assertNoTemps(t, filepath.Dir(dst))
}

func TestPutVerifies(t *testing.T) {
	s := newStore(t)
	err := s.Put(bytes.NewReader([]byte("evil")), HashString("good"))
	if !errors.Is(err, ErrCorrupt) || s.Has(HashString("good")) {
		t.Errorf("Put with the wrong digest: %v", err)
	}
	if err := s.Put(bytes.NewReader([]byte("good")), HashString("good")); err != nil {
		t.Fatal(err)
	}
	f, err := s.Open(HashString("good"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, _ := io.ReadAll(f); string(got) != "good" {
		t.Errorf("Open read %q", got)
	}
}

func TestRecords(t *testing.T) {
	s := newStore(t)
	key := HashString("key")
	if _, ok, err := s.GetRecord(key); ok || err != nil {
		t.Fatalf("GetRecord on empty store = %v, %v", ok, err)
	}
	rec := sampleRecord()
	rec.Discovered = nil
	if err := s.PutRecord(key, rec); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.GetRecord(key)
	if err != nil || !ok || got.Status != rec.Status || !reflect.DeepEqual(got.Outputs, rec.Outputs) {
		t.Fatalf("GetRecord = %+v, %v, %v", got, ok, err)
	}
	// Without discovered inputs, a record is one file, not a directory.
	path := s.keyPath(key)
	if fi, err := os.Lstat(path); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("the record is not the file %s: %v", path, err)
	}
	// A damaged record is a miss, and is removed.
	data, _ := os.ReadFile(path)
	writeFile(t, path, data[:len(data)-1])
	if _, ok, err := s.GetRecord(key); ok || err != nil {
		t.Errorf("GetRecord of a truncated record = %v, %v; want a miss", ok, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Error("damaged record was not removed")
	}
}

// TestRecordsOldLayout reads a record stored as a variant directory, as
// stores written before single-record files have them all.
func TestRecordsOldLayout(t *testing.T) {
	s := newStore(t)
	key := HashString("key")
	data, _ := sampleRecord().MarshalBinary()
	writeFile(t, filepath.Join(s.keyPath(key), itemsDigest(nil).String()), data)
	if got, ok, err := s.GetRecord(key); err != nil || !ok || got.Status != sampleRecord().Status {
		t.Fatalf("GetRecord of an old-layout record = %+v, %v, %v", got, ok, err)
	}
	// Storing again puts it beside, as before.
	if err := s.PutRecord(key, &Record{Status: "warn", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.GetRecord(key); got == nil || got.Status != "warn" {
		t.Errorf("after a new PutRecord, newest record = %+v", got)
	}
}

// TestRecordsBothKinds stores under one key a record without discovered
// inputs, then one with: both stay readable, as variants.
func TestRecordsBothKinds(t *testing.T) {
	s := newStore(t)
	key := HashString("key")
	plain := &Record{Status: "ok", Created: time.Unix(1, 0)}
	disc := &Record{Status: "warn", Discovered: []Item{{"x.h", HashString("h")}}, Created: time.Unix(2, 0)}
	for _, r := range []*Record{plain, disc, plain} {
		if err := s.PutRecord(key, r); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := s.Records(key)
	if err != nil || len(recs) != 2 || recs[0].Status != "warn" || recs[1].Status != "ok" {
		t.Fatalf("Records = %d records, %v; want the two, newest first", len(recs), err)
	}
	if st, _ := s.Stats(); st.Records != 2 {
		t.Errorf("Stats counts %d records, want 2", st.Records)
	}
	if removed, err := s.GC(0); err != nil || removed.Records != 2 {
		t.Errorf("GC(0) = %+v, %v", removed, err)
	}
	if _, err := os.Stat(s.keyPath(key)); !errors.Is(err, fs.ErrNotExist) {
		t.Error("GC left the key's directory")
	}
}

// TestLookupVariants stores two records under one key that differ in a
// discovered header, as after editing a header and reverting it.
func TestLookupVariants(t *testing.T) {
	s := newStore(t)
	key := HashString("key")
	v1, v2 := HashString("v1"), HashString("v2")
	old := &Record{Status: "ok", Discovered: []Item{{"x.h", v1}}, Created: time.Unix(1, 0)}
	new := &Record{Status: "ok", Discovered: []Item{{"x.h", v2}}, Created: time.Unix(2, 0)}
	for _, r := range []*Record{old, new} {
		if err := s.PutRecord(key, r); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := s.Records(key)
	if err != nil || len(recs) != 2 || !recs[0].Created.Equal(new.Created) {
		t.Fatalf("Records = %d records, %v; want 2, newest first", len(recs), err)
	}
	for _, tt := range []struct {
		header Digest
		want   *Record
	}{{v1, old}, {v2, new}, {HashString("v3"), nil}} {
		asked := 0
		got, ok, err := s.Lookup(key, func(path string) (Digest, error) {
			asked++
			return tt.header, nil
		})
		if err != nil || ok != (tt.want != nil) || (ok && !got.Created.Equal(tt.want.Created)) {
			t.Errorf("Lookup with x.h=%v = %v, %v, %v", tt.header, got, ok, err)
		}
		if asked != 1 {
			t.Errorf("Lookup asked for x.h %d times, want once", asked)
		}
	}
	// Storing the same discovered digests again replaces, not adds.
	if err := s.PutRecord(key, old); err != nil {
		t.Fatal(err)
	}
	if recs, _ := s.Records(key); len(recs) != 2 {
		t.Errorf("after re-storing a variant: %d records, want 2", len(recs))
	}
}

func TestGCAndStats(t *testing.T) {
	s := newStore(t)
	var digests []Digest
	for i := range 10 {
		d, err := s.PutBytes(bytes.Repeat([]byte{byte(i)}, 1000))
		if err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-time.Duration(10-i) * time.Hour) // blob 0 is the oldest
		if err := os.Chtimes(s.blobPath(d), old, old); err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
	}
	if err := s.PutRecord(HashString("k"), &Record{Status: "ok"}); err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(s.dir, "tmp", "blob-123")
	writeFile(t, leftover, []byte("killed writer"))
	old := time.Now().Add(-2 * tmpMaxAge)
	_ = os.Chtimes(leftover, old, old)

	st, err := s.Stats()
	if err != nil || st.Blobs != 10 || st.Records != 1 || st.Bytes < 10000 {
		t.Fatalf("Stats = %+v, %v", st, err)
	}
	// Using blob 1 makes it recent, so blobs 0, 2, 3, ... go first.
	if err := s.Restore(digests[1], filepath.Join(t.TempDir(), "x"), 0o644); err != nil {
		t.Fatal(err)
	}
	removed, err := s.GC(st.Bytes - 3500)
	if err != nil {
		t.Fatal(err)
	}
	if removed.Blobs != 4 || removed.Records != 0 {
		t.Errorf("GC removed %+v, want 4 blobs", removed)
	}
	for i, d := range digests {
		want := !(i == 0 || i == 2 || i == 3 || i == 4)
		if s.Has(d) != want {
			t.Errorf("after GC, Has(blob %d) = %v, want %v", i, s.Has(d), want)
		}
	}
	if _, err := os.Stat(leftover); !errors.Is(err, fs.ErrNotExist) {
		t.Error("GC left an old temporary file")
	}
	if removed, err := s.GC(0); err != nil || removed.Records != 1 {
		t.Errorf("GC(0) = %+v, %v", removed, err)
	}
	if st, _ := s.Stats(); st != (StoreStats{}) {
		t.Errorf("after GC(0), Stats = %+v", st)
	}
}

// TestStoreConcurrent has many goroutines store, restore and collect the
// same blobs at once; run with -race. A Restore may miss a blob that GC
// removed, but must never produce a wrong file.
func TestStoreConcurrent(t *testing.T) {
	s := newStore(t)
	ws := t.TempDir()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				data := []byte(fmt.Sprintf("blob %d", i%5))
				src := filepath.Join(ws, fmt.Sprintf("src-%d-%d", g, i))
				writeFile(t, src, data)
				d, err := s.PutFile(src)
				if err != nil {
					t.Error(err)
					return
				}
				dst := filepath.Join(ws, fmt.Sprintf("dst-%d", g))
				if err := s.Restore(d, dst, 0o644); err == nil {
					if got, _ := os.ReadFile(dst); !bytes.Equal(got, data) {
						t.Errorf("restored %q, want %q", got, data)
					}
				} else if !errors.Is(err, fs.ErrNotExist) {
					t.Error(err)
				}
				if g == 0 && i%5 == 0 {
					if _, err := s.GC(0); err != nil {
						t.Error(err)
					}
				}
				_ = s.PutRecord(HashString("k"), &Record{Status: "ok", Discovered: []Item{{"h", d}}})
			}
		}()
	}
	wg.Wait()
}

// TestPutFileLinks checks that an output is hard-linked into the store
// rather than copied, and that changing it in place afterwards (which
// changes the blob too) makes a restore a miss, never wrong bytes.
func TestPutFileLinks(t *testing.T) {
	s := newStore(t)
	src := filepath.Join(filepath.Dir(s.dir), "out.txt") // same file system
	writeFile(t, src, []byte("built"))
	d, err := s.PutFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if !sameFile(t, src, s.blobPath(d)) {
		t.Fatal("the output was copied into the store, not linked")
	}
	f, err := os.OpenFile(src, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("edited")
	f.Close()
	dst := filepath.Join(t.TempDir(), "restored.txt")
	if err := s.Restore(d, dst, 0o644); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Restore of a blob changed through its output = %v, want ErrCorrupt", err)
	}
	if _, err := os.Stat(dst); !errors.Is(err, fs.ErrNotExist) {
		t.Error("Restore left a file with the wrong bytes")
	}
	if s.Has(d) {
		t.Error("the damaged blob is still in the store")
	}
	// Stored again, it is stored afresh.
	writeFile(t, filepath.Join(filepath.Dir(s.dir), "again.txt"), []byte("built"))
	if _, err := s.PutFile(filepath.Join(filepath.Dir(s.dir), "again.txt")); err != nil {
		t.Fatal(err)
	}
	if err := s.Restore(d, dst, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); string(got) != "built" {
		t.Errorf("restored %q, want %q", got, "built")
	}
}

// TestRestoreOutputReadOnly restores a file output without its write
// permissions, keeping the others.
func TestRestoreOutputReadOnly(t *testing.T) {
	s := newStore(t)
	d, err := s.PutBytes([]byte("#!/bin/sh\n"))
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "tool")
	if err := s.RestoreOutput(Output{Path: "tool", Digest: d, Mode: 0o755}, dst); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dst); err != nil || fi.Mode().Perm() != 0o555 {
		t.Errorf("restored mode = %v, %v; want r-xr-xr-x", fi.Mode(), err)
	}
}

// TestRestoreOutputLink restores a symbolic link output as a link with its
// target text, dangling or not, over whatever was at its place.
func TestRestoreOutputLink(t *testing.T) {
	s := newStore(t)
	dir := t.TempDir()
	for _, target := range []string{"lib.so.1", "/nonexistent/outside/the/workspace", "../up"} {
		dst := filepath.Join(dir, "sub", "lib.so")
		o := Output{Path: "sub/lib.so", Mode: fs.ModeSymlink | 0o777, Link: target, Digest: LinkDigest(target)}
		if err := s.RestoreOutput(o, dst); err != nil {
			t.Fatal(err)
		}
		got, err := os.Readlink(dst)
		if err != nil || got != target {
			t.Errorf("restored link = %q, %v; want %q", got, err, target)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "sub"))
	if len(entries) != 1 {
		t.Errorf("restoring left %d entries beside the link, want none", len(entries)-1)
	}
	if LinkDigest("a") == HashString("a") {
		t.Error("a link's digest equals that of a file holding its target's name")
	}
}

// TestPutFileSymlinkCopies stores a file given by a symbolic link: its
// target's contents are copied.
func TestPutFileSymlinkCopies(t *testing.T) {
	s := newStore(t)
	dir := filepath.Dir(s.dir)
	writeFile(t, filepath.Join(dir, "target.txt"), []byte("content"))
	if err := os.Symlink("target.txt", filepath.Join(dir, "link.txt")); err != nil {
		t.Fatal(err)
	}
	d, err := s.PutFile(filepath.Join(dir, "link.txt"))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(s.blobPath(d))
	if err != nil || !fi.Mode().IsRegular() || sameFile(t, filepath.Join(dir, "target.txt"), s.blobPath(d)) {
		t.Errorf("the blob of a symbolic link is not a copy: %v, %v", fi, err)
	}
}

func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	fa, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := os.Stat(b)
	if err != nil {
		t.Fatal(err)
	}
	return os.SameFile(fa, fb)
}

// BenchmarkPutFile measures storing one freshly written output, as a
// build does after each rule: hashing and hard-linking it (what PutFile
// does), against a copy of its own made while hashing (what keeping the
// store apart from the tree would cost), for a bench-sized output and a
// large one. On file systems where a new inode is dear, the copy is.
func BenchmarkPutFile(b *testing.B) {
	for _, size := range []int{4 << 10, 1 << 20} {
		for _, how := range []string{"copy", "link"} {
			b.Run(fmt.Sprintf("%s/%dKiB", how, size>>10), func(b *testing.B) {
				s := newStore(b)
				dir := filepath.Dir(s.dir)
				data := make([]byte, size)
				b.SetBytes(int64(size))
				for i := range b.N {
					b.StopTimer()                                                // writing the output is the rule's work, not storing it
					data[0], data[1], data[2] = byte(i), byte(i>>8), byte(i>>16) // new contents every time
					path := filepath.Join(dir, fmt.Sprintf("out%d", i))
					if err := os.WriteFile(path, data, 0o644); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					if how == "link" {
						if _, err := s.PutFile(path); err != nil {
							b.Fatal(err)
						}
						continue
					}
					f, err := os.Open(path)
					if err != nil {
						b.Fatal(err)
					}
					err = s.put(f, HashString(string(data)))
					f.Close()
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
