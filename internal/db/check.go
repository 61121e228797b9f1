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
	Plan  []RuleID // the request's rules, in rule order
	Dirty []RuleID // those to build, in rule order
	// Files is how many files were stat'ed; Changed how many no longer
	// held what the file table says.
	Files, Changed int
	// Verified says the request was verified at the database's content
	// generation: rows needed no checking, only the files' stats. If not,
	// Unverified says why, in words for -v.
	Verified   bool
	Unverified string
	flags      []byte // a verified request's replay flags, aligned with Plan
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
		if want[f] || d.files.stat(f).Racy {
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
	c := &Check{}
	d.Use(req)
	if !d.verified(req) {
		// Every rule is looked at: its record and its row.
		switch {
		case req.Verified == 0:
			c.Unverified = "this request was never verified"
		case req.Verified != d.stats.ContentGen:
			c.Unverified = "another build changed files or rows since this request was verified"
		default:
			c.Unverified = "the request's lists do not fit the rule table"
		}
		if err := d.verifyLazy(); err != nil {
			return nil, err
		}
		c.Plan = d.Plan(req.Roots)
		k := &checker{d: d, rows: true, env: env, cached: map[RuleID]*Row{}}
		lists := &Request{}
		if !d.planLists(lists, c.Plan, k.row) { // rows decoded once, for both
			d.planned = lists // for MarkVerified
		}
		changed := d.statFiles(lists.Files, fsys)
		c.Files, c.Changed = len(lists.Files), len(changed)
		k.changed = d.isChanged(changed)
		return c, d.mark(c, k, lists.edges.needers)
	}
	c.Plan, c.Verified, c.flags = req.Plan, true, req.flags
	files := req.Files
	if only != nil {
		files = only
	}
	changed := d.statFiles(files, fsys)
	c.Files, c.Changed = len(req.Files), len(changed)
	var dirty []uint32 // positions of the rules whose variables changed
	for _, r := range req.Env {
		if d.envChanged(r, env) {
			p, _ := slices.BinarySearch(req.Plan, r)
			dirty = append(dirty, uint32(p))
		}
	}
	if len(changed) == 0 && len(dirty) == 0 {
		if slices.ContainsFunc(req.flags, func(f byte) bool { return f&replayWarn != 0 }) {
			return c, d.verifyLazy() // the replay reads the rows of findings
		}
		return c, nil
	}
	if err := d.verifyLazy(); err != nil {
		return nil, err
	}
	return c, d.markVerified(c, req, changed, dirty)
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
	// What the goroutines found of a file whose stat moved: its new stat,
	// and the digest of what it holds (to compare, once they are done,
	// with its entry's, which a no-op build never reads).
	type moved struct {
		id     FileID
		st     cache.Stat
		digest cache.Digest
		gone   bool // missing, or of another kind: changed
	}
	workers := statWorkers(len(files))
	found := make([][]moved, workers)
	inChunks(len(files), workers, fsys, func(w, lo, hi int, st Statter) {
		for i := lo; i < hi; i++ {
			e := d.files.stat(files[i]) // reads only, until all are done
			path := d.strs.bytes(e.off, e.len)
			cur := st.Stat(path, e.Stat.Kind == cache.Link)
			if cur == e.Stat && !e.Racy {
				continue
			}
			m := moved{id: files[i], st: cur}
			if !cur.Exists() || cur.Kind != e.Stat.Kind || e.Stat.Kind == cache.Missing {
				m.gone = true
			} else if digest, err := contentDigest(fsys, string(path), cur.Kind); err != nil {
				m.gone = true
			} else {
				m.digest = digest
			}
			found[w] = append(found[w], m)
		}
	})
	var changed []FileID
	now := d.Now()
	for w := range workers {
		for _, m := range found[w] {
			digest := d.files.digestOf(m.id, d.files.stat(m.id))
			if m.gone || m.digest != digest {
				changed = append(changed, m.id)
				continue
			}
			d.SetFile(m.id, m.st, digest, m.st.Recent(now))
		}
	}
	slices.Sort(changed)
	return changed
}

// statWorkers is how many goroutines stat n files: a stat of a cached
// inode takes microseconds, so a few, and one for a short list.
func statWorkers(n int) int {
	if n < 64 {
		return 1
	}
	return min(4, max(1, runtime.GOMAXPROCS(0)*2))
}

