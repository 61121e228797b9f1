// Requests: what was asked (a command, where, which patterns), the rules
// it names, and — once a build of it ended with every rule up to date —
// what its next check needs without decoding a rule: the files to stat,
// the rules to replay with what to report of each, and the edges back
// from files to the rules reading them and from rules to those needing
// them. All of it is valid while no file's digest nor any row changed
// since (the content generation).

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
	// Then Files are what its rules read and write, Plan its rules, in
	// order, Env those of them that pass host variables through, and
	// flags, aligned with Plan, what a replay reports of each.
	Verified uint64
	Files    []FileID
	Plan     []RuleID
	Env      []RuleID
	flags    []byte
	// rev holds, encoded, the rules reading or writing each file of Files
	// and the rules needing each rule of Plan (positions in Plan); edges
	// decodes it when a check first needs it.
	rev   []byte
	edges *edges
	used  uint64 // write generation when last used, to keep the recent ones
	dirty uint8  // what Save must write of it: reqHeader or reqAll
}

// What Save writes of a request changed since it was read.
const (
	reqHeader = 1 // its use and verified generation
	reqAll    = 2 // everything
)

// Replay flags: what a replay reports of a rule without its row.
const (
	replayWarn      = 1 << iota // its row's status is warn: it has findings
	replayTest                  // it is tagged test
	replayGenerated             // a dynamic rule generated it
)

// edges are a verified request's edges back, by position: users[i] the
// rules reading or writing Files[i], needers[p] the rules needing Plan[p].
type edges struct {
	users, needers [][]uint32
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
	r := &Request{Roots: roots, Services: services, dirty: reqAll}
	d.reqs[key] = r
	d.modified = true
	return r
}

// verifiedPending is the Verified of a request marked by the build that
// is ending: Save sets it to the content generation it writes.
const verifiedPending = ^uint64(0)

// MarkVerified records that the build of req that is ending left every
// rule of plan up to date: its next check, while nothing changes, only
// stats.
func (d *DB) MarkVerified(req *Request, plan []RuleID) {
	current := req.Verified == d.stats.ContentGen && slices.Equal(req.Plan, plan)
	if current && !d.files.changed && !d.rows.changed {
		return // still so
	}
	planned := d.planned
	d.planned = nil
	switch {
	case current && !d.discoveredMoved():
		// The lists hold (no rule's files changed); what changed is which
		// rules ran, and what they report.
		d.refreshFlags(req)
		req.dirty = max(req.dirty, reqHeader)
	case planned != nil && slices.Equal(planned.Plan, plan) && !d.discoveredMoved():
		// The check made them, and they still hold.
		req.keep(planned)
		d.refreshFlags(req)
		req.dirty = reqAll
	default:
		lists := &Request{}
		if d.planLists(lists, plan, d.row) {
			return // a rule that always runs: every build has work
		}
		req.keep(lists)
		req.dirty = reqAll
	}
	req.Verified = verifiedPending
	d.modified = true
}

// keep sets req's lists to those planLists made in l.
func (req *Request) keep(l *Request) {
	req.Plan, req.Files, req.Env, req.flags, req.edges, req.rev = l.Plan, l.Files, l.Env, l.flags, l.edges, nil
}

// discoveredMoved reports whether a rule with a depfile got a row in this
// process: what it read may have moved.
func (d *DB) discoveredMoved() bool {
	for r := range d.rows.over {
		if int(r) < d.Rules() && d.flags(r)&ruleDepfile != 0 {
			return true
		}
	}
	return false
}

// refreshFlags sets the replay flags of the rules of req that got a row
// in this process.
func (d *DB) refreshFlags(req *Request) {
	var flags []byte // a copy: req.flags may be the mapped file
	for r, row := range d.rows.over {
		p, ok := slices.BinarySearch(req.Plan, r)
		if !ok || row == nil {
			continue
		}
		f := req.flags[p] &^ replayWarn
		if row.Status == "warn" {
			f |= replayWarn
		}
		if f != req.flags[p] {
			if flags == nil {
				flags = slices.Clone(req.flags)
			}
			flags[p] = f
		}
	}
	if flags != nil {
		req.flags = flags
		req.dirty = reqAll
	}
}

