//go:build linux && (amd64 || arm64)

package cache

import (
	"bytes"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A Statter stats many workspace-relative (or absolute) paths fast: it
// opens each directory once for the run of paths in it (callers pass
// paths in order, so those of a directory come together), and the kernel
// then walks one name per stat instead of the whole path. It enters the
// kernel without telling the Go scheduler, as a stat of a cached inode
// takes microseconds: handing the processor off and back, and waking the
// scheduler's monitor, cost more than the stat calls themselves. A
// Statter is used by one goroutine; Close it when done.
type Statter struct {
	root []byte
	dir  []byte // the directory open as fd, relative to root or absolute
	fd   int    // -1: none, or it could not be opened
	buf  []byte
}

// NewStatter returns a Statter of paths relative to root.
func NewStatter(root string) *Statter {
	return &Statter{root: []byte(root), fd: -1, dir: []byte{0}} // no path has a NUL
}

// Stat stats path, following symbolic links unless lstat.
func (s *Statter) Stat(path []byte, lstat bool) Stat {
	dir, base := []byte(nil), path
	if i := bytes.LastIndexByte(path, '/'); i >= 0 {
		dir, base = path[:i], path[i+1:]
		if i == 0 {
			dir = path[:1] // "/x"
		}
	}
	if !bytes.Equal(dir, s.dir) {
		s.open(dir)
	}
	if s.fd < 0 {
		return Stat{} // the directory is missing, or cannot be searched
	}
	s.buf = append(append(s.buf[:0], base...), 0)
	flags := uintptr(0)
	if lstat {
		flags = unix.AT_SYMLINK_NOFOLLOW
	}
	var st unix.Stat_t
	for {
		_, _, errno := syscall.RawSyscall6(unix.SYS_NEWFSTATAT, uintptr(s.fd),
			uintptr(unsafe.Pointer(&s.buf[0])), uintptr(unsafe.Pointer(&st)), flags, 0, 0)
		switch errno {
		case 0:
			return statOfSys(&st)
		case syscall.EINTR:
			continue
		}
		return Stat{}
	}
}

func (s *Statter) open(dir []byte) {
	s.Close()
	s.dir = append(s.dir[:0], dir...)
	p := s.buf[:0]
	if len(dir) == 0 || dir[0] != '/' {
		p = append(p, s.root...)
		if len(dir) > 0 {
			p = append(p, '/')
		}
	}
	p = append(append(p, dir...), 0)
	s.buf = p
	for {
		fd, _, errno := syscall.RawSyscall6(unix.SYS_OPENAT, uintptr(atFDCWD), uintptr(unsafe.Pointer(&p[0])),
			unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0, 0, 0)
		switch errno {
		case 0:
			s.fd = int(fd)
			return
		case syscall.EINTR:
			continue
		}
		return
	}
}

// Close releases the directory the Statter holds open.
func (s *Statter) Close() {
	if s.fd >= 0 {
		syscall.RawSyscall(unix.SYS_CLOSE, uintptr(s.fd), 0, 0)
		s.fd = -1
	}
}

// atFDCWD is AT_FDCWD in a variable, as uintptr(-100) does not compile.
var atFDCWD = unix.AT_FDCWD
