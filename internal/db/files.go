// The file table: every path a build looked at, with its stat and the
// digest of what it held then. It is the stat memo kept between builds:
// a path whose stat equals its entry's holds the entry's digest, unless
// the entry is racy (stat'ed too soon after a change to vouch for it).

package db

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/pex-build/pex/cache"
)

// FileID numbers an entry of the file table.
type FileID uint32

// File is one entry of the file table.
type File struct {
	Path   string
	Stat   cache.Stat
	Digest cache.Digest // contents; a directory's listing; a link's cache.LinkDigest
	Racy   bool         // Stat cannot vouch for Digest: hash to check
}

// A file's record: its stat (statRecord bytes), then its digest. The part
// written whole keeps the two in sections of their own, so that a no-op
// build, which compares stats only, does not read the digests.
const (
	statRecord = 48
	fileRecord = statRecord + 32
	flagRacy   = 1
)

type files struct {
	db      *DB
	base    []byte // stat records read
	digests []byte // their digests
	n       int    // how many
	over    map[FileID]fileEntry
	isOver  []uint64 // bit id set: over has it (a map lookup per stat costs)
	added   []fileEntry
	index   map[string]FileID // built on first use
	changed bool              // a stat or digest changed
	// written is how many entries the file holds; pending those of them
	// changed since.
	written int
	pending map[FileID]struct{}
}

// fileEntry is a File with where its path is in the strings.
type fileEntry struct {
	File
	off, len uint32
}

func (f *files) load(stats, digests []byte) error {
	if len(stats)%statRecord != 0 || len(digests) != len(stats)/statRecord*32 {
		return fmt.Errorf("file table: %w", ErrDamaged)
	}
	f.base, f.digests, f.n = stats, digests, len(stats)/statRecord
	f.written = f.n
	return nil
}

// Len returns how many files the table holds.
func (d *DB) Files() int { return d.files.n + len(d.files.added) }

// entry returns entry id, digest and all.
func (f *files) entry(id FileID) fileEntry {
	e := f.stat(id)
	e.Digest = f.digestOf(id, e)
	return e
}

// stat returns entry id without its digest, unless it was changed or
// added since the file was written whole.
func (f *files) stat(id FileID) fileEntry {
	if f.overridden(id) {
		return f.over[id]
	}
	if int(id) >= f.n {
		return f.added[int(id)-f.n]
	}
	return entryOf(f.base[int(id)*statRecord:])
}

func (f *files) overridden(id FileID) bool {
	return int(id)>>6 < len(f.isOver) && f.isOver[id>>6]&(1<<(id&63)) != 0
}

// digestOf returns the digest of entry id, which stat returned as e: e's
// own, or, for an entry of the part written whole, the one its section
// holds (the zero digest, which no file has, if that section is damaged).
func (f *files) digestOf(id FileID, e fileEntry) cache.Digest {
	if int(id) >= f.n || f.overridden(id) {
		return e.Digest
	}
	var d cache.Digest
	if f.db.need(secDigests) {
		copy(d[:], f.digests[int(id)*32:])
	}
	return d
}

// entryOf decodes a stat record, and the digest that follows it in a
// record of an appended record.
func entryOf(r []byte) fileEntry {
	le := binary.LittleEndian
	e := fileEntry{off: le.Uint32(r), len: le.Uint32(r[4:])}
	e.Stat = cache.Stat{Kind: cache.Kind(r[8]), Size: int64(le.Uint64(r[16:])), Mtime: int64(le.Uint64(r[24:])),
		Ctime: int64(le.Uint64(r[32:])), Inode: le.Uint64(r[40:])}
	e.Racy = r[9]&flagRacy != 0
	if len(r) >= fileRecord {
		copy(e.Digest[:], r[statRecord:fileRecord])
	}
	return e
}

// File returns the entry id, with its path.
func (d *DB) File(id FileID) File {
	e := d.files.entry(id)
	e.Path = d.strs.get(e.off, e.len)
	return e.File
}

// Lookup returns the number of the entry for path.
func (d *DB) Lookup(path string) (FileID, bool) {
	f := &d.files
	if f.index == nil {
		f.index = make(map[string]FileID, d.Files())
		for id := range FileID(d.Files()) {
			e := f.stat(id)
			f.index[d.strs.get(e.off, e.len)] = id
		}
	}
	id, ok := f.index[path]
	return id, ok
}

