// Action records: what a successful action produced, stored under its key
// so that a later build can restore or replay it instead of running it.

package cache

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"time"
)

// Output is one output of an action: its path as the caller names it
// (relative to the package or workspace), its digest and file mode. A
// symbolic link has fs.ModeSymlink in its mode, its target text in Link
// and LinkDigest(Link) as its digest; it is recorded and restored as a
// link, never followed.
type Output struct {
	Path   string
	Digest Digest
	Mode   fs.FileMode
	Link   string
}

// IsLink reports whether the output is a symbolic link.
func (o Output) IsLink() bool { return o.Mode&fs.ModeSymlink != 0 }

// LinkDigest is the digest that stands for a symbolic link with the given
// target text: distinct from that of any file's contents, so that a link
// and a file holding its target's name never count as the same output.
func LinkDigest(target string) Digest {
	return HashString("pex symlink\x00" + target)
}

// Pair is one KEY=VALUE shared value.
type Pair struct {
	Key, Value string
}

// Record is what a successful action left behind. Failures are never
// recorded.
type Record struct {
	Outputs    []Output // output files, in rule order
	Status     string   // "ok" or "warn": replayed on a hit
	Findings   []string // lines the action reported, replayed on a hit
	Shared     []Pair   // shared values it emitted, in emission order
	Parts      Parts    // the parts of the key it ran under, for explain
	Discovered []Item   // inputs a depfile named, with the digests they had
	// Generated is the Starlark a dynamic rule generated: the rules it
	// registered, registered again on a hit.
	Generated string
	Created   time.Time // when the action finished
}

// recordMagic opens every encoded record.
const recordMagic = "pexr"

// MarshalBinary encodes r as: "pexr", uvarint FormatVersion, the body (see
// the package documentation), then the CRC-32C of all preceding bytes,
// little-endian.
func (r *Record) MarshalBinary() ([]byte, error) {
	e := Encoder{B: make([]byte, 0, 256)}
	e.B = append(e.B, recordMagic...)
	e.Uvarint(FormatVersion)
	r.encodeBody(&e)
	e.B = binary.LittleEndian.AppendUint32(e.B, Checksum(e.B))
	return e.B, nil
}

// UnmarshalBinary decodes what MarshalBinary wrote. Data that is truncated,
// fails its checksum, has another format version or does not decode
// yields an error wrapping ErrCorrupt, and r is left unchanged.
func (r *Record) UnmarshalBinary(data []byte) error {
	const minLen = len(recordMagic) + 1 + 4
	if len(data) < minLen || string(data[:len(recordMagic)]) != recordMagic {
		return fmt.Errorf("record: %w", ErrCorrupt)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if Checksum(body) != sum {
		return fmt.Errorf("record: checksum mismatch: %w", ErrCorrupt)
	}
	d := Decoder{b: body[len(recordMagic):]}
	if v := d.Uvarint(); v != FormatVersion {
		return fmt.Errorf("record: format version %d, want %d: %w", v, FormatVersion, ErrCorrupt)
	}
	var dec Record
	dec.decodeBody(&d)
	if err := d.Done(); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	*r = dec
	return nil
}

func (r *Record) encodeBody(e *Encoder) {
	var created int64 // zero time encodes as 0
	if !r.Created.IsZero() {
		created = r.Created.UnixNano()
	}
	e.Varint(created)
	e.Str(r.Status)
	e.Uvarint(uint64(len(r.Outputs)))
	for _, o := range r.Outputs {
		e.Str(o.Path)
		e.Digest(o.Digest)
		e.Uvarint(uint64(o.Mode))
		if o.IsLink() {
			e.Str(o.Link)
		}
	}
	e.Strs(r.Findings)
	e.Pairs(r.Shared)
	e.Items(r.Discovered)
	e.Str(r.Generated)
	encodeParts(e, &r.Parts)
}

func (r *Record) decodeBody(d *Decoder) {
	r.decodeOutcome(d)
	decodeParts(d, &r.Parts)
}

// decodeOutcome decodes the body up to, not including, the Parts: what a
// hit needs to replay, without what only explaining needs.
func (r *Record) decodeOutcome(d *Decoder) {
	if ns := d.Varint(); ns != 0 {
		r.Created = time.Unix(0, ns)
	}
	r.Status = d.Str()
	if n := d.Count(1 + len(Digest{}) + 1); n > 0 {
		r.Outputs = make([]Output, n)
		for i := range r.Outputs {
			o := Output{Path: d.Str(), Digest: d.Digest(), Mode: fs.FileMode(d.Uvarint())}
			if o.IsLink() {
				o.Link = d.Str()
			}
			r.Outputs[i] = o
		}
	}
	r.Findings = d.Strs()
	r.Shared = d.Pairs()
	r.Discovered = d.Items()
	r.Generated = d.Str()
}

func encodeParts(e *Encoder, p *Parts) {
	e.Digest(p.Command)
	e.Items(p.Env)
	e.Items(p.Inputs)
	e.Items(p.Tools)
	e.Items(p.Deps)
	e.Items(p.Shared)
	e.Strs(p.Outputs)
}

func decodeParts(d *Decoder, p *Parts) {
	p.Command = d.Digest()
	p.Env = d.Items()
	p.Inputs = d.Items()
	p.Tools = d.Items()
	p.Deps = d.Items()
	p.Shared = d.Items()
	p.Outputs = d.Strs()
}

// StaleInputs returns the discovered inputs of r whose current digest,
// as reported by current, differs from the recorded one, in record order.
// An input that current cannot hash (deleted, unreadable) is stale.
func (r *Record) StaleInputs(current func(path string) (Digest, error)) []string {
	var stale []string
	for _, in := range r.Discovered {
		if d, err := current(in.Name); err != nil || d != in.Digest {
			stale = append(stale, in.Name)
		}
	}
	return stale
}

// matches reports whether every discovered input of r still has its
// recorded digest, stopping at the first that does not.
func (r *Record) matches(current func(path string) (Digest, error)) bool {
	for _, in := range r.Discovered {
		if d, err := current(in.Name); err != nil || d != in.Digest {
			return false
		}
	}
	return true
}
