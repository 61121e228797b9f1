package cache

import (
	"io/fs"
	"syscall"
)

// statOf extracts the memo's stat tuple from fi.
func statOf(fi fs.FileInfo) fileStat {
	st := fileStat{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.inode = sys.Ino
		st.ctime = sys.Ctim.Nano()
	}
	return st
}

// statPath stats path (following symbolic links) without allocating.
// regular is false for directories and other non-regular files.
func statPath(path string) (st fileStat, regular bool, err error) {
	var s syscall.Stat_t
	for {
		err = syscall.Stat(path, &s)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return fileStat{}, false, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	st = fileStat{size: s.Size, mtime: s.Mtim.Nano(), inode: s.Ino, ctime: s.Ctim.Nano()}
	return st, s.Mode&syscall.S_IFMT == syscall.S_IFREG, nil
}
