package builder

import (
	"os"

	"golang.org/x/sys/unix"
)

// memfd returns a new anonymous memory file, closed on exec (os/exec
// passes it to the child as its stdout and stderr all the same).
func memfd(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}
