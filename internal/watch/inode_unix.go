//go:build unix

package watch

import (
	"io/fs"
	"syscall"
)

// inode returns the inode number of the file info describes, so that a
// file replaced by another (an atomic save) is told apart from one
// written in place.
func inode(info fs.FileInfo) uint64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
