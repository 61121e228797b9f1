// This file saves an evaluated workspace and reuses it while nothing it
// was made from changed, so that a no-op build evaluates no Starlark.
//
// A snapshot holds the encoded graph and what LoadAll read to make it: the
// stat of every Starlark file read (or asked for and missing), a digest of
// what the package walk saw in each directory it listed (subdirectories
// and BUILD, BUILD.pex and pex.star files), a digest of the names in each
// directory a glob listed (but for outputs of rules, which glob never
// returns, so that building does not invalidate it), the --set values and
// the host facts. It is valid while all of those are unchanged. A snapshot
// is never saved while one of its files changed less than racyMargin
// before, when a later change could leave its stat unchanged.
//
// Format: "pexs", uvarint version, the header fields, the stamps, the
// Result fields, the encoded graph, then the CRC-32C of all of it.

package starlark

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pex-build/pex/graph"
)

const (
	snapshotMagic   = "pexs"
	snapshotVersion = 1
	racyMargin      = 2 * time.Second
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// now is the clock the racy check reads; tests move it forward.
var now = time.Now

// stamp is what a snapshot depends on of one path: a file's stat (all
// zero when missing), or a directory's listing digest.
type stamp struct {
	path               string // workspace-relative, "." for the root
	kind               byte   // stampFile, stampWalk or stampGlob
	size, mtime, ctime int64
	inode              uint64 // for directories: the listing digest
}

const (
	stampFile byte = iota
	stampWalk
	stampGlob
)

// LoadCached is LoadAll that reuses the snapshot at path when nothing it
// was made from changed, and otherwise evaluates and saves a new one. The
// Result's FromSnapshot says which happened. A damaged or stale snapshot
// is simply not used.
func LoadCached(ctx context.Context, opts Options, path string) (*Result, error) {
	root, err := filepath.Abs(opts.Root)
	if err != nil {
		return &Result{}, &graph.Error{Msg: err.Error()}
	}
	header := snapshotHeader(opts.Set)
	if res := readSnapshot(root, path, header, opts.TrustSnapshot); res != nil {
		return res, nil
	}
	res, err := LoadAll(ctx, opts)
	if err != nil {
		os.Remove(path)
		return res, err
	}
	encoded := res.Graph.Encode()
	res.GraphSum = graphSum(encoded)
	writeSnapshot(root, path, header, res, encoded)
	return res, nil
}

// graphSum identifies a graph by its encoding.
func graphSum(encoded []byte) []byte {
	sum := sha256.Sum256(encoded)
	return sum[:]
}

// snapshotHeader encodes what, besides files, shapes evaluation.
func snapshotHeader(set map[string]string) []byte {
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var e snapEncoder
	e.str(runtime.GOOS)
	e.str(runtime.GOARCH)
	e.uint(uint64(runtime.NumCPU()))
	e.uint(uint64(len(keys)))
	for _, k := range keys {
		e.str(k)
		e.str(set[k])
	}
	return e.b
}

func readSnapshot(root, path string, header []byte, trusted bool) *Result {
	data, err := os.ReadFile(path)
	if err != nil || len(data) < len(snapshotMagic)+4 {
		return nil
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, crcTable) != sum || string(body[:len(snapshotMagic)]) != snapshotMagic {
		return nil
	}
	d := snapDecoder{b: body[len(snapshotMagic):]}
	if d.uint() != snapshotVersion || !bytesEqual(d.bytes(), header) {
		return nil
	}
	stamps := d.stamps()
	if d.err != nil {
		return nil
	}
	res := &Result{Packages: d.strs(), Files: d.strs(), Dirs: d.strs(), GlobDirs: d.strs(), Globs: map[string][]string{}}
	for n := d.uint(); n > 0 && d.err == nil; n-- {
		pkg := d.str()
		res.Globs[pkg] = d.strs()
	}
	encoded := d.bytes()
	g, err := graph.Decode(encoded)
	if err != nil || d.err != nil {
		return nil
	}
	// The symbolic link check ran when the snapshot was made; a directory
	// turned into a link since changes the walk's listing stamps.
	if err := g.Resolve(""); err != nil {
		return nil // evaluate again and report the error from there
	}
	if !trusted {
		if _, _, ok := restampAll(root, g, stamps); !ok {
			return nil
		}
	}
	res.Graph = g
	res.FromSnapshot = true
	res.GraphSum = graphSum(encoded)
	res.snap = &savedSnapshot{root: root, path: path, header: header, encoded: encoded, stamps: stamps}
	return res
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// restampAll checks every stamped path, on a few goroutines, as restamp
// does. It returns the stamps with the directories' current times and how
// many of them moved, or ok false at the first path that changed.
func restampAll(root string, g *graph.Graph, stamps []stamp) (fresh []stamp, moved int, ok bool) {
	trusted := now().Add(-racyMargin).UnixNano()
	fresh = make([]stamp, len(stamps))
	const workers = 4
	var wg sync.WaitGroup
	var bad atomic.Bool
	var n atomic.Int64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(stamps) && !bad.Load(); i += workers {
				st, ok := restamp(root, g, stamps[i], trusted)
				if !ok {
					bad.Store(true)
					return
				}
				if st != stamps[i] {
					n.Add(1)
				}
				fresh[i] = st
			}
		}()
	}
	wg.Wait()
	return fresh, int(n.Load()), !bad.Load()
}