// planLists sets, in one pass over the rules of plan, req's lists: the
// files they read and write by number (in number order), those that pass
// host variables through, the replay flags and the edges back. It
// reports whether one of them always runs (cache = False): a request
// with one is never verified. row looks up rows (a check passes its own,
// which keeps them decoded for marking).
func (d *DB) planLists(req *Request, plan []RuleID, row func(RuleID) (*Row, bool)) (always bool) {
	pos := make(map[RuleID]uint32, len(plan))
	for p, r := range plan {
		pos[r] = uint32(p)
	}
	users := make([][]uint32, d.Files()) // by file number, for now
	needers := make([][]uint32, len(plan))
	flags := make([]byte, len(plan))
	var env []RuleID
	var scratch []uint32
	use := func(f uint32, p uint32) {
		if int(f) < len(users) && (len(users[f]) == 0 || users[f][len(users[f])-1] != p) {
			users[f] = append(users[f], p)
		}
	}
	for p, r := range plan {
		rec, s, err := d.record(r, scratch[:0])
		scratch = s
		if err != nil {
			continue
		}
		always = always || rec.flags&ruleNoCache != 0
		if rec.flags&rulePassthrough != 0 {
			env = append(env, r)
		}
		if rec.flags&ruleTest != 0 {
			flags[p] |= replayTest
		}
		if rec.flags&ruleGenerated != 0 {
			flags[p] |= replayGenerated
		}
		for _, l := range []int{listInputs, listTools, listOuts} {
			for _, f := range rec.lists[l] {
				use(f, uint32(p))
			}
		}
		for _, l := range []int{listDeps, listProviders} {
			for _, dep := range rec.lists[l] {
				if q, ok := pos[RuleID(dep)]; ok {
					needers[q] = append(needers[q], uint32(p))
				}
			}
		}
		if row, ok := row(r); ok {
			if row.Status == "warn" {
				flags[p] |= replayWarn
			}
			if rec.flags&ruleDepfile != 0 {
				for _, it := range row.Discovered {
					use(uint32(it.File), uint32(p))
				}
			}
		}
	}
	var files []FileID
	e := &edges{needers: needers}
	for id, u := range users {
		if len(u) > 0 {
			files = append(files, FileID(id))
			e.users = append(e.users, u)
		}
	}
	req.Plan, req.Files, req.Env, req.flags = plan, files, env, flags
	req.edges, req.rev = e, nil
	return always
}

// reverse returns req's edges back, decoding them on first use.
func (d *DB) reverse(req *Request) (*edges, error) {
	if req.edges != nil {
		return req.edges, nil
	}
	dec := cache.NewDecoder(req.rev)
	e := &edges{users: getLists(dec, len(req.Files)), needers: getLists(dec, len(req.Plan))}
	if err := dec.Done(); err != nil {
		return nil, errDamaged("a request's edges")
	}
	req.edges = e
	return e, nil
}

func putLists(e *cache.Encoder, lists [][]uint32) {
	for _, l := range lists {
		e.Uvarint(uint64(len(l)))
		for _, v := range l {
			e.Uvarint(uint64(v))
		}
	}
}

func getLists(dec *cache.Decoder, n int) [][]uint32 {
	lists := make([][]uint32, n)
	for i := range lists {
		if c := dec.Count(1); c > 0 {
			lists[i] = make([]uint32, c)
			for j := range lists[i] {
				lists[i][j] = uint32(dec.Uvarint())
			}
		}
	}
	return lists
}

// encodeRequest writes request k; all of it, or with only the header,
// what changed of an entry already written.
func (d *DB) encodeRequest(e *cache.Encoder, k cache.Digest, r *Request, all bool) {
	e.Digest(k)
	e.Uvarint(r.used)
	e.Uvarint(r.Verified)
	if !all {
		e.Uvarint(0)
		return
	}
	e.Uvarint(1)
	putIDs(e, r.Roots)
	putIDs(e, r.Services)
	if r.Verified == 0 {
		return
	}
	putIDs(e, r.Files)
	putIDs(e, r.Plan)
	putIDs(e, r.Env)
	e.Blob(r.flags)
	if r.rev == nil && r.edges != nil {
		var sub cache.Encoder
		putLists(&sub, r.edges.users)
		putLists(&sub, r.edges.needers)
		r.rev = sub.B
	}
	e.Blob(r.rev)
}

// decodeRequest reads what encodeRequest wrote into d.reqs.
func (d *DB) decodeRequest(dec *cache.Decoder) {
	k := dec.Digest()
	used, verified := dec.Uvarint(), dec.Uvarint()
	all := dec.Uvarint() == 1
	r, ok := d.reqs[k]
	if !all {
		if ok { // else it was dropped when the file was last written whole
			r.used, r.Verified = used, verified
		}
		return
	}
	r = &Request{used: used, Verified: verified, Roots: getIDs[RuleID](dec), Services: getIDs[RuleID](dec)}
	if r.Verified != 0 {
		r.Files, r.Plan, r.Env = getIDs[FileID](dec), getIDs[RuleID](dec), getIDs[RuleID](dec)
		r.flags, r.rev = dec.Blob(), dec.Blob()
		if len(r.flags) != len(r.Plan) {
			dec.Fail()
		}
	}
	d.reqs[k] = r
}

// settleRequests gives the requests marked verified the content
// generation being written.
func (d *DB) settleRequests() {
	for _, r := range d.reqs {
		if r.Verified == verifiedPending {
			r.Verified = d.stats.ContentGen
		}
		if r.used == 0 {
			r.used = d.stats.WriteGen
		}
	}
}

// encodeRequests returns the requests section: the most recently used.
func (d *DB) encodeRequests() []byte {
	keys := make([]cache.Digest, 0, len(d.reqs))
	for k := range d.reqs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b cache.Digest) int { return int(d.reqs[b].used) - int(d.reqs[a].used) })
	keys = keys[:min(len(keys), keepRequests)]
	e := cache.Encoder{}
	e.Uvarint(uint64(len(keys)))
	for _, k := range keys {
		d.encodeRequest(&e, k, d.reqs[k], true)
	}
	return e.B
}

// Use notes that req is being used, so that it is kept.
func (d *DB) Use(req *Request) {
	if req.used != d.stats.WriteGen+1 {
		req.used = d.stats.WriteGen + 1
		req.dirty = max(req.dirty, reqHeader)
	}
}

func (d *DB) decodeRequests(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	dec := cache.NewDecoder(b)
	for n := dec.Count(35); n > 0; n-- {
		d.decodeRequest(dec)
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
