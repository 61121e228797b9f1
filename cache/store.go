// The content-addressed store: blobs named by their digest and action
// records named by key, shared by every workspace of a user. Every write
// is a temporary file renamed into place, so readers see a whole file or
// none; every read is verified, so a damaged entry is a miss.

package cache

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Store is a content-addressed store in a directory. Several processes may
// use one store at once, including one running GC. A Store is safe for
// concurrent use.
type Store struct {
	dir string
}

// touchAfter is how stale an entry's mtime may get before a use refreshes
// it; GC only needs a coarse least-recently-used order.
const touchAfter = time.Minute

// DefaultDir returns the store directory: $PEX_CACHE_DIR, else
// $XDG_CACHE_HOME/pex, else ~/.cache/pex. A relative $XDG_CACHE_HOME is
// ignored, as the XDG specification requires.
func DefaultDir() (string, error) {
	if d := os.Getenv("PEX_CACHE_DIR"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_CACHE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "pex"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cannot find the cache directory: set PEX_CACHE_DIR: %v", err)
	}
	return filepath.Join(home, ".cache", "pex"), nil
}

// OpenStore opens the store in dir, creating it if needed.
func OpenStore(dir string) (*Store, error) {
	for _, sub := range []string{"cas", "ac", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("open cache store: %w", err)
		}
	}
	return &Store{dir: dir}, nil
}

// Dir returns the directory of the store.
func (s *Store) Dir() string {
	return s.dir
}

// blobPath returns cas/ab/abcd... for a digest starting with ab.
func (s *Store) blobPath(d Digest) string {
	h := d.String()
	return filepath.Join(s.dir, "cas", h[:2], h)
}

// keyPath returns ac/ab/abcd... for a key starting with ab: the key's
// record file, or the directory of its variants.
func (s *Store) keyPath(key Digest) string {
	h := key.String()
	return filepath.Join(s.dir, "ac", h[:2], h)
}

// Has reports whether the blob with digest d is in the store.
func (s *Store) Has(d Digest) bool {
	_, err := os.Stat(s.blobPath(d))
	return err == nil
}