func writeSnapshot(root, path string, header []byte, res *Result, encoded []byte) {
	trusted := now().Add(-racyMargin).UnixNano()
	var stamps []stamp
	for _, p := range res.Files {
		st := takeStamp(root, res.Graph, p, stampFile)
		if st.mtime > trusted || st.ctime > trusted {
			os.Remove(path) // too recent to trust: evaluate again next time
			return
		}
		stamps = append(stamps, st)
	}
	for _, p := range res.Dirs {
		stamps = append(stamps, dirStamp(root, res.Graph, p, stampWalk, trusted))
	}
	for _, p := range res.GlobDirs {
		stamps = append(stamps, dirStamp(root, res.Graph, p, stampGlob, trusted))
	}
	if writeAtomic(path, encodeSnapshot(header, stamps, res, encoded)) == nil {
		res.snap = &savedSnapshot{root: root, path: path, header: header, encoded: encoded, stamps: stamps}
	}
}

func encodeSnapshot(header []byte, stamps []stamp, res *Result, encoded []byte) []byte {
	var e snapEncoder
	e.b = append(e.b, snapshotMagic...)
	e.uint(snapshotVersion)
	e.bytes(header)
	e.stamps(stamps)
	for _, ss := range [][]string{res.Packages, res.Files, res.Dirs, res.GlobDirs} {
		e.strs(ss)
	}
	pkgs := make([]string, 0, len(res.Globs))
	for p := range res.Globs {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	e.uint(uint64(len(pkgs)))
	for _, p := range pkgs {
		e.str(p)
		e.strs(res.Globs[p])
	}
	e.bytes(encoded)
	e.b = binary.LittleEndian.AppendUint32(e.b, crc32.Checksum(e.b, crcTable))
	return e.b
}

// savedSnapshot is what a Result remembers of the snapshot behind it.
type savedSnapshot struct {
	root, path string
	header     []byte
	encoded    []byte
	stamps     []stamp
}

// Inputs returns the workspace-relative paths whose stats vouch for the
// evaluation: every Starlark file it read or looked for, and every
// directory the package walk or a glob listed. See Holds.
func (r *Result) Inputs() []string {
	if r.snap == nil {
		return nil
	}
	paths := make([]string, 0, len(r.snap.stamps))
	seen := make(map[string]bool, len(r.snap.stamps))
	for _, st := range r.snap.stamps {
		if !seen[st.path] {
			seen[st.path] = true
			paths = append(paths, st.path)
		}
	}
	return paths
}

// Holds reports whether the evaluation still holds now: every Starlark
// file has the stat it had and every listed directory the same entries,
// read again where the directory's times moved (rules writing outputs
// there move them). When many were confirmed that way, the snapshot is
// saved with their new times, so that later loads need not read them
// again. It is false for a Result that no snapshot stands behind.
//
// A caller that records the stats of Inputs to vouch for the evaluation
// later must take them before calling Holds: a change between the two
// then shows as a different stat.
func (r *Result) Holds() bool {
	s := r.snap
	if s == nil {
		return false
	}
	fresh, moved, ok := restampAll(s.root, r.Graph, s.stamps)
	if !ok {
		return false
	}
	if moved > 0 {
		s.stamps = fresh
		if moved >= resaveMoved {
			_ = writeAtomic(s.path, encodeSnapshot(s.header, fresh, r, s.encoded))
		}
	}
	return true
}

// resaveMoved is how many directories must have been confirmed by their
// listings for Holds to save the snapshot again: rewriting it costs more
// than reading a few directories at the next load.
const resaveMoved = 32

// dirStamp stamps a directory. When it changed too recently for its mtime
// to prove a later listing the same, the times are left out, so that the
// check always reads it.
func dirStamp(root string, g *graph.Graph, rel string, kind byte, trusted int64) stamp {
	st := takeStamp(root, g, rel, kind)
	if st.mtime > trusted || st.ctime > trusted {
		st.mtime, st.ctime = -1, -1
	}
	return st
}

// writeAtomic writes data to a temporary file beside path and renames it
// over path, so a reader never sees half of it.
func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

var errShort = errors.New("snapshot: truncated")

type snapEncoder struct{ b []byte }

func (e *snapEncoder) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *snapEncoder) str(s string)  { e.uint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *snapEncoder) bytes(b []byte) {
	e.uint(uint64(len(b)))
	e.b = append(e.b, b...)
}

func (e *snapEncoder) strs(ss []string) {
	e.uint(uint64(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}

func (e *snapEncoder) stamps(ss []stamp) {
	e.uint(uint64(len(ss)))
	for _, s := range ss {
		e.str(s.path)
		e.b = append(e.b, s.kind)
		e.b = binary.AppendVarint(e.b, s.size)
		e.b = binary.AppendVarint(e.b, s.mtime)
		e.b = binary.AppendVarint(e.b, s.ctime)
		e.uint(s.inode)
	}
}

type snapDecoder struct {
	b   []byte
	err error
}

func (d *snapDecoder) uint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *snapDecoder) int() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *snapDecoder) fail() { d.err, d.b = errShort, nil }

func (d *snapDecoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *snapDecoder) bytes() []byte {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	b := d.b[:n]
	d.b = d.b[n:]
	return b
}

func (d *snapDecoder) str() string { return string(d.bytes()) }

func (d *snapDecoder) strs() []string {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.str()
	}
	return ss
}

func (d *snapDecoder) stamps() []stamp {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	ss := make([]stamp, n)
	for i := range ss {
		ss[i] = stamp{path: d.str(), kind: d.byte(), size: d.int(), mtime: d.int(), ctime: d.int(), inode: d.uint()}
	}
	return ss
}
