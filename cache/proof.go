// Up-to-date proofs: what lets a no-op build answer from stat calls alone,
// before it reads a BUILD file, the saved graph or the state.
//
// A build that finished with every rule up to date (or just made so)
// writes a proof: the request it answered (command, patterns, flags, the
// pex binary), the values of the variables its rules pass through, an
// opaque payload to replay (which rules, their findings), and every file
// and directory its answer depended on (the Starlark files and listings
// evaluation read, every input, tool, output and discovered input), each
// with the stat it had. A later identical request is answered from the
// payload while every one of those paths still has that stat and every
// variable its value. Any difference sends the build down the full path,
// which writes a new proof. A stat younger than RacyMargin cannot prove
// a file unchanged (a change within one timestamp tick would keep it), so
// such a file is recorded with its digest, and hashed again when its stat
// holds: typically the few outputs the last build wrote. Every file of
// the rules carries its contents' digest anyway, so that one touched or
// saved unchanged leaves the proof holding, written again with its new
// stat.
//
// Format: "pexu", uvarint version, request, variable names, digest of
// their values, payload, the rules section and its own CRC-32C (see
// StaleProof), the number of evaluation paths, then the files
// (path, kind, a digest for the kinds that carry one, then size, mtime,
// ctime, inode), and the CRC-32C of all of it but the rules section, which
// a no-op build does not read. A damaged proof is no proof; a damaged
// rules section is none to rebuild from.

package cache

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	proofMagic   = "pexu"
	proofVersion = 5
)

// FileStat is a path's stat as the proof compares it. The zero value
// stands for a path that does not exist.
type FileStat struct {
	st      fileStat
	present bool
	other   bool // not a regular file: a directory, typically
}

// StatFile stats path, following symbolic links; a missing path yields
// the zero FileStat.
func StatFile(path string) FileStat {
	st, regular, err := statPath(path)
	if err != nil {
		return FileStat{}
	}
	return FileStat{st: st, present: true, other: !regular}
}

// String shows the stat: size, mtime, ctime and inode, or "missing".
func (s FileStat) String() string {
	if !s.present {
		return "missing"
	}
	return fmt.Sprintf("size %d mtime %d ctime %d inode %d", s.st.size, s.st.mtime, s.st.ctime, s.st.inode)
}

// ContentDigest digests what a path holds: a regular file's contents, or
// the sorted names in a directory. It vouches for a path whose stat is
// too recent to (see ProofFile).
func ContentDigest(path string, st FileStat) (Digest, error) {
	if !st.other {
		d, _, err := HashFile(path)
		return d, err
	}
	f, err := os.Open(path)
	if err != nil {
		return Digest{}, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return Digest{}, err
	}
	slices.Sort(names)
	var b []byte
	for _, n := range names {
		b = append(append(b, n...), 0)
	}
	return HashBytes(b), nil
}

// Recent reports whether the path changed less than RacyMargin before
// now: such a stat cannot vouch for the path's contents.
func (s FileStat) Recent(now time.Time) bool {
	return s.present && racy(s.st, now)
}

// Stat returns the digest memoised for path and the stat it is memoised
// under, or false when none is: the file was never hashed, or too
// recently changed.
func (m *Memo) Stat(path string) (FileStat, Digest, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.entries[path]
	return FileStat{st: e.stat, present: true}, e.digest, ok
}

// ProofFile is one path a proof depends on, workspace-relative (or
// absolute, outside the workspace), with its stat. A file may carry its
// contents' digest (Content): when its stat changed but not what it
// holds (touched, saved unchanged), the proof still holds. A path whose
// stat is too recent to vouch for its contents (see RacyMargin) carries
// their ContentDigest, taken after the stat, and Verify: the check
// digests it again even when its stat holds.
type ProofFile struct {
	Path    string
	Stat    FileStat
	Content bool // Digest is the file's contents' digest
	Verify  bool // digest it even when its stat holds (implies Content)
	Digest  Digest
}

// Proof is an up-to-date proof; see the top of this file.
type Proof struct {
	Request []byte   // what was asked, exactly
	Env     []string // names of the variables the rules pass through
	Payload string   // what to replay, opaque here
	// Rules is what a build needs to rebuild the rules a change reaches
	// without the rest of the graph (see StaleProof); opaque here.
	Rules []byte
	// The paths the answer depends on: those evaluating the BUILD files
	// depended on, and the rules' files.
	Evaluation, Files []ProofFile
}

