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
}

// Check checks the request's rules against the file system and the
// database. env looks up host variables.
func (d *DB) Check(req *Request, fsys FS, env func(string) (string, bool)) (*Check, error) {
	c := &Check{Why: map[RuleID]string{}}
	d.Use(req)
	verified := req.Verified != 0 && req.Verified == d.stats.ContentGen && d.validIDs(req)
	var files []FileID
	if verified {
		c.Plan, files, c.Verified = req.Plan, req.Files, true
	} else {
		c.Plan = d.Plan(req.Roots)
		files, _, _ = d.planFiles(c.Plan)
	}
	changed := d.statFiles(files, fsys)
	c.Files, c.Changed = len(files), len(changed)
	envRules := req.Env
	if !verified {
		envRules = nil
	}
	if verified && len(changed) == 0 {
		for _, r := range envRules {
			if why := d.envChanged(r, env); why != "" {
				c.Why[r] = why
			}
		}
		if len(c.Why) == 0 {
			return c, nil
		}
	}
	isChanged := make([]bool, d.Files())
	for _, f := range changed {
		isChanged[f] = true
	}
	if err := d.mark(c, isChanged, !verified, env); err != nil {
		return nil, err
	}
	return c, nil
}

// CheckPaths is Check for a verified request when every path that may
// have changed since is known (pex watch saw them): only those, and the
// racy entries, are stat'ed.
func (d *DB) CheckPaths(req *Request, paths []string, fsys FS, env func(string) (string, bool)) (*Check, error) {
	if req.Verified == 0 || req.Verified != d.stats.ContentGen || !d.validIDs(req) {
		return d.Check(req, fsys, env)
	}
	d.Use(req)
	want := make(map[FileID]bool, len(paths))
	for _, p := range paths {
		if id, ok := d.Lookup(p); ok {
			want[id] = true
		}
	}
	sub := &Request{Verified: req.Verified, Plan: req.Plan, Env: req.Env, Roots: req.Roots}
	for _, f := range req.Files {
		if want[f] || d.files.entry(f).Racy {
			sub.Files = append(sub.Files, f)
		}
	}
	c, err := d.Check(sub, fsys, env)
	if c != nil {
		c.Files = len(req.Files)
	}
	return c, err
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

// mark marks the dirty rules of c.Plan: those whose files changed, and,
// when rows is set, those whose row no longer matches (never built,
// another definition, a file's digest or a dependency's row moved,
// other variable values); then everything that depends on them.
func (d *DB) mark(c *Check, changed []bool, rows bool, env func(string) (string, bool)) error {
	k := &checker{d: d, changed: changed, rows: rows, env: env, cached: map[RuleID]*Row{}}
	inPlan := make(map[RuleID]bool, len(c.Plan))
	for _, r := range c.Plan {
		inPlan[r] = true
	}
	dependents := map[RuleID][]RuleID{}
	var scratch []uint32
	for _, r := range c.Plan {
		rec, s, err := d.record(r, scratch[:0])
		scratch = s
		if err != nil {
			return err
		}
		for _, l := range []int{listDeps, listProviders} {
			for _, dep := range rec.lists[l] {
				if inPlan[RuleID(dep)] {
					dependents[RuleID(dep)] = append(dependents[RuleID(dep)], r)
				}
			}
		}
		if _, dirty := c.Why[r]; !dirty {
			if why := k.ruleChanged(r, rec); why != "" {
				c.Why[r] = why
			}
		}
	}
	// Spread: what needs a dirty rule is dirty too.
	var stack []RuleID
	for r := range c.Why {
		stack = append(stack, r)
	}
	slices.Sort(stack)
	for len(stack) > 0 {
		r := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, dep := range dependents[r] {
			if _, dirty := c.Why[dep]; !dirty {
				c.Why[dep] = "it needs " + d.Label(r) + ", which changed"
				stack = append(stack, dep)
			}
		}
	}
	for r := range c.Why {
		c.Dirty = append(c.Dirty, r)
	}
	slices.Sort(c.Dirty)
	return nil
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
