// This file is the builder's side of the cache: the key of a rule, the
// up-to-date check (hit, restore, or run), recording what a successful
// run produced, and the reasons a rule runs.

package build

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pex-build/pex/cache"
	"github.com/pex-build/pex/graph"
)

// Cache is a workspace's cache for the length of one command: its state
// (last keys, stat memo), the content-addressed store, and the workspace
// lock. Open it with OpenCache and Close it when done.
type Cache struct {
	root   string
	state  *cache.State
	memo   *cache.Memo
	store  *cache.Store
	unlock func()

	readOnly bool
}

// CacheOptions configure OpenCache.
type CacheOptions struct {
	// ReadOnly neither locks the workspace nor saves the state: for
	// commands that only look (explain, cache stats).
	ReadOnly bool
	// NoWait fails at once when another pex process holds the workspace
	// instead of waiting for it.
	NoWait bool
	// OnWait is called once if OpenCache has to wait for another process.
	OnWait func()
	// StoreDir overrides the store's location (default cache.DefaultDir).
	StoreDir string
	// Rules, if set, loads only these rules' entries of the state and
	// none of its memo (cache.LoadStateFor); OpenCache fails with
	// errWholeState when the state must be loaded whole.
	Rules map[string]bool
}

// errWholeState says a partial load of the state is not possible.
var errWholeState = errors.New("the state must be loaded whole")

// OpenCache locks the workspace at root and loads its state.
func OpenCache(root string, o CacheOptions) (*Cache, error) {
	unlock, readOnly := func() {}, o.ReadOnly
	if !readOnly {
		var err error
		unlock, err = cache.Lock(cache.StateDir(root), !o.NoWait, o.OnWait)
		if err != nil {
			if errors.Is(err, cache.ErrLocked) {
				return nil, fmt.Errorf("%v (wait for it, or drop --no-wait)", err)
			}
			return nil, err
		}
	}
	var err error
	c := &Cache{root: root, unlock: unlock, readOnly: readOnly}
	if o.Rules != nil {
		var ok bool
		c.state, ok, err = cache.LoadStateFor(cache.StateDir(root), o.Rules)
		if err == nil && !ok {
			err = errWholeState
		}
	} else {
		c.state, err = cache.LoadState(cache.StateDir(root))
	}
	if err != nil {
		unlock()
		return nil, err
	}
	c.memo = c.state.Memo()
	dir := o.StoreDir
	if dir == "" {
		if dir, err = cache.DefaultDir(); err != nil {
			unlock()
			return nil, err
		}
	}
	if c.store, err = cache.OpenStore(dir); err != nil {
		unlock()
		return nil, err
	}
	return c, nil
}

// Close saves the state and releases the workspace.
func (c *Cache) Close() error {
	if c.readOnly {
		return nil
	}
	err := c.state.Flush()
	c.unlock()
	return err
}

// Store returns the content-addressed store.
func (c *Cache) Store() *cache.Store { return c.store }

// State returns the workspace state.
func (c *Cache) State() *cache.State { return c.state }

// abs returns the absolute path of a workspace-relative (or absolute) path.
func (c *Cache) abs(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.root, filepath.FromSlash(p))
}

// digest returns the digest of a workspace-relative or absolute file
// through the stat memo.
func (c *Cache) digest(p string) (cache.Digest, error) { return c.memo.Digest(c.abs(p)) }

// settled is what dependents need of a rule that settled: the digests of
// its outputs (or, for a rule without outputs, its key), by label.
type settled struct {
	items []cache.Item
	dirty bool // dry run: it would run, so what it will produce is unknown
}

// keys computes and remembers rule keys during one build.
type keys struct {
	c       *Cache
	g       *graph.Graph // what Reads asks; nil: a rule's key takes every output of its dependencies
	hostEnv func(string) (string, bool)
	mu      sync.Mutex
	done    map[*graph.Target]settled
	// outputs are the settled rules' outputs by path: for telling
	// whether a file a depfile names was there before a command started.
	outputs map[string]settledOutput
	// sources memoises, for this build, the digests of source files and
	// tools (which no rule writes), since many rules read the same ones:
	// one build takes one digest of each.
	sources sync.Map // path -> read
	// discovered are the digests of the depfile inputs recorded or
	// replayed this build; inconsistent is set when one build took two
	// digests of one file (it changed meanwhile): see consistent.
	discovered   map[string]cache.Digest
	inconsistent bool
	// since is when the build started (a FileClock time), 0 if unknown.
	since int64
}

