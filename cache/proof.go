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
// which writes a new proof. Stats are only recorded when older than
// RacyMargin, as the memo's are, so a change cannot hide inside one
// timestamp tick.
//
// Format: "pexu", uvarint version, request, variable names, digest of
// their values, payload, then the files (path, presence, size, mtime,
// ctime, inode), and the CRC-32C of all of it. A damaged proof is no proof.

package cache

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

const (
	proofMagic   = "pexu"
	proofVersion = 1
)

// FileStat is a path's stat as the proof compares it. The zero value
// stands for a path that does not exist.
type FileStat struct {
	st      fileStat
	present bool
}

// StatFile stats path, following symbolic links; a missing path yields
// the zero FileStat.
func StatFile(path string) FileStat {
	st, _, err := statPath(path)
	if err != nil {
		return FileStat{}
	}
	return FileStat{st: st, present: true}
}

// Recent reports whether the path changed less than RacyMargin before
// now: such a stat cannot vouch for the path's contents.
func (s FileStat) Recent(now time.Time) bool {
	return s.present && racy(s.st, now)
}

// Stat returns the stat under which path's digest is memoised, or false
// when none is: the file was never hashed, or too recently changed.
func (m *Memo) Stat(path string) (FileStat, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.entries[path]
	return FileStat{st: e.stat, present: true}, ok
}

// ProofFile is one path a proof depends on, workspace-relative (or
// absolute, outside the workspace), with its stat.
type ProofFile struct {
	Path string
	Stat FileStat
}

// Proof is an up-to-date proof; see the top of this file.
type Proof struct {
	Request []byte   // what was asked, exactly
	Env     []string // names of the variables the rules pass through
	Payload []byte   // what to replay, opaque here
	Files   []ProofFile
}

// WriteProof writes p to path, looking the variables up with lookupEnv.
// It replaces any older proof there atomically.
func WriteProof(path string, p *Proof, lookupEnv func(string) (string, bool)) error {
	var e encoder
	e.b = make([]byte, 0, 64+len(p.Request)+len(p.Payload)+40*len(p.Files))
	e.b = append(e.b, proofMagic...)
	e.uvarint(proofVersion)
	e.str(string(p.Request))
	e.strs(p.Env)
	e.digest(envSum(p.Env, lookupEnv))
	e.str(string(p.Payload))
	e.uvarint(uint64(len(p.Files)))
	for _, f := range p.Files {
		e.str(f.Path)
		if !f.Stat.present {
			e.b = append(e.b, 0)
			continue
		}
		e.b = append(e.b, 1)
		e.varint(f.Stat.st.size)
		e.varint(f.Stat.st.mtime)
		e.varint(f.Stat.st.ctime)
		e.uvarint(f.Stat.st.inode)
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

// CheckProof reads the proof at path and returns its payload and the
// number of files it checked when it answers request: same request, same
// variable values, and every file, resolved against root, with its
// recorded stat. The files are statted on a few goroutines, and the check
// stops at the first difference.
func CheckProof(path, root string, request []byte, lookupEnv func(string) (string, bool)) ([]byte, int, bool) {
	data, err := os.ReadFile(path)
	if err != nil || len(data) < len(proofMagic)+4 {
		return nil, 0, false
	}
	body := data[:len(data)-4]
	if checksum(body) != binary.LittleEndian.Uint32(data[len(body):]) || string(body[:len(proofMagic)]) != proofMagic {
		return nil, 0, false
	}
	d := decoder{b: body[len(proofMagic):]}
	if d.uvarint() != proofVersion || d.str() != string(request) {
		return nil, 0, false
	}
	env := d.strs()
	if d.digest() != envSum(env, lookupEnv) || d.err != nil {
		return nil, 0, false
	}
	payload := []byte(d.str())
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		return nil, 0, false
	}
	files := make([]proofEntry, n)
	for i := range files {
		f := &files[i]
		f.path = d.bytes(d.uvarint())
		if present := d.bytes(1); len(present) == 1 && present[0] == 1 {
			f.stat = FileStat{present: true, st: fileStat{size: d.varint(), mtime: d.varint(), ctime: d.varint()}}
			f.stat.st.inode = d.uvarint()
		}
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, 0, false
	}
	if !unchanged(root, files) {
		return nil, 0, false
	}
	return payload, len(files), true
}

// proofEntry is a ProofFile as read back: the path aliases the proof.
type proofEntry struct {
	path []byte
	stat FileStat
}

// unchanged stats every file on a few goroutines and reports whether all
// still have their recorded stats. It stops at the first difference.
func unchanged(root string, files []proofEntry) bool {
	workers := max(2, runtime.GOMAXPROCS(0))
	var changed atomic.Bool
	var wg sync.WaitGroup
	const chunk = 256
	var next atomic.Int64
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, len(root)+256)
			for !changed.Load() {
				start := int(next.Add(chunk)) - chunk
				if start >= len(files) {
					return
				}
				for _, f := range files[start:min(start+chunk, len(files))] {
					buf = buf[:0]
					if len(f.path) == 0 || f.path[0] != '/' {
						buf = append(append(buf, root...), '/')
					}
					buf = append(append(buf, f.path...), 0)
					if statProof(buf) != f.stat {
						changed.Store(true)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	return !changed.Load()
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
