//go:build !linux && !darwin

package cache

import "io/fs"

// statOf extracts the memo's stat tuple from fi. Without inode and ctime
// the memo relies on size and mtime alone.
func statOf(fi fs.FileInfo) fileStat {
	return fileStat{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}
