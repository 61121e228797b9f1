// The rule table: the evaluated graph, one record per rule, its files and
// dependencies by number, so that a build decodes only the rules it runs.

package db

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/pex-build/pex/cache"
	"github.com/pex-build/pex/graph"
)

// RuleID numbers a rule: its place in the graph, in registration order.
type RuleID uint32

// Rule flags: what the check must know of a rule without decoding it.
const (
	ruleNoCache     = 1 << iota // cache = False: it always runs
	rulePassthrough             // it passes host variables through
	ruleDepfile                 // it has a depfile: its row names more inputs
	ruleTest                    // it is tagged test
	ruleGenerated               // a dynamic rule generated it
)

// The lists of a rule's record.
const (
	listInputs = iota
	listTools
	listOuts
	listDeps      // rules
	listProviders // rules providing the tokens it requires
	numLists
)

const ruleIndexRecord = 16

type rules struct {
	db    *DB
	index []byte // 16-byte records read
	data  []byte
	n     int
	// fresh, set by an evaluation, replaces what was read; dirty says
	// it is not in the file yet.
	fresh   []ruleRec
	dirty   bool
	byLabel map[string]RuleID
}

// ruleRec is one rule's record, decoded.
type ruleRec struct {
	label  string
	flags  uint64
	def    cache.Digest // of the encoded definition
	target []byte       // the encoded definition
	lists  [numLists][]uint32
}

func (r *rules) load(index, data []byte) error {
	if len(index)%ruleIndexRecord != 0 {
		return fmt.Errorf("rule table: %w", ErrDamaged)
	}
	r.index, r.data, r.n = index, data, len(index)/ruleIndexRecord
	for i := range r.n {
		rec := index[i*ruleIndexRecord:]
		off, n := binary.LittleEndian.Uint32(rec[8:]), binary.LittleEndian.Uint32(rec[12:])
		if uint64(off)+uint64(n) > uint64(len(data)) {
			return fmt.Errorf("rule table: %w", ErrDamaged)
		}
	}
	return nil
}

func (r *rules) len() int {
	if r.fresh != nil {
		return len(r.fresh)
	}
	return r.n
}

// Rules returns how many rules the graph has.
func (d *DB) Rules() int { return d.rules.len() }

// Label returns rule r's label.
func (d *DB) Label(r RuleID) string {
	if d.rules.fresh != nil {
		return d.rules.fresh[r].label
	}
	rec := d.rules.index[int(r)*ruleIndexRecord:]
	return d.strs.get(binary.LittleEndian.Uint32(rec), binary.LittleEndian.Uint32(rec[4:]))
}

// RuleOf returns the rule with the label.
func (d *DB) RuleOf(label string) (RuleID, bool) {
	if d.rules.byLabel == nil {
		d.rules.byLabel = make(map[string]RuleID, d.Rules())
		for i := range RuleID(d.Rules()) {
			d.rules.byLabel[d.Label(i)] = i
		}
	}
	id, ok := d.rules.byLabel[label]
	return id, ok
}

// record returns rule r's record; the lists are read into scratch, which
// it returns grown, and alias it.
func (d *DB) record(r RuleID, scratch []uint32) (ruleRec, []uint32, error) {
	if d.rules.fresh != nil {
		return d.rules.fresh[r], scratch, nil
	}
	if err := d.verifyLazy(); err != nil {
		return ruleRec{}, scratch, err
	}
	idx := d.rules.index[int(r)*ruleIndexRecord:]
	off, n := binary.LittleEndian.Uint32(idx[8:]), binary.LittleEndian.Uint32(idx[12:])
	dec := cache.NewDecoder(d.rules.data[off : off+n])
	var rec ruleRec
	rec.flags = dec.Uvarint()
	rec.def = dec.Digest()
	rec.target = dec.Blob()
	for l := range numLists {
		start := len(scratch)
		for c := dec.Count(1); c > 0; c-- {
			scratch = append(scratch, uint32(dec.Uvarint()))
		}
		rec.lists[l] = scratch[start:len(scratch):len(scratch)]
	}
	if err := dec.Done(); err != nil {
		return rec, scratch, fmt.Errorf("rule %d: %w", r, ErrDamaged)
	}
	return rec, scratch, nil
}

