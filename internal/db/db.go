package db

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/pex-build/pex/cache"
)

const (
	magic         = "pex db\n\x00"
	layoutVersion = 4
	headerFixed   = len(magic) + 12
	sectionEntry  = 24
)

// Section ids, in file order.
const (
	secStrings = iota + 1
	secFiles
	secEval
	secRules
	secRuleData
	secRows
	secRowData
	secRequests
	secStats
	secDigests
	numSections = secDigests
)

// ErrDamaged says the database file is not one this pex wrote whole.
var ErrDamaged = errors.New("damaged")

func errDamaged(what string) error { return fmt.Errorf("%s: %w", what, ErrDamaged) }

// DB is a workspace's build database, as read when opened plus what the
// current build changed. Reads are lazy: a no-op build decodes only what
// it replays, and the rule and row data and the digests it never reads
// are not checked either. A DB is not safe for concurrent use: a build's workers take
// turns (internal/builder serialises them).
type DB struct {
	layout Layout
	data   []byte // the file, mapped; nil for a new database
	sec    [numSections + 1][]byte
	// lazy holds the checksums of the sections checked on first use (the
	// rule and row data, the digests: see need); lazyErr is what that
	// check found.
	lazy    map[int]uint32
	lazyErr error

	// The file as this process last read or wrote it: a record is
	// appended only to that file (same stat), at that size. whole is the
	// size of its part written whole, before the records appended.
	file        cache.Stat
	size, whole int64

	strs  strs
	files files
	eval  evalNode
	rules rules
	rows  rows
	reqs  map[cache.Digest]*Request
	stats Stats
	// planned are the lists the last check made of a request that was not
	// verified, for MarkVerified to keep.
	planned *Request
	// outputs are the files rules output, once IsOutput asked.
	outputs map[FileID]bool
	// modified says something changed since the database was read.
	modified bool
	// Now is the clock that tells whether a stat is too recent to vouch
	// for a file (time.Now; tests move it ahead).
	Now func() time.Time
	// Note says why an existing file was not used, if it was not.
	Note string
}

// Modified reports whether anything changed since the database was read:
// whether Save has anything to write.
func (d *DB) Modified() bool { return d.modified }

// Open reads the database of the workspace whose state directory layout
// names. A missing file is an empty database; a damaged one too, with a
// Note saying so. Only an error reading an existing file is returned.
func Open(layout Layout) (*DB, error) {
	d := &DB{layout: layout}
	d.Reset("")
	data, _, _, err := cache.MapFile(layout.DB())
	if errors.Is(err, os.ErrNotExist) {
		return d, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", layout.DB(), err)
	}
	if err := d.load(data); err != nil {
		d.Reset(fmt.Sprintf("ignored %s (%v): every rule is checked again", layout.DB(), err))
	}
	return d, nil
}

// Reset empties the database, as a missing file would, with note saying
// why (a damaged section found late); Save then writes it whole.
func (d *DB) Reset(note string) {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	*d = DB{layout: d.layout, reqs: map[cache.Digest]*Request{}, Now: now, Note: note, size: -1}
	d.files.db = d
	d.rules.db = d
	d.rows.db = d
}

// lazySections are checked on first use: a no-op build never reads them.
var lazySections = []int{secRuleData, secRowData, secDigests}

