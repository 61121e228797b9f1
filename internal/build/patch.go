// This file rebuilds from a stale proof. When the last build's proof still
// stands for the request (same pex, flags, variables, BUILD files) and only
// files of its rules changed, the proof's rules section says which rules
// those files reach and holds their definitions: pex then reads neither a
// BUILD file nor the saved graph, loads from the state only the entries of
// the rules reached and of their direct dependencies, runs the rules
// reached as a full build would (the same cache check, commands and
// records), reports the others up to date, and patches the proof for the
// files it touched. Whatever it cannot vouch for sends the build down the
// full path before anything is reported, or leaves no proof behind.
//
// Rules section format: uvarint version, the plan's no-op stamp (id and
// key, see noop.go), the exec groups its rules use (name, jobs, priority),
// then one entry per rule of the payload, in its order: the target as
// graph.AppendTarget writes it (length-prefixed), then six lists, each a
// uvarint count and uvarints: its inputs, tools, outputs and discovered
// inputs as numbers of the proof's files (cache.StaleProof), its
// DepTargets and the providers of the tokens it requires as numbers of
// rules.

package build

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/pex-build/pex/cache"
	"github.com/pex-build/pex/exec"
	"github.com/pex-build/pex/graph"
)

const rulesVersion = 1

// The lists of a rule's entry.
const (
	listInputs = iota
	listTools
	listOuts
	listDiscovered
	listDeps
	listProviders
	numLists
)

// proofRules returns the rules section of a proof of plan, whose rules'
// files are files (sorted, as the proof numbers them), or nil when a rule
// shares values with its dependents: those travel through the engine, and
// a rebuild of a few rules could not settle the others' by hand.
func (b *builder) proofRules(plan *Plan, files []string) []byte {
	if b.shared.Load() {
		return nil
	}
	if b.byTask == nil {
		// Answered by the no-op stamp: no rule ran or replayed, their
		// records tell.
		for _, t := range plan.Rules {
			if e, ok := b.cache.state.Outcome(t.Label.String()); !ok || len(e.Record.Shared) > 0 {
				return nil
			}
		}
	}
	fileNum := make(map[string]int, len(files))
	for i, p := range files {
		fileNum[p] = i
	}
	ruleNum := make(map[*graph.Target]int, len(plan.Rules))
	for i, t := range plan.Rules {
		ruleNum[t] = i
	}
	id, key := b.stamp(plan)
	var e []byte
	str := func(s string) {
		e = binary.AppendUvarint(e, uint64(len(s)))
		e = append(e, s...)
	}
	num := func(n int) { e = binary.AppendUvarint(e, uint64(n)) }
	num(rulesVersion)
	str(id)
	str(string(key[:]))
	gs := groups(b.opts.Graph, plan.Rules)
	num(len(gs))
	for _, g := range gs {
		str(g.Name)
		e = binary.AppendVarint(e, int64(g.Jobs))
		e = binary.AppendVarint(e, int64(g.Priority))
	}
	num(len(plan.Rules))
	var target []byte
	for _, t := range plan.Rules {
		target = graph.AppendTarget(target[:0], t)
		str(string(target))
		for _, list := range [][]string{t.Inputs, t.ToolFiles, t.OutFiles} {
			num(len(list))
			for _, p := range list {
				num(fileNum[p])
			}
		}
		var disc []cache.Item
		if t.Depfile != "" {
			if e, ok := b.cache.state.Outcome(t.Label.String()); ok {
				disc = e.Record.Discovered
			}
		}
		num(len(disc))
		for _, it := range disc {
			num(fileNum[it.Name])
		}
		num(len(t.DepTargets))
		for _, d := range t.DepTargets {
			num(ruleNum[d])
		}
		var provs []int
		for _, tok := range t.Requires {
			for _, p := range plan.providers[tok] {
				provs = append(provs, ruleNum[p])
			}
		}
		num(len(provs))
		for _, p := range provs {
			num(p)
		}
	}
	return e
}

// rulesReader reads a rules section; the first error sticks.
type rulesReader struct {
	b   []byte
	bad bool
}

func (r *rulesReader) num() int {
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > 1<<40 {
		r.bad, r.b = true, nil
		return 0
	}
	r.b = r.b[n:]
	return int(v)
}