// settledOutput is an output of a settled rule: its digest, and the
// number of rules settled before it (see keys.settledSoFar).
type settledOutput struct {
	digest cache.Digest
	seq    int
}

// read is a file a rule's key took: its workspace-relative (or absolute)
// path, the digest the key has, and what that digest was computed from,
// to tell after the command ran whether the file is still that one.
type read struct {
	path   string
	digest cache.Digest
	seen   cache.Seen
}

// digest returns the digest of a workspace-relative or absolute file
// through the stat memo.
func (k *keys) digest(p string) (cache.Digest, error) {
	return k.c.memo.Digest(k.c.abs(p))
}

func newKeys(c *Cache, g *graph.Graph, hostEnv func(string) (string, bool)) *keys {
	return &keys{c: c, g: g, hostEnv: hostEnv, done: make(map[*graph.Target]settled),
		outputs: make(map[string]settledOutput), discovered: make(map[string]cache.Digest)}
}

// file hashes a workspace-relative or absolute file for a key.
func (k *keys) file(p string) (read, error) {
	d, seen, err := k.c.memo.DigestSeen(k.c.abs(p))
	return read{path: p, digest: d, seen: seen}, err
}

// source returns the digest of a source file or tool, stat'ing it once
// per build.
func (k *keys) source(p string) (read, error) {
	if r, ok := k.sources.Load(p); ok {
		return r.(read), nil
	}
	r, err := k.file(p)
	if err == nil {
		k.sources.Store(p, r)
	}
	return r, err
}

// unsetMarker stands for a passed-through variable the host does not set,
// so that unset and empty differ.
const unsetMarker = "\x00unset"

// key computes a rule's key from its command, env, inputs, tools, the
// outputs of its dependencies it reads and the shared values it receives.
// It also returns the files it hashed, to be checked when the command has
// run (see changedWhileRunning).
func (k *keys) key(t *graph.Target, shared map[string]any) (cache.Digest, cache.Parts, []read, error) {
	kb := cache.NewKeyBuilder()
	kb.Command(t.Cmd)
	if t.Depfile != "" {
		kb.Command("depfile=" + t.Depfile)
	}
	for name, v := range t.Env {
		kb.Env(name, v)
	}
	for _, name := range t.EnvPassthrough {
		v, ok := k.hostEnv(name)
		if !ok {
			v = unsetMarker
		}
		kb.Env(name, v)
	}
	reads := make([]read, 0, len(t.Inputs)+len(t.ToolFiles))
	for _, in := range t.Inputs {
		r, err := k.source(in)
		if err != nil {
			return cache.Digest{}, cache.Parts{}, nil, missingInput(t, in, "srcs", err)
		}
		kb.Input(relTo(t.Label.Pkg, in), r.digest)
		reads = append(reads, r)
	}
	for _, tool := range t.ToolFiles {
		r, err := k.source(tool)
		if err != nil {
			return cache.Digest{}, cache.Parts{}, nil, missingInput(t, tool, "tools", err)
		}
		kb.Tool(relTo(t.Label.Pkg, tool), r.digest)
		reads = append(reads, r)
	}
	var whole []*graph.Target
	var files []string
	if k.g != nil && len(t.DepTargets) > 0 {
		whole, files = k.g.Reads(t)
	}
	k.mu.Lock()
	for _, d := range t.DepTargets {
		kb.Dep(d.Label.String(), readOutputs(k.done[d].items, d, whole, files, k.g == nil))
	}
	k.mu.Unlock()
	for name, v := range shared {
		kb.Shared(name, fmt.Sprint(v))
	}
	for _, o := range t.Outs {
		kb.Output(o)
	}
	key, parts := kb.Sum()
	return key, parts, reads, nil
}