// load checks the header and the checksums of the sections every build
// reads, sets up the lazy views, and applies the records appended since
// the file was written whole.
func (d *DB) load(data []byte) error {
	if len(data) < headerFixed || string(data[:len(magic)]) != magic {
		return fmt.Errorf("not a pex database: %w", ErrDamaged)
	}
	le := binary.LittleEndian
	if v, f := le.Uint32(data[8:]), le.Uint32(data[12:]); v != layoutVersion || f != cache.FormatVersion {
		return fmt.Errorf("written by another version of pex: %w", ErrDamaged)
	}
	n := int(le.Uint32(data[16:]))
	end := headerFixed + n*sectionEntry
	if n != numSections || len(data) < end+4 || le.Uint32(data[end:]) != cache.Checksum(data[:end]) {
		return fmt.Errorf("bad header: %w", ErrDamaged)
	}
	whole := uint64(end + 4)
	d.lazy = map[int]uint32{}
	for i := range n {
		e := data[headerFixed+i*sectionEntry:]
		id, crc, off, size := le.Uint32(e), le.Uint32(e[4:]), le.Uint64(e[8:]), le.Uint64(e[16:])
		if id != uint32(i+1) || off > uint64(len(data)) || size > uint64(len(data))-off {
			return fmt.Errorf("bad section table: %w", ErrDamaged)
		}
		body := data[off : off+size : off+size]
		if slices.Contains(lazySections, int(id)) {
			d.lazy[int(id)] = crc
		} else if cache.Checksum(body) != crc {
			return fmt.Errorf("section %d fails its checksum: %w", id, ErrDamaged)
		}
		d.sec[id] = body
		whole = max(whole, off+size)
	}
	d.data = data
	d.strs.base = d.sec[secStrings]
	if err := d.files.load(d.sec[secFiles], d.sec[secDigests]); err != nil {
		return err
	}
	if err := d.rules.load(d.sec[secRules], d.sec[secRuleData]); err != nil {
		return err
	}
	if err := d.rows.load(d.sec[secRows], d.sec[secRowData], d.rules.len()); err != nil {
		return err
	}
	if err := d.eval.decode(d.sec[secEval]); err != nil {
		return err
	}
	if err := d.decodeRequests(d.sec[secRequests]); err != nil {
		return err
	}
	if err := d.stats.decode(d.sec[secStats]); err != nil {
		return err
	}
	good, err := d.applyRecords(data, int(whole))
	if err != nil {
		return err
	}
	d.whole = int64(whole)
	// Append to this file only if what was read is all of it, whole: not
	// a record torn by a kill, nor one another pex appended meanwhile.
	if d.file = cache.StatPath(d.layout.DB()); good == len(data) && d.file.Size == int64(len(data)) {
		d.size = int64(len(data))
	}
	return nil
}

// verifyLazy checks the rule and row data and the digests, if not done
// yet. A section that fails its checksum is an error of every later read:
// Check returns it, and the builder then starts from an empty database.
func (d *DB) verifyLazy() error {
	for _, id := range lazySections {
		d.need(id)
	}
	return d.lazyErr
}

// need checks section id on its first use; it reports whether it may be
// read.
func (d *DB) need(id int) bool {
	if crc, ok := d.lazy[id]; ok {
		delete(d.lazy, id)
		if cache.Checksum(d.sec[id]) != crc && d.lazyErr == nil {
			d.lazyErr = fmt.Errorf("section %d of %s fails its checksum: %w", id, d.layout.DB(), ErrDamaged)
		}
	}
	return d.lazyErr == nil
}

// Save writes what changed since the database was read or last saved.
// The content generation moves when a file's or a row's contents did.
//
// Usually that is one record appended to the file (see Format); the
// file is written whole instead, in one rename, when the rule table
// changed, when the file is not the one this process read or wrote last,
// or when the records appended since it was last written whole would
// outgrow a 32nd of it. Nothing is synced: a power cut may leave the file
// as it was, or a last record or a file that fails its checksum and is
// ignored, and either way every file is checked against what it holds;
// a kill -9 leaves it as it was or as written.
func (d *DB) Save() error {
	if d.files.changed || d.rows.changed {
		d.stats.ContentGen++
	}
	d.stats.WriteGen++
	d.settleRequests()
	var err error
	if rec := d.appended(); rec != nil {
		err = d.appendRecord(rec)
	} else {
		err = d.writeWhole()
	}
	if err != nil {
		return fmt.Errorf("cannot save %s: %v", d.layout.DB(), err)
	}
	// What is in memory is what was written: a pex watch keeping the
	// database goes on from there.
	d.files.saved()
	d.rows.pending = nil
	d.strs.saved = len(d.strs.added)
	for _, r := range d.reqs {
		r.dirty = 0
	}
	d.rules.dirty = false
	d.files.changed, d.rows.changed, d.modified = false, false, false
	return nil
}

// minAppended is how many bytes of records may follow a small file
// before it is written whole; a larger one takes a 32nd of its size
// (every open reads them all).
const minAppended = 1 << 16

// appended returns what changed since the file was read or written, as
// the record to append to it, or nil when it must be written whole.
func (d *DB) appended() []byte {
	if d.size < 0 || d.rules.dirty {
		return nil
	}
	body := d.changes()
	if d.size-d.whole+int64(len(body))+8 > max(d.whole/32, minAppended) {
		return nil
	}
	rec := make([]byte, 8, 8+len(body))
	binary.LittleEndian.PutUint32(rec, uint32(len(body)))
	binary.LittleEndian.PutUint32(rec[4:], cache.Checksum(body))
	return append(rec, body...)
}

