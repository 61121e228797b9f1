// Rows: what each rule's last successful run (or restore) left, and what
// it read, so that a later build can tell, from the file table alone,
// whether it is still up to date.

package db

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"time"

	"github.com/pex-build/pex/cache"
)

// Row is what the database remembers of a rule that succeeded.
type Row struct {
	Key cache.Digest
	// Gen is the row's generation: it moves when what dependents take
	// from the rule (its outputs, its key if it has none, its shared
	// values) changes, so that they are checked again.
	Gen      uint64
	Def      cache.Digest // digest of the definition it ran under
	Status   string       // ok or warn
	Duration time.Duration
	// Outputs are aligned with the rule's outputs; their Path is set
	// when the row is read.
	Outputs  []cache.Output
	Findings []string
	Shared   []cache.Pair
	// Read are the digests of the sources, then the tools, its key took.
	Read []cache.Digest
	// Discovered are the inputs its depfile named, with their digests.
	Discovered []Discovered
	// DepGens are the generations of its dependencies' rows it ran
	// with, aligned with its dependencies.
	DepGens []uint64
	// Env digests the values of the variables it passes through.
	Env cache.Digest
	// Generated is the Starlark a dynamic rule generated when it ran:
	// the rules it registered, which the graph holds.
	Generated string
}

// Discovered is an input a depfile named.
type Discovered struct {
	File   FileID
	Digest cache.Digest
}

const rowIndexRecord = 8

type rows struct {
	db    *DB
	index []byte
	data  []byte
	n     int
	// logged are the rows of the records appended to the file (empty:
	// removed), over those of the part written whole.
	logged map[RuleID][]byte
	over   map[RuleID]*Row // set (nil: removed) since read
	// pending are the rules whose rows were set since the file was
	// written; changed says whether any was.
	pending map[RuleID]struct{}
	changed bool
}

func (r *rows) load(index, data []byte, rules int) error {
	if len(index) != rules*rowIndexRecord {
		return fmt.Errorf("rows: %w", ErrDamaged)
	}
	r.index, r.data, r.n = index, data, rules
	return nil
}

// raw returns rule id's encoded row as read, or nil.
func (r *rows) raw(id RuleID) []byte {
	if raw, ok := r.logged[id]; ok {
		if len(raw) == 0 {
			return nil
		}
		return raw
	}
	if int(id) >= r.n || r.db.verifyLazy() != nil {
		return nil
	}
	x := r.index[int(id)*rowIndexRecord:]
	off, n := binary.LittleEndian.Uint32(x), binary.LittleEndian.Uint32(x[4:])
	if n == 0 || uint64(off)+uint64(n) > uint64(len(r.data)) {
		return nil
	}
	return r.data[off : off+n]
}

// Row returns rule id's row, with its outputs' paths.
func (d *DB) Row(id RuleID) (*Row, bool) {
	if row, ok := d.rows.over[id]; ok {
		return row, row != nil
	}
	row, ok := d.row(id)
	if !ok {
		return nil, false
	}
	rec, _, err := d.record(id, nil)
	if err != nil || len(rec.lists[listOuts]) != len(row.Outputs) {
		return nil, false
	}
	for i, f := range rec.lists[listOuts] {
		row.Outputs[i].Path = d.File(FileID(f)).Path
	}
	return row, true
}

// row returns rule id's row without its outputs' paths: what a check
// compares.
func (d *DB) row(id RuleID) (*Row, bool) {
	if row, ok := d.rows.over[id]; ok {
		return row, row != nil
	}
	raw := d.rows.raw(id)
	if raw == nil {
		return nil, false
	}
	row, err := decodeRow(raw)
	return row, err == nil
}

// SetRow records rule id's row, handing out a new generation when what
// its dependents take from it changed (see Row.Gen).
func (d *DB) SetRow(id RuleID, row *Row) {
	old, ok := d.Row(id)
	if ok && sameForDependents(old, row) {
		row.Gen = old.Gen
	} else {
		d.stats.RowGen++
		row.Gen = d.stats.RowGen
	}
	d.setRow(id, row)
}

// DeleteRow forgets rule id's row: it failed, or its result must not be
// trusted; it runs next time.
func (d *DB) DeleteRow(id RuleID) {
	if _, ok := d.Row(id); ok {
		d.setRow(id, nil)
	}
}

