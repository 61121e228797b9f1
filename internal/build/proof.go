// This file leaves an up-to-date proof behind a build that ends with every
// rule up to date, and answers a later identical request from it (see
// cache/proof.go): the fastest no-op build reads one file and stats the
// paths it lists, without evaluating, decoding or scheduling anything.
//
// The payload replayed is the plan's rules in order, each with its status
// and, for a rule that warned, its findings: one line per rule, fields
// separated by NUL.

package build

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pex-build/pex/cache"
)

// ProofOptions ask a build for an up-to-date proof.
type ProofOptions struct {
	Path    string // where the proof lives
	Request []byte // what was asked, exactly: a later identical request may be answered by the proof
	// Evaluation returns the files and directories evaluating the BUILD
	// files depended on, each with its stat, or its digest where the stat
	// is too recent to vouch for it; or false when the evaluation no
	// longer holds.
	Evaluation func() ([]cache.ProofFile, bool)
}

// Payload line flags.
const (
	proofOK   = "o"
	proofWarn = "w"
)

// saveProof writes the proof after a build in which every rule ended up
// to date (ok, or warn: the rules in warned; written are those that ran
// or were restored), and removes any older one otherwise. It writes none
// when a rule's findings cannot be replayed from one line, or a file
// changed while being hashed.
func (b *builder) saveProof(plan *Plan, sum *Summary, warned []string) {
	p := b.opts.Proof
	if p == nil {
		return
	}
	if !b.writeProof(plan, sum, warned) {
		os.Remove(p.Path)
	}
}

func (b *builder) writeProof(plan *Plan, sum *Summary, warned []string) bool {
	p, state := b.opts.Proof, b.cache.state
	if !b.noopPossible(plan) || sum.Counts["ok"]+sum.Counts["warn"] != len(plan.Rules) || !b.vouchable() {
		return false
	}
	warn := make(map[string]bool, len(warned))
	for _, id := range warned {
		warn[id] = true
	}
	var payload strings.Builder
	var env []string
	for _, t := range plan.Rules {
		id := t.Label.String()
		env = append(env, t.EnvPassthrough...)
		if !warn[id] {
			payload.WriteString(id + "\x00" + proofOK + "\n")
			continue
		}
		e, ok := state.Outcome(id)
		if !ok {
			return false
		}
		payload.WriteString(id + "\x00" + proofWarn)
		for _, f := range e.Record.Findings {
			if strings.ContainsAny(f, "\x00\n") {
				return false
			}
			payload.WriteString("\x00" + f)
		}
		payload.WriteByte('\n')
	}
	slices.Sort(env)
	env = slices.Compact(env)
	// The rules' files, by the stats their digests are memoised under.
	// Those too recent to be memoised carry their digests: the outputs
	// just written the ones their records hold (a change since shows
	// when the check hashes them), others (a source saved moments ago)
	// hashed now.
	ruleFiles := b.files // a no-op build listed them already
	if ruleFiles == nil {
		ruleFiles = planFiles(plan, b.discovered(plan))
	}
	slices.Sort(ruleFiles) // the order the proof keeps them in
	files := make([]cache.ProofFile, len(ruleFiles))
	for i, path := range ruleFiles {
		var ok bool
		if files[i], ok = b.proofFile(path); !ok {
			return false
		}
	}
	eval, ok := p.Evaluation()
	if !ok {
		return false
	}
	err := cache.WriteProof(p.Path, &cache.Proof{Request: p.Request, Env: env, Payload: payload.String(),
		Rules: b.proofRules(plan, ruleFiles), Evaluation: eval, Files: files}, b.opts.HostEnv)
	if err != nil {
		return false
	}
	pruneProofs(filepath.Dir(p.Path))
	return true
}