// appendRecord appends rec to the file if it is still the one this
// process read or wrote, else writes the database whole.
func (d *DB) appendRecord(rec []byte) error {
	if cache.StatPath(d.layout.DB()) != d.file {
		return d.writeWhole()
	}
	f, err := os.OpenFile(d.layout.DB(), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(rec)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		d.size = -1 // it may be torn: write it whole next time
		return err
	}
	d.size += int64(len(rec))
	d.file = cache.StatPath(d.layout.DB())
	return nil
}

// changes encodes what changed since the file was read or written: the
// stats, the strings, file entries and rows added or changed, and the
// requests that changed.
func (d *DB) changes() []byte {
	e := cache.Encoder{}
	e.Blob(d.stats.encode())
	e.Blob(d.strs.added[d.strs.saved:])
	d.files.encodeChanges(&e)
	ids := make([]RuleID, 0, len(d.rows.pending))
	for id := range d.rows.pending {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	e.Uvarint(uint64(len(ids)))
	for _, id := range ids {
		e.Uvarint(uint64(id))
		if row := d.rows.over[id]; row != nil {
			e.Blob(encodeRow(row))
		} else {
			e.Blob(nil) // removed
		}
	}
	var keys []cache.Digest
	for k, r := range d.reqs {
		if r.dirty != 0 {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b cache.Digest) int { return bytes.Compare(a[:], b[:]) })
	e.Uvarint(uint64(len(keys)))
	for _, k := range keys {
		d.encodeRequest(&e, k, d.reqs[k], d.reqs[k].dirty == reqAll)
	}
	return e.B
}

// applyRecords applies the records appended after the part of data
// written whole, which ends at off, and returns where the last good one
// ends. A record cut short or failing its checksum ends the records (a
// kill, a power cut, or another pex appending as this one reads); one
// that passes its checksum but does not decode is damage.
func (d *DB) applyRecords(data []byte, off int) (int, error) {
	le := binary.LittleEndian
	for len(data)-off >= 8 {
		n := int(le.Uint32(data[off:]))
		if n > len(data)-off-8 {
			break
		}
		body := data[off+8 : off+8+n : off+8+n]
		if cache.Checksum(body) != le.Uint32(data[off+4:]) {
			break
		}
		if err := d.apply(body); err != nil {
			return 0, err
		}
		off += 8 + n
	}
	return off, nil
}

// apply applies one record that changes wrote.
func (d *DB) apply(body []byte) error {
	dec := cache.NewDecoder(body)
	if err := d.stats.decode(dec.Blob()); err != nil {
		return err
	}
	d.strs.added = append(d.strs.added, dec.Blob()...)
	d.strs.saved = len(d.strs.added)
	if err := d.files.applyChanges(dec); err != nil {
		return err
	}
	for n := dec.Count(2); n > 0; n-- {
		id := RuleID(dec.Uvarint())
		raw := dec.Blob()
		if int(id) >= d.rules.len() {
			return errDamaged("a row of an appended record")
		}
		if d.rows.logged == nil {
			d.rows.logged = map[RuleID][]byte{}
		}
		d.rows.logged[id] = raw
	}
	for n := dec.Count(35); n > 0; n-- {
		d.decodeRequest(dec)
	}
	if err := dec.Done(); err != nil {
		return errDamaged("an appended record")
	}
	return nil
}

// writeWhole writes the database whole, to a new file renamed over the
// old one.
func (d *DB) writeWhole() error {
	var sections [numSections + 1][]byte
	sections[secFiles], sections[secDigests] = d.files.encode()
	sections[secRules], sections[secRuleData] = d.rules.encode()
	sections[secRows], sections[secRowData] = d.rows.encode()
	sections[secEval] = d.eval.encode()
	sections[secRequests] = d.encodeRequests()
	sections[secStats] = d.stats.encode()
	sections[secStrings] = d.strs.all() // last: the others add to it
	le := binary.LittleEndian
	end := headerFixed + numSections*sectionEntry
	header := make([]byte, end+4)
	copy(header, magic)
	le.PutUint32(header[8:], layoutVersion)
	le.PutUint32(header[12:], cache.FormatVersion)
	le.PutUint32(header[16:], numSections)
	off := uint64(len(header))
	for id := 1; id <= numSections; id++ {
		e := header[headerFixed+(id-1)*sectionEntry:]
		le.PutUint32(e, uint32(id))
		le.PutUint32(e[4:], cache.Checksum(sections[id]))
		le.PutUint64(e[8:], off)
		le.PutUint64(e[16:], uint64(len(sections[id])))
		off += uint64(len(sections[id]))
	}
	le.PutUint32(header[end:], cache.Checksum(header[:end]))
	err := cache.WriteFile(d.layout.DB(), 0o666, false, func(f *os.File) error {
		if _, err := f.Write(header); err != nil {
			return err
		}
		for id := 1; id <= numSections; id++ {
			if _, err := f.Write(sections[id]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.size, d.whole = int64(off), int64(off)
	d.file = cache.StatPath(d.layout.DB())
	if d.file.Size != d.size {
		d.size = -1
	}
	return nil
}

// strs holds the database's strings: those read, then those added
// (saved of them are in the file).
type strs struct {
	base  []byte
	added []byte
	saved int
}

// get returns the string at off, len n.
func (s *strs) get(off, n uint32) string {
	if int(off) < len(s.base) {
		return string(s.base[off : off+n])
	}
	o := int(off) - len(s.base)
	return string(s.added[o : o+int(n)])
}

// bytes returns the bytes of the string at off, len n, aliasing them.
func (s *strs) bytes(off, n uint32) []byte {
	if int(off) < len(s.base) {
		return s.base[off : off+n : off+n]
	}
	o := int(off) - len(s.base)
	return s.added[o : o+int(n) : o+int(n)]
}

// add adds str and returns where it is.
func (s *strs) add(str string) (off, n uint32) {
	off = uint32(len(s.base) + len(s.added))
	s.added = append(s.added, str...)
	return off, uint32(len(str))
}

// all returns every string, read and added, as the section to write.
func (s *strs) all() []byte {
	if len(s.added) == 0 {
		return s.base
	}
	return append(append(make([]byte, 0, len(s.base)+len(s.added)), s.base...), s.added...)
}

// Stats is what the database remembers besides files, rules and rows:
// its generations and the last build's totals, for pex cache stats.
type Stats struct {
	WriteGen   uint64 // counts saves
	ContentGen uint64 // counts saves that changed a file or a row
	RowGen     uint64 // the last row generation handed out
	Last       BuildStats
}

// BuildStats are the totals of one build.
type BuildStats struct {
	StartUnixNano int64
	DurationNano  int64
	Hits          int // up to date: nothing done
	Restored      int // outputs copied from the local store
	Remote        int // outputs fetched from a remote cache
	Misses        int // the action ran
	Failed        int // the action failed or timed out
	Skipped       int // never ran: a dependency failed
}

func (s *Stats) encode() []byte {
	e := cache.Encoder{}
	for _, v := range []uint64{s.WriteGen, s.ContentGen, s.RowGen} {
		e.Uvarint(v)
	}
	l := s.Last
	e.Varint(l.StartUnixNano)
	e.Varint(l.DurationNano)
	for _, v := range []int{l.Hits, l.Restored, l.Remote, l.Misses, l.Failed, l.Skipped} {
		e.Uvarint(uint64(v))
	}
	return e.B
}

func (s *Stats) decode(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	dec := cache.NewDecoder(b)
	s.WriteGen, s.ContentGen, s.RowGen = dec.Uvarint(), dec.Uvarint(), dec.Uvarint()
	s.Last.StartUnixNano, s.Last.DurationNano = dec.Varint(), dec.Varint()
	for _, p := range []*int{&s.Last.Hits, &s.Last.Restored, &s.Last.Remote, &s.Last.Misses, &s.Last.Failed, &s.Last.Skipped} {
		*p = int(dec.Uvarint())
	}
	if err := dec.Done(); err != nil {
		return fmt.Errorf("stats: %w", ErrDamaged)
	}
	return nil
}

// Stats returns the database's generations and last build's totals.
func (d *DB) Stats() Stats { return d.stats }

// SetLastBuild records the totals of the build that is ending.
func (d *DB) SetLastBuild(b BuildStats) {
	d.stats.Last = b
	d.modified = true
}