func (d *DB) setRow(id RuleID, row *Row) {
	if d.rows.over == nil {
		d.rows.over = map[RuleID]*Row{}
	}
	d.rows.over[id] = row
	if d.rows.pending == nil {
		d.rows.pending = map[RuleID]struct{}{}
	}
	d.rows.pending[id] = struct{}{}
	d.rows.changed = true
	d.modified = true
}

func sameForDependents(a, b *Row) bool {
	if len(a.Outputs) != len(b.Outputs) || len(a.Shared) != len(b.Shared) || len(a.Outputs) == 0 && a.Key != b.Key {
		return false
	}
	for i := range a.Outputs {
		if a.Outputs[i].Digest != b.Outputs[i].Digest {
			return false
		}
	}
	for i := range a.Shared {
		if a.Shared[i] != b.Shared[i] {
			return false
		}
	}
	return true
}

// encode returns the rows' sections for the current rule table: rows
// are carried by rule number (SetEvaluation moved them by label).
func (r *rows) encode() (index, data []byte) {
	n := r.db.Rules()
	index = make([]byte, n*rowIndexRecord)
	e := cache.Encoder{B: make([]byte, 0, len(r.data))}
	le := binary.LittleEndian
	for id := range RuleID(n) {
		var raw []byte
		if row, ok := r.over[id]; ok {
			if row != nil {
				raw = encodeRow(row)
			}
		} else {
			raw = r.raw(id)
		}
		if raw == nil {
			continue
		}
		x := index[int(id)*rowIndexRecord:]
		le.PutUint32(x, uint32(len(e.B)))
		le.PutUint32(x[4:], uint32(len(raw)))
		e.B = append(e.B, raw...)
	}
	return index, e.B
}

func encodeRow(row *Row) []byte {
	e := cache.Encoder{B: make([]byte, 0, 160)}
	e.Digest(row.Key)
	e.Uvarint(row.Gen)
	e.Digest(row.Def)
	e.Str(row.Status)
	e.Uvarint(uint64(row.Duration / time.Millisecond))
	e.Uvarint(uint64(len(row.Outputs)))
	for _, o := range row.Outputs {
		e.Digest(o.Digest)
		e.Uvarint(uint64(o.Mode))
		e.Str(o.Link)
	}
	e.Strs(row.Findings)
	e.Pairs(row.Shared)
	e.Uvarint(uint64(len(row.Read)))
	for _, d := range row.Read {
		e.Digest(d)
	}
	e.Uvarint(uint64(len(row.Discovered)))
	for _, it := range row.Discovered {
		e.Uvarint(uint64(it.File))
		e.Digest(it.Digest)
	}
	e.Uvarint(uint64(len(row.DepGens)))
	for _, g := range row.DepGens {
		e.Uvarint(g)
	}
	e.Digest(row.Env)
	e.Str(row.Generated)
	return e.B
}

func decodeRow(b []byte) (*Row, error) {
	dec := cache.NewDecoder(b)
	row := &Row{Key: dec.Digest(), Gen: dec.Uvarint(), Def: dec.Digest(), Status: dec.Str(),
		Duration: time.Duration(dec.Uvarint()) * time.Millisecond}
	if n := dec.Count(34); n > 0 {
		row.Outputs = make([]cache.Output, n)
		for i := range row.Outputs {
			row.Outputs[i] = cache.Output{Digest: dec.Digest(), Mode: fs.FileMode(dec.Uvarint()), Link: dec.Str()}
		}
	}
	row.Findings = dec.Strs()
	row.Shared = dec.Pairs()
	if n := dec.Count(32); n > 0 {
		row.Read = make([]cache.Digest, n)
		for i := range row.Read {
			row.Read[i] = dec.Digest()
		}
	}
	if n := dec.Count(33); n > 0 {
		row.Discovered = make([]Discovered, n)
		for i := range row.Discovered {
			row.Discovered[i] = Discovered{File: FileID(dec.Uvarint()), Digest: dec.Digest()}
		}
	}
	if n := dec.Count(1); n > 0 {
		row.DepGens = make([]uint64, n)
		for i := range row.DepGens {
			row.DepGens[i] = dec.Uvarint()
		}
	}
	row.Env = dec.Digest()
	row.Generated = dec.Str()
	if err := dec.Done(); err != nil {
		return nil, err
	}
	return row, nil
}