// readOutputs returns what a rule's key takes of dependency d, which
// settled with items: every output when the rule names d as a rule (in
// whole), else those of its outputs that the rule names as files. Should
// that be none, which Reads and the graph's resolution never leave, it is
// every output again: a key never takes less than it may need.
func readOutputs(items []cache.Item, d *graph.Target, whole []*graph.Target, files []string, all bool) []cache.Item {
	if all || slices.Contains(whole, d) {
		return items
	}
	var picked []cache.Item
	for _, it := range items {
		if slices.Contains(files, it.Name) {
			picked = append(picked, it)
		}
	}
	if len(picked) == 0 {
		return items
	}
	return picked
}

// forgetSource drops a source's digest memoised for this build: it
// changed while a command ran, and later rules must hash it again. The
// build then took two digests of it.
func (k *keys) forgetSource(p string) {
	k.sources.Delete(p)
	k.mu.Lock()
	k.inconsistent = true
	k.mu.Unlock()
}

// useDiscovered notes the depfile inputs a rule's record holds, recorded
// or replayed this build, and whether their digests disagree with those
// this build took of the same files.
func (k *keys) useDiscovered(items []cache.Item) {
	if len(items) == 0 {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, it := range items {
		if d, ok := k.discovered[it.Name]; ok && d != it.Digest {
			k.inconsistent = true
		}
		if r, ok := k.sources.Load(it.Name); ok && r.(read).digest != it.Digest {
			k.inconsistent = true
		}
		if o, ok := k.outputs[it.Name]; ok && o.digest != it.Digest {
			k.inconsistent = true
		}
		k.discovered[it.Name] = it.Digest
	}
}

// used returns the digest this build took of the source, tool, depfile
// input or output (of a rule settled) at path, if it took one.
func (k *keys) used(path string) (cache.Digest, bool) {
	if r, ok := k.sources.Load(path); ok {
		return r.(read).digest, true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if d, ok := k.discovered[path]; ok {
		return d, true
	}
	o, ok := k.outputs[path]
	return o.digest, ok
}

// consistent reports whether the files this build hashed (sources,
// tools, depfile inputs; not the outputs of its rules) are as they were
// when it started, and no file was taken with two digests. A file saved
// during the build, after the rules reading it ran, so that no rule
// noticed, makes it false: an up-to-date proof or stamp written then
// would vouch for rules whose keys hold the old contents (those the
// change did not reach, or that read it before), while the memo, or a
// later hash, would see the new ones.
func (k *keys) consistent() bool {
	k.mu.Lock()
	ok := !k.inconsistent && k.since != 0
	paths := make([]string, 0, len(k.discovered))
	for p := range k.discovered {
		if _, out := k.outputs[p]; !out {
			paths = append(paths, p)
		}
	}
	k.sources.Range(func(p, _ any) bool {
		if _, out := k.outputs[p.(string)]; !out {
			paths = append(paths, p.(string))
		}
		return true
	})
	k.mu.Unlock()
	for _, p := range paths {
		if !ok {
			break
		}
		ok = !cache.ChangedSince(k.c.abs(p), k.since)
	}
	return ok
}

func missingInput(t *graph.Target, path, field string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return &ActionError{Label: t.Label, ExitCode: -1, Msg: fmt.Sprintf(
			"missing input %q (in %s): no such file, and no rule outputs it", path, field)}
	}
	return &ActionError{Label: t.Label, ExitCode: -1, Msg: fmt.Sprintf("input %q (in %s): %v", path, field, err)}
}

// dirtyDeps returns the dependencies of t that a dry run found would run.
func (k *keys) dirtyDeps(t *graph.Target) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var names []string
	for _, d := range t.DepTargets {
		if k.done[d].dirty {
			names = append(names, d.Label.String())
		}
	}
	return names
}

// settleDirty marks t as one a dry run would run.
func (k *keys) settleDirty(t *graph.Target) {
	k.mu.Lock()
	k.done[t] = settled{dirty: true}
	k.mu.Unlock()
}

// settle remembers what dependents of t will put in their keys.
func (k *keys) settle(t *graph.Target, key cache.Digest, outs []cache.Output) {
	var items []cache.Item
	if len(outs) == 0 {
		items = []cache.Item{{Name: "key", Digest: key}}
	} else {
		items = make([]cache.Item, len(outs))
		for i, o := range outs {
			items[i] = cache.Item{Name: o.Path, Digest: o.Digest}
		}
	}
	k.mu.Lock()
	k.done[t] = settled{items: items}
	for _, o := range outs {
		k.outputs[o.Path] = settledOutput{digest: o.Digest, seq: len(k.done)}
	}
	k.mu.Unlock()
}