// Target returns rule r's definition, with its resolved files; its
// DepTargets are for the caller to link (see Deps).
func (d *DB) Target(r RuleID) (*graph.Target, error) {
	rec, _, err := d.record(r, nil)
	if err != nil {
		return nil, err
	}
	t, err := decodeTarget(rec.target)
	if err != nil {
		return nil, fmt.Errorf("rule %d: %w", r, err)
	}
	paths := func(ids []uint32) []string {
		if len(ids) == 0 {
			return nil
		}
		ps := make([]string, len(ids))
		for i, id := range ids {
			ps[i] = d.File(FileID(id)).Path
		}
		return ps
	}
	t.Inputs, t.ToolFiles, t.OutFiles = paths(rec.lists[listInputs]), paths(rec.lists[listTools]), paths(rec.lists[listOuts])
	return t, nil
}

// Deps returns the rules r depends on, in its DepTargets order.
func (d *DB) Deps(r RuleID) []RuleID {
	rec, _, err := d.record(r, nil)
	if err != nil {
		return nil
	}
	return ids(rec.lists[listDeps])
}

// Def returns the digest of rule r's definition, which its row keeps.
func (d *DB) Def(r RuleID) cache.Digest {
	rec, _, _ := d.record(r, nil)
	return rec.def
}

// RuleFiles returns the files rule r reads and writes: its sources,
// tools and outputs, and the inputs its row's depfile named.
func (d *DB) RuleFiles(r RuleID) []FileID {
	rec, scratch, err := d.record(r, nil)
	if err != nil {
		return nil
	}
	files := make([]FileID, 0, len(scratch))
	for _, l := range []int{listInputs, listTools, listOuts} {
		for _, f := range rec.lists[l] {
			files = append(files, FileID(f))
		}
	}
	if row, ok := d.row(r); ok {
		for _, it := range row.Discovered {
			files = append(files, it.File)
		}
	}
	return files
}

// Groups returns the graph's exclusive scheduling groups.
func (d *DB) Groups() []graph.Group { return d.eval.groups }

// Replayed is what a build reports of a rule it did not run: up to date,
// as its row says.
type Replayed struct {
	Label    string
	Status   string // ok or warn
	Findings []string
	Test     bool
	// GeneratedBy is the label of the dynamic rule that generated it,
	// "" for a written rule.
	GeneratedBy string
}

// Replay returns what to report of rule c.Plan[i], up to date.
//
// A no-op build replays every rule of its request, so this decodes only
// what it reports: for a verified request, the flags the request keeps
// and, for a rule with findings, its row up to them.
func (d *DB) Replay(c *Check, i int) Replayed {
	r := c.Plan[i]
	rp := Replayed{Label: d.Label(r), Status: "ok"}
	generated := func(yes bool) {
		if yes {
			if t, err := d.Target(r); err == nil {
				rp.GeneratedBy = t.GeneratedBy.String()
			}
		}
	}
	if row, ok := d.rows.over[r]; ok {
		f := d.flags(r)
		rp.Test = f&ruleTest != 0
		generated(f&ruleGenerated != 0)
		if row != nil && row.Status == "warn" {
			rp.Status, rp.Findings = "warn", row.Findings
		}
		return rp
	}
	warn := true
	if c.flags != nil {
		rp.Test, warn = c.flags[i]&replayTest != 0, c.flags[i]&replayWarn != 0
		generated(c.flags[i]&replayGenerated != 0)
	} else {
		f := d.flags(r)
		rp.Test = f&ruleTest != 0
		generated(f&ruleGenerated != 0)
	}
	if warn {
		// As decodeRow reads it: key, generation, definition, status.
		dec := cache.NewDecoder(d.rows.raw(r))
		dec.Digest()
		dec.Uvarint()
		dec.Digest()
		if dec.Str() == "warn" {
			dec.Uvarint() // duration
			for n := dec.Count(34); n > 0; n-- {
				dec.Digest()
				dec.Uvarint()
				dec.Str()
			}
			if findings := dec.Strs(); dec.Err() == nil {
				rp.Status, rp.Findings = "warn", findings
			}
		}
	}
	return rp
}