// ProofCheck is what checking a proof found.
type ProofCheck struct {
	// Valid says the proof was made for this request, with these
	// variable values; the rest is only set when it is.
	Valid bool
	// Holds says every path still has its recorded stat: the proof
	// answers the request.
	Holds   bool
	Payload string
	Files   int // paths in the proof
	// When it does not hold: EvaluationChanged says a path evaluation
	// depended on changed, so the rules may differ. Otherwise Changed
	// lists every path of the rules that changed.
	EvaluationChanged bool
	Changed           []string
	// Stale is the proof itself when it was valid but only the rules'
	// files changed: a build that rebuilds what they reach may patch it
	// (see StaleProof). Close releases it.
	Stale *StaleProof
}

// Close releases what the check holds on to.
func (c *ProofCheck) Close() {
	if c.Stale != nil {
		c.Stale.release()
		c.Stale = nil
	}
}

// WriteProof writes p to path, looking the variables up with lookupEnv.
// It replaces any older proof there atomically.
func WriteProof(path string, p *Proof, lookupEnv func(string) (string, bool)) error {
	// In path order, so that the paths of one directory come together
	// (see statter).
	byPath := func(a, b ProofFile) int { return strings.Compare(a.Path, b.Path) }
	entries := make([]proofEntry, 0, len(p.Evaluation)+len(p.Files))
	for _, list := range [][]ProofFile{p.Evaluation, p.Files} {
		if !slices.IsSortedFunc(list, byPath) {
			list = slices.Clone(list)
			slices.SortFunc(list, byPath)
		}
		for i := range list {
			entries = append(entries, newProofEntry(&list[i]))
		}
	}
	return writeProof(path, p.Request, p.Env, p.Payload, p.Rules, len(p.Evaluation), entries, lookupEnv)
}

// newProofEntry is f as the proof keeps it.
func newProofEntry(f *ProofFile) proofEntry {
	e := proofEntry{path: []byte(f.Path), stat: f.Stat, verify: f.Verify}
	if f.Content || f.Verify {
		d := f.Digest
		e.digest = &d
	}
	return e
}

func writeProof(path string, request []byte, env []string, payload string, rules []byte, evaluation int, entries []proofEntry, lookupEnv func(string) (string, bool)) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	// Written through a small buffer, the large parts straight from
	// where they are: a proof of many files is megabytes, which a
	// buffer of its own would have to fault in page by page.
	w := proofWriter{f: tmp}
	w.e.b = make([]byte, 0, 64<<10)
	w.e.b = append(w.e.b, proofMagic...)
	w.e.uvarint(proofVersion)
	w.e.str(string(request))
	w.e.strs(env)
	w.e.digest(envSum(env, lookupEnv))
	w.e.uvarint(uint64(len(payload)))
	w.string(payload)
	w.e.uvarint(uint64(len(rules)))
	w.apart(rules)
	w.e.uvarint(uint64(evaluation))
	w.e.uvarint(uint64(len(entries)))
	e := &w.e
	for i := range entries {
		f := &entries[i]
		if len(e.b) > 60<<10 {
			w.flush()
		}
		e.uvarint(uint64(len(f.path)))
		e.b = append(e.b, f.path...)
		switch {
		case !f.stat.present:
			e.b = append(e.b, entryMissing)
			continue
		case f.verify && f.stat.other:
			e.b = append(e.b, entryVerifyOther)
			e.digest(*f.digest)
		case f.verify:
			e.b = append(e.b, entryVerify)
			e.digest(*f.digest)
		case f.digest != nil && !f.stat.other:
			e.b = append(e.b, entryContent)
			e.digest(*f.digest)
		case f.stat.other:
			e.b = append(e.b, entryOther)
		default:
			e.b = append(e.b, entryPresent)
		}
		e.varint(f.stat.st.size)
		e.varint(f.stat.st.mtime)
		e.varint(f.stat.st.ctime)
		e.uvarint(f.stat.st.inode)
	}
	w.flush()
	w.e.b = binary.LittleEndian.AppendUint32(w.e.b[:0], w.crc)
	if _, err := tmp.Write(w.e.b); w.err == nil {
		w.err = err
	}
	err = w.err
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// proofWriter writes a proof to f, keeping its checksum; the first error
// sticks.
type proofWriter struct {
	f   *os.File
	e   encoder
	crc uint32
	err error
}

