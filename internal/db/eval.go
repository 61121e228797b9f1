// The evaluation node: what evaluating the BUILD files read (Starlark
// files, and the directories the package walk and globs listed) and what
// else shaped it (--set values, the host, pex itself). The graph is
// evaluated again only when one of those changed.

package db

import (
	"path"
	"slices"
	"strings"

	"github.com/pex-build/pex/cache"
	"github.com/pex-build/pex/graph"
)

// Input roles.
const (
	roleStarlark = iota + 1 // a Starlark file read, or looked for and missing
	roleWalk                // a directory the package walk listed
	roleGlob                // a directory a glob listed
)

type evalNode struct {
	set, host, pex cache.Digest // digests of what else shaped it
	inputs         []evalInput
	packages       []string
	groups         []graph.Group
	dynamic        bool // some rule is dynamic
}

type evalInput struct {
	file FileID
	role uint8
	// For a directory: the digest of its listing (the file table holds
	// its stat; the package walk and a glob may list one directory, each
	// its own way), and for a glob's, the outputs of rules in it, left
	// out of the listing.
	listing cache.Digest
	exclude []string
}

// Shape is what, besides files, an evaluation depends on.
type Shape struct {
	Set  map[string]string // --set values
	Host string            // the host facts config() sees
	Pex  string            // the pex binary: path and stat
}

func (s Shape) digests() (set, host, pex cache.Digest) {
	keys := make([]string, 0, len(s.Set))
	for k := range s.Set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + s.Set[k] + "\x00")
	}
	return cache.HashString(b.String()), cache.HashString(s.Host), cache.HashString(s.Pex)
}

// EvalInputs are what an evaluation read: workspace-relative paths.
type EvalInputs struct {
	Files    []string // Starlark files read or looked for
	WalkDirs []string // directories the package walk listed
	GlobDirs []string // directories globs listed
}

// Evaluated says whether the saved evaluation still holds for shape:
// "" if so, else why not, in words for -v. It stats every input, and
// lists a directory whose stat moved (rules writing outputs move them);
// an input whose stat moved but not what it holds gets its new stat.
func (d *DB) Evaluated(shape Shape, fsys FS) string {
	e := &d.eval
	if d.Rules() == 0 && len(e.inputs) == 0 {
		return "no evaluation saved"
	}
	set, host, pex := shape.digests()
	switch {
	case set != e.set:
		return "the --set values changed"
	case host != e.host:
		return "the host changed"
	case pex != e.pex:
		return "pex itself changed"
	}
	now := d.Now()
	stats := make([]cache.Stat, len(e.inputs))
	inChunks(len(e.inputs), statWorkers(len(e.inputs)), fsys, func(_, lo, hi int, st Statter) {
		for i := lo; i < hi; i++ {
			f := d.files.stat(e.inputs[i].file) // reads only
			stats[i] = st.Stat(d.strs.bytes(f.off, f.len), false)
		}
	})
	// New stats are recorded once every input is checked: the walk and a
	// glob may both list a directory, and each must see its stat move.
	type update struct {
		id     FileID
		st     cache.Stat
		digest cache.Digest
	}
	var updates []update
	for i, in := range e.inputs {
		f, cur := d.files.stat(in.file), stats[i]
		if cur == f.Stat && !f.Racy {
			continue
		}
		f.Digest = d.files.digestOf(in.file, f)
		f.Path = d.strs.get(f.off, f.len)
		digest := f.Digest
		ok := cur.Exists() == f.Stat.Exists()
		switch {
		case !ok:
		case in.role == roleStarlark && cur.Kind == cache.File:
			var err error
			digest, err = fsys.Hash(f.Path)
			ok = err == nil && digest == f.Digest
		case in.role == roleStarlark:
			ok = cur.Kind == f.Stat.Kind
		default:
			l, err := listing(fsys, f.Path, in.role, in.exclude)
			ok = err == nil && l == in.listing
		}
		if !ok {
			return inputChanged(f.Path, in.role)
		}
		updates = append(updates, update{in.file, cur, digest})
	}
	for _, u := range updates {
		d.SetFile(u.id, u.st, u.digest, u.st.Recent(now))
	}
	return ""
}