// proofFile returns a rule file's proof entry: the stat its digest is
// memoised under, when that digest is the one this build took of it (or
// it took none: a file no change reached); otherwise the digest to
// verify, with its current stat: the one this build took (for an output,
// its record's), so that a file changed since shows when the check hashes
// it. False for a file this build did
// not hash and the memo does not know, and for a symbolic link not
// memoised (an output that is a link is checked by its target text, which
// a stat does not show).
func (b *builder) proofFile(path string) (cache.ProofFile, bool) {
	abs := b.cache.abs(path)
	f := cache.ProofFile{Path: path, Content: true}
	used, took := b.keys.used(path)
	st, d, memoised := b.cache.memo.Stat(abs)
	if memoised && (!took || d == used) {
		f.Stat, f.Digest = st, d
		return f, true
	}
	if !took {
		return f, false
	}
	if fi, err := os.Lstat(abs); err != nil || fi.Mode()&os.ModeSymlink != 0 {
		return f, false
	}
	f.Verify, f.Digest, f.Stat = true, used, cache.StatFile(abs)
	return f, true
}

// replayLine turns one line of a proof's payload into the event of an
// up-to-date rule, or false for a line that does not parse.
func replayLine(line string) (Event, bool) {
	label, fields, _ := strings.Cut(line, "\x00")
	flag, findings, some := strings.Cut(fields, "\x00")
	ev := Event{Event: EventRule, Label: label, Status: "ok", Cache: "hit"}
	switch {
	case label == "":
		return ev, false
	case flag == proofOK:
	case flag == proofWarn:
		ev.Status = "warn"
		if some {
			ev.Findings = strings.Split(findings, "\x00")
		}
	default:
		return ev, false
	}
	return ev, true
}

// validLine reports whether a payload line parses.
func validLine(line string) bool {
	_, ok := replayLine(line)
	return ok
}

// keepProofs is how many proofs, one per distinct request, a workspace
// keeps: the most recently written.
const keepProofs = 8

func pruneProofs(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) <= keepProofs {
		return
	}
	type proof struct {
		name string
		mod  time.Time
	}
	var ps []proof
	for _, e := range entries {
		if fi, err := e.Info(); err == nil {
			ps = append(ps, proof{e.Name(), fi.ModTime()})
		}
	}
	slices.SortFunc(ps, func(a, b proof) int { return b.mod.Compare(a.mod) })
	for _, p := range ps[min(keepProofs, len(ps)):] {
		os.Remove(filepath.Join(dir, p.name))
	}
}

// Answer answers a request from the proof at path when it holds (see
// cache/proof.go): it reports, through onEvent, a build of the proof's
// rules all up to date, and returns its summary. Otherwise it reports
// nothing and returns nil and what the check found: a full build can
// trust the saved graph and skip its own stat calls when the proof was
// valid and only the rules' files changed (Options.Changed).
func Answer(path, root string, request []byte, hostEnv func(string) (string, bool), onEvent func(Event)) (*Summary, cache.ProofCheck) {
	start := time.Now()
	if hostEnv == nil {
		hostEnv = os.LookupEnv
	}
	check := cache.CheckProof(path, root, request, hostEnv)
	if !check.Holds {
		return nil, check
	}
	// The payload is checked whole before anything is reported, then
	// replayed line by line: no slice of ten thousand events.
	payload := check.Payload
	n := 0
	for rest := payload; rest != ""; n++ {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		if !validLine(line) {
			return nil, cache.ProofCheck{}
		}
	}
	onEvent(Event{Event: EventBuildStarted, Total: n})
	sum := &Summary{Counts: map[string]int{}, Cache: map[string]int{}, Proven: check.Files}
	for rest := payload; rest != ""; {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		ev, _ := replayLine(line)
		sum.count(ev)
		onEvent(ev)
	}
	sum.Duration = time.Since(start)
	ok := true
	onEvent(Event{Event: EventBuildFinished, Counts: sum.Counts, OK: &ok,
		MS: sum.Duration.Milliseconds(), Duration: sum.Duration})
	return sum, check
}
