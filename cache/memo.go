// The stat memo: file digests remembered by (size, mtime, inode, ctime),
// so that a no-op build stats every input and reads none.

package cache

import (
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"
)

// RacyMargin is how far in the past, at the moment a file is hashed, its
// mtime and ctime must both lie for the digest to be memoised. A file
// changed more recently than that is hashed every time it is asked for,
// until it ages: otherwise a change made within one timestamp tick of the
// hash (the "racy git" problem) could leave size and times unchanged and
// the stale digest trusted. Two seconds covers filesystems with 1 s (ext3,
// HFS+) and 2 s (FAT) timestamps and small clock skew on network mounts.
const RacyMargin = 2 * time.Second

type memoEntry struct {
	stat   Stat
	digest Digest
}

// Memo remembers file digests by path. Paths are keys exactly as given:
// callers should name each file one way (absolute, or relative to one
// directory they do not leave). A Memo is safe for concurrent use.
type Memo struct {
	mu      sync.RWMutex
	entries map[string]memoEntry
	dirty   map[string]bool // paths set or removed since seeded
	now     func() time.Time
}

// NewMemo returns an empty Memo whose clock is time.Now.
func NewMemo() *Memo { return NewMemoAt(time.Now) }

// NewMemoAt returns an empty Memo reading the time from now: a test moves
// it ahead so that files just written count as old enough to memoise.
func NewMemoAt(now func() time.Time) *Memo {
	return &Memo{entries: make(map[string]memoEntry), dirty: make(map[string]bool), now: now}
}

// Len returns the number of memoised digests.
func (m *Memo) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.entries)
}

// Seed memoises what is known from before (the build database): the file
// at path with stat st holds d. Seeded entries are not Changes.
func (m *Memo) Seed(path string, st Stat, d Digest) {
	m.mu.Lock()
	m.entries[path] = memoEntry{st, d}
	m.mu.Unlock()
}

// Digest returns the digest of the regular file at path (following
// symbolic links). When the file's stat equals the memoised one it
// returns the memoised digest without reading the file; otherwise it
// hashes the file and memoises the result unless the file is too recent
// to trust (see RacyMargin) or changed while being hashed.
func (m *Memo) Digest(path string) (Digest, error) {
	d, _, err := m.DigestSeen(path)
	return d, err
}

// Seen is what a digest was computed from: the stat of the file hashed,
// and whether that stat could have been kept by a later change (the file
// was too recent when it was hashed, see RacyMargin). Since uses it to
// tell, after a command ran, whether the file it read is still the one
// hashed for its key; the build database keeps it.
type Seen struct {
	st   Stat
	racy bool
}

// Stat returns the stat the digest was computed from.
func (s Seen) Stat() Stat { return s.st }

// Racy reports whether that stat cannot vouch for the contents.
func (s Seen) Racy() bool { return s.racy }

// DigestSeen is Digest that also says what the digest was computed from.
func (m *Memo) DigestSeen(path string) (Digest, Seen, error) {
	st := StatPath(path)
	if st.Kind != File {
		m.forget(path)
		if !st.Exists() {
			return Digest{}, Seen{}, &fs.PathError{Op: "stat", Path: path, Err: fs.ErrNotExist}
		}
		return Digest{}, Seen{}, fmt.Errorf("%s: not a regular file", path)
	}
	if d, ok := m.lookup(path, st); ok {
		return d, Seen{st: st}, nil
	}
	d, memoised, err := m.hash(path, st)
	return d, Seen{st: st, racy: !memoised}, err
}

// Since tells whether the file at path still holds what was hashed to d
// when it was seen: "" if so, else "changed" or "removed". A stat
// suffices unless it moved, or the file was too recent to trust it; then
// the file is hashed. Only contents count: a file written again with the
// same bytes (a formatter that found nothing to change) is the same.
func (m *Memo) Since(path string, d Digest, seen Seen) string {
	st := StatPath(path)
	switch {
	case !st.Exists():
		return "removed"
	case st.Kind != File:
		return "changed"
	case st == seen.st && !seen.racy:
		return ""
	}
	now, err := m.Digest(path)
	switch {
	case err != nil:
		return "removed"
	case now != d:
		return "changed"
	}
	return ""
}

func (m *Memo) lookup(path string, st Stat) (Digest, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.entries[path]
	return e.digest, ok && e.stat == st
}

