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
	hostEnv func(string) (string, bool)
	mu      sync.Mutex
	done    map[*graph.Target]settled
	// sources memoises, for this build, the digests of source files (which
	// no rule writes), since many rules read the same ones.
	sources sync.Map // path -> cache.Digest
}

// digest returns the digest of a workspace-relative or absolute file
// through the stat memo.
func (k *keys) digest(p string) (cache.Digest, error) {
	return k.c.memo.Digest(k.c.abs(p))
}

func newKeys(c *Cache, hostEnv func(string) (string, bool)) *keys {
	return &keys{c: c, hostEnv: hostEnv, done: make(map[*graph.Target]settled)}
}

// source returns the digest of a source file, stat'ing it once per build.
func (k *keys) source(p string) (cache.Digest, error) {
	if d, ok := k.sources.Load(p); ok {
		return d.(cache.Digest), nil
	}
	d, err := k.digest(p)
	if err == nil {
		k.sources.Store(p, d)
	}
	return d, err
}

// unsetMarker stands for a passed-through variable the host does not set,
// so that unset and empty differ.
const unsetMarker = "\x00unset"

// key computes a rule's key from its command, env, inputs, tools, the
// outputs of its dependencies and the shared values it receives.
func (k *keys) key(t *graph.Target, shared map[string]any) (cache.Digest, cache.Parts, error) {
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
	for _, in := range t.Inputs {
		d, err := k.source(in)
		if err != nil {
			return cache.Digest{}, cache.Parts{}, missingInput(t, in, "srcs", err)
		}
		kb.Input(relTo(t.Label.Pkg, in), d)
	}
	for _, tool := range t.ToolFiles {
		d, err := k.digest(tool)
		if err != nil {
			return cache.Digest{}, cache.Parts{}, missingInput(t, tool, "tools", err)
		}
		kb.Tool(relTo(t.Label.Pkg, tool), d)
	}
	k.mu.Lock()
	for _, d := range t.DepTargets {
		kb.Dep(d.Label.String(), k.done[d].items)
	}
	k.mu.Unlock()
	for name, v := range shared {
		kb.Shared(name, fmt.Sprint(v))
	}
	for _, o := range t.Outs {
		kb.Output(o)
	}
	key, parts := kb.Sum()
	return key, parts, nil
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
	k.mu.Unlock()
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
		if e, ok := c.state.Outcome(id); ok && outputsMatch(e.Record.Outputs, digest) && len(e.Record.StaleInputs(digest)) == 0 {
			return hit, &e.Record
		}
	}
	rec, ok, err := c.store.Lookup(key, digest)
	if err != nil || !ok {
		return mustRun, nil
	}
	if outputsMatch(rec.Outputs, digest) {
		c.state.Set(id, cache.Entry{Key: key, Record: *rec})
		return hit, rec
	}
	if dry {
		return restore, rec
	}
	for _, o := range rec.Outputs {
		dst := c.abs(o.Path)
		if d, err := c.digest(o.Path); err == nil && d == o.Digest {
			continue
		}
		c.memo.Forget(dst)
		if err := c.store.Restore(o.Digest, dst, o.Mode); err != nil {
			return mustRun, nil // a blob lost to gc or damage: just rebuild
		}
	}
	c.state.Set(id, cache.Entry{Key: key, Record: *rec})
	return restored, rec
}

// digestFunc returns the digest of a workspace-relative or absolute file.
type digestFunc func(path string) (cache.Digest, error)

func outputsMatch(outs []cache.Output, digest digestFunc) bool {
	for _, o := range outs {
		if d, err := digest(o.Path); err != nil || d != o.Digest {
			return false
		}
	}
	return true
}

// record stores what a successful run of t produced under key: its outputs
// go into the store (unless store is false: cache = False rules), the
// record into the store and the state.
func (c *Cache) record(t *graph.Target, key cache.Digest, parts cache.Parts, o *outcome, status string, store bool) (*cache.Record, error) {
	rec := &cache.Record{Status: status, Findings: o.findings, Parts: parts, Created: time.Now()}
	for _, out := range t.OutFiles {
		p := c.abs(out)
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		var d cache.Digest
		if store {
			d, err = c.store.PutFile(p)
		} else {
			d, err = c.memo.Digest(p)
		}
		if err != nil {
			return nil, fmt.Errorf("storing output %s: %v", out, err)
		}
		rec.Outputs = append(rec.Outputs, cache.Output{Path: out, Digest: d, Mode: fi.Mode().Perm()})
	}
	for _, k := range o.sharedOrder {
		rec.Shared = append(rec.Shared, cache.Pair{Key: k, Value: o.shared[k]})
	}
	if t.Depfile != "" {
		disc, err := c.discovered(t)
		if err != nil {
			return nil, err
		}
		rec.Discovered = disc
	}
	if !store {
		c.state.Delete(t.Label.String())
		return rec, nil
	}
	if err := c.store.PutRecord(key, rec); err != nil {
		return nil, fmt.Errorf("storing the record: %v", err)
	}
	c.state.Set(t.Label.String(), cache.Entry{Key: key, Record: *rec})
	return rec, nil
}

// discovered reads t's depfile and returns the inputs it lists with their
// digests: workspace-relative inside the workspace, absolute outside.
func (c *Cache) discovered(t *graph.Target) ([]cache.Item, error) {
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
	items := make([]cache.Item, 0, len(paths))
	for _, p := range paths {
		if !filepath.IsAbs(p) {
			p = filepath.Join(pkgDir, p)
		}
		p = filepath.Clean(p)
		if rel, err := filepath.Rel(c.root, p); err == nil && !strings.HasPrefix(rel, "..") {
			p = filepath.ToSlash(rel)
		}
		if slices.ContainsFunc(items, func(it cache.Item) bool { return it.Name == p }) {
			continue
		}
		d, err := c.digest(p)
		if err != nil {
			continue // listed but gone (a generated file removed since): it cannot match later either
		}
		items = append(items, cache.Item{Name: p, Digest: d})
	}
	return items, nil
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
		if d, err := c.digest(o.Path); err != nil || d != o.Digest {
			missing = append(missing, relTo(t.Label.Pkg, o.Path))
		}
	}
	if len(missing) > 0 {
		return []string{"outputs missing or changed, and not in the store: " + strings.Join(missing, ", ")}
	}
	return nil
}
