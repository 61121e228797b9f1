// The check every build makes: stat the request's files once, in
// parallel, mark dirty the rules whose files, definition, variables or
// dependencies changed, and spread dirtiness to what depends on them.

package db

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/pex-build/pex/cache"
)

// Check is what a build found when it looked at a request's rules.
type Check struct {
	Plan  []RuleID          // the request's rules, in rule order
	Dirty []RuleID          // those to build, in rule order
	Why   map[RuleID]string // why each is dirty, in words for -v
	// Files is how many files were stat'ed; Changed how many no longer
	// held what the file table says.
	Files, Changed int
	// Verified says the request was verified at the database's content
	// generation: rows needed no checking, only the files' stats.
	Verified bool
	flags    []byte // a verified request's replay flags, aligned with Plan
}

// Check checks the request's rules against the file system and the
// database. env looks up host variables.
func (d *DB) Check(req *Request, fsys FS, env func(string) (string, bool)) (*Check, error) {
	return d.check(req, nil, fsys, env)
}

// CheckPaths is Check for a verified request when every path that may
// have changed since is known (pex watch saw them): only those, and the
// racy entries, are stat'ed.
func (d *DB) CheckPaths(req *Request, paths []string, fsys FS, env func(string) (string, bool)) (*Check, error) {
	if !d.verified(req) {
		return d.Check(req, fsys, env)
	}
	want := make(map[FileID]bool, len(paths))
	for _, p := range paths {
		if id, ok := d.Lookup(p); ok {
			want[id] = true
		}
	}
	only := []FileID{}
	for _, f := range req.Files {
		if want[f] || d.files.entry(f).Racy {
			only = append(only, f)
		}
	}
	return d.check(req, only, fsys, env)
}

// verified reports whether req was verified at the content generation,
// and its lists fit the tables.
func (d *DB) verified(req *Request) bool {
	return req.Verified != 0 && req.Verified == d.stats.ContentGen && d.validIDs(req)
}

// check checks req, stat'ing only the files of only when it is not nil
// (and req is verified).
func (d *DB) check(req *Request, only []FileID, fsys FS, env func(string) (string, bool)) (*Check, error) {
	c := &Check{Why: map[RuleID]string{}}
	d.Use(req)
	if !d.verified(req) {
		// Every rule is looked at: its record and its row.
		if err := d.verifyLazy(); err != nil {
			return nil, err
		}
		c.Plan = d.Plan(req.Roots)
		files := &Request{}
		if d.planLists(files, c.Plan) {
			files.Files = d.allFiles(c.Plan)
		} else {
			d.planned = files // for MarkVerified
		}
		changed := d.statFiles(files.Files, fsys)
		c.Files, c.Changed = len(files.Files), len(changed)
		return c, d.mark(c, d.isChanged(changed), env)
	}
	c.Plan, c.Verified, c.flags = req.Plan, true, req.flags
	files := req.Files
	if only != nil {
		files = only
	}
	changed := d.statFiles(files, fsys)
	c.Files, c.Changed = len(req.Files), len(changed)
	for _, r := range req.Env {
		if why := d.envChanged(r, env); why != "" {
			c.Why[r] = why
		}
	}
	if len(changed) == 0 && len(c.Why) == 0 {
		if slices.ContainsFunc(req.flags, func(f byte) bool { return f&replayWarn != 0 }) {
			return c, d.verifyLazy() // the replay reads the rows of findings
		}
		return c, nil
	}
	if err := d.verifyLazy(); err != nil {
		return nil, err
	}
	return c, d.markVerified(c, req, changed)
}

// allFiles returns the files the rules of plan read and write, for a plan
// with a rule that always runs (planLists sets no lists for it).
func (d *DB) allFiles(plan []RuleID) []FileID {
	seen := make([]bool, d.Files())
	for _, r := range plan {
		for _, f := range d.RuleFiles(r) {
			if int(f) < len(seen) {
				seen[f] = true
			}
		}
	}
	var files []FileID
	for id, s := range seen {
		if s {
			files = append(files, FileID(id))
		}
	}
	return files
}

func (d *DB) isChanged(changed []FileID) []bool {
	is := make([]bool, d.Files())
	for _, f := range changed {
		is[f] = true
	}
	return is
}

// validIDs reports whether a request's numbers fit the tables.
func (d *DB) validIDs(req *Request) bool {
	for _, list := range [][]RuleID{req.Plan, req.Env, req.Roots} {
		for _, r := range list {
			if int(r) >= d.Rules() {
				return false
			}
		}
	}
	for _, f := range req.Files {
		if int(f) >= d.Files() {
			return false
		}
	}
	return true
}

