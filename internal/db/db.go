package db

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/pex-build/pex/cache"
)

const (
	magic         = "pex db\n\x00"
	layoutVersion = 1
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
	numSections = secStats
)

// ErrDamaged says the database file is not one this pex wrote whole.
var ErrDamaged = errors.New("damaged")

// DB is a workspace's build database, as read when opened plus what the
// current build changed. Reads are lazy: a no-op build decodes only what
// it replays. A DB is not safe for concurrent use: a build's workers
// take turns (internal/builder serialises them).
type DB struct {
	layout Layout
	data   []byte // the file, mapped; nil for a new database
	sec    [numSections + 1][]byte

	strs  strs
	files files
	eval  evalNode
	rules rules
	rows  rows
	reqs  map[cache.Digest]*Request
	stats Stats
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
	d := &DB{layout: layout, reqs: map[cache.Digest]*Request{}}
	d.init()
	data, _, _, err := cache.MapFile(layout.DB())
	if errors.Is(err, os.ErrNotExist) {
		return d, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", layout.DB(), err)
	}
	if err := d.load(data); err != nil {
		*d = DB{layout: layout, reqs: map[cache.Digest]*Request{},
			Note: fmt.Sprintf("ignored %s (%v): every rule is checked again", layout.DB(), err)}
		d.init()
	}
	return d, nil
}

func (d *DB) init() {
	if d.Now == nil {
		d.Now = time.Now
	}
	d.files.db = d
	d.rules.db = d
	d.rows.db = d
}

// load checks the header and every section's checksum and sets up the
// lazy views.
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
	for i := range n {
		e := data[headerFixed+i*sectionEntry:]
		id, crc, off, size := le.Uint32(e), le.Uint32(e[4:]), le.Uint64(e[8:]), le.Uint64(e[16:])
		if id != uint32(i+1) || off > uint64(len(data)) || size > uint64(len(data))-off {
			return fmt.Errorf("bad section table: %w", ErrDamaged)
		}
		body := data[off : off+size : off+size]
		if cache.Checksum(body) != crc {
			return fmt.Errorf("section %d fails its checksum: %w", id, ErrDamaged)
		}
		d.sec[id] = body
	}
	d.data = data
	d.strs.base = d.sec[secStrings]
	if err := d.files.load(d.sec[secFiles]); err != nil {
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
	return d.stats.decode(d.sec[secStats])
}

// Save writes the database whole, in one rename. The content generation
// moves when a file's or a row's contents did. The file is not synced: a
// power cut may leave the old database, or one that fails its checksums
// and is ignored, and either way every file is checked against what it
// holds; a kill -9 leaves the old database or the new.
func (d *DB) Save() error {
	if d.files.changed || d.rows.changed {
		d.stats.ContentGen++
	}
	d.stats.WriteGen++
	var sections [numSections + 1][]byte
	sections[secFiles] = d.files.encode()
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
		return fmt.Errorf("cannot save %s: %v", d.layout.DB(), err)
	}
	// What is in memory is what was written: a pex watch keeping the
	// database goes on from there.
	d.files.changed, d.rows.changed, d.modified = false, false, false
	return nil
}

// strs holds the database's strings: those read, then those added.
type strs struct {
	base  []byte
	added []byte
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
