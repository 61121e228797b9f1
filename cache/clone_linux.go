package cache

import (
	"os"

	"golang.org/x/sys/unix"
)

// cloneToTemp makes a new temporary file in dir that shares src's data
// blocks (FICLONE: a reflink on Btrfs, XFS and others), and returns its
// name; false, leaving nothing behind, where the file system cannot.
func cloneToTemp(dir, pattern string, src *os.File) (string, bool) {
	tmp, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", false
	}
	err = unix.IoctlFileClone(int(tmp.Fd()), int(src.Fd()))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", false
	}
	return tmp.Name(), true
}