// inChunks splits [0, n) into workers chunks and calls fn for each on a
// goroutine of its own, with a statter of its own, and waits for them.
func inChunks(n, workers int, fsys FS, fn func(w, lo, hi int, st Statter)) {
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := fsys.Statter()
			defer st.Close()
			fn(w, w*chunk, min(n, (w+1)*chunk), st)
		}()
	}
	wg.Wait()
}

// contentDigest digests what a file or link holds, as the file table does.
func contentDigest(fsys FS, path string, kind cache.Kind) (cache.Digest, error) {
	if kind == cache.Link {
		target, err := fsys.Readlink(path)
		return cache.LinkDigest(target), err
	}
	return fsys.Hash(path)
}

// mark marks dirty the rules of c.Plan whose files changed or whose row
// no longer matches (never built, another definition, a file's digest or
// a dependency's row moved, other variable values), and what needs them,
// as k tells.
func (d *DB) mark(c *Check, k *checker, needers [][]uint32) error {
	var dirty []uint32
	var scratch []uint32
	for p, r := range c.Plan {
		rec, s, err := d.record(r, scratch[:0])
		scratch = s
		if err != nil {
			return err
		}
		if k.dirty(r, rec) {
			dirty = append(dirty, uint32(p))
		}
	}
	d.spread(c, dirty, needers)
	return nil
}

// markVerified marks dirty, for the verified request req, the rules
// reading or writing a changed file, found through the request's edges
// back (only they are decoded), the rules at positions dirty (whose
// variables changed), and what needs them.
func (d *DB) markVerified(c *Check, req *Request, changed []FileID, dirty []uint32) error {
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
	for _, p := range slices.Compact(seeds) {
		rec, _, err := d.record(req.Plan[p], nil)
		if err != nil {
			return err
		}
		if k.dirty(req.Plan[p], rec) {
			dirty = append(dirty, p)
		}
	}
	d.spread(c, dirty, e.needers)
	return nil
}

// spread sets c.Dirty to the rules at positions dirty of c.Plan and
// those needing them, transitively, through needers.
func (d *DB) spread(c *Check, dirty []uint32, needers [][]uint32) {
	is := make([]bool, len(c.Plan))
	for _, p := range dirty {
		is[p] = true
	}
	stack := slices.Clone(dirty)
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, q := range needers[p] {
			if !is[q] {
				is[q] = true
				stack = append(stack, q)
			}
		}
	}
	for p, ok := range is {
		if ok {
			c.Dirty = append(c.Dirty, c.Plan[p])
		}
	}
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

// dirty reports whether rule r is. Without rows, only the files that
// changed are looked at (the request was verified at this content
// generation: every row matched the file table). Why a dirty rule runs
// is for the builder to say, from its key.
func (k *checker) dirty(r RuleID, rec ruleRec) bool {
	var row *Row
	if k.rows || rec.flags&ruleDepfile != 0 {
		var ok bool
		if row, ok = k.row(r); !ok || rec.flags&ruleNoCache != 0 {
			return true
		}
	}
	digest := func(f uint32) cache.Digest { return k.d.files.entry(FileID(f)).Digest }
	for i, f := range append(slices.Clip(rec.lists[listInputs]), rec.lists[listTools]...) {
		if k.changed[f] || k.rows && (i >= len(row.Read) || digest(f) != row.Read[i]) {
			return true
		}
	}
	for i, f := range rec.lists[listOuts] {
		if k.changed[f] || k.rows && (i >= len(row.Outputs) || digest(f) != row.Outputs[i].Digest) {
			return true
		}
	}
	if row != nil {
		for _, it := range row.Discovered {
			if int(it.File) >= len(k.changed) || k.changed[it.File] || k.rows && digest(uint32(it.File)) != it.Digest {
				return true
			}
		}
	}
	if !k.rows {
		return false
	}
	deps := rec.lists[listDeps]
	if row.Def != rec.def || len(row.DepGens) != len(deps) {
		return true
	}
	for i, dep := range deps {
		if drow, ok := k.row(RuleID(dep)); !ok || drow.Gen != row.DepGens[i] {
			return true
		}
	}
	return rec.flags&rulePassthrough != 0 && k.d.envChanged(r, k.env)
}

// envChanged reports whether a passed-through variable of rule r changed.
func (d *DB) envChanged(r RuleID, env func(string) (string, bool)) bool {
	t, err := d.Target(r)
	row, ok := d.Row(r)
	return err != nil || !ok || EnvDigest(t.EnvPassthrough, env) != row.Env
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
