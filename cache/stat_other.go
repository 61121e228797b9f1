//go:build !linux && !darwin

package cache

import (
	"io/fs"
	"os"
)

// statOf extracts the memo's stat tuple from fi. Without inode and ctime
// the memo relies on size and mtime alone.
func statOf(fi fs.FileInfo) fileStat {
	return fileStat{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}

// statPath stats path (following symbolic links). regular is false for
// directories and other non-regular files.
func statPath(path string) (st fileStat, regular bool, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStat{}, false, err
	}
	return statOf(fi), fi.Mode().IsRegular(), nil
}
