// Requests: what was asked (a command, where, which patterns), the rules
// it names, and — once a build of it ended with every rule up to date —
// the files its next check stats and the rules it replays, valid while no
// file's digest nor any row changed since (the content generation).

package db

import (
	"slices"
	"strings"

	"github.com/pex-build/pex/cache"
)

// Request is one request's entry.
type Request struct {
	Roots    []RuleID // the rules asked for (what they need is added)
	Services []RuleID // services named, whose needs are built
	// Verified is the content generation at which a build of the request
	// left every rule up to date; 0 if none did since it was last saved.
	// Then Files are what its rules read and write, and Plan its rules,
	// in order; Env those of them that pass host variables through.
	Verified uint64
	Files    []FileID
	Plan     []RuleID
	Env      []RuleID
	used     uint64 // write generation when last used, to keep the recent ones
}

// keepRequests bounds the requests a database keeps: the most recently
// used.
const keepRequests = 16

// RequestKey identifies a request by its parts: the command, the
// directory it was run in, its patterns.
func RequestKey(parts ...string) cache.Digest {
	return cache.HashString(strings.Join(parts, "\x00"))
}

// Request returns the entry of the request with key.
func (d *DB) Request(key cache.Digest) (*Request, bool) {
	r, ok := d.reqs[key]
	return r, ok
}

// SetRequest records the request's rules, not verified.
func (d *DB) SetRequest(key cache.Digest, roots, services []RuleID) *Request {
	r := &Request{Roots: roots, Services: services}
	d.reqs[key] = r
	d.modified = true
	return r
}

// MarkVerified records that the build of req that is ending left every
// rule of plan up to date: its next check, while nothing changes, only
// stats.
func (d *DB) MarkVerified(req *Request, plan []RuleID) {
	if req.Verified == d.stats.ContentGen && !d.files.changed && !d.rows.changed && slices.Equal(req.Plan, plan) {
		return // still so
	}
	files, env, always := d.planFiles(plan)
	if always {
		return // a rule that always runs: every build has work
	}
	req.Plan, req.Files, req.Env = plan, files, env
	req.Verified = ^uint64(0) // set by Save to the generation it writes
	d.modified = true
}

// planFiles returns, in one pass over the rules of plan, the files they
// read and write by number (path order but for files added since the
// table was made), those of them that pass host variables through, and
// whether one of them always runs (cache = False).
func (d *DB) planFiles(plan []RuleID) (files []FileID, env []RuleID, always bool) {
	seen := make([]bool, d.Files())
	var scratch []uint32
	for _, r := range plan {
		rec, s, err := d.record(r, scratch[:0])
		scratch = s
		if err != nil {
			continue
		}
		always = always || rec.flags&ruleNoCache != 0
		if rec.flags&rulePassthrough != 0 {
			env = append(env, r)
		}
		for _, l := range []int{listInputs, listTools, listOuts} {
			for _, f := range rec.lists[l] {
				seen[f] = true
			}
		}
		if rec.flags&ruleDepfile == 0 {
			continue
		}
		if row, ok := d.row(r); ok {
			for _, it := range row.Discovered {
				if int(it.File) < len(seen) {
					seen[it.File] = true
				}
			}
		}
	}
	for id, s := range seen {
		if s {
			files = append(files, FileID(id))
		}
	}
	return files, env, always
}

func (d *DB) encodeRequests() []byte {
	keys := make([]cache.Digest, 0, len(d.reqs))
	for k, r := range d.reqs {
		if r.Verified == ^uint64(0) {
			r.Verified = d.stats.ContentGen
		}
		if r.used == 0 {
			r.used = d.stats.WriteGen
		}
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b cache.Digest) int { return int(d.reqs[b].used) - int(d.reqs[a].used) })
	keys = keys[:min(len(keys), keepRequests)]
	e := cache.Encoder{}
	e.Uvarint(uint64(len(keys)))
	for _, k := range keys {
		r := d.reqs[k]
		e.Digest(k)
		e.Uvarint(r.used)
		putIDs(&e, r.Roots)
		putIDs(&e, r.Services)
		e.Uvarint(r.Verified)
		if r.Verified != 0 {
			putIDs(&e, r.Files)
			putIDs(&e, r.Plan)
			putIDs(&e, r.Env)
		}
	}
	return e.B
}

// Use notes that req is being used, so that it is kept.
func (d *DB) Use(req *Request) { req.used = d.stats.WriteGen + 1 }

func (d *DB) decodeRequests(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	dec := cache.NewDecoder(b)
	for n := dec.Count(33); n > 0; n-- {
		k := dec.Digest()
		r := &Request{used: dec.Uvarint(), Roots: getIDs[RuleID](dec), Services: getIDs[RuleID](dec), Verified: dec.Uvarint()}
		if r.Verified != 0 {
			r.Files, r.Plan, r.Env = getIDs[FileID](dec), getIDs[RuleID](dec), getIDs[RuleID](dec)
		}
		d.reqs[k] = r
	}
	return dec.Done()
}

func putIDs[T ~uint32](e *cache.Encoder, ids []T) {
	e.Uvarint(uint64(len(ids)))
	for _, id := range ids {
		e.Uvarint(uint64(id))
	}
}

func getIDs[T ~uint32](dec *cache.Decoder) []T {
	n := dec.Count(1)
	if n == 0 {
		return nil
	}
	out := make([]T, n)
	for i := range out {
		out[i] = T(dec.Uvarint())
	}
	return out
}
