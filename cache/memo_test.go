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
					m.Changes(func(string, Stat, Digest, bool) {})
				}
			}
		}()
	}
	wg.Wait()
	if m.Len() != len(paths) {
		t.Errorf("Len = %d, want %d", m.Len(), len(paths))
	}
}

// TestMemoSince tells a file hashed for a key from what is there after a
// command ran: the same file, other contents, a file gone; a change of
// permissions, or the same bytes written again, is nothing.
func TestMemoSince(t *testing.T) {
	for _, racy := range []bool{false, true} {
		t.Run(fmt.Sprintf("racy=%v", racy), func(t *testing.T) {
			dir := t.TempDir()
			m := agedMemo()
			if racy {
				m = NewMemo() // files just written are too recent to memoise
			}
			seen := func(name, content string) (string, Digest, Seen) {
				path := filepath.Join(dir, name)
				writeFile(t, path, []byte(content))
				d, s, err := m.DigestSeen(path)
				if err != nil || d != HashString(content) {
					t.Fatalf("DigestSeen(%s) = %v, %v", name, d, err)
				}
				if s.racy != racy {
					t.Fatalf("DigestSeen(%s) racy = %v, want %v", name, s.racy, racy)
				}
				return path, d, s
			}
			path, d, s := seen("same", "a")
			if got := m.Since(path, d, s); got != "" {
				t.Errorf("untouched: Since = %q, want nothing", got)
			}
			if err := os.Chmod(path, 0o600); err != nil {
				t.Fatal(err)
			}
			if got := m.Since(path, d, s); got != "" {
				t.Errorf("after chmod: Since = %q, want nothing", got)
			}
			path, d, s = seen("edited", "a")
			writeFile(t, path, []byte("b"))
			if got := m.Since(path, d, s); got != "changed" {
				t.Errorf("edited: Since = %q, want changed", got)
			}
			path, d, s = seen("reverted", "a")
			time.Sleep(10 * time.Millisecond) // a later mtime, past the timestamp tick
			writeFile(t, path, []byte("b"))
			writeFile(t, path, []byte("a"))
			if got := m.Since(path, d, s); got != "" {
				t.Errorf("written again with the same bytes: Since = %q, want nothing", got)
			}
			path, d, s = seen("removed", "a")
			os.Remove(path)
			if got := m.Since(path, d, s); got != "removed" {
				t.Errorf("removed: Since = %q, want removed", got)
			}
		})
	}
}

// TestChangedSince: a file written before the clock was read, a tick
// earlier, did not change since; one written after did, and so did one
// whose permissions changed. Then, a file written right before the clock
// is read and one right after, many times: the second always counts as
// changed.
func TestChangedSince(t *testing.T) {
	dir := t.TempDir()
	old, perm := filepath.Join(dir, "old"), filepath.Join(dir, "perm")
	writeFile(t, old, []byte("a"))
	writeFile(t, perm, []byte("a"))
	clock, err := OpenFileClock(filepath.Join(dir, "clock"))
	if err != nil {
		t.Fatal(err)
	}
	defer clock.Close()
	if (*FileClock)(nil).Now() >= clock.Now() {
		t.Error("a nil FileClock does not answer earlier")
	}
	time.Sleep(20 * time.Millisecond) // past the kernel's timestamp tick
	start := clock.Now()
	if ChangedSince(old, start) {
		t.Error("a file written before the start counts as changed since")
	}
	time.Sleep(20 * time.Millisecond)
	writeFile(t, filepath.Join(dir, "new"), []byte("b"))
	if !ChangedSince(filepath.Join(dir, "new"), start) {
		t.Error("a file written after the start does not count as changed")
	}
	if err := os.Chmod(perm, 0o600); err != nil {
		t.Fatal(err)
	}
	if !ChangedSince(perm, start) {
		t.Error("a file whose permissions changed after the start does not count as changed")
	}
	if !ChangedSince(filepath.Join(dir, "missing"), start) {
		t.Error("a missing file does not count as changed")
	}
}

func TestFileClockOrdersChanges(t *testing.T) {
	dir := t.TempDir()
	clock, err := OpenFileClock(filepath.Join(dir, "clock"))
	if err != nil {
		t.Fatal(err)
	}
	defer clock.Close()
	before, after := filepath.Join(dir, "before"), filepath.Join(dir, "after")
	early := 0
	for i := range 200 {
		writeFile(t, before, []byte{byte(i)})
		_ = StatPath(before) // a stat asks for a precise stamp next, where there are such
		start := clock.Now()
		writeFile(t, after, []byte{byte(i)})
		if !ChangedSince(after, start) {
			t.Fatalf("round %d: a file written after the clock was read counts as unchanged", i)
		}
		if !ChangedSince(before, start) {
			early++
		}
	}
	t.Logf("%d of 200 files written just before the clock was read were told apart from those written after", early)
}