// PutFile stores the contents of the regular file at path (followed if
// a link) and returns their digest. It copies nothing when the store
// already has them, and where it can it hard-links the file into the store
// instead of copying it: the file and its blob are then one inode, so the
// caller makes the file read-only (see the package documentation), and a
// later change to it in place all the same (by root, say) damages the
// blob, which Restore detects: a miss, never wrong bytes. A file that
// changed while it was being stored is not stored: the error wraps
// ErrChanged.
func (s *Store) PutFile(path string) (Digest, error) {
	f, err := os.Open(path)
	if err != nil {
		return Digest{}, err
	}
	defer f.Close()
	before, err := fstat(f)
	if err != nil {
		return Digest{}, err
	}
	if before.Kind != File {
		return Digest{}, fmt.Errorf("%s: not a regular file", path)
	}
	d, _, err := hashReader(f)
	if err != nil {
		return Digest{}, err
	}
	if after, err := fstat(f); err != nil || after != before {
		return Digest{}, fmt.Errorf("%s: %w", path, ErrChanged)
	}
	blob := s.blobPath(d)
	if s.refresh(blob) || s.link(path, blob) {
		return d, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Digest{}, err
	}
	if err := s.put(f, d); err != nil {
		if errors.Is(err, ErrCorrupt) {
			err = ErrChanged
		}
		return Digest{}, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// ErrChanged says a file changed while pex was reading it.
var ErrChanged = errors.New("changed while being stored")

// link hard-links the regular file at path to blob and reports whether
// the blob is now there. It fails, for the caller to copy instead, across
// file systems, where links are not allowed, or for anything not a
// regular file.
func (s *Store) link(path, blob string) bool {
	if fi, err := os.Lstat(path); err != nil || !fi.Mode().IsRegular() {
		return false
	}
	err := os.Link(path, blob)
	if errors.Is(err, fs.ErrNotExist) {
		if os.MkdirAll(filepath.Dir(blob), 0o755) == nil {
			err = os.Link(path, blob)
		}
	}
	if errors.Is(err, fs.ErrExist) {
		return s.refresh(blob) // stored meanwhile by another process
	}
	return err == nil
}

// PutBytes stores data and returns its digest.
func (s *Store) PutBytes(data []byte) (Digest, error) {
	d := HashBytes(data)
	if s.refresh(s.blobPath(d)) {
		return d, nil
	}
	return d, s.put(bytes.NewReader(data), d)
}

// Put stores what r yields, which must have digest want (a blob fetched
// from a remote cache, say). Content with another digest is not stored
// and yields an error wrapping ErrCorrupt.
func (s *Store) Put(r io.Reader, want Digest) error {
	if s.refresh(s.blobPath(want)) {
		return nil
	}
	return s.put(r, want)
}

// put copies r into a temporary file, checks its digest is want, and
// renames it to the blob path.
func (s *Store) put(r io.Reader, want Digest) error {
	tmp, got, err := copyToTemp(filepath.Join(s.dir, "tmp"), "blob-*", r, 0o444)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // fails harmlessly once renamed
	if got != want {
		return fmt.Errorf("content has digest %s, want %s: %w", got, want, ErrCorrupt)
	}
	return renameInto(tmp, s.blobPath(want))
}

// copyToTemp copies r to a new temporary file in dir, named after
// pattern as os.CreateTemp does, with permissions perm. It returns the
// file's name and the digest of what it copied, or an error and no file.
func copyToTemp(dir, pattern string, r io.Reader, perm fs.FileMode) (string, Digest, error) {
	var d Digest
	tmp, err := writeTemp(dir, pattern, perm, false, func(f *os.File) error {
		var err error
		d, _, err = copyHashing(f, r)
		return err
	})
	return tmp, d, err
}

// Open opens the blob with digest d for reading, refreshing its place in
// the least-recently-used order. Its contents are not verified; see
// Restore for a verified copy.
func (s *Store) Open(d Digest) (*os.File, error) {
	f, err := os.Open(s.blobPath(d))
	if err != nil {
		return nil, err
	}
	s.touchOpen(f)
	return f, nil
}

// Restore copies the blob with digest d to dst with permissions mode.Perm(),
// creating dst's directory if needed. It writes a temporary file beside
// dst, verifies the digest of what it copied and renames it over dst, so
// dst is never left half-written. A missing blob yields an error wrapping
// fs.ErrNotExist and a damaged one an error wrapping ErrCorrupt (and the
// blob is removed); either way the caller should treat it as a miss and
// run the action.
func (s *Store) Restore(d Digest, dst string, mode fs.FileMode) error {
	if err := s.restore(d, dst, mode); err != nil {
		return fmt.Errorf("restore %s: %w", dst, err)
	}
	return nil
}

func (s *Store) restore(d Digest, dst string, mode fs.FileMode) error {
	src, err := s.Open(d)
	if err != nil {
		return err
	}
	defer src.Close()
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, got, err := copyToTemp(dir, "."+filepath.Base(dst)+".pex-*", src, mode.Perm())
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // fails harmlessly once renamed
	if got != d {
		os.Remove(src.Name())
		return fmt.Errorf("blob %s has digest %s: %w", d, got, ErrCorrupt)
	}
	return os.Rename(tmp, dst)
}

// RestoreOutput puts output o back at dst: a file from its blob (see
// Restore), read-only as stored outputs are (ReadOnly), or a symbolic link
// with its target text, never followed. Like Restore, it replaces dst in
// one rename.
func (s *Store) RestoreOutput(o Output, dst string) error {
	if !o.IsLink() {
		return s.Restore(o.Digest, dst, ReadOnly(o.Mode))
	}
	if err := PlaceSymlink(o.Link, dst); err != nil {
		return fmt.Errorf("restore %s: %w", dst, err)
	}
	return nil
}

// ReadOnly returns the permissions of mode without its write bits: those
// of an output in the tree once it is in the store, where it may be the
// very inode of its blob.
func ReadOnly(mode fs.FileMode) fs.FileMode { return mode.Perm() &^ 0o222 }

// PlaceSymlink makes dst a symbolic link to target, replacing whatever is
// there in one rename, and creating dst's directory if needed.
func PlaceSymlink(target, dst string) error {
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for range 3 {
		tmp := filepath.Join(dir, fmt.Sprintf(".%s.pex-%d", filepath.Base(dst), rand.Uint64()))
		err := os.Symlink(target, tmp)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := os.Rename(tmp, dst); err != nil {
			os.Remove(tmp)
			return err
		}
		return nil
	}
	return fmt.Errorf("cannot make a temporary link beside %s", dst)
}

// refresh reports whether path exists, and marks it used if so.
func (s *Store) refresh(path string) bool {
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	if time.Since(fi.ModTime()) > touchAfter {
		now := time.Now()
		_ = os.Chtimes(path, now, now)
	}
	return true
}

// touchOpen marks an open file used.
func (s *Store) touchOpen(f *os.File) {
	if fi, err := f.Stat(); err == nil && time.Since(fi.ModTime()) > touchAfter {
		now := time.Now()
		_ = os.Chtimes(f.Name(), now, now)
	}
}

// renameInto renames tmp to dst, creating dst's directory. It retries when
// a concurrent GC removes that directory in between.
func renameInto(tmp, dst string) error {
	var err error
	for range 3 {
		if err = os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			continue
		}
		if err = os.Rename(tmp, dst); err == nil || !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return err
}

// PutRecord stores rec under key. A record without discovered inputs is
// the file ac/ab/<key>, one inode; records with discovered inputs are
// variants, told apart by those inputs and their digests, in the
// directory ac/ab/<key>/; storing a variant whose discovered inputs and
// digests equal an existing one's replaces it. When a key holds both
// kinds (a depfile that listed nothing, then something), all of them are
// variants.
func (s *Store) PutRecord(key Digest, rec *Record) error {
	data, err := rec.MarshalBinary()
	if err != nil {
		return err
	}
	tmp, _, err := copyToTemp(filepath.Join(s.dir, "tmp"), "record-*", bytes.NewReader(data), 0o444)
	if err != nil {
		return fmt.Errorf("store record: %w", err)
	}
	defer os.Remove(tmp) // fails harmlessly once renamed
	path := s.keyPath(key)
	if len(rec.Discovered) == 0 {
		if err = renameInto(tmp, path); err == nil {
			return nil
		}
		if fi, serr := os.Stat(path); serr != nil || !fi.IsDir() {
			return fmt.Errorf("store record: %w", err)
		}
	} else if fi, err := os.Lstat(path); err == nil && fi.Mode().IsRegular() {
		s.toVariant(path)
	}
	variant := itemsDigest(rec.Discovered).String()
	if err := renameInto(tmp, filepath.Join(path, variant)); err != nil {
		return fmt.Errorf("store record: %w", err)
	}
	return nil
}

// toVariant moves the record file at path to a directory in its place, as
// the variant without discovered inputs. If that fails the record is
// dropped: a miss.
func (s *Store) toVariant(path string) {
	aside := filepath.Join(s.dir, "tmp", "variant-"+filepath.Base(path))
	if os.Rename(path, aside) != nil {
		_ = os.Remove(path)
		return
	}
	if err := renameInto(aside, filepath.Join(path, itemsDigest(nil).String())); err != nil {
		_ = os.Remove(aside)
	}
}

// Records returns every intact record stored under key, newest first.
// Damaged records are removed and skipped.
func (s *Store) Records(key Digest) ([]*Record, error) {
	path := s.keyPath(key)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		rec, err := s.decodeRecord(f)
		if errors.Is(err, ErrCorrupt) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return []*Record{rec}, nil
	}
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	var recs []*Record
	for _, name := range names {
		rec, err := s.readRecord(filepath.Join(path, name))
		if errors.Is(err, ErrCorrupt) || errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	slices.SortStableFunc(recs, func(a, b *Record) int { return b.Created.Compare(a.Created) })
	return recs, nil
}

// readRecord reads and decodes one record file, removing it if damaged.
func (s *Store) readRecord(path string) (*Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return s.decodeRecord(f)
}

// decodeRecord decodes the open record file f, removing it if damaged.
func (s *Store) decodeRecord(f *os.File) (*Record, error) {
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	rec := new(Record)
	if err := rec.UnmarshalBinary(data); err != nil {
		os.Remove(f.Name())
		return nil, err
	}
	s.touchOpen(f)
	return rec, nil
}

// GetRecord returns the newest record stored under key, whatever its
// discovered inputs. Use Lookup for actions that have discovered inputs.
func (s *Store) GetRecord(key Digest) (*Record, bool, error) {
	recs, err := s.Records(key)
	if err != nil || len(recs) == 0 {
		return nil, false, err
	}
	return recs[0], true, nil
}

// Lookup returns the newest record stored under key whose discovered
// inputs all still have their recorded digests, as current reports them
// (typically Memo.Digest). Each path is asked about at most once.
func (s *Store) Lookup(key Digest, current func(path string) (Digest, error)) (*Record, bool, error) {
	recs, err := s.Records(key)
	if err != nil || len(recs) == 0 {
		return nil, false, err
	}
	type answer struct {
		d   Digest
		err error
	}
	asked := map[string]answer{}
	once := func(path string) (Digest, error) {
		a, ok := asked[path]
		if !ok {
			a.d, a.err = current(path)
			asked[path] = a
		}
		return a.d, a.err
	}
	for _, rec := range recs {
		if rec.matches(once) {
			return rec, true, nil
		}
	}
	return nil, false, nil
}