// Plan returns the rules roots need, roots included, in rule order:
// their dependencies and the providers of the tokens they require,
// transitively.
func (d *DB) Plan(roots []RuleID) []RuleID {
	in := make([]bool, d.Rules())
	stack := slices.Clone(roots)
	for _, r := range roots {
		in[r] = true
	}
	var scratch []uint32
	for len(stack) > 0 {
		r := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		rec, s, err := d.record(r, scratch[:0])
		scratch = s
		if err != nil {
			continue
		}
		for _, l := range []int{listDeps, listProviders} {
			for _, dep := range rec.lists[l] {
				if int(dep) < len(in) && !in[dep] {
					in[dep] = true
					stack = append(stack, RuleID(dep))
				}
			}
		}
	}
	var plan []RuleID
	for r, ok := range in {
		if ok {
			plan = append(plan, RuleID(r))
		}
	}
	return plan
}

// statFiles stats files on a few goroutines and returns those that no
// longer hold what their entry says. A file whose stat moved but whose
// contents did not (touched, saved unchanged) is hashed to tell, and gets
// its new stat; so does a racy entry that now holds.
func (d *DB) statFiles(files []FileID, fsys FS) []FileID {
	workers := min(4, max(1, runtime.GOMAXPROCS(0)*2))
	if len(files) < 64 {
		workers = 1
	}
	type update struct {
		id   FileID
		st   cache.Stat
		racy bool
	}
	found := make([][]FileID, workers)
	updates := make([][]update, workers)
	now := d.Now()
	var wg sync.WaitGroup
	chunk := (len(files) + workers - 1) / workers
	for w := range workers {
		lo, hi := w*chunk, min(len(files), (w+1)*chunk)
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := fsys.Statter()
			defer st.Close()
			for i := lo; i < hi; i++ {
				e := d.files.entry(files[i]) // reads only, until all are done
				path := d.strs.bytes(e.off, e.len)
				cur := st.Stat(path, e.Stat.Kind == cache.Link)
				if cur == e.Stat && !e.Racy {
					continue
				}
				if !cur.Exists() || cur.Kind != e.Stat.Kind || e.Stat.Kind == cache.Missing {
					found[w] = append(found[w], files[i])
					continue
				}
				if digest, err := contentDigest(fsys, string(path), cur.Kind); err != nil || digest != e.Digest {
					found[w] = append(found[w], files[i])
					continue
				}
				updates[w] = append(updates[w], update{files[i], cur, cur.Recent(now)})
			}
		}()
	}
	wg.Wait()
	var changed []FileID
	for w := range workers {
		changed = append(changed, found[w]...)
		for _, u := range updates[w] {
			e := d.files.entry(u.id)
			d.SetFile(u.id, u.st, e.Digest, u.racy)
		}
	}
	slices.Sort(changed)
	return changed
}

// contentDigest digests what a file or link holds, as the file table does.
func contentDigest(fsys FS, path string, kind cache.Kind) (cache.Digest, error) {
	if kind == cache.Link {
		target, err := fsys.Readlink(path)
		return cache.LinkDigest(target), err
	}
	return fsys.Hash(path)
}

// mark marks the dirty rules of c.Plan: those whose files changed or
// whose row no longer matches (never built, another definition, a file's
// digest or a dependency's row moved, other variable values); then
// everything that depends on them.
func (d *DB) mark(c *Check, changed []bool, env func(string) (string, bool)) error {
	k := &checker{d: d, changed: changed, rows: true, env: env, cached: map[RuleID]*Row{}}
	pos := make(map[RuleID]uint32, len(c.Plan))
	for p, r := range c.Plan {
		pos[r] = uint32(p)
	}
	needers := make([][]uint32, len(c.Plan))
	var dirty []uint32
	var scratch []uint32
	for p, r := range c.Plan {
		rec, s, err := d.record(r, scratch[:0])
		scratch = s
		if err != nil {
			return err
		}
		for _, l := range []int{listDeps, listProviders} {
			for _, dep := range rec.lists[l] {
				if q, ok := pos[RuleID(dep)]; ok {
					needers[q] = append(needers[q], uint32(p))
				}
			}
		}
		if why := k.ruleChanged(r, rec); why != "" {
			c.Why[r] = why
			dirty = append(dirty, uint32(p))
		}
	}
	d.spread(c, dirty, needers)
	return nil
}

// markVerified marks the dirty rules of c.Plan, whose request req was
// verified, from the files that changed and the rules whose variables
// did (already in c.Why), through the request's edges back: only the
// rules reading or writing a changed file are decoded.
func (d *DB) markVerified(c *Check, req *Request, changed []FileID) error {
	e, err := d.reverse(req)
	if err != nil {
		return err
	}
	k := &checker{d: d, changed: d.isChanged(changed), cached: map[RuleID]*Row{}}
	var seeds []uint32
	for _, f := range changed {
		if i, ok := slices.BinarySearch(req.Files, f); ok {
			seeds = append(seeds, e.users[i]...)
		}
	}
	slices.Sort(seeds)
	var dirty []uint32
	for _, p := range slices.Compact(seeds) {
		r := req.Plan[p]
		rec, _, err := d.record(r, nil)
		if err != nil {
			return err
		}
		if why := k.ruleChanged(r, rec); why != "" {
			c.Why[r] = why
		}
	}
	for r := range c.Why {
		p, _ := slices.BinarySearch(req.Plan, r)
		dirty = append(dirty, uint32(p))
	}
	d.spread(c, dirty, e.needers)
	return nil
}

