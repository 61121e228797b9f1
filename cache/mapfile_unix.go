//go:build unix

package cache

import (
	"os"

	"golang.org/x/sys/unix"
)

// MapFile maps the file at path into memory, read-only, and returns its
// FileInfo: reading a large file into fresh heap pages would fault each
// of them in, which costs more than the rest of a small build's work on
// a virtual machine. release unmaps it; nothing read from it may be used
// after.
func MapFile(path string) (data []byte, fi os.FileInfo, release func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, nil, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, nil, nil, err
	}
	if fi.Size() == 0 {
		return nil, fi, func() {}, nil
	}
	data, err = unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		data, err = os.ReadFile(path)
		return data, fi, func() {}, err
	}
	return data, fi, func() { _ = unix.Munmap(data) }, nil
}