// hash hashes the file between two fstats of the open file, and memoises
// the digest only if they agree, agree with want (the stat the caller
// took), and the file is not racy. It reports whether it memoised.
func (m *Memo) hash(path string, want Stat) (Digest, bool, error) {
	start := m.now()
	f, err := os.Open(path)
	if err != nil {
		m.forget(path)
		return Digest{}, false, err
	}
	defer f.Close()
	before, err := fstat(f)
	if err != nil {
		return Digest{}, false, err
	}
	d, _, err := hashReader(f)
	if err != nil {
		return Digest{}, false, err
	}
	after, err := fstat(f)
	if err != nil {
		return Digest{}, false, err
	}
	if before == after && before == want && !before.Recent(start) {
		m.set(path, memoEntry{before, d})
		return d, true, nil
	}
	m.forget(path)
	return d, false, nil
}

func (m *Memo) set(path string, e memoEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.entries[path]; !ok || old != e {
		m.entries[path] = e
		m.dirty[path] = true
	}
}

// Forget drops what is memoised for path: the file is being rewritten.
func (m *Memo) Forget(path string) { m.forget(path) }

func (m *Memo) forget(path string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.entries[path]; ok {
		delete(m.entries, path)
		m.dirty[path] = true
	}
}

// Changes calls fn for each path memoised (ok) or forgotten (not ok)
// since it was seeded or last asked, with its stat and digest, and
// forgets that they changed.
func (m *Memo) Changes(fn func(path string, st Stat, d Digest, ok bool)) {
	m.mu.Lock()
	type change struct {
		path string
		e    memoEntry
		ok   bool
	}
	changes := make([]change, 0, len(m.dirty))
	for path := range m.dirty {
		e, ok := m.entries[path]
		changes = append(changes, change{path, e, ok})
	}
	clear(m.dirty)
	m.mu.Unlock()
	for _, c := range changes {
		fn(c.path, c.e.stat, c.e.digest, c.ok)
	}
}

// ChangedSince reports whether the file at path (followed if a link) was
// changed, in contents or metadata, at or after t, a time from a
// FileClock; a file that cannot be statted counts as changed. It is how a
// file that nothing hashed before a command started (an input a depfile
// names for the first time) is known not to have changed while the
// command ran.
func ChangedSince(path string, t int64) bool {
	st := StatPath(path)
	return !st.Exists() || st.Ctime >= t || st.Mtime >= t
}

// A FileClock tells the time as the file system stamps files: by writing
// a marker file and reading back its ctime. The kernel's own clocks do
// not tell it: it stamps most changes from a coarse clock that lags the
// precise one by a tick or more (more under load), and some (Linux's
// multigrain timestamps) from the precise one. A file changed after Now
// returned has a ctime no earlier than what it returned; one changed
// before has an earlier ctime, or (within the same tick of a coarse
// clock) the same. A FileClock is safe for concurrent use.
type FileClock struct {
	mu sync.Mutex
	f  *os.File
}

// OpenFileClock opens the marker file at path, creating it if needed. It
// may be kept from one use to the next: writing an existing file costs
// less than creating one.
func OpenFileClock(path string) (*FileClock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	return &FileClock{f: f}, nil
}

// clockFallback is how far before the precise clock Now answers when it
// cannot write its marker: far enough to be earlier than any stamp a
// change made after it gets.
const clockFallback = time.Second

// Now returns the time, in nanoseconds since the Unix epoch, as the file
// system would stamp a change made now; a nil FileClock answers a second
// early, to be safe. It writes the marker twice: where
// the file system gives precise stamps on demand (to a file whose times
// were read since its last change), the second write gets one, later
// than any stamp handed out before, while later changes get stamps no
// earlier than it.
func (c *FileClock) Now() int64 {
	if c == nil {
		return time.Now().Add(-clockFallback).UnixNano()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var st Stat
	for range 2 {
		if _, err := c.f.WriteAt([]byte{0}, 0); err != nil {
			return time.Now().Add(-clockFallback).UnixNano()
		}
		var err error
		if st, err = fstat(c.f); err != nil {
			return time.Now().Add(-clockFallback).UnixNano()
		}
	}
	if st.Ctime != 0 {
		return st.Ctime
	}
	return st.Mtime
}

// Close closes the marker file, leaving it for the next FileClock.
func (c *FileClock) Close() {
	if c != nil {
		c.f.Close()
	}
}
