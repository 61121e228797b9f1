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
	Outputs    []Output  // output files, in rule order
	Status     string    // "ok" or "warn": replayed on a hit
	Findings   []string  // lines the action reported, replayed on a hit
	Shared     []Pair    // shared values it emitted, in emission order
	Parts      Parts     // the parts of the key it ran under, for explain
	Discovered []Item    // inputs a depfile named, with the digests they had
	Created    time.Time // when the action finished
}

// recordMagic opens every encoded record.
const recordMagic = "pexr"

// MarshalBinary encodes r as: "pexr", uvarint FormatVersion, the body (see
// the package documentation), then the CRC-32C of all preceding bytes,
// little-endian.
func (r *Record) MarshalBinary() ([]byte, error) {
	e := encoder{b: make([]byte, 0, 256)}
	e.b = append(e.b, recordMagic...)
	e.uvarint(FormatVersion)
	r.encodeBody(&e)
	e.b = binary.LittleEndian.AppendUint32(e.b, checksum(e.b))
	return e.b, nil
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
	if checksum(body) != sum {
		return fmt.Errorf("record: checksum mismatch: %w", ErrCorrupt)
	}
	d := decoder{b: body[len(recordMagic):]}
	if v := d.uvarint(); v != FormatVersion {
		return fmt.Errorf("record: format version %d, want %d: %w", v, FormatVersion, ErrCorrupt)
	}
	var dec Record
	dec.decodeBody(&d)
	if err := d.done(); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	*r = dec
	return nil
}

func (r *Record) encodeBody(e *encoder) {
	var created int64 // zero time encodes as 0
	if !r.Created.IsZero() {
		created = r.Created.UnixNano()
	}
	e.varint(created)
	e.str(r.Status)
	e.uvarint(uint64(len(r.Outputs)))
	for _, o := range r.Outputs {
		e.str(o.Path)
		e.digest(o.Digest)
		e.uvarint(uint64(o.Mode))
		if o.IsLink() {
			e.str(o.Link)
		}
	}
	e.strs(r.Findings)
	e.uvarint(uint64(len(r.Shared)))
	for _, p := range r.Shared {
		e.str(p.Key)
		e.str(p.Value)
	}
	e.items(r.Discovered)
	encodeParts(e, &r.Parts)
}

func (r *Record) decodeBody(d *decoder) {
	r.decodeOutcome(d)
	decodeParts(d, &r.Parts)
}

// decodeOutcome decodes the body up to, not including, the Parts: what a
// hit needs to replay, without what only explaining needs.
func (r *Record) decodeOutcome(d *decoder) {
	if ns := d.varint(); ns != 0 {
		r.Created = time.Unix(0, ns)
	}
	r.Status = d.str()
	if n := d.count(1 + len(Digest{}) + 1); n > 0 {
		r.Outputs = make([]Output, n)
		for i := range r.Outputs {
			o := Output{Path: d.str(), Digest: d.digest(), Mode: fs.FileMode(d.uvarint())}
			if o.IsLink() {
				o.Link = d.str()
			}
			r.Outputs[i] = o
		}
	}
	r.Findings = d.strs()
	if n := d.count(2); n > 0 {
		r.Shared = make([]Pair, n)
		for i := range r.Shared {
			r.Shared[i] = Pair{Key: d.str(), Value: d.str()}
		}
	}
	r.Discovered = d.items()
}

func encodeParts(e *encoder, p *Parts) {
	e.digest(p.Command)
	e.items(p.Env)
	e.items(p.Inputs)
	e.items(p.Tools)
	e.items(p.Deps)
	e.items(p.Shared)
	e.strs(p.Outputs)
}

func decodeParts(d *decoder, p *Parts) {
	p.Command = d.digest()
	p.Env = d.items()
	p.Inputs = d.items()
	p.Tools = d.items()
	p.Deps = d.items()
	p.Shared = d.items()
	p.Outputs = d.strs()
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
