// The stat memo: file digests remembered by (size, mtime, inode, ctime),
// so that a no-op build stats every input and reads none.

package cache

import (
	"fmt"
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

// fileStat is the tuple whose equality means "unchanged".
type fileStat struct {
	size  int64
	mtime int64 // nanoseconds since the Unix epoch
	inode uint64
	ctime int64 // nanoseconds since the Unix epoch; 0 where unknown
}

type memoEntry struct {
	stat   fileStat
	digest Digest
}

// Memo remembers file digests by path. Paths are keys exactly as given:
// callers should name each file one way (absolute, or relative to one
// directory they do not leave). A Memo is safe for concurrent use.
type Memo struct {
	mu      sync.RWMutex
	entries map[string]memoEntry
	dirty   map[string]bool // paths set or removed since the state file saw them
	now     func() time.Time
}

// NewMemo returns an empty Memo.
func NewMemo() *Memo {
	return &Memo{
		entries: make(map[string]memoEntry),
		dirty:   make(map[string]bool),
		now:     time.Now,
	}
}

// Len returns the number of memoised digests.
func (m *Memo) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.entries)
}

// Digest returns the digest of the regular file at path (following
// symbolic links). When the file's size, mtime, inode and ctime equal the
// memoised ones it returns the memoised digest without reading the file;
// otherwise it hashes the file and memoises the result unless the file is
// too recent to trust (see RacyMargin) or changed while being hashed.
func (m *Memo) Digest(path string) (Digest, error) {
	st, regular, err := statPath(path)
	if err != nil {
		m.forget(path)
		return Digest{}, err
	}
	if !regular {
		m.forget(path)
		return Digest{}, fmt.Errorf("%s: not a regular file", path)
	}
	if d, ok := m.lookup(path, st); ok {
		return d, nil
	}
	return m.hash(path)
}

// DigestStat is Digest that also returns the stat the digest belongs to,
// whether or not it could be memoised. It fails for a file that changed
// while being hashed.
func (m *Memo) DigestStat(path string) (Digest, FileStat, error) {
	st, regular, err := statPath(path)
	if err != nil {
		return Digest{}, FileStat{}, err
	}
	if !regular {
		return Digest{}, FileStat{}, fmt.Errorf("%s: not a regular file", path)
	}
	if d, ok := m.lookup(path, st); ok {
		return d, FileStat{st: st, present: true}, nil
	}
	d, err := m.hash(path)
	if err != nil {
		return Digest{}, FileStat{}, err
	}
	if after, _, err := statPath(path); err != nil || after != st {
		return Digest{}, FileStat{}, fmt.Errorf("%s changed while being hashed", path)
	}
	return d, FileStat{st: st, present: true}, nil
}

// Seen is what a digest was computed from: the stat of the file hashed,
// and whether that stat could have been kept by a later change (the file
// was too recent when it was hashed, see RacyMargin). Since uses it to
// tell, after a command ran, whether the file it read is still the one
// hashed for its key.
type Seen struct {
	st   fileStat
	racy bool
}

// DigestSeen is Digest that also says what the digest was computed from.
func (m *Memo) DigestSeen(path string) (Digest, Seen, error) {
	st, regular, err := statPath(path)
	if err != nil {
		m.forget(path)
		return Digest{}, Seen{}, err
	}
	if !regular {
		m.forget(path)
		return Digest{}, Seen{}, fmt.Errorf("%s: not a regular file", path)
	}
	if d, ok := m.lookup(path, st); ok {
		return d, Seen{st: st}, nil
	}
	d, memoised, err := m.hashStat(path, st)
	return d, Seen{st: st, racy: !memoised}, err
}

