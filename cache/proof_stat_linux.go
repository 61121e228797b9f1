//go:build linux && (amd64 || arm64)

package cache

import (
	"bytes"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// statter stats the paths of a proof, each relative to its directory,
// which it opens once for the run of paths in it (a proof lists paths in
// order): the kernel then walks one name per stat instead of the whole
// path. It enters the kernel for the stats without telling the Go
// scheduler, as a stat of a cached inode takes microseconds: handing the
// processor off and back, and waking the scheduler's monitor, cost the
// check more than the stat calls themselves. A statter is used by one
// goroutine.
type statter struct {
	root []byte
	dir  []byte // the directory open as fd, relative to root or absolute
	fd   int    // -1: none, or it could not be opened
	buf  []byte
}

func newStatter(root string) *statter {
	return &statter{root: []byte(root), fd: -1, dir: []byte{0}} // no path has a NUL
}

// stat stats the workspace-relative or absolute path, following
// symbolic links.
func (s *statter) stat(path []byte) FileStat {
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
		return FileStat{} // the directory is missing, or cannot be searched
	}
	s.buf = append(append(s.buf[:0], base...), 0)
	var st unix.Stat_t
	for {
		_, _, errno := syscall.RawSyscall6(unix.SYS_NEWFSTATAT, uintptr(s.fd),
			uintptr(unsafe.Pointer(&s.buf[0])), uintptr(unsafe.Pointer(&st)), 0, 0, 0)
		switch errno {
		case 0:
			return FileStat{present: true, other: st.Mode&syscall.S_IFMT != syscall.S_IFREG,
				st: fileStat{size: st.Size, mtime: st.Mtim.Nano(), inode: st.Ino, ctime: st.Ctim.Nano()}}
		case syscall.EINTR:
			continue
		}
		return FileStat{}
	}
}

func (s *statter) open(dir []byte) {
	s.close()
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

func (s *statter) close() {
	if s.fd >= 0 {
		syscall.RawSyscall(unix.SYS_CLOSE, uintptr(s.fd), 0, 0)
		s.fd = -1
	}
}

var atFDCWD = unix.AT_FDCWD