// flush writes what the encoder holds.
func (w *proofWriter) flush() {
	w.write(w.e.b)
	w.e.b = w.e.b[:0]
}

func (w *proofWriter) write(b []byte) {
	if len(b) == 0 || w.err != nil {
		return
	}
	w.crc = crc32.Update(w.crc, castagnoli, b)
	_, w.err = w.f.Write(b)
}

// apart writes b, after what the encoder holds, outside the proof's
// checksum and followed by its own: a part only some readers read, which
// the others need not checksum.
func (w *proofWriter) apart(b []byte) {
	w.flush()
	if len(b) > 0 && w.err == nil {
		_, w.err = w.f.Write(b)
	}
	w.e.b = binary.LittleEndian.AppendUint32(w.e.b, checksum(b))
}

// string writes s through the encoder's buffer, a piece at a time.
func (w *proofWriter) string(s string) {
	for len(s) > 0 {
		n := min(len(s), cap(w.e.b)-len(w.e.b))
		if n == 0 {
			w.flush()
			continue
		}
		w.e.b = append(w.e.b, s[:n]...)
		s = s[n:]
	}
}

// CheckProof reads the proof at path and checks it against request, the
// current variable values and the stat of every path it lists, resolved
// against root. The paths are statted on a few goroutines; the check
// stops at the first change to an evaluation path, and otherwise lists
// every changed path of the rules, which a build that must run anyway
// need not stat again.
func CheckProof(path, root string, request []byte, lookupEnv func(string) (string, bool)) ProofCheck {
	data, _, release, err := mapFile(path)
	if err != nil {
		return ProofCheck{}
	}
	keep := false
	defer func() {
		if !keep {
			release() // what outlives the check is copied out of it
		}
	}()
	if len(data) < len(proofMagic)+4 {
		return ProofCheck{}
	}
	body := data[:len(data)-4]
	if string(body[:len(proofMagic)]) != proofMagic {
		return ProofCheck{}
	}
	d := decoder{b: body[len(proofMagic):]}
	version, req := d.uvarint(), d.bytes(d.uvarint())
	env := d.strs()
	envDigest, payload := d.digest(), d.bytes(d.uvarint())
	// The rules section has a checksum of its own, checked when it is
	// read (see StaleProof): the proof's skips it.
	n := d.uvarint()
	start := len(body) - len(d.b)
	rules, rulesSum := d.bytes(n), d.bytes(4)
	if d.err != nil || crc32.Update(checksum(body[:start]), castagnoli, body[start+len(rules):]) != binary.LittleEndian.Uint32(data[len(body):]) {
		return ProofCheck{}
	}
	if version != proofVersion || string(req) != string(request) || envDigest != envSum(env, lookupEnv) {
		return ProofCheck{}
	}
	// Only a proof to write again or rebuild from needs it.
	intact := func() []byte {
		if binary.LittleEndian.Uint32(rulesSum) != checksum(rules) {
			return nil // damaged: none to rebuild from, none to write again
		}
		return rules
	}
	evaluation := d.uvarint()
	n = d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) || evaluation > n {
		return ProofCheck{}
	}
	files := make([]proofEntry, n)
	for i := range files {
		f := &files[i]
		f.path = d.bytes(d.uvarint())
		kind := d.bytes(1)
		if len(kind) != 1 || kind[0] == entryMissing {
			continue
		}
		switch kind[0] {
		case entryVerify, entryVerifyOther:
			f.verify, f.digest = true, digestRef(&d)
		case entryContent:
			f.digest = digestRef(&d)
		}
		other := kind[0] == entryOther || kind[0] == entryVerifyOther
		f.stat = FileStat{present: true, other: other, st: fileStat{size: d.varint(), mtime: d.varint(), ctime: d.varint()}}
		f.stat.st.inode = d.uvarint()
	}
	if d.err != nil || len(d.b) != 0 {
		return ProofCheck{}
	}
	c := ProofCheck{Valid: true, Payload: string(payload), Files: len(files)}
	if len(changed(root, files[:evaluation], true)) > 0 {
		c.EvaluationChanged = true
		return c
	}
	idx := changed(root, files[evaluation:], false)
	c.Holds = len(idx) == 0
	if c.Holds {
		refresh(path, request, env, c.Payload, intact, int(evaluation), files, lookupEnv)
		return c
	}
	c.Changed = make([]string, len(idx))
	for i, j := range idx {
		c.Changed[i] = string(files[int(evaluation)+j].path)
	}
	keep = true
	c.Stale = &StaleProof{path: path, request: request, env: env, payload: c.Payload, rules: intact(),
		evaluation: int(evaluation), files: files, changed: idx, release: release}
	return c
}

