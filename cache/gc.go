// Garbage collection and usage statistics of a Store.

package cache

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// StoreStats counts entries in a store, or removed by GC.
type StoreStats struct {
	Blobs   int   // content-addressed files
	Records int   // action records
	Bytes   int64 // their total size
}

// tmpMaxAge is how old a temporary file in the store must be before GC
// takes it for the leftover of a killed process.
const tmpMaxAge = time.Hour

// storeEntry is one blob or record file.
type storeEntry struct {
	path   string
	record bool
	size   int64
	mtime  time.Time
}

// Stats counts the blobs and records in the store and their total size.
func (s *Store) Stats() (StoreStats, error) {
	entries, err := s.entries()
	if err != nil {
		return StoreStats{}, err
	}
	var st StoreStats
	for _, e := range entries {
		st.add(e)
	}
	return st, nil
}

func (st *StoreStats) add(e storeEntry) {
	if e.record {
		st.Records++
	} else {
		st.Blobs++
	}
	st.Bytes += e.size
}

// GC removes the least recently used blobs and records until the store
// holds at most maxSize bytes, and temporary files left by killed
// processes. It returns what it removed. Another process may use the
// store meanwhile: an entry used since GC listed it is kept, and a build
// that still loses a blob it needed sees a miss from Restore and runs the
// action again.
func (s *Store) GC(maxSize int64) (StoreStats, error) {
	s.removeOldTemps()
	entries, err := s.entries()
	if err != nil {
		return StoreStats{}, err
	}
	var total int64
	for _, e := range entries {
		total += e.size
	}
	slices.SortFunc(entries, func(a, b storeEntry) int { return a.mtime.Compare(b.mtime) })
	var removed StoreStats
	for _, e := range entries {
		if total <= maxSize {
			break
		}
		if fi, err := os.Stat(e.path); err != nil || fi.ModTime().After(e.mtime) {
			continue // gone already, or used since listed
		}
		if err := os.Remove(e.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, err
		}
		total -= e.size
		removed.add(e)
		if e.record && s.isVariant(e.path) {
			_ = os.Remove(filepath.Dir(e.path)) // the key directory, if now empty
		}
	}
	return removed, nil
}

// isVariant reports whether the record file at path is one of a key's
// variants, ac/ab/<key>/<variant>, rather than its only record.
func (s *Store) isVariant(path string) bool {
	rel, err := filepath.Rel(filepath.Join(s.dir, "ac"), path)
	return err == nil && strings.Count(filepath.ToSlash(rel), "/") == 2
}

// entries lists every blob and record file.
func (s *Store) entries() ([]storeEntry, error) {
	var entries []storeEntry
	for _, sub := range []string{"cas", "ac"} {
		err := filepath.WalkDir(filepath.Join(s.dir, sub), func(path string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed by a concurrent GC
			}
			if err != nil || d.IsDir() {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return nil // removed meanwhile
			}
			entries = append(entries, storeEntry{path, sub == "ac", fi.Size(), fi.ModTime()})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return entries, nil
}

// removeOldTemps removes temporary files that no live writer can own.
func (s *Store) removeOldTemps() {
	dir := filepath.Join(s.dir, "tmp")
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > tmpMaxAge {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