// settledSoFar returns how many rules have settled: an output whose seq
// is at most that settled before now.
func (k *keys) settledSoFar() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.done)
}

// output returns what a rule that settled left at path.
func (k *keys) output(path string) (settledOutput, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	o, ok := k.outputs[path]
	return o, ok
}

// verdict is what the up-to-date check decided for a rule.
type verdict int

// The verdicts.
const (
	mustRun  verdict = iota // nothing usable is cached: run the command
	hit                     // outputs in the tree are those of the key
	restore                 // the store has them: copy them back
	restored                // they were copied back
)

// check decides whether t, with key, must run. Unless dry, it restores
// outputs from the store. It returns the record to replay when not Run.
func (c *Cache) check(t *graph.Target, key cache.Digest, dry bool, digest digestFunc) (verdict, *cache.Record) {
	id := t.Label.String()
	if k, ok := c.state.Key(id); ok && k == key {
		if e, ok := c.state.Outcome(id); ok && c.outputsHold(e.Record.Outputs) && len(e.Record.StaleInputs(digest)) == 0 {
			return hit, &e.Record
		}
	}
	rec, ok, err := c.store.Lookup(key, digest)
	if err != nil || !ok {
		return mustRun, nil
	}
	if c.outputsHold(rec.Outputs) {
		c.state.Set(id, cache.Entry{Key: key, Record: *rec})
		return hit, rec
	}
	if dry {
		return restore, rec
	}
	for _, o := range rec.Outputs {
		if c.outputHolds(o) {
			continue
		}
		dst := c.abs(o.Path)
		c.memo.Forget(dst)
		if err := c.store.RestoreOutput(o, dst); err != nil {
			return mustRun, nil // a blob lost to gc or damage: just rebuild
		}
	}
	c.state.Set(id, cache.Entry{Key: key, Record: *rec})
	return restored, rec
}

// digestFunc returns the digest of a workspace-relative or absolute file.
type digestFunc func(path string) (cache.Digest, error)

// outputsHold reports whether every output in the tree is the one
// recorded.
func (c *Cache) outputsHold(outs []cache.Output) bool {
	for _, o := range outs {
		if !c.outputHolds(o) {
			return false
		}
	}
	return true
}

// outputHolds reports whether the output in the tree is the one recorded:
// a file with its digest, or a symbolic link with its target text.
func (c *Cache) outputHolds(o cache.Output) bool {
	if o.IsLink() {
		target, err := os.Readlink(c.abs(o.Path))
		return err == nil && target == o.Link
	}
	d, err := c.digest(o.Path)
	return err == nil && d == o.Digest
}

// record stores what a successful run of t produced under key: its
// outputs go into the store, the record into the store and the state. It
// stores nothing when store is false (cache = False rules, or a file the
// command read changed while it ran), nor when an output changes while
// it is being stored (then note says so): the rule must run again. Either
// way the record returned lists the outputs there are, for dependents.
func (c *Cache) record(t *graph.Target, key cache.Digest, parts cache.Parts, o *outcome, status string,
	store bool, discovered []cache.Item) (rec *cache.Record, note string, err error) {
	rec = &cache.Record{Status: status, Findings: o.findings, Parts: parts, Created: time.Now(), Discovered: discovered}
	for _, out := range t.OutFiles {
		var ro cache.Output
		ro, note, err = c.output(t, out, store && note == "")
		if err != nil {
			return nil, "", err
		}
		rec.Outputs = append(rec.Outputs, ro)
	}
	for _, k := range o.sharedOrder {
		rec.Shared = append(rec.Shared, cache.Pair{Key: k, Value: o.shared[k]})
	}
	if !store || note != "" {
		c.state.Delete(t.Label.String())
		return rec, note, nil
	}
	if err := c.store.PutRecord(key, rec); err != nil {
		return nil, "", fmt.Errorf("storing the record: %v", err)
	}
	c.state.Set(t.Label.String(), cache.Entry{Key: key, Record: *rec})
	return rec, "", nil
}