// refresh writes a proof that holds again when it learned something: a
// file's new stat (touched, same contents), or that paths it carried as
// too recent have aged, so that their stats now vouch for them and later
// checks need not hash them.
func refresh(path string, request []byte, env []string, payload string, rules func() []byte, evaluation int, files []proofEntry, lookupEnv func(string) (string, bool)) {
	now := proofClock()
	stale := false
	for i := range files {
		if files[i].moved || files[i].verify && !files[i].stat.Recent(now) {
			stale = true
			break
		}
	}
	if !stale {
		return
	}
	age(files, now)
	_ = writeProof(path, request, env, payload, rules(), evaluation, files, lookupEnv)
}

// age marks the entries that carry a digest for verifying exactly when
// their stats are too recent to vouch for their contents: those that have
// aged need it no more, a new stat (touched) may need it.
func age(files []proofEntry, now time.Time) {
	for i := range files {
		if files[i].digest != nil {
			files[i].verify = files[i].stat.Recent(now)
		}
	}
}

// proofClock is the clock aging reads; tests move it forward.
var proofClock = time.Now

// Kinds of proof entries.
const (
	entryMissing     = iota
	entryPresent     // a regular file
	entryOther       // a directory, say
	entryVerify      // a regular file, followed by the digest to verify
	entryVerifyOther // a directory, followed by the digest to verify
	entryContent     // a regular file, followed by its contents' digest
)

// digestRef returns the next digest of d, aliasing its input, or nil.
func digestRef(d *decoder) *Digest {
	b := d.bytes(uint64(len(Digest{})))
	if len(b) != len(Digest{}) {
		return nil
	}
	return (*Digest)(b)
}

// proofEntry is a ProofFile as read back: the path and digest alias the
// proof, and the entry is kept small, as a large proof has many.
type proofEntry struct {
	path   []byte
	stat   FileStat
	digest *Digest // the contents' digest, if carried
	verify bool    // digest it even when the stat holds
	moved  bool    // the stat changed, the contents did not: stat is the new one
}

// holds reports whether the path still matches: the same stat (and
// contents, if too recent to trust the stat), or the same contents under
// a new stat, which it then keeps.
func (f *proofEntry) holds(root string, st *statter) bool {
	cur := st.stat(f.path)
	if cur == f.stat && !f.verify {
		return true
	}
	name := string(f.path)
	if len(name) == 0 || name[0] != '/' {
		name = root + "/" + name
	}
	if cur == f.stat {
		d, err := ContentDigest(name, cur)
		return err == nil && d == *f.digest
	}
	if f.digest == nil || f.stat.other || !cur.present || cur.other {
		return false
	}
	d, _, err := HashFile(name)
	if err != nil || d != *f.digest {
		return false
	}
	f.stat, f.moved = cur, true
	return true
}

