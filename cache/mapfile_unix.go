//go:build unix

package cache

import (
	"os"

	"golang.org/x/sys/unix"
)

// readProofFile maps the proof at path into memory, read-only: reading it
// into fresh heap pages would fault each of them in, which costs more
// than the rest of a small proof's check on a virtual machine. release
// unmaps it; nothing read from it may be used after.
func readProofFile(path string) (data []byte, release func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if fi.Size() == 0 {
		return nil, func() {}, nil
	}
	data, err = unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		data, err = os.ReadFile(path)
		return data, func() {}, err
	}
	return data, func() { _ = unix.Munmap(data) }, nil
}