func (r *rulesReader) int() int {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.bad, r.b = true, nil
		return 0
	}
	r.b = r.b[n:]
	return int(v)
}

func (r *rulesReader) bytes() []byte {
	n := r.num()
	if n > len(r.b) {
		r.bad, r.b = true, nil
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

// list reads a list of numbers below limit into dst.
func (r *rulesReader) list(dst []int, limit int) []int {
	n := r.num()
	if n > len(r.b) {
		r.bad, r.b = true, nil
		return dst
	}
	for range n {
		v := r.num()
		if v >= limit {
			r.bad = true
		}
		dst = append(dst, v)
	}
	return dst
}

// ruleEntry is one rule of a rules section, fully read.
type ruleEntry struct {
	target []byte
	lists  [numLists][]int
}

// rulesSection is a rules section read for one rebuild: the header, and
// where each rule's entry starts.
type rulesSection struct {
	stampID  string
	stampKey cache.Digest
	groups   []exec.Group
	offsets  []int // of each rule's entry in data
	data     []byte
	files    int // numbers of files are below it
}

// limit is what the numbers of list l are below: files, or rules.
func (s *rulesSection) limit(l int) int {
	if l >= listDeps {
		return len(s.offsets)
	}
	return s.files
}

// entry reads rule i's entry.
func (s *rulesSection) entry(i int) (ruleEntry, bool) {
	r := rulesReader{b: s.data[s.offsets[i]:]}
	var e ruleEntry
	e.target = r.bytes()
	for l := range e.lists {
		e.lists[l] = r.list(nil, s.limit(l))
	}
	return e, !r.bad
}

// readRules reads a rules section's header and finds its entries; it
// returns, for each rule, whether one of its files is among changed, and
// the rules that depend on each (by DepTargets or tokens).
func readRules(data []byte, files int, changed []bool) (s *rulesSection, touched []bool, dependents [][]int32, ok bool) {
	r := rulesReader{b: data}
	if r.num() != rulesVersion {
		return nil, nil, nil, false
	}
	s = &rulesSection{stampID: string(r.bytes()), data: data, files: files}
	if key := r.bytes(); len(key) == len(s.stampKey) {
		copy(s.stampKey[:], key)
	} else {
		return nil, nil, nil, false
	}
	for n := r.num(); n > 0 && !r.bad; n-- {
		s.groups = append(s.groups, exec.Group{Name: string(r.bytes()), Jobs: r.int(), Priority: r.int()})
	}
	n := r.num()
	if r.bad || n > len(r.b) {
		return nil, nil, nil, false
	}
	s.offsets = make([]int, n)
	touched = make([]bool, n)
	dependents = make([][]int32, n)
	var scratch []int
	for i := range n {
		s.offsets[i] = len(data) - len(r.b)
		r.bytes()
		for l := range numLists {
			scratch = r.list(scratch[:0], s.limit(l))
			if r.bad {
				return nil, nil, nil, false
			}
			for _, v := range scratch {
				if l < listDeps {
					touched[i] = touched[i] || changed[v]
				} else {
					dependents[v] = append(dependents[v], int32(i))
				}
			}
		}
	}
	if r.bad || len(r.b) != 0 {
		return nil, nil, nil, false
	}
	return s, touched, dependents, true
}

// Patch answers a request whose proof is stale (see cache.StaleProof) by
// rebuilding only the rules its changed files reach, as described at the
// top of this file; payload is the proof's. It returns ok false, having
// reported and changed nothing, when the full path must answer instead.
// opts.Proof names the proof; opts.Graph and opts.Cache are not used: the
// cache is opened with copts, loading only what the rebuild needs.
func Patch(ctx context.Context, stale *cache.StaleProof, payload string, opts Options, copts CacheOptions) (*Summary, bool, error) {
	start := time.Now()
	if opts.HostEnv == nil {
		opts.HostEnv = os.LookupEnv
	}
	if opts.OnEvent == nil {
		opts.OnEvent = func(Event) {}
	}
	if opts.Proof == nil || opts.DryRun || opts.NoCache || len(stale.Rules()) == 0 {
		return nil, false, nil
	}
	lines := strings.Split(strings.TrimSuffix(payload, "\n"), "\n")
	changed := make([]bool, stale.Len())
	for _, i := range stale.Changed() {
		changed[i] = true
	}
	sec, touched, dependents, ok := readRules(stale.Rules(), stale.Len(), changed)
	if !ok || len(sec.offsets) != len(lines) {
		return nil, false, nil
	}
	// The rules the changes reach, and what those need.
	reached := make([]bool, len(lines))
	var stack []int32
	for i, t := range touched {
		if t {
			reached[i] = true
			stack = append(stack, int32(i))
		}
	}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, d := range dependents[i] {
			if !reached[d] {
				reached[d] = true
				stack = append(stack, d)
			}
		}
	}
	entries := make(map[int]ruleEntry)
	for i, r := range reached {
		if !r {
			continue
		}
		e, ok := sec.entry(i)
		if !ok {
			return nil, false, nil
		}
		entries[i] = e
		for _, l := range []int{listDeps, listProviders} {
			for _, d := range e.lists[l] {
				if _, ok := entries[d]; !ok && !reached[d] {
					de, ok := sec.entry(d)
					if !ok {
						return nil, false, nil
					}
					entries[d] = de
				}
			}
		}
	}
	if len(entries) == 0 {
		return nil, false, nil // the changed files belong to no rule
	}
	needed := make([]int, 0, len(entries))
	for i := range entries {
		needed = append(needed, i)
	}
	slices.Sort(needed)
	// The targets, resolved from the entries, in a graph of their own.
	g := graph.New()
	targets := make(map[int]*graph.Target, len(entries))
	ids := map[string]bool{sec.stampID: true}
	paths := func(nums []int) []string {
		ps := make([]string, len(nums))
		for i, n := range nums {
			ps[i] = stale.Path(n)
		}
		return ps
	}
	for _, i := range needed {
		e := entries[i]
		t, err := graph.DecodeTarget(e.target)
		if err != nil || t.Label.String() != labelOf(lines[i]) {
			return nil, false, nil
		}
		t.Inputs, t.ToolFiles, t.OutFiles = paths(e.lists[listInputs]), paths(e.lists[listTools]), paths(e.lists[listOuts])
		if err := g.Add(t); err != nil {
			return nil, false, nil
		}
		targets[i] = t
		ids[t.Label.String()] = true
	}
	var rules []*graph.Target // reached, in the plan's order
	for _, i := range needed {
		if !reached[i] {
			continue
		}
		t := targets[i]
		for _, d := range entries[i].lists[listDeps] {
			t.DepTargets = append(t.DepTargets, targets[d])
		}
		rules = append(rules, t)
	}
	copts.Rules = ids
	c, err := OpenCache(opts.Root, copts)
	if errors.Is(err, errWholeState) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer c.Close()
	opts.Graph, opts.Cache = g, c
	b := &builder{opts: opts, cache: c, keys: newKeys(c, opts.Graph, opts.HostEnv)}
	defer b.closeClock()
	// A file that changes from here on may have been read before (see
	// keys.consistent); what changed since the proof was checked and
	// before, stillVouched sees.
	b.keys.since = b.clock().Now()
	// What the rules reached read: their files, as the proof vouches for
	// them; and the dependencies the change does not reach, settled from
	// their entries as a full build would.
	for _, i := range needed {
		if !reached[i] {
			t := targets[i]
			e, ok := c.state.Outcome(t.Label.String())
			if !ok || len(e.Record.Shared) > 0 {
				return nil, false, nil
			}
			b.keys.settle(t, e.Key, e.Record.Outputs)
			continue
		}
		for l := range listDeps {
			for _, n := range entries[i].lists[l] {
				stale.Memoise(c.memo, n, c.abs(stale.Path(n)))
			}
		}
	}
	dirs, ok := b.outputDirs(stale, rules)
	if !ok {
		return nil, false, nil
	}
	if b.tmp, err = scratchDir(opts.Root); err != nil {
		return nil, false, err
	}
	defer b.removeScratch()
	plan := &Plan{Rules: rules, providers: map[string][]*graph.Target{}}
	for _, t := range rules {
		for _, tok := range t.Provides {
			plan.providers[tok] = append(plan.providers[tok], t)
		}
	}
	rebuilt := make(map[*graph.Target]bool, len(rules))
	for _, t := range rules {
		rebuilt[t] = true
	}
	tasks := plan.tasks(b.ruleFunc)
	b.byTask = make(map[*exec.Task]*graph.Target, len(tasks))
	for i, task := range tasks {
		b.byTask[task] = rules[i]
		// What is not rebuilt has settled: wait only for what is.
		task.Requires = slices.DeleteFunc(task.Requires, func(req any) bool {
			switch req := req.(type) {
			case ruleToken:
				return !rebuilt[req]
			case tokenName:
				return len(plan.providers[string(req)]) == 0
			}
			return false
		})
	}
	// The lines replayed are checked first, then replayed one by one: no
	// slice of ten thousand events.
	for i, line := range lines {
		if !reached[i] && !validLine(line) {
			return nil, false, nil
		}
	}
	r, err := exec.Start(ctx, tasks, exec.Options{Workers: opts.Jobs, KeepGoing: opts.KeepGoing, Groups: sec.groups})
	if err != nil {
		return nil, false, nil // as the full path will say
	}
	// From here on, the build is this one.
	opts.OnEvent(Event{Event: EventBuildStarted, Total: len(lines)})
	sum := &Summary{Counts: map[string]int{}, Cache: map[string]int{}, Reached: len(rules)}
	var warned []string
	for i, line := range lines {
		if reached[i] {
			continue
		}
		ev, _ := replayLine(line)
		if ev.Status == "warn" {
			warned = append(warned, ev.Label)
		}
		sum.count(ev)
		opts.OnEvent(ev)
	}
	results := make(map[string]Event, len(rules))
	rebuiltWarned := b.collect(r, sum, func(ev Event) { results[ev.Label] = ev })
	warned = append(warned, rebuiltWarned...)
	sum.Duration = time.Since(start)
	b.saveStats(start, sum)
	var write func() error
	if sum.Counts["ok"]+sum.Counts["warn"] == len(lines) && b.vouchable() {
		write = b.patchProof(stale, lines, reached, entries, results, dirs)
	}
	if write != nil {
		// The stamp, like the proof, vouches for the rules not rebuilt.
		c.state.Set(sec.stampID, cache.Entry{Key: sec.stampKey,
			Record: cache.Record{Status: "ok", Findings: warned, Created: time.Now()}})
		// The proof is written while the state is saved (and synced):
		// neither needs the other.
		saved := make(chan struct{})
		go func() {
			_ = c.state.Flush() // as with Close, what it cannot save is looked up in the store next time
			close(saved)
		}()
		if write() != nil {
			os.Remove(opts.Proof.Path)
		}
		<-saved
	} else {
		c.state.Delete(sec.stampID)
		os.Remove(opts.Proof.Path)
	}
	allOK := !sum.Failed && !sum.Canceled
	opts.OnEvent(Event{Event: EventBuildFinished, Counts: sum.Counts, OK: &allOK,
		MS: sum.Duration.Milliseconds(), Duration: sum.Duration})
	return sum, true, nil
}

// labelOf returns the label a payload line starts with.
func labelOf(line string) string {
	label, _, _ := strings.Cut(line, "\x00")
	return label
}

// outputDir is an evaluation path (a directory the package walk or a glob
// listed) that a rebuilt rule writes outputs in: writing them moves its
// times, and its new stat may stand in the proof only if its entries are
// the same names as before.
type outputDir struct {
	num     int // of the evaluation path
	path    string
	listing cache.Digest // its entries' names, as the proof vouched for them
}

// outputDirs returns the evaluation paths the rules write outputs in, each
// with the digest of its entries as the proof vouches for them: the one
// it carries for a directory too recently changed for its stat to vouch
// for it; otherwise read between two stats that both match the proof's,
// old enough that any change since would have moved them. False when a
// directory no longer has the proof's stat.
func (b *builder) outputDirs(stale *cache.StaleProof, rules []*graph.Target) ([]outputDir, bool) {
	var dirs []outputDir
	for _, t := range rules {
		for _, out := range t.OutFiles {
			dir := path.Dir(out)
			i := stale.Evaluation(dir)
			if i < 0 || slices.ContainsFunc(dirs, func(d outputDir) bool { return d.num == i }) {
				continue
			}
			abs := b.cache.abs(dir)
			want, d, verify := stale.EvaluationStat(i)
			if cache.StatFile(abs) != want {
				return nil, false
			}
			if !verify {
				var err error
				if d, err = cache.ContentDigest(abs, want); err != nil || cache.StatFile(abs) != want {
					return nil, false
				}
			}
			dirs = append(dirs, outputDir{num: i, path: dir, listing: d})
		}
	}
	return dirs, true
}

// patchProof patches the stale proof for a rebuild that left every rule
// up to date: the rebuilt rules' lines and files, and the output
// directories that still list the same names. It returns what writes it,
// or nil when it cannot be patched: a rule's findings do not fit a line, a
// file changed while being hashed, a file that was not among the changed
// ones changed during the build, a depfile rule found other inputs than
// the proof numbers, or an output directory lists other names.
func (b *builder) patchProof(stale *cache.StaleProof, lines []string, reached []bool,
	entries map[int]ruleEntry, results map[string]Event, dirs []outputDir) func() error {
	if b.shared.Load() {
		return nil
	}
	changed := make([]bool, stale.Len())
	for _, n := range stale.Changed() {
		changed[n] = true
	}
	var payload strings.Builder
	payload.Grow(len(lines) * 24)
	for i, line := range lines {
		if !reached[i] {
			payload.WriteString(line + "\n")
			continue
		}
		ev := results[labelOf(line)]
		e := entries[i]
		if ev.Target == nil || ev.Target.Depfile != "" && !b.sameDiscovered(stale, ev.Label, e.lists[listDiscovered]) {
			return nil
		}
		flag := proofOK
		if ev.Status == "warn" {
			flag = proofWarn
		}
		payload.WriteString(ev.Label + "\x00" + flag)
		for _, f := range ev.Findings {
			if strings.ContainsAny(f, "\x00\n") {
				return nil
			}
			payload.WriteString("\x00" + f)
		}
		payload.WriteByte('\n')
		for l := range listDeps {
			for _, n := range e.lists[l] {
				f, ok := b.proofFile(stale.Path(n))
				if !ok || l != listOuts && !changed[n] && !stillVouched(stale, n, f) {
					return nil
				}
				stale.Set(n, f)
			}
		}
	}
	now := time.Now()
	for _, d := range dirs {
		abs := b.cache.abs(d.path)
		st := cache.StatFile(abs)
		if old, _, _ := stale.EvaluationStat(d.num); st == old {
			continue
		}
		digest, err := cache.ContentDigest(abs, st)
		if err != nil || digest != d.listing {
			return nil
		}
		stale.SetEvaluation(d.num, cache.ProofFile{Stat: st, Content: true, Verify: st.Recent(now), Digest: digest})
	}
	return func() error { return stale.Write(payload.String(), b.opts.HostEnv) }
}

// stillVouched reports whether file n, which was not among the changed
// files when the build began, is still what the stale proof vouched for,
// now that the build wrote f for it: the rules the change did not reach
// read it too, and their keys hold what the proof vouched for. A file
// saved during the build is not: the proof would vouch for the new
// contents on their behalf.
func stillVouched(stale *cache.StaleProof, n int, f cache.ProofFile) bool {
	d, st, ok := stale.Vouched(n)
	if ok {
		return d == f.Digest
	}
	return st == f.Stat
}

// sameDiscovered reports whether a rebuilt depfile rule's discovered
// inputs are the files the proof numbers for it, in any order.
func (b *builder) sameDiscovered(stale *cache.StaleProof, id string, nums []int) bool {
	e, ok := b.cache.state.Outcome(id)
	if !ok || len(e.Record.Discovered) != len(nums) {
		return false
	}
	want := make(map[string]bool, len(nums))
	for _, n := range nums {
		want[stale.Path(n)] = true
	}
	for _, it := range e.Record.Discovered {
		if !want[it.Name] {
			return false
		}
	}
	return true
}