// changed stats every file on a few goroutines and returns the indices,
// in order, of those whose stat differs from the recorded one, or only
// the first found if first.
func changed(root string, files []proofEntry, first bool) []int {
	workers := max(2, runtime.GOMAXPROCS(0))
	var stop atomic.Bool
	var wg sync.WaitGroup
	const chunk = 256
	var next atomic.Int64
	found := make([][]int, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := newStatter(root)
			defer st.close()
			for !stop.Load() {
				start := int(next.Add(chunk)) - chunk
				if start >= len(files) {
					return
				}
				for i := start; i < min(start+chunk, len(files)); i++ {
					f := &files[i]
					if !f.holds(root, st) {
						found[w] = append(found[w], i)
						if first {
							stop.Store(true)
							return
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	var all []int
	for _, ps := range found {
		all = append(all, ps...)
	}
	slices.Sort(all)
	return all
}

// envSum digests the values of the named variables, telling unset from
// empty.
func envSum(names []string, lookupEnv func(string) (string, bool)) Digest {
	var b []byte
	for _, name := range names {
		b = append(b, name...)
		if v, ok := lookupEnv(name); ok {
			b = append(b, '=')
			b = append(b, v...)
		}
		b = append(b, 0)
	}
	return HashBytes(b)
}

// StaleProof is a valid proof some of whose rule files changed, kept for
// the build that follows: with the rules section of the proof (opaque
// here, see Proof.Rules) it can rebuild just the rules the changes reach,
// then patch the proof's entries for the files it touched and write it
// again. Files are numbered in the order the proof keeps them (by path),
// from 0, evaluation paths apart. Nothing read from it may be used after
// ProofCheck.Close.
type StaleProof struct {
	path       string
	request    []byte
	env        []string
	payload    string
	rules      []byte
	evaluation int
	files      []proofEntry // evaluation paths, then the rules' files
	changed    []int
	release    func()
}

// Rules returns the proof's rules section.
func (s *StaleProof) Rules() []byte { return s.rules }

// Changed returns the numbers of the files that changed, in order.
func (s *StaleProof) Changed() []int { return s.changed }

// Len returns the number of the rules' files.
func (s *StaleProof) Len() int { return len(s.files) - s.evaluation }

// Path returns file i's path.
func (s *StaleProof) Path(i int) string { return string(s.files[s.evaluation+i].path) }

// Memoise adds to m, under the key abs, the digest file i's stat vouches
// for, if it carries one, unchanged since: as if the state's memo had it.
func (s *StaleProof) Memoise(m *Memo, i int, abs string) {
	f := &s.files[s.evaluation+i]
	// A changed file's recorded stat is not its stat now, so memoising it
	// is harmless: the memo never matches it.
	if f.digest == nil || f.verify || f.moved || f.stat.other || !f.stat.present {
		return
	}
	m.mu.Lock()
	if _, ok := m.entries[abs]; !ok {
		m.entries[abs] = memoEntry{stat: f.stat.st, digest: *f.digest}
	}
	m.mu.Unlock()
}

// Vouched returns the digest of file i's contents the proof carries, and
// its stat, as the proof was checked: what a build patched from the proof
// found there, unless the file changed since.
func (s *StaleProof) Vouched(i int) (Digest, FileStat, bool) {
	f := &s.files[s.evaluation+i]
	if f.digest == nil {
		return Digest{}, f.stat, false
	}
	return *f.digest, f.stat, true
}

// Set replaces file i's entry (f.Path is ignored).
func (s *StaleProof) Set(i int, f ProofFile) { s.files[s.evaluation+i].set(f) }

// Evaluation returns the number of the evaluation path p, or -1.
func (s *StaleProof) Evaluation(p string) int {
	i, ok := slices.BinarySearchFunc(s.files[:s.evaluation], p, func(e proofEntry, p string) int {
		return strings.Compare(string(e.path), p)
	})
	if !ok {
		return -1
	}
	return i
}

// EvaluationStat returns evaluation path i's recorded stat and, when the
// stat was too recent to vouch for it, the digest of its contents the
// proof carries instead (see ContentDigest).
func (s *StaleProof) EvaluationStat(i int) (st FileStat, digest Digest, verify bool) {
	f := &s.files[i]
	if f.verify {
		return f.stat, *f.digest, true
	}
	return f.stat, Digest{}, false
}

// SetEvaluation replaces evaluation path i's entry (f.Path is ignored).
func (s *StaleProof) SetEvaluation(i int, f ProofFile) { s.files[i].set(f) }

// set makes the entry f's, keeping its path.
func (e *proofEntry) set(f ProofFile) {
	f.Path = ""
	path := e.path
	*e = newProofEntry(&f)
	e.path = path
}

// Write writes the proof again, with the payload given and its entries as
// set, in place of the one it was read from.
func (s *StaleProof) Write(payload string, lookupEnv func(string) (string, bool)) error {
	age(s.files, proofClock())
	return writeProof(s.path, s.request, s.env, payload, s.rules, s.evaluation, s.files, lookupEnv)
}
