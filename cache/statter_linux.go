//go:build linux && (amd64 || arm64)

package cache

import (
	"bytes"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A Statter stats many workspace-relative (or absolute) paths fast: it
// opens a directory that has several paths in a row (callers pass paths
// in order, so those of a directory come together), and the kernel then
// walks one name per stat instead of the whole path. A path alone in its
// directory is statted whole, relative to the root, which it keeps open:
// opening and closing its directory would cost two calls more than the
// walk saves. It enters the kernel without telling the Go scheduler, as a
// stat of a cached inode takes microseconds: handing the processor off
// and back, and waking the scheduler's monitor, cost more than the stat
// calls themselves. A Statter is used by one goroutine; Close it when
// done.
type Statter struct {
	root      []byte
	rootFD    int    // -1: not open yet, or it could not be opened
	rootTried bool   // whether opening root was tried
	dir       []byte // the directory open as fd, relative to root or absolute
	fd        int    // -1: none, or it could not be opened
	prev      []byte // the directory of the path statted last
	buf       []byte
}

// NewStatter returns a Statter of paths relative to root.
func NewStatter(root string) *Statter {
	// No path has a NUL.
	return &Statter{root: []byte(root), rootFD: -1, fd: -1, dir: []byte{0}, prev: []byte{0}}
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
	if len(base) == 0 {
		return Stat{} // a directory holds no entry named "", nor does the whole path
	}
	flags := uintptr(0)
	if lstat {
		flags = unix.AT_SYMLINK_NOFOLLOW
	}
	first := !bytes.Equal(dir, s.prev)
	s.prev = append(s.prev[:0], dir...)
	switch {
	case len(dir) == 0:
		return s.statAt(s.openRoot(), base, flags)
	case bytes.Equal(dir, s.dir):
		return s.statAt(s.fd, base, flags)
	case first:
		// The first path in a directory may be its only one, so it is
		// statted whole rather than after opening the directory.
		st, errno := s.statWhole(path, flags)
		if errno != syscall.ENAMETOOLONG {
			return st
		}
		// The whole path is too long, but its directory and name may not be.
	}
	s.open(dir)
	return s.statAt(s.fd, base, flags)
}

// statAt stats name in the directory open as fd.
func (s *Statter) statAt(fd int, name []byte, flags uintptr) Stat {
	if fd < 0 {
		return Stat{} // the directory is missing, or cannot be searched
	}
	s.buf = append(append(s.buf[:0], name...), 0)
	st, _ := s.fstatat(fd, flags)
	return st
}

// statWhole stats path from the root, or from the working directory if it
// is absolute or the root could not be opened (the root then leads the
// path, as it leads any directory opened).
func (s *Statter) statWhole(path []byte, flags uintptr) (Stat, syscall.Errno) {
	fd := atFDCWD
	if path[0] != '/' {
		fd = s.openRoot()
	}
	s.buf = s.buf[:0]
	if fd == -1 {
		fd = atFDCWD
		s.buf = append(append(s.buf, s.root...), '/')
	}
	s.buf = append(append(s.buf, path...), 0)
	return s.fstatat(fd, flags)
}

// fstatat stats the path in buf, relative to the directory open as fd.
func (s *Statter) fstatat(fd int, flags uintptr) (Stat, syscall.Errno) {
	var st unix.Stat_t
	for {
		_, _, errno := syscall.RawSyscall6(unix.SYS_NEWFSTATAT, uintptr(fd),
			uintptr(unsafe.Pointer(&s.buf[0])), uintptr(unsafe.Pointer(&st)), flags, 0, 0)
		switch errno {
		case 0:
			return statOfSys(&st), 0
		case syscall.EINTR:
			continue
		}
		return Stat{}, errno
	}
}

// openRoot returns the root open as a directory, opening it the first
// time: most paths are in it or under it. It is -1 if it cannot be opened.
func (s *Statter) openRoot() int {
	if !s.rootTried {
		s.rootTried = true
		s.rootFD = s.openDir(nil)
	}
	return s.rootFD
}

// open opens dir, other than the root, in place of the directory open.
func (s *Statter) open(dir []byte) {
	s.closeDir()
	s.dir = append(s.dir[:0], dir...)
	s.fd = s.openDir(dir)
}

// openDir opens dir, relative to root or absolute, and returns its fd, or
// -1 if it cannot be opened.
func (s *Statter) openDir(dir []byte) int {
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
			return int(fd)
		case syscall.EINTR:
			continue
		}
		return -1
	}
}

// closeDir closes the directory open other than the root.
func (s *Statter) closeDir() {
	if s.fd >= 0 {
		syscall.RawSyscall(unix.SYS_CLOSE, uintptr(s.fd), 0, 0)
		s.fd = -1
	}
}

// Close releases the directories the Statter holds open.
func (s *Statter) Close() {
	s.closeDir()
	s.dir = append(s.dir[:0], 0)
	if s.rootFD >= 0 {
		syscall.RawSyscall(unix.SYS_CLOSE, uintptr(s.rootFD), 0, 0)
		s.rootFD = -1
	}
	s.rootTried = false
}

// atFDCWD is AT_FDCWD in a variable, as uintptr(-100) does not compile.
var atFDCWD = unix.AT_FDCWD
