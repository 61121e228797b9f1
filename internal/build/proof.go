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
	// files depended on, with their stats, or false when they cannot
	// vouch for it.
	Evaluation func() ([]cache.ProofFile, bool)
}

// Payload line flags.
const (
	proofOK   = "o"
	proofWarn = "w"
)

// saveProof writes the proof after a build in which every rule ended up
// to date, and removes any older one otherwise. It writes none when a
// file's stat cannot vouch for its contents (changed too recently, or
// never hashed).
func (b *builder) saveProof(plan *Plan, sum *Summary) {
	p := b.opts.Proof
	if p == nil {
		return
	}
	if !b.writeProof(plan, sum) {
		os.Remove(p.Path)
	}
}

func (b *builder) writeProof(plan *Plan, sum *Summary) bool {
	p, state := b.opts.Proof, b.cache.state
	if !b.noopPossible(plan) || sum.Counts["ok"]+sum.Counts["warn"] != len(plan.Rules) {
		return false
	}
	var payload strings.Builder
	var env []string
	for _, t := range plan.Rules {
		id := t.Label.String()
		e, ok := state.Outcome(id)
		if !ok {
			return false
		}
		payload.WriteString(id)
		if e.Record.Status == "warn" {
			payload.WriteString("\x00" + proofWarn)
			for _, f := range e.Record.Findings {
				if strings.ContainsAny(f, "\x00\n") {
					return false
				}
				payload.WriteString("\x00" + f)
			}
		} else {
			payload.WriteString("\x00" + proofOK)
		}
		payload.WriteByte('\n')
		env = append(env, t.EnvPassthrough...)
	}
	slices.Sort(env)
	env = slices.Compact(env)

	var discovered []cache.Item
	for _, t := range plan.Rules {
		if t.Depfile != "" {
			e, _ := state.Outcome(t.Label.String())
			discovered = append(discovered, e.Record.Discovered...)
		}
	}
	// The evaluation's stats first: Evaluation checks them after taking
	// them, so a change in between shows as a different stat.
	files, ok := p.Evaluation()
	if !ok {
		return false
	}
	now := time.Now()
	for _, f := range files {
		if f.Stat.Recent(now) {
			return false
		}
	}
	for _, path := range planFiles(plan, discovered) {
		st, ok := b.cache.memo.Stat(b.cache.abs(path))
		if !ok {
			return false
		}
		files = append(files, cache.ProofFile{Path: path, Stat: st})
	}
	err := cache.WriteProof(p.Path, &cache.Proof{Request: p.Request, Env: env,
		Payload: []byte(payload.String()), Files: files}, b.opts.HostEnv)
	if err != nil {
		return false
	}
	pruneProofs(filepath.Dir(p.Path))
	return true
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
// rules all up to date, and returns its summary. It returns false,
// having reported nothing, when the proof is missing, damaged, for
// another request, or when any path or variable it lists changed.
func Answer(path, root string, request []byte, hostEnv func(string) (string, bool), onEvent func(Event)) (*Summary, bool) {
	start := time.Now()
	if hostEnv == nil {
		hostEnv = os.LookupEnv
	}
	payload, files, ok := cache.CheckProof(path, root, request, hostEnv)
	if !ok {
		return nil, false
	}
	rest := string(payload)
	events := make([]Event, 0, strings.Count(rest, "\n"))
	for rest != "" {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		label, fields, _ := strings.Cut(line, "\x00")
		flag, findings, some := strings.Cut(fields, "\x00")
		ev := Event{Event: EventRule, Label: label, Status: "ok", Cache: "hit"}
		switch {
		case label == "":
			return nil, false
		case flag == proofOK:
		case flag == proofWarn:
			ev.Status = "warn"
			if some {
				ev.Findings = strings.Split(findings, "\x00")
			}
		default:
			return nil, false
		}
		events = append(events, ev)
	}
	onEvent(Event{Event: EventBuildStarted, Total: len(events)})
	sum := &Summary{Counts: map[string]int{}, Cache: map[string]int{}, Proven: files}
	for _, ev := range events {
		sum.count(ev)
		onEvent(ev)
	}
	sum.Duration = time.Since(start)
	ok = true
	onEvent(Event{Event: EventBuildFinished, Counts: sum.Counts, OK: &ok,
		MS: sum.Duration.Milliseconds(), Duration: sum.Duration})
	return sum, true
}
