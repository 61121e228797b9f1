// This file encodes a graph's registered rules, groups and packages to
// bytes and back, so that an evaluated workspace can be saved and a later
// build can skip evaluating BUILD files. Resolved fields are not encoded:
// call Resolve on the decoded graph.
//
// Format: "pexg", uvarint version, then the packages, the groups and the
// targets, each a uvarint count followed by the items; strings are a
// uvarint length and the bytes, ints are zig-zag varints, lists a count and
// the items, maps a count and sorted key/value pairs.

package graph

import (
	"encoding/binary"
	"errors"
	"slices"
	"time"
)

const (
	encodeMagic   = "pexg"
	encodeVersion = 1
)

// ErrBadEncoding is returned by Decode for data Encode did not write.
var ErrBadEncoding = errors.New("graph: bad encoding")

// Encode returns the graph's packages, groups and targets as bytes.
func (g *Graph) Encode() []byte {
	e := encoder{b: make([]byte, 0, 256*len(g.Targets)+1024)}
	e.b = append(e.b, encodeMagic...)
	e.uint(encodeVersion)
	e.strs(g.Packages())
	e.uint(uint64(len(g.Groups)))
	for _, gr := range g.Groups {
		e.str(gr.Name)
		e.int(gr.Jobs)
		e.int(gr.Priority)
		e.pos(gr.Pos)
	}
	e.uint(uint64(len(g.Targets)))
	for _, t := range g.Targets {
		e.target(t)
	}
	return e.b
}

// Decode returns the graph Encode wrote, unresolved.
func Decode(data []byte) (*Graph, error) {
	// Strings are cut from one copy of the data: one allocation, not one
	// per label, path and command.
	d := decoder{b: data, all: string(data)}
	if len(data) < len(encodeMagic) || string(data[:len(encodeMagic)]) != encodeMagic {
		return nil, ErrBadEncoding
	}
	d.b = d.b[len(encodeMagic):]
	if d.uint() != encodeVersion {
		return nil, ErrBadEncoding
	}
	g := New()
	for _, p := range d.strs() {
		g.AddPackage(p)
	}
	for n := d.count(); n > 0 && d.err == nil; n-- {
		gr := Group{Name: d.str(), Jobs: d.int(), Priority: d.int(), Pos: d.pos()}
		if err := g.AddGroup(gr); err != nil {
			return nil, err
		}
	}
	n := d.count()
	targets := make([]Target, n)
	for i := range targets {
		if d.err != nil {
			break
		}
		t := &targets[i]
		d.target(t)
		if d.err == nil {
			if err := g.Add(t); err != nil {
				return nil, err
			}
		}
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, ErrBadEncoding
	}
	return g, nil
}

type encoder struct{ b []byte }

func (e *encoder) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) int(v int)     { e.b = binary.AppendVarint(e.b, int64(v)) }
func (e *encoder) str(s string)  { e.uint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) bool(v bool) {
	if v {
		e.uint(1)
	} else {
		e.uint(0)
	}
}

func (e *encoder) strs(ss []string) {
	e.uint(uint64(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}

func (e *encoder) strMap(m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e.uint(uint64(len(keys)))
	for _, k := range keys {
		e.str(k)
		e.str(m[k])
	}
}

func (e *encoder) pos(p Pos) { e.str(p.File); e.int(p.Line); e.int(p.Col) }

func (e *encoder) target(t *Target) {
	e.str(t.Label.Pkg)
	e.str(t.Label.Name)
	e.pos(t.Pos)
	e.str(t.Cmd)
	e.strs(t.Srcs)
	e.strs(t.Outs)
	e.uint(uint64(len(t.Deps)))
	for _, l := range t.Deps {
		e.str(l.Pkg)
		e.str(l.Name)
	}
	e.strs(t.Requires)
	e.strs(t.Provides)
	e.strs(t.Claims)
	e.strs(t.Uses)
	e.int(t.Priority)
	e.str(t.Group)
	e.int(int(t.Timeout))
	e.strMap(t.Env)
	e.strs(t.EnvPassthrough)
	e.strs(t.Tools)
	e.strMap(t.Kwargs)
	e.strs(t.Tags)
	e.bool(t.Cache)
	e.str(t.Depfile)
}

type decoder struct {
	b   []byte
	all string // the whole input, which b is a suffix of
	err error
}

func (d *decoder) uint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = ErrBadEncoding
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = ErrBadEncoding
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return int(v)
}

// count reads a length, refusing one larger than what is left to read.
func (d *decoder) count() int {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.err = ErrBadEncoding
		d.b = nil
		return 0
	}
	return int(n)
}

func (d *decoder) str() string {
	n := d.count()
	off := len(d.all) - len(d.b)
	d.b = d.b[n:]
	return d.all[off : off+n]
}

func (d *decoder) strs() []string {
	n := d.count()
	if n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.str()
	}
	return ss
}

func (d *decoder) strMap() map[string]string {
	n := d.count()
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := d.str()
		m[k] = d.str()
	}
	return m
}

func (d *decoder) bool() bool { return d.uint() == 1 }

func (d *decoder) pos() Pos { return Pos{File: d.str(), Line: d.int(), Col: d.int()} }

func (d *decoder) target(t *Target) {
	t.Label = Label{Pkg: d.str(), Name: d.str()}
	t.Pos = d.pos()
	t.Cmd = d.str()
	t.Srcs = d.strs()
	t.Outs = d.strs()
	if n := d.count(); n > 0 {
		t.Deps = make([]Label, n)
		for i := range t.Deps {
			t.Deps[i] = Label{Pkg: d.str(), Name: d.str()}
		}
	}
	t.Requires = d.strs()
	t.Provides = d.strs()
	t.Claims = d.strs()
	t.Uses = d.strs()
	t.Priority = d.int()
	t.Group = d.str()
	t.Timeout = time.Duration(d.int())
	t.Env = d.strMap()
	t.EnvPassthrough = d.strs()
	t.Tools = d.strs()
	t.Kwargs = d.strMap()
	t.Tags = d.strs()
	t.Cache = d.bool()
	t.Depfile = d.str()
}

// AppendTarget appends one target's definition to b, as Encode writes it
// within a graph: what a build needs to run the rule again without the
// rest of the graph. Resolved fields are not encoded.
func AppendTarget(b []byte, t *Target) []byte {
	e := encoder{b: b}
	e.target(t)
	return e.b
}

// DecodeTarget returns the target AppendTarget wrote, unresolved.
func DecodeTarget(data []byte) (*Target, error) {
	d := decoder{b: data, all: string(data)}
	t := &Target{}
	d.target(t)
	if d.err != nil || len(d.b) != 0 {
		return nil, ErrBadEncoding
	}
	return t, nil
}
