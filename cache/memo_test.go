package cache

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// agedMemo returns a Memo whose clock runs an hour ahead, so that files
// just written count as safely old.
func agedMemo() *Memo {
	m := NewMemo()
	m.now = func() time.Time { return time.Now().Add(time.Hour) }
	return m
}

func TestMemoReusesDigest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.c")
	writeFile(t, path, []byte("int a;"))
	m := agedMemo()
	d, err := m.Digest(path)
	if err != nil || d != HashString("int a;") {
		t.Fatalf("Digest = %v, %v", d, err)
	}
	if m.Len() != 1 {
		t.Fatalf("Len = %d, want 1", m.Len())
	}
	// Plant a different digest for the same stat: Digest must return it
	// without reading the file.
	m.mu.Lock()
	e := m.entries[path]
	e.digest = HashString("planted")
	m.entries[path] = e
	m.mu.Unlock()
	if d, _ := m.Digest(path); d != HashString("planted") {
		t.Error("Digest read the file although its stat matched")
	}
}

func TestMemoNoticesChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.c")
	writeFile(t, path, []byte("int a;"))
	m := agedMemo()
	if _, err := m.Digest(path); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)

	// Same size, mtime put back: only ctime tells. Sleep past the kernel's
	// timestamp tick, as a real edit this soon would be racy and not
	// memoised at all.
	time.Sleep(20 * time.Millisecond)
	writeFile(t, path, []byte("int b;"))
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if d, _ := m.Digest(path); d != HashString("int b;") {
		t.Error("change with the same size and mtime went unnoticed")
	}

	// Replaced by another file (new inode) via rename.
	tmp := path + ".tmp"
	writeFile(t, tmp, []byte("int c;"))
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if d, _ := m.Digest(path); d != HashString("int c;") {
		t.Error("replaced file went unnoticed")
	}

	// Removed: an error, and the entry is forgotten.
	os.Remove(path)
	if _, err := m.Digest(path); !os.IsNotExist(err) {
		t.Errorf("Digest of a removed file: %v", err)
	}
	if m.Len() != 0 {
		t.Errorf("Len = %d after removal, want 0", m.Len())
	}
	if _, err := m.Digest(filepath.Dir(path)); err == nil {
		t.Error("Digest of a directory succeeded")
	}
}

// TestMemoRacy checks that a file changed within RacyMargin of being
// hashed is hashed again each time, never memoised.
func TestMemoRacy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gen.h")
	writeFile(t, path, []byte("v1"))
	m := NewMemo() // the real clock: the file is brand new
	if d, _ := m.Digest(path); d != HashString("v1") {
		t.Fatal("wrong digest")
	}
	if m.Len() != 0 {
		t.Fatal("a racy file was memoised")
	}
	fi, _ := os.Stat(path)
	m.now = func() time.Time { return fi.ModTime().Add(RacyMargin - time.Millisecond) }
	m.Digest(path)
	if m.Len() != 0 {
		t.Fatal("a file inside the margin was memoised")
	}
	m.now = func() time.Time { return time.Now().Add(RacyMargin + time.Second) }
	m.Digest(path)
	if m.Len() != 1 {
		t.Fatal("a file outside the margin was not memoised")
	}
}

func TestMemoConcurrent(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for i := range 20 {
		p := filepath.Join(dir, fmt.Sprintf("f%d", i))
		writeFile(t, p, []byte(p))
		paths = append(paths, p)
	}
	m := agedMemo()
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				p := paths[(i+g)%len(paths)]
				if d, err := m.Digest(p); err != nil || d != HashString(p) {
					t.Errorf("Digest(%s) = %v, %v", p, d, err)
				}
				if i%50 == 0 {
					m.takeDirty()
				}
			}
		}()
	}
	wg.Wait()
	if m.Len() != len(paths) {
		t.Errorf("Len = %d, want %d", m.Len(), len(paths))
	}
}