// IsTest reports whether rule r is tagged test.
func (d *DB) IsTest(r RuleID) bool { return d.flags(r)&ruleTest != 0 }

// flags returns rule r's flags without decoding the rest of its record.
func (d *DB) flags(r RuleID) uint64 {
	if d.rules.fresh != nil {
		return d.rules.fresh[r].flags
	}
	if d.verifyLazy() != nil {
		return ruleNoCache | ruleDepfile // nothing known: assume the worst
	}
	idx := d.rules.index[int(r)*ruleIndexRecord:]
	off, n := binary.LittleEndian.Uint32(idx[8:]), binary.LittleEndian.Uint32(idx[12:])
	return cache.NewDecoder(d.rules.data[off : off+n]).Uvarint()
}

func ids(l []uint32) []RuleID {
	out := make([]RuleID, len(l))
	for i, v := range l {
		out[i] = RuleID(v)
	}
	return out
}

// Packages returns every package path of the evaluation, sorted.
func (d *DB) Packages() []string { return d.eval.packages }

// IsOutput reports whether a rule outputs the workspace-relative path.
// The first call reads every rule's outputs.
func (d *DB) IsOutput(p string) bool {
	if d.outputs == nil {
		d.outputs = map[FileID]bool{}
		var scratch []uint32
		for r := range RuleID(d.Rules()) {
			rec, s, err := d.record(r, scratch[:0])
			scratch = s
			if err != nil {
				continue
			}
			for _, f := range rec.lists[listOuts] {
				d.outputs[FileID(f)] = true
			}
		}
	}
	id, ok := d.Lookup(p)
	return ok && d.outputs[id]
}

// Graph returns the whole graph, decoded and resolved: for selecting
// rules by pattern, and for what asks about all of them (pex query,
// clean, explain). Its Targets are in rule order.
func (d *DB) Graph() (*graph.Graph, error) {
	g := graph.New()
	for _, p := range d.eval.packages {
		g.AddPackage(p)
	}
	for _, gr := range d.eval.groups {
		if err := g.AddGroup(gr); err != nil {
			return nil, err
		}
	}
	for r := range RuleID(d.Rules()) {
		t, err := d.Target(r)
		if err != nil {
			return nil, err
		}
		if err := g.Add(t); err != nil {
			return nil, err
		}
	}
	if err := g.Resolve(""); err != nil {
		return nil, err
	}
	return g, nil
}

// setGraph replaces the rule table with the resolved graph g.
func (d *DB) setGraph(g *graph.Graph) {
	fresh := make([]ruleRec, len(g.Targets))
	index := make(map[*graph.Target]uint32, len(g.Targets))
	for i, t := range g.Targets {
		index[t] = uint32(i)
	}
	providers := map[string][]uint32{}
	for i, t := range g.Targets {
		for _, tok := range t.Provides {
			providers[tok] = append(providers[tok], uint32(i))
		}
	}
	for i, t := range g.Targets {
		fresh[i] = d.newRec(t, func(dep *graph.Target) uint32 { return index[dep] }, providers)
	}
	d.rules.fresh, d.rules.dirty, d.rules.byLabel = fresh, true, nil
	d.outputs = nil
}

