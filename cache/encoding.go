// The binary encoding shared by records and the state file: uvarints,
// zig-zag varints, length-prefixed strings and raw 32-byte digests, read
// back by a decoder that checks every length and never panics.

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

func checksum(b []byte) uint32 {
	return crc32.Checksum(b, castagnoli)
}

// encoder appends values to a byte slice.
type encoder struct {
	b []byte
}

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) digest(d Digest)  { e.b = append(e.b, d[:]...) }

func (e *encoder) str(s string) {
	e.uvarint(uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) strs(ss []string) {
	e.uvarint(uint64(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}

func (e *encoder) items(items []Item) {
	e.uvarint(uint64(len(items)))
	for _, it := range items {
		e.str(it.Name)
		e.digest(it.Digest)
	}
}

// decoder reads what encoder wrote. The first error sticks: later reads
// return zero values, and err reports it.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = ErrCorrupt
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// bytes returns the next n bytes, aliasing the input.
func (d *decoder) bytes(n uint64) []byte {
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	b := d.b[:n:n]
	d.b = d.b[n:]
	return b
}

func (d *decoder) str() string {
	return string(d.bytes(d.uvarint()))
}

func (d *decoder) digest() Digest {
	var dg Digest
	copy(dg[:], d.bytes(uint64(len(dg))))
	return dg
}

// count reads a element count, rejecting counts that the remaining input
// cannot hold at minSize bytes per element, so that corrupt input cannot
// make the decoder allocate without bound.
func (d *decoder) count(minSize int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)/minSize) || n > math.MaxInt32 {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) strs() []string {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.str()
	}
	return ss
}

func (d *decoder) items() []Item {
	n := d.count(1 + len(Digest{}))
	if n == 0 {
		return nil
	}
	items := make([]Item, n)
	for i := range items {
		items[i].Name = d.str()
		items[i].Digest = d.digest()
	}
	return items
}

// done reports the sticky error, or ErrCorrupt if input is left over.
func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = ErrCorrupt
	}
	return d.err
}