// spread marks dirty what needs a dirty rule, transitively, and sets
// c.Dirty; dirty and needers are positions in c.Plan.
func (d *DB) spread(c *Check, dirty []uint32, needers [][]uint32) {
	stack := slices.Clone(dirty)
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, q := range needers[p] {
			if _, ok := c.Why[c.Plan[q]]; !ok {
				c.Why[c.Plan[q]] = "it needs " + d.Label(c.Plan[p]) + ", which changed"
				stack = append(stack, q)
			}
		}
	}
	for r := range c.Why {
		c.Dirty = append(c.Dirty, r)
	}
	slices.Sort(c.Dirty)
}

// checker checks rules against the file table: the files that changed,
// and, with rows, the rows.
type checker struct {
	d       *DB
	changed []bool
	rows    bool
	env     func(string) (string, bool)
	cached  map[RuleID]*Row
}

// row returns rule r's row, decoded once per check.
func (k *checker) row(r RuleID) (*Row, bool) {
	row, ok := k.cached[r]
	if !ok {
		row, _ = k.d.row(r)
		k.cached[r] = row
	}
	return row, row != nil
}

// ruleChanged says why rule r is dirty, or "". Without rows, only the
// files that changed are looked at (the request was verified at this
// content generation: every row matched the file table).
func (k *checker) ruleChanged(r RuleID, rec ruleRec) string {
	d := k.d
	var row *Row
	if k.rows || rec.flags&ruleDepfile != 0 {
		var ok bool
		switch row, ok = k.row(r); {
		case rec.flags&ruleNoCache != 0:
			return "cache = False: always runs"
		case !ok:
			return "no record of a successful run in this workspace"
		}
	}
	names := func(ids []uint32, test func(i int, f uint32) bool) string {
		var list []string
		for i, f := range ids {
			if test(i, f) {
				list = append(list, d.File(FileID(f)).Path)
			}
		}
		return strings.Join(list, ", ")
	}
	digest := func(f uint32) cache.Digest { return d.files.entry(FileID(f)).Digest }
	reads := append(slices.Clip(rec.lists[listInputs]), rec.lists[listTools]...)
	if s := names(reads, func(i int, f uint32) bool {
		return k.changed[f] || k.rows && (i >= len(row.Read) || digest(f) != row.Read[i])
	}); s != "" {
		return "files it reads changed: " + s
	}
	if row != nil {
		for _, it := range row.Discovered {
			if int(it.File) >= len(k.changed) || k.changed[it.File] || k.rows && digest(uint32(it.File)) != it.Digest {
				return "depfile inputs changed: " + d.File(it.File).Path
			}
		}
	}
	if s := names(rec.lists[listOuts], func(i int, f uint32) bool {
		return k.changed[f] || k.rows && (i >= len(row.Outputs) || digest(f) != row.Outputs[i].Digest)
	}); s != "" {
		return "outputs missing or changed: " + s
	}
	if !k.rows {
		return ""
	}
	if row.Def != rec.def {
		return "its definition changed"
	}
	deps := rec.lists[listDeps]
	if len(row.DepGens) != len(deps) {
		return "its dependencies changed"
	}
	for i, dep := range deps {
		if drow, ok := k.row(RuleID(dep)); !ok || drow.Gen != row.DepGens[i] {
			return d.Label(RuleID(dep)) + " changed since it last ran"
		}
	}
	if rec.flags&rulePassthrough != 0 {
		return d.envChanged(r, k.env)
	}
	return ""
}

// envChanged says which passed-through variable of rule r changed, or "".
func (d *DB) envChanged(r RuleID, env func(string) (string, bool)) string {
	t, err := d.Target(r)
	row, ok := d.Row(r)
	if err != nil || !ok {
		return "its record cannot be read"
	}
	if EnvDigest(t.EnvPassthrough, env) != row.Env {
		return "passed-through variables changed: " + strings.Join(t.EnvPassthrough, ", ")
	}
	return ""
}

// EnvDigest digests the values of the variables names, unset and empty
// told apart.
func EnvDigest(names []string, env func(string) (string, bool)) cache.Digest {
	if len(names) == 0 {
		return cache.Digest{}
	}
	var b strings.Builder
	for _, n := range names {
		if v, ok := env(n); ok {
			fmt.Fprintf(&b, "%s=%s\x00", n, v)
		} else {
			fmt.Fprintf(&b, "%s\x00", n)
		}
	}
	return cache.HashString(b.String())
}