// newRec returns the record of the resolved target t, its dependencies
// numbered by dep, providers giving the rules that provide each token.
func (d *DB) newRec(t *graph.Target, dep func(*graph.Target) uint32, providers map[string][]uint32) ruleRec {
	files := func(paths []string) []uint32 {
		out := make([]uint32, len(paths))
		for i, p := range paths {
			out[i] = uint32(d.Intern(p))
		}
		return out
	}
	rec := ruleRec{label: t.Label.String(), target: appendTarget(nil, t)}
	rec.def = cache.HashBytes(rec.target)
	if !t.Cache {
		rec.flags |= ruleNoCache
	}
	if len(t.EnvPassthrough) > 0 {
		rec.flags |= rulePassthrough
	}
	if t.Depfile != "" {
		rec.flags |= ruleDepfile
	}
	if t.HasTag("test") {
		rec.flags |= ruleTest
	}
	if t.Generated() {
		rec.flags |= ruleGenerated
	}
	rec.lists[listInputs] = files(t.Inputs)
	rec.lists[listTools] = files(t.ToolFiles)
	rec.lists[listOuts] = files(t.OutFiles)
	for _, dt := range t.DepTargets {
		rec.lists[listDeps] = append(rec.lists[listDeps], dep(dt))
	}
	for _, tok := range t.Requires {
		rec.lists[listProviders] = append(rec.lists[listProviders], providers[tok]...)
	}
	return rec
}

// AddRules appends rules that a dynamic rule generated while a build
// runs, resolved (their dependencies are named by label), and returns
// their numbers. A rule taking the label of one already there takes its
// place in lookups by label; the graph holds both until SetGraph replaces
// it, the rows of the later winning.
func (d *DB) AddRules(ts []*graph.Target) ([]RuleID, error) {
	if d.rules.fresh == nil {
		n := d.rules.n
		fresh := make([]ruleRec, n)
		for r := range RuleID(n) {
			rec, _, err := d.record(r, nil)
			if err != nil {
				return nil, err
			}
			rec.label = d.Label(r)
			fresh[r] = rec
		}
		d.rules.fresh = fresh
	}
	d.RuleOf("") // the index by label, before it is extended
	ids := make([]RuleID, len(ts))
	for i, t := range ts {
		ids[i] = RuleID(len(d.rules.fresh) + i)
		d.rules.byLabel[t.Label.String()] = ids[i]
	}
	var providers map[string][]uint32
	for _, t := range ts {
		if len(t.Requires) > 0 && providers == nil {
			providers = map[string][]uint32{}
			for r := range RuleID(len(d.rules.fresh)) {
				if pt, err := d.Target(r); err == nil {
					for _, tok := range pt.Provides {
						providers[tok] = append(providers[tok], uint32(r))
					}
				}
			}
		}
	}
	var bad error
	dep := func(dt *graph.Target) uint32 {
		id, ok := d.RuleOf(dt.Label.String())
		if !ok && bad == nil {
			bad = fmt.Errorf("rule %s: no such rule", dt.Label)
		}
		return uint32(id)
	}
	for _, t := range ts {
		d.rules.fresh = append(d.rules.fresh, d.newRec(t, dep, providers))
		d.eval.dynamic = d.eval.dynamic || t.Dynamic
	}
	d.rules.dirty, d.outputs, d.modified = true, nil, true
	return ids, bad
}

// encode returns the rule table's sections: the index and the records.
func (r *rules) encode() (index, data []byte) {
	if r.fresh == nil {
		return r.index, r.data
	}
	le := binary.LittleEndian
	index = make([]byte, len(r.fresh)*ruleIndexRecord)
	e := cache.Encoder{}
	for i, rec := range r.fresh {
		start := len(e.B)
		e.Uvarint(rec.flags)
		e.Digest(rec.def)
		e.Blob(rec.target)
		for _, l := range rec.lists {
			e.Uvarint(uint64(len(l)))
			for _, v := range l {
				e.Uvarint(uint64(v))
			}
		}
		off, n := r.db.strs.add(rec.label)
		x := index[i*ruleIndexRecord:]
		le.PutUint32(x, off)
		le.PutUint32(x[4:], n)
		le.PutUint32(x[8:], uint32(start))
		le.PutUint32(x[12:], uint32(len(e.B)-start))
	}
	return index, e.B
}

