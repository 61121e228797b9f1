//go:build unix

package cache

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// statPath stats path without allocating.
func statPath(path string, follow bool) Stat {
	var s unix.Stat_t
	var err error
	for {
		if follow {
			err = unix.Stat(path, &s)
		} else {
			err = unix.Lstat(path, &s)
		}
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return Stat{}
	}
	return statOfSys(&s)
}

// fstat stats an open file.
func fstat(f *os.File) (Stat, error) {
	var s unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &s); err != nil {
		return Stat{}, err
	}
	return statOfSys(&s), nil
}

// statOfSys converts what stat(2) filled in.
func statOfSys(s *unix.Stat_t) Stat {
	st := Stat{Size: s.Size, Mtime: s.Mtim.Nano(), Ctime: s.Ctim.Nano(), Inode: s.Ino}
	switch s.Mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		st.Kind = File
	case syscall.S_IFDIR:
		st.Kind = Dir
	case syscall.S_IFLNK:
		st.Kind = Link
	default:
		st.Kind = Other
	}
	return st
}
