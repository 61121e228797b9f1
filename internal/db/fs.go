package db

import (
	"io/fs"
	"os"
	"path/filepath"

	"github.com/pex-build/pex/cache"
)

// FS is the file system as the database looks at it, paths being
// workspace-relative or absolute: a seam, so that tests can count or
// fake what a build looks at.
type FS interface {
	// Statter returns a statter for one goroutine.
	Statter() Statter
	ReadDir(path string) ([]fs.DirEntry, error)
	Hash(path string) (cache.Digest, error)
	Readlink(path string) (string, error)
}

// Statter stats paths for one goroutine.
type Statter interface {
	Stat(path []byte, lstat bool) cache.Stat
	Close()
}

// OS returns the real file system of the workspace at root.
func OS(root string) FS { return osFS{root} }

type osFS struct{ root string }

func (o osFS) abs(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(o.root, filepath.FromSlash(p))
}

func (o osFS) Statter() Statter                        { return cache.NewStatter(o.root) }
func (o osFS) ReadDir(p string) ([]fs.DirEntry, error) { return os.ReadDir(o.abs(p)) }
func (o osFS) Readlink(p string) (string, error)       { return os.Readlink(o.abs(p)) }
func (o osFS) Hash(p string) (cache.Digest, error) {
	d, _, err := cache.HashFile(o.abs(p))
	return d, err
}
