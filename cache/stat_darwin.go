package cache

import (
	"io/fs"
	"os"
	"syscall"
)

// statOf extracts the memo's stat tuple from fi.
func statOf(fi fs.FileInfo) fileStat {
	st := fileStat{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.inode = sys.Ino
		st.ctime = sys.Ctimespec.Nano()
	}
	return st
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