// Intern returns the number of the entry for path, adding an empty one
// (a path never stat'ed) if there is none.
func (d *DB) Intern(path string) FileID {
	if id, ok := d.Lookup(path); ok {
		return id
	}
	f := &d.files
	e := fileEntry{}
	e.off, e.len = d.strs.add(path)
	id := FileID(d.Files())
	f.added = append(f.added, e)
	f.index[path] = id
	d.modified = true
	return id
}

// SetFile records what the build found at entry id: its stat, the digest
// of what it held and whether that stat can vouch for it.
func (d *DB) SetFile(id FileID, st cache.Stat, digest cache.Digest, racy bool) {
	f := &d.files
	e := f.entry(id)
	if e.Stat == st && e.Digest == digest && e.Racy == racy {
		return
	}
	if e.Digest != digest {
		f.changed = true // what a row may have read moved
	}
	d.modified = true
	e.Stat, e.Digest, e.Racy = st, digest, racy
	if int(id) < f.written {
		if f.pending == nil {
			f.pending = map[FileID]struct{}{}
		}
		f.pending[id] = struct{}{}
	}
	if int(id) >= f.n {
		f.added[int(id)-f.n] = e
		return
	}
	f.setOver(id, e)
}

// setOver sets entry id, one of those read, to e.
func (f *files) setOver(id FileID, e fileEntry) {
	if f.over == nil {
		f.over = map[FileID]fileEntry{}
		f.isOver = make([]uint64, (f.n+63)/64)
	}
	f.over[id] = e
	f.isOver[id>>6] |= 1 << (id & 63)
}

// encode returns the table as its sections: the stat records read, as
// changed, then those added; and their digests.
func (f *files) encode() (stats, digests []byte) {
	n := f.n + len(f.added)
	stats = make([]byte, 0, n*statRecord)
	stats = append(stats, f.base...)
	digests = make([]byte, 0, n*32)
	if f.n > 0 && f.db.need(secDigests) {
		digests = append(digests, f.digests...)
	} else {
		digests = append(digests, make([]byte, f.n*32)...) // damaged: no digest holds
	}
	var rec [fileRecord]byte
	for id, e := range f.over {
		putFile(rec[:], e)
		copy(stats[int(id)*statRecord:], rec[:statRecord])
		copy(digests[int(id)*32:], e.Digest[:])
	}
	for _, e := range f.added {
		putFile(rec[:], e)
		stats = append(stats, rec[:statRecord]...)
		digests = append(digests, e.Digest[:]...)
	}
	return stats, digests
}

func putFile(r []byte, e fileEntry) {
	le := binary.LittleEndian
	le.PutUint32(r, e.off)
	le.PutUint32(r[4:], e.len)
	r[8] = byte(e.Stat.Kind)
	r[9] = 0
	if e.Racy {
		r[9] = flagRacy
	}
	clear(r[10:16])
	le.PutUint64(r[16:], uint64(e.Stat.Size))
	le.PutUint64(r[24:], uint64(e.Stat.Mtime))
	le.PutUint64(r[32:], uint64(e.Stat.Ctime))
	le.PutUint64(r[40:], e.Stat.Inode)
	copy(r[48:80], e.Digest[:])
}

// saved notes that the file holds every entry as it is now.
func (f *files) saved() {
	f.written, f.pending = f.n+len(f.added), nil
}

// encodeChanges writes the entries changed since the file was written,
// then those added.
func (f *files) encodeChanges(e *cache.Encoder) {
	ids := make([]FileID, 0, len(f.pending))
	for id := range f.pending {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for id := FileID(f.written); int(id) < f.n+len(f.added); id++ {
		ids = append(ids, id)
	}
	e.Uvarint(uint64(len(ids)))
	var rec [fileRecord]byte
	for _, id := range ids {
		e.Uvarint(uint64(id))
		putFile(rec[:], f.entry(id))
		e.B = append(e.B, rec[:]...)
	}
}

// applyChanges applies the entries encodeChanges wrote.
func (f *files) applyChanges(dec *cache.Decoder) error {
	for n := dec.Count(fileRecord + 1); n > 0; n-- {
		id := int(dec.Uvarint())
		r := dec.Raw(fileRecord)
		if dec.Err() != nil {
			break
		}
		e := entryOf(r)
		switch {
		case id < f.n:
			f.setOver(FileID(id), e)
		case id < f.n+len(f.added):
			f.added[id-f.n] = e
		case id == f.n+len(f.added):
			f.added = append(f.added, e)
		default:
			return errDamaged("a file entry of an appended record")
		}
	}
	f.written = f.n + len(f.added)
	return nil
}
