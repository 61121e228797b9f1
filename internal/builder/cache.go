// This file is the builder's side of the cache, the one path every rule
// that is checked takes: its key, the up-to-date check (hit, restore, or
// run), recording what a successful run produced, and the reasons a rule
// runs.

package builder

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/pex-build/pex/cache"
	"github.com/pex-build/pex/graph"
	"github.com/pex-build/pex/internal/db"
)

// settled is what dependents need of a rule that settled: the digests of
// its outputs (or, for a rule without outputs, its key), by label.
type settled struct {
	items []cache.Item
	dirty bool // dry run: it would run, so what it will produce is unknown
}

// keys computes and remembers rule keys during one build.
type keys struct {
	root string
	memo *cache.Memo
	g    *graph.Graph // what Reads asks; nil: a rule's key takes every output of its dependencies
	// graphFor, if set, returns the graph to ask of a rule a dynamic rule
	// added while the build runs, which g does not hold.
	graphFor func(*graph.Target) *graph.Graph
	hostEnv  func(string) (string, bool)
	mu       sync.Mutex
	done     map[*graph.Target]settled
	// outputs are the settled rules' outputs by path: for telling
	// whether a file a depfile names was there before a command started.
	outputs map[string]settledOutput
	// sources memoises, for this build, the digests of source files and
	// tools (which no rule writes), since many rules read the same ones:
	// one build takes one digest of each.
	sources sync.Map // path -> read
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

func newKeys(root string, memo *cache.Memo, g *graph.Graph, hostEnv func(string) (string, bool)) *keys {
	return &keys{root: root, memo: memo, g: g, hostEnv: hostEnv, done: make(map[*graph.Target]settled),
		outputs: make(map[string]settledOutput)}
}

// digest returns the digest of a workspace-relative or absolute file
// through the stat memo.
func (k *keys) digest(p string) (cache.Digest, error) { return k.memo.Digest(abs(k.root, p)) }

// file hashes a workspace-relative or absolute file for a key.
func (k *keys) file(p string) (read, error) {
	d, seen, err := k.memo.DigestSeen(abs(k.root, p))
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
	if t.Action != nil {
		kb.Command("action=" + t.Action.String() + "@" + t.Action.Digest)
	}
	if len(t.Kwargs) > 0 {
		for _, name := range slices.Sorted(maps.Keys(t.Kwargs)) {
			kb.Command("kwarg " + name + "=" + t.Kwargs[name])
		}
	}
	if t.Dynamic {
		kb.Command("dynamic")
	}
	if t.Depfile != "" {
		kb.Command("depfile=" + t.Depfile)
	}
	// Paths in a key are relative to the package, where the command runs;
	// the package itself makes them the workspace's. Two packages with the
	// same rule have two keys: a record's outputs and depfile inputs are
	// the files of the rule that made it, never another package's.
	kb.Command("package=" + t.Label.Pkg)
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
		whole, files = k.reads(t)
	}
	k.mu.Lock()
	for _, d := range t.DepTargets {
		if d.Label == t.GeneratedBy && len(d.OutFiles) == 0 {
			// A generated rule waits for its generator, but its own
			// definition is what it runs: nothing else to take.
			continue
		}
		kb.Dep(d.Label.String(), readOutputs(k.done[d].items, d, whole, files, k.g == nil))
	}
	k.mu.Unlock()
	for name, v := range shared {
		kb.Shared(name, sharedText(v))
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

// reads is Graph.Reads, asked of the graph that holds t's dependencies.
func (k *keys) reads(t *graph.Target) ([]*graph.Target, []string) {
	if k.graphFor != nil {
		return k.graphFor(t).Reads(t)
	}
	return k.g.Reads(t)
}

// depFiles returns the outputs of t's dependencies that its key takes
// (see readOutputs), the files its action may read.
func (k *keys) depFiles(t *graph.Target) []string {
	var whole []*graph.Target
	var files []string
	if k.g != nil && len(t.DepTargets) > 0 {
		whole, files = k.reads(t)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for _, d := range t.DepTargets {
		for _, it := range readOutputs(k.done[d].items, d, whole, files, k.g == nil) {
			if slices.Contains(d.OutFiles, it.Name) {
				out = append(out, it.Name)
			}
		}
	}
	return out
}

// forgetSource drops a source's digest memoised for this build: it
// changed while a command ran, and later rules must hash it again.
func (k *keys) forgetSource(p string) { k.sources.Delete(p) }

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

// check decides whether t (rule id), with key, must run. Unless dry, it
// restores outputs from the store. It returns the record to replay when
// not mustRun: its row's, or the store's.
func (b *builder) check(t *graph.Target, id db.RuleID, key cache.Digest) (verdict, *cache.Record) {
	if row, ok := b.row(id); ok && row.Key == key && b.outputsHold(row.Outputs) && b.discoveredHold(row.Discovered) {
		rec := &cache.Record{Status: row.Status, Findings: row.Findings, Shared: row.Shared, Outputs: row.Outputs,
			Generated: row.Generated}
		for _, it := range row.Discovered {
			rec.Discovered = append(rec.Discovered, cache.Item{Name: b.path(it.File), Digest: it.Digest})
		}
		return hit, rec
	}
	rec, ok, err := b.store.Lookup(key, b.keys.digest)
	if err != nil || !ok {
		return mustRun, nil
	}
	if b.outputsHold(rec.Outputs) {
		return hit, rec
	}
	if b.opts.DryRun {
		return restore, rec
	}
	for _, o := range rec.Outputs {
		if b.outputHolds(o) {
			continue
		}
		dst := abs(b.root, o.Path)
		b.memo.Forget(dst)
		if err := b.store.RestoreOutput(o, dst); err != nil {
			return mustRun, nil // a blob lost to gc or damage: just rebuild
		}
	}
	return restored, rec
}

// discoveredHold reports whether every depfile input of a row still has
// its recorded digest.
func (b *builder) discoveredHold(items []db.Discovered) bool {
	for _, it := range items {
		if d, err := b.keys.digest(b.path(it.File)); err != nil || d != it.Digest {
			return false
		}
	}
	return true
}

// outputsHold reports whether every output in the tree is the one
// recorded.
func (b *builder) outputsHold(outs []cache.Output) bool {
	for _, o := range outs {
		if !b.outputHolds(o) {
			return false
		}
	}
	return true
}

// outputHolds reports whether the output in the tree is the one recorded:
// a file with its digest, or a symbolic link with its target text.
func (b *builder) outputHolds(o cache.Output) bool {
	if o.IsLink() {
		target, err := os.Readlink(abs(b.root, o.Path))
		return err == nil && target == o.Link
	}
	d, err := b.keys.digest(o.Path)
	return err == nil && d == o.Digest
}

// record stores what a successful run of t produced under key: its
// outputs go into the store, the record into the store. It stores nothing
// when store is false (cache = False rules, or a file the command read
// changed while it ran), nor when an output changes while it is being
// stored (then note says so): the rule must run again. Either way the
// record returned lists the outputs there are, for dependents.
func (b *builder) record(t *graph.Target, key cache.Digest, parts cache.Parts, o *outcome, status string,
	store bool, discovered []cache.Item) (rec *cache.Record, stored bool, note string, err error) {
	rec = &cache.Record{Status: status, Findings: o.findings, Parts: parts, Created: b.now(), Discovered: discovered,
		Generated: o.generated}
	for _, out := range t.OutFiles {
		var ro cache.Output
		ro, note, err = b.output(t, out, store && note == "")
		if err != nil {
			return nil, false, "", err
		}
		rec.Outputs = append(rec.Outputs, ro)
	}
	for _, k := range o.sharedOrder {
		rec.Shared = append(rec.Shared, cache.Pair{Key: k, Value: sharedText(o.shared[k])})
	}
	if !store || note != "" {
		return rec, false, note, nil
	}
	if err := b.store.PutRecord(key, rec); err != nil {
		return nil, false, "", fmt.Errorf("storing the record: %v", err)
	}
	return rec, true, "", nil
}

// output describes the output out of t that its command left, putting a
// file into the store if store, and then making it read-only. A symbolic
// link is recorded as a link, never followed. note, if not "", says that
// the file changed while it was being stored, and then it is not.
func (b *builder) output(t *graph.Target, out string, store bool) (o cache.Output, note string, err error) {
	p := abs(b.root, out)
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
		o.Digest, err = b.store.PutFile(p)
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
		if o.Digest, err = b.memo.Digest(p); err != nil {
			return o, "", fmt.Errorf("output %s: %v", out, err)
		}
	}
	return o, note, nil
}

// depfileInputs reads t's depfile and returns the inputs it lists:
// workspace-relative inside the workspace, absolute outside, each once.
func (b *builder) depfileInputs(t *graph.Target) ([]string, error) {
	pkgDir := abs(b.root, t.Label.Pkg)
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
		if rel, err := filepath.Rel(b.root, p); err == nil && !strings.HasPrefix(rel, "..") {
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

// reasons explains why t, rule id, whose key is now key with parts, runs:
// what changed since the run its row remembers, as the store's record of
// that run has its key's parts.
func (b *builder) reasons(t *graph.Target, id db.RuleID, key cache.Digest, parts cache.Parts) []string {
	row, ok := b.row(id)
	switch {
	case !t.Cache:
		return []string{"cache = False: always runs"}
	case !ok:
		return []string{"no record of a successful run in this workspace"}
	case row.Key != key:
		if rec, ok, _ := b.store.GetRecord(row.Key); ok {
			if r := cache.Diff(rec.Parts, parts); len(r) > 0 {
				return r
			}
		}
		return []string{"its key changed"}
	}
	for _, it := range row.Discovered {
		p := b.path(it.File)
		if d, err := b.keys.digest(p); err != nil || d != it.Digest {
			return []string{"depfile inputs changed: " + p}
		}
	}
	var missing []string
	for _, o := range row.Outputs {
		if !b.outputHolds(o) {
			missing = append(missing, relTo(t.Label.Pkg, o.Path))
		}
	}
	if len(missing) > 0 {
		return []string{"outputs missing or changed, and not in the store: " + strings.Join(missing, ", ")}
	}
	return nil
}