// output describes the output out of t that its command left, putting a
// file into the store if store, and then making it read-only. A symbolic
// link is recorded as a link, never followed. note, if not "", says that
// the file changed while it was being stored, and then it is not.
func (c *Cache) output(t *graph.Target, out string, store bool) (o cache.Output, note string, err error) {
	p := c.abs(out)
	fi, err := os.Lstat(p)
	if err != nil {
		return o, "", err
	}
	o = cache.Output{Path: out, Mode: fi.Mode().Perm()}
	if fi.Mode()&fs.ModeSymlink != 0 {
		if o.Link, err = os.Readlink(p); err != nil {
			return o, "", err
		}
		o.Mode |= fs.ModeSymlink
		o.Digest = cache.LinkDigest(o.Link)
		return o, "", nil
	}
	if store {
		o.Digest, err = c.store.PutFile(p)
		switch {
		case errors.Is(err, cache.ErrChanged):
			note = fmt.Sprintf("%s changed while pex stored it", relTo(t.Label.Pkg, out))
			store = false
		case err != nil:
			return o, "", fmt.Errorf("storing output %s: %v", out, err)
		default:
			// It may now be the very inode of its blob: an edit in place
			// is refused rather than reaching the store.
			_ = os.Chmod(p, cache.ReadOnly(o.Mode))
		}
	}
	if !store {
		if o.Digest, err = c.memo.Digest(p); err != nil {
			return o, "", fmt.Errorf("output %s: %v", out, err)
		}
	}
	return o, note, nil
}

// depfileInputs reads t's depfile and returns the inputs it lists:
// workspace-relative inside the workspace, absolute outside, each once.
func (c *Cache) depfileInputs(t *graph.Target) ([]string, error) {
	pkgDir := c.abs(t.Label.Pkg)
	name := depfilePath(t)
	data, err := os.ReadFile(filepath.Join(pkgDir, name))
	if err != nil {
		return nil, fmt.Errorf("depfile %q: the command did not write it: %v", name, err)
	}
	paths, err := cache.ParseDepfile(data)
	if err != nil {
		return nil, fmt.Errorf("depfile %q: %v", name, err)
	}
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		if !filepath.IsAbs(p) {
			p = filepath.Join(pkgDir, p)
		}
		p = filepath.Clean(p)
		if rel, err := filepath.Rel(c.root, p); err == nil && !strings.HasPrefix(rel, "..") {
			p = filepath.ToSlash(rel)
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// depfilePath returns t's depfile relative to its package, with $OUT and
// $NAME (or ${OUT}, ${NAME}) replaced as in the command: depfile =
// "$OUT.d" goes with gcc -MD -MF $OUT.d.
func depfilePath(t *graph.Target) string {
	out := ""
	if len(t.Outs) > 0 {
		out = t.Outs[0]
	}
	return os.Expand(t.Depfile, func(v string) string {
		switch v {
		case "OUT":
			return out
		case "NAME":
			return t.Label.Name
		}
		return "$" + v
	})
}

// forget drops t's state entry: after a failure, it must run again.
func (c *Cache) forget(t *graph.Target) { c.state.Delete(t.Label.String()) }

// reasons explains why t, whose key is now key with parts, runs.
func (c *Cache) reasons(t *graph.Target, key cache.Digest, parts cache.Parts) []string {
	e, ok := c.state.Get(t.Label.String())
	switch {
	case !t.Cache:
		return []string{"cache = False: always runs"}
	case !ok:
		return []string{"no record of a successful run in this workspace"}
	case e.Key != key:
		if r := cache.Diff(e.Record.Parts, parts); len(r) > 0 {
			return r
		}
		return []string{"its key changed"}
	}
	if stale := e.Record.StaleInputs(c.digest); len(stale) > 0 {
		return []string{"depfile inputs changed: " + strings.Join(stale, ", ")}
	}
	var missing []string
	for _, o := range e.Record.Outputs {
		if !c.outputHolds(o) {
			missing = append(missing, relTo(t.Label.Pkg, o.Path))
		}
	}
	if len(missing) > 0 {
		return []string{"outputs missing or changed, and not in the store: " + strings.Join(missing, ", ")}
	}
	return nil
}