func inputChanged(p string, role uint8) string {
	switch {
	case role == roleWalk:
		return "a directory the package walk lists changed: " + p + "/"
	case role == roleGlob:
		return "a file appeared or went in a globbed directory: " + p + "/"
	case path.Base(p) == "BUILD" || path.Base(p) == "BUILD.pex":
		return "BUILD changed: " + p
	}
	return p + " changed"
}

// listing digests what matters of a directory's listing: for the package
// walk, its subdirectories and marker files; for glob, every name but
// those left out (the outputs of rules).
func listing(fsys FS, dir string, role uint8, exclude []string) (cache.Digest, error) {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return cache.Digest{}, err
	}
	var b []byte
	for _, e := range entries {
		name := e.Name()
		switch role {
		case roleWalk:
			if name == ".git" || name == ".pex" || !e.IsDir() && name != "BUILD" && name != "BUILD.pex" && name != "pex.star" {
				continue
			}
		case roleGlob:
			if slices.Contains(exclude, name) {
				continue
			}
		}
		b = append(b, name...)
		if e.IsDir() {
			b = append(b, '/')
		}
		b = append(b, 0)
	}
	return cache.HashBytes(b), nil
}

// SetEvaluation replaces the graph with g, which an evaluation shaped by
// shape made from what in lists: the rule table is made anew, rows are
// carried over by label (the check sees whose definition changed), and
// requests, whose rules were numbered by the old table, are dropped.
func (d *DB) SetEvaluation(g *graph.Graph, in EvalInputs, shape Shape, fsys FS) error {
	d.SetGraph(g)
	e := evalNode{packages: g.Packages(), groups: g.Groups, dynamic: d.eval.dynamic}
	e.set, e.host, e.pex = shape.digests()
	outputs := map[string][]string{} // directory -> names of outputs in it
	for _, t := range g.Targets {
		for _, o := range t.OutFiles {
			dir, name := path.Split(o)
			dir = strings.TrimSuffix(dir, "/")
			if dir == "" {
				dir = "."
			}
			outputs[dir] = append(outputs[dir], name)
		}
	}
	now := d.Now()
	st := fsys.Statter()
	defer st.Close()
	add := func(p string, role uint8, exclude []string) error {
		id := d.Intern(p)
		cur := st.Stat([]byte(p), false)
		in := evalInput{file: id, role: role, exclude: exclude}
		var digest cache.Digest
		var err error
		switch {
		case !cur.Exists():
		case role == roleStarlark:
			digest, err = fsys.Hash(p)
		default:
			in.listing, err = listing(fsys, p, role, exclude)
		}
		if err != nil {
			return err
		}
		d.SetFile(id, cur, digest, cur.Recent(now))
		e.inputs = append(e.inputs, in)
		return nil
	}
	for _, p := range in.Files {
		if err := add(p, roleStarlark, nil); err != nil {
			return err
		}
	}
	for _, p := range in.WalkDirs {
		if err := add(p, roleWalk, nil); err != nil {
			return err
		}
	}
	for _, p := range in.GlobDirs {
		if err := add(p, roleGlob, outputs[p]); err != nil {
			return err
		}
	}
	d.eval = e
	d.modified = true
	return nil
}

// SetGraph replaces the graph with g, whose rules the same evaluation
// made (g holds other rules that dynamic rules generated): the rule table
// is made anew, rows are carried over by label, and requests, whose rules
// were numbered by the old table, are dropped.
func (d *DB) SetGraph(g *graph.Graph) {
	// By label; a rule AddRules appended after another of its label wins.
	old := map[string][]byte{}
	for i := range RuleID(d.Rules()) {
		raw := d.rows.raw(i)
		if row, ok := d.rows.over[i]; ok {
			raw = nil
			if row != nil {
				raw = encodeRow(row)
			}
		}
		if raw != nil {
			old[d.Label(i)] = raw
		} else {
			delete(old, d.Label(i))
		}
	}
	d.setGraph(g)
	d.eval.dynamic = slices.ContainsFunc(g.Targets, func(t *graph.Target) bool { return t.Dynamic })
	d.rows = rows{db: d, changed: true, over: map[RuleID]*Row{}}
	for label, raw := range old {
		id, ok := d.RuleOf(label)
		if !ok {
			continue
		}
		row, err := decodeRow(raw)
		outs := d.rules.fresh[id].lists[listOuts]
		if err != nil || len(outs) != len(row.Outputs) {
			continue
		}
		for i, f := range outs {
			row.Outputs[i].Path = d.File(FileID(f)).Path
		}
		d.rows.over[id] = row
	}
	d.reqs = map[cache.Digest]*Request{}
	d.modified = true
}