// Since tells whether the file at path still holds what was hashed to d
// when it was seen: "" if so, else "changed" or "removed". A stat
// suffices unless it moved, or the file was too recent to trust it; then
// the file is hashed. Only contents count: a file written again with the
// same bytes (a formatter that found nothing to change) is the same.
func (m *Memo) Since(path string, d Digest, seen Seen) string {
	st, regular, err := statPath(path)
	switch {
	case err != nil:
		return "removed"
	case !regular:
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

// Unchanged reports whether path still has the stat of its memoised
// digest: a stat, no hashing. False when nothing is memoised for it.
func (m *Memo) Unchanged(path string) bool {
	st, regular, err := statPath(path)
	if err != nil || !regular {
		return false
	}
	_, ok := m.lookup(path, st)
	return ok
}

func (m *Memo) lookup(path string, st fileStat) (Digest, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.entries[path]
	return e.digest, ok && e.stat == st
}

// hash hashes the file between two fstats of the open file, and memoises
// the digest only if they agree and the file is not racy.
func (m *Memo) hash(path string) (Digest, error) {
	d, _, err := m.hashStat(path, fileStat{})
	return d, err
}

// hashStat is hash that also reports whether the digest was memoised,
// which it is only if the open file's stat is want (when want is not the
// zero stat) as well as unchanged while hashing and not racy.
func (m *Memo) hashStat(path string, want fileStat) (Digest, bool, error) {
	start := m.now()
	f, err := os.Open(path)
	if err != nil {
		m.forget(path)
		return Digest{}, false, err
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return Digest{}, false, err
	}
	d, _, err := hashReader(f)
	if err != nil {
		return Digest{}, false, err
	}
	after, err := f.Stat()
	if err != nil {
		return Digest{}, false, err
	}
	st := statOf(before)
	if st == statOf(after) && !racy(st, start) && (want == fileStat{} || want == st) {
		m.set(path, memoEntry{st, d})
		return d, true, nil
	}
	m.forget(path)
	return d, false, nil
}

// racy reports whether a file with stat st, hashed at start, changed too
// recently for its digest to be memoised.
func racy(st fileStat, start time.Time) bool {
	limit := start.Add(-RacyMargin).UnixNano()
	return st.mtime >= limit || st.ctime >= limit
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

// load adds an entry read from the state file, which already has it.
func (m *Memo) load(path string, e memoEntry) {
	m.entries[path] = e
}

// unload removes an entry, as a tombstone in the state file says.
func (m *Memo) unload(path string) {
	delete(m.entries, path)
}

// takeDirty returns the entries set and the paths removed since the last
// call, and forgets that they changed.
func (m *Memo) takeDirty() (set map[string]memoEntry, removed []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	set = make(map[string]memoEntry)
	for path := range m.dirty {
		if e, ok := m.entries[path]; ok {
			set[path] = e
		} else {
			removed = append(removed, path)
		}
	}
	clear(m.dirty)
	return set, removed
}

// snapshot returns a copy of every entry and forgets what changed: the
// caller is about to write all of it.
func (m *Memo) snapshot() map[string]memoEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.dirty)
	out := make(map[string]memoEntry, len(m.entries))
	for k, v := range m.entries {
		out[k] = v
	}
	return out
}

// ChangedSince reports whether the file at path (followed if a link) was
// changed, in contents or metadata, at or after t, a time from a
// FileClock; a file that cannot be statted counts as changed. It is how a
// file that nothing hashed before a command started (an input a depfile
// names for the first time) is known not to have changed while the
// command ran.
func ChangedSince(path string, t int64) bool {
	st, _, err := statPath(path)
	return err != nil || st.ctime >= t || st.mtime >= t
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
	var st fileStat
	for range 2 {
		if _, err := c.f.WriteAt([]byte{0}, 0); err != nil {
			return time.Now().Add(-clockFallback).UnixNano()
		}
		fi, err := c.f.Stat()
		if err != nil {
			return time.Now().Add(-clockFallback).UnixNano()
		}
		st = statOf(fi)
	}
	if st.ctime != 0 {
		return st.ctime
	}
	return st.mtime
}

// Close closes the marker file, leaving it for the next FileClock.
func (c *FileClock) Close() {
	if c != nil {
		c.f.Close()
	}
}
