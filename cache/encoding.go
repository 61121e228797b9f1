// The binary encoding of everything pex writes: uvarints, zig-zag varints,
// length-prefixed strings and raw 32-byte digests, read back by a decoder
// that checks every length and never panics, and the CRC-32C that guards
// each record, frame and section.

package cache

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
)

// ErrCorrupt is returned (wrapped) for data that fails its checksum or does
// not decode. Callers treat it as a cache miss.
var ErrCorrupt = errors.New("corrupt cache data")

// castagnoli is the CRC-32C table; the CPU computes CRC-32C in hardware.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum returns the CRC-32C (Castagnoli) of b.
func Checksum(b []byte) uint32 {
	return crc32.Checksum(b, castagnoli)
}

// Encoder appends values to B.
type Encoder struct {
	B []byte
}

// Uvarint appends v as a uvarint.
func (e *Encoder) Uvarint(v uint64) { e.B = binary.AppendUvarint(e.B, v) }

// Varint appends v as a zig-zag varint.
func (e *Encoder) Varint(v int64) { e.B = binary.AppendVarint(e.B, v) }

// Digest appends the 32 bytes of d.
func (e *Encoder) Digest(d Digest) { e.B = append(e.B, d[:]...) }

// Str appends s, length-prefixed.
func (e *Encoder) Str(s string) {
	e.Uvarint(uint64(len(s)))
	e.B = append(e.B, s...)
}

// Blob appends b, length-prefixed.
func (e *Encoder) Blob(b []byte) {
	e.Uvarint(uint64(len(b)))
	e.B = append(e.B, b...)
}

// Strs appends a count, then each string.
func (e *Encoder) Strs(ss []string) {
	e.Uvarint(uint64(len(ss)))
	for _, s := range ss {
		e.Str(s)
	}
}

// Items appends a count, then each item's name and digest.
func (e *Encoder) Items(items []Item) {
	e.Uvarint(uint64(len(items)))
	for _, it := range items {
		e.Str(it.Name)
		e.Digest(it.Digest)
	}
}

// Pairs appends a count, then each pair's key and value.
func (e *Encoder) Pairs(pairs []Pair) {
	e.Uvarint(uint64(len(pairs)))
	for _, p := range pairs {
		e.Str(p.Key)
		e.Str(p.Value)
	}
}

// Decoder reads what Encoder wrote. The first error sticks: later reads
// return zero values, and Err reports it.
type Decoder struct {
	b   []byte
	all string // when set, the whole input as a string, which Str slices
	err error
}

// NewDecoder returns a Decoder reading b.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// NewStringDecoder returns a Decoder reading s whose strings are slices of
// s: decoding a record of many short strings makes one copy, not many.
func NewStringDecoder(s string) *Decoder { return &Decoder{b: []byte(s), all: s} }

// Err returns the first error, which wraps ErrCorrupt.
func (d *Decoder) Err() error { return d.err }

// Fail makes the decoder fail: the data is not what it should be.
func (d *Decoder) Fail() {
	if d.err == nil {
		d.err = ErrCorrupt
	}
	d.b = nil
}

// Uvarint reads a uvarint.
func (d *Decoder) Uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.Fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Varint reads a zig-zag varint.
func (d *Decoder) Varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.Fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Raw returns the next n bytes, aliasing the input.
func (d *Decoder) Raw(n uint64) []byte {
	if n > uint64(len(d.b)) {
		d.Fail()
		return nil
	}
	b := d.b[:n:n]
	d.b = d.b[n:]
	return b
}

// Blob reads a length-prefixed byte string, aliasing the input.
func (d *Decoder) Blob() []byte { return d.Raw(d.Uvarint()) }

// Str reads a length-prefixed string.
func (d *Decoder) Str() string {
	if d.all == "" {
		return string(d.Blob())
	}
	n := len(d.Blob())
	if d.err != nil {
		return ""
	}
	end := len(d.all) - len(d.b)
	return d.all[end-n : end]
}

// Digest reads 32 raw bytes.
func (d *Decoder) Digest() Digest {
	var dg Digest
	copy(dg[:], d.Raw(uint64(len(dg))))
	return dg
}

// Count reads an element count, rejecting counts that the remaining input
// cannot hold at minSize bytes per element, so that corrupt input cannot
// make the decoder allocate without bound.
func (d *Decoder) Count(minSize int) int {
	n := d.Uvarint()
	if n > uint64(len(d.b)/max(minSize, 1)) || n > math.MaxInt32 {
		d.Fail()
		return 0
	}
	return int(n)
}

// Strs reads what Encoder.Strs wrote.
func (d *Decoder) Strs() []string {
	n := d.Count(1)
	if n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.Str()
	}
	return ss
}

// Items reads what Encoder.Items wrote.
func (d *Decoder) Items() []Item {
	n := d.Count(1 + len(Digest{}))
	if n == 0 {
		return nil
	}
	items := make([]Item, n)
	for i := range items {
		items[i].Name = d.Str()
		items[i].Digest = d.Digest()
	}
	return items
}

// Pairs reads what Encoder.Pairs wrote.
func (d *Decoder) Pairs() []Pair {
	n := d.Count(2)
	if n == 0 {
		return nil
	}
	pairs := make([]Pair, n)
	for i := range pairs {
		pairs[i] = Pair{Key: d.Str(), Value: d.Str()}
	}
	return pairs
}

// Done returns the sticky error, or ErrCorrupt if input is left over.
func (d *Decoder) Done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = ErrCorrupt
	}
	return d.err
}