// appendTarget appends t's definition: what a build needs to run the rule
// again without the rest of the graph. Resolved fields are not encoded.
func appendTarget(b []byte, t *graph.Target) []byte {
	e := cache.Encoder{B: b}
	e.Str(t.Label.Pkg)
	e.Str(t.Label.Name)
	putPos(&e, t.Pos)
	e.Str(t.Cmd)
	e.Strs(t.Srcs)
	e.Strs(t.Outs)
	e.Uvarint(uint64(len(t.Deps)))
	for _, l := range t.Deps {
		e.Str(l.Pkg)
		e.Str(l.Name)
	}
	for _, ss := range [][]string{t.Requires, t.Provides, t.Claims, t.Uses} {
		e.Strs(ss)
	}
	e.Varint(int64(t.Priority))
	e.Str(t.Group)
	e.Varint(int64(t.Timeout))
	putMap(&e, t.Env)
	e.Strs(t.EnvPassthrough)
	e.Strs(t.Tools)
	putMap(&e, t.Kwargs)
	e.Strs(t.Tags)
	flag(&e, t.Cache)
	e.Str(t.Depfile)
	if a := t.Action; a != nil {
		e.Uvarint(1)
		e.Str(a.File)
		e.Str(a.Name)
		e.Str(a.Digest)
	} else {
		e.Uvarint(0)
	}
	flag(&e, t.Dynamic)
	e.Str(t.GeneratedBy.Pkg)
	e.Str(t.GeneratedBy.Name)
	return e.B
}

func flag(e *cache.Encoder, b bool) {
	if b {
		e.Uvarint(1)
	} else {
		e.Uvarint(0)
	}
}

func putPos(e *cache.Encoder, p graph.Pos) {
	e.Str(p.File)
	e.Varint(int64(p.Line))
	e.Varint(int64(p.Col))
}

func putMap(e *cache.Encoder, m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e.Uvarint(uint64(len(keys)))
	for _, k := range keys {
		e.Str(k)
		e.Str(m[k])
	}
}

// decodeTarget returns the target appendTarget wrote, unresolved.
func decodeTarget(data []byte) (*graph.Target, error) {
	dec := cache.NewStringDecoder(string(data))
	t := &graph.Target{}
	t.Label = graph.Label{Pkg: dec.Str(), Name: dec.Str()}
	t.Pos = getPos(dec)
	t.Cmd = dec.Str()
	t.Srcs = dec.Strs()
	t.Outs = dec.Strs()
	if n := dec.Count(2); n > 0 {
		t.Deps = make([]graph.Label, n)
		for i := range t.Deps {
			t.Deps[i] = graph.Label{Pkg: dec.Str(), Name: dec.Str()}
		}
	}
	t.Requires, t.Provides, t.Claims, t.Uses = dec.Strs(), dec.Strs(), dec.Strs(), dec.Strs()
	t.Priority = int(dec.Varint())
	t.Group = dec.Str()
	t.Timeout = time.Duration(dec.Varint())
	t.Env = getMap(dec)
	t.EnvPassthrough = dec.Strs()
	t.Tools = dec.Strs()
	t.Kwargs = getMap(dec)
	t.Tags = dec.Strs()
	t.Cache = dec.Uvarint() == 1
	t.Depfile = dec.Str()
	if dec.Uvarint() == 1 {
		t.Action = &graph.Action{File: dec.Str(), Name: dec.Str(), Digest: dec.Str()}
	}
	t.Dynamic = dec.Uvarint() == 1
	t.GeneratedBy = graph.Label{Pkg: dec.Str(), Name: dec.Str()}
	if err := dec.Done(); err != nil {
		return nil, err
	}
	return t, nil
}

func getPos(dec *cache.Decoder) graph.Pos {
	return graph.Pos{File: dec.Str(), Line: int(dec.Varint()), Col: int(dec.Varint())}
}

func getMap(dec *cache.Decoder) map[string]string {
	n := dec.Count(2)
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := dec.Str()
		m[k] = dec.Str()
	}
	return m
}
