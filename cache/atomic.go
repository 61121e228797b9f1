// Atomic writes: every file pex keeps is written to a temporary file and
// renamed into place, so that a reader, or a pex killed half-way, never
// sees part of one.

package cache

import (
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile replaces the file at path with what fill writes to a new
// file, in one rename, creating its directory if needed. With sync, the
// data is synced before the rename and the directory after it, so that
// the new file survives a power cut; without, a crash may leave the old
// file, never a part of the new one.
func WriteFile(path string, perm fs.FileMode, sync bool, fill func(*os.File) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	tmp, err := writeTemp(dir, "."+filepath.Base(path)+".tmp-*", perm, sync, fill)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	if sync {
		if d, err := os.Open(dir); err == nil {
			_ = d.Sync() // make the rename durable; best effort
			d.Close()
		}
	}
	return nil
}

// writeTemp creates a temporary file in dir, named after pattern as
// os.CreateTemp does, lets fill write it, gives it permissions perm,
// syncs it if sync, and closes it. It returns its name, or an error and
// no file.
func writeTemp(dir, pattern string, perm fs.FileMode, sync bool, fill func(*os.File) error) (string, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	err = fill(f)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}
