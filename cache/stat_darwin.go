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
		st.ctime = sys.Ctimespec.Nano()
	}
	return st
}