// AddEvalFiles adds Starlark files to what the saved evaluation read:
// the modules that the text dynamic rules generated loaded, whose
// rules the graph holds (see SetGraph).
func (d *DB) AddEvalFiles(paths []string, fsys FS) error {
	have := map[FileID]bool{}
	for _, in := range d.eval.inputs {
		if in.role == roleStarlark {
			have[in.file] = true
		}
	}
	st := fsys.Statter()
	defer st.Close()
	now := d.Now()
	for _, p := range paths {
		id := d.Intern(p)
		if have[id] {
			continue
		}
		have[id] = true
		cur := st.Stat([]byte(p), false)
		var digest cache.Digest
		if cur.Exists() {
			var err error
			if digest, err = fsys.Hash(p); err != nil {
				return err
			}
		}
		d.SetFile(id, cur, digest, cur.Recent(now))
		d.eval.inputs = append(d.eval.inputs, evalInput{file: id, role: roleStarlark})
	}
	d.modified = true
	return nil
}

// HasDynamic reports whether some rule of the graph is dynamic.
func (d *DB) HasDynamic() bool { return d.eval.dynamic }

// Inputs returns what the saved evaluation read, for pex watch to watch.
func (d *DB) Inputs() EvalInputs {
	var in EvalInputs
	for _, i := range d.eval.inputs {
		p := d.File(i.file).Path
		switch i.role {
		case roleStarlark:
			in.Files = append(in.Files, p)
		case roleWalk:
			in.WalkDirs = append(in.WalkDirs, p)
		case roleGlob:
			in.GlobDirs = append(in.GlobDirs, p)
		}
	}
	return in
}

func (e *evalNode) encode() []byte {
	enc := cache.Encoder{}
	enc.Digest(e.set)
	enc.Digest(e.host)
	enc.Digest(e.pex)
	enc.Uvarint(uint64(len(e.inputs)))
	for _, in := range e.inputs {
		enc.Uvarint(uint64(in.file))
		enc.Uvarint(uint64(in.role))
		enc.Digest(in.listing)
		enc.Strs(in.exclude)
	}
	enc.Strs(e.packages)
	enc.Uvarint(uint64(len(e.groups)))
	for _, g := range e.groups {
		enc.Str(g.Name)
		enc.Varint(int64(g.Jobs))
		enc.Varint(int64(g.Priority))
		putPos(&enc, g.Pos)
	}
	flag(&enc, e.dynamic)
	return enc.B
}

func (e *evalNode) decode(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	dec := cache.NewDecoder(b)
	e.set, e.host, e.pex = dec.Digest(), dec.Digest(), dec.Digest()
	if n := dec.Count(35); n > 0 {
		e.inputs = make([]evalInput, n)
		for i := range e.inputs {
			e.inputs[i] = evalInput{file: FileID(dec.Uvarint()), role: uint8(dec.Uvarint()), listing: dec.Digest(), exclude: dec.Strs()}
		}
	}
	e.packages = dec.Strs()
	for n := dec.Count(4); n > 0; n-- {
		e.groups = append(e.groups, graph.Group{Name: dec.Str(), Jobs: int(dec.Varint()), Priority: int(dec.Varint()), Pos: getPos(dec)})
	}
	e.dynamic = dec.Uvarint() == 1
	if err := dec.Done(); err != nil {
		return err
	}
	return nil
}
