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
// their values, payload, the number of evaluation paths, then the files
// (path, kind, a digest for the kinds that carry one, then size, mtime,
// ctime, inode), and the CRC-32C of all of it. A damaged proof is no proof.

package cache

import (
	"encoding/binary"
	"fmt"
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
	proofVersion = 4
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
}

// WriteProof writes p to path, looking the variables up with lookupEnv.
// It replaces any older proof there atomically.
func WriteProof(path string, p *Proof, lookupEnv func(string) (string, bool)) error {
	var e encoder
	e.b = make([]byte, 0, 64+len(p.Request)+len(p.Payload)+40*(len(p.Evaluation)+len(p.Files)))
	e.b = append(e.b, proofMagic...)
	e.uvarint(proofVersion)
	e.str(string(p.Request))
	e.strs(p.Env)
	e.digest(envSum(p.Env, lookupEnv))
	e.str(p.Payload)
	e.uvarint(uint64(len(p.Evaluation)))
	e.uvarint(uint64(len(p.Evaluation) + len(p.Files)))
	// In path order, so that the paths of one directory come together
	// (see statter).
	byPath := func(a, b ProofFile) int { return strings.Compare(a.Path, b.Path) }
	for _, list := range [][]ProofFile{p.Evaluation, p.Files} {
		if !slices.IsSortedFunc(list, byPath) {
			list = slices.Clone(list)
			slices.SortFunc(list, byPath)
		}
		for i := range list {
			f := &list[i]
			e.str(f.Path)
			switch {
			case !f.Stat.present:
				e.b = append(e.b, entryMissing)
				continue
			case f.Verify && f.Stat.other:
				e.b = append(e.b, entryVerifyOther)
				e.digest(f.Digest)
			case f.Verify:
				e.b = append(e.b, entryVerify)
				e.digest(f.Digest)
			case f.Content && !f.Stat.other:
				e.b = append(e.b, entryContent)
				e.digest(f.Digest)
			case f.Stat.other:
				e.b = append(e.b, entryOther)
			default:
				e.b = append(e.b, entryPresent)
			}
			e.varint(f.Stat.st.size)
			e.varint(f.Stat.st.mtime)
			e.varint(f.Stat.st.ctime)
			e.uvarint(f.Stat.st.inode)
		}
	}
	e.b = binary.LittleEndian.AppendUint32(e.b, checksum(e.b))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(e.b)
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

// CheckProof reads the proof at path and checks it against request, the
// current variable values and the stat of every path it lists, resolved
// against root. The paths are statted on a few goroutines; the check
// stops at the first change to an evaluation path, and otherwise lists
// every changed path of the rules, which a build that must run anyway
// need not stat again.
func CheckProof(path, root string, request []byte, lookupEnv func(string) (string, bool)) ProofCheck {
	data, release, err := readProofFile(path)
	if err != nil {
		return ProofCheck{}
	}
	defer release() // what outlives the check is copied out of it
	if len(data) < len(proofMagic)+4 {
		return ProofCheck{}
	}
	body := data[:len(data)-4]
	if checksum(body) != binary.LittleEndian.Uint32(data[len(body):]) || string(body[:len(proofMagic)]) != proofMagic {
		return ProofCheck{}
	}
	d := decoder{b: body[len(proofMagic):]}
	if d.uvarint() != proofVersion || string(d.bytes(d.uvarint())) != string(request) {
		return ProofCheck{}
	}
	env := d.strs()
	if d.digest() != envSum(env, lookupEnv) || d.err != nil {
		return ProofCheck{}
	}
	payload := d.str()
	evaluation := d.uvarint()
	n := d.uvarint()
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
	c := ProofCheck{Valid: true, Payload: payload, Files: len(files)}
	if changed(root, files[:evaluation], true) != nil {
		c.EvaluationChanged = true
		return c
	}
	c.Changed = changed(root, files[evaluation:], false)
	c.Holds = len(c.Changed) == 0
	if c.Holds {
		refresh(path, request, env, payload, int(evaluation), files, lookupEnv)
	}
	return c
}

// refresh writes a proof that holds again when it learned something: a
// file's new stat (touched, same contents), or that paths it carried as
// too recent have aged, so that their stats now vouch for them and later
// checks need not hash them.
func refresh(path string, request []byte, env []string, payload string, evaluation int, files []proofEntry, lookupEnv func(string) (string, bool)) {
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
	all := make([]ProofFile, len(files))
	for i, f := range files {
		all[i] = ProofFile{Path: string(f.path), Stat: f.stat}
		if f.digest != nil {
			all[i].Content, all[i].Verify, all[i].Digest = true, f.stat.Recent(now), *f.digest
		}
	}
	_ = WriteProof(path, &Proof{Request: request, Env: env, Payload: payload,
		Evaluation: all[:evaluation], Files: all[evaluation:]}, lookupEnv)
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

// changed stats every file on a few goroutines and returns those whose
// stat differs from the recorded one, or only the first found if first.
func changed(root string, files []proofEntry, first bool) []string {
	workers := max(2, runtime.GOMAXPROCS(0))
	var stop atomic.Bool
	var wg sync.WaitGroup
	const chunk = 256
	var next atomic.Int64
	found := make([][]string, workers)
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
						found[w] = append(found[w], string(f.path))
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
	var all []string
	for _, ps := range found {
		all = append(all, ps...)
	}
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
