//go:build unix

// The workspace lock: one pex process at a time builds in a workspace.

package cache

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
)

// ErrLocked is returned (wrapped) by Lock when another process holds the
// lock and the caller chose not to wait.
var ErrLocked = errors.New("workspace is locked")

// Lock takes the exclusive lock of a workspace with flock(2) on the file
// at path (its .pex/lock), creating it and its directory if needed. The
// kernel releases the lock when the process exits, however it exits. If
// another process holds it, Lock either fails with an error wrapping
// ErrLocked that names that process, or, when wait is true, calls onWait
// (if not nil) once and blocks until the lock is free. The returned
// function releases the lock; calling it again does nothing.
//
// The lock belongs to the open file, not the process: two Lock calls in
// one process exclude each other too.
func Lock(path string, wait bool, onWait func()) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock workspace: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock workspace: %w", err)
	}
	err = flock(f, syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		if !wait {
			holder := lockHolder(f)
			f.Close()
			return nil, fmt.Errorf("%w: another pex process%s holds %s", ErrLocked, holder, path)
		}
		if onWait != nil {
			onWait()
		}
		err = flock(f, syscall.LOCK_EX)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock workspace: %s: %w", path, err)
	}
	writePID(f)
	var once sync.Once
	return func() {
		once.Do(func() {
			_ = f.Truncate(0) // no longer names a holder
			_ = flock(f, syscall.LOCK_UN)
			f.Close()
		})
	}, nil
}

// flock calls flock(2), retrying when a signal interrupts it.
func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}

// writePID records the holder's process id in the lock file, for the
// error message another process prints. It is informational only.
func writePID(f *os.File) {
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
}

// lockHolder returns " (pid N)" naming the holder, or "" if unknown.
func lockHolder(f *os.File) string {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	pid, err := strconv.Atoi(string(bytes.TrimSpace(buf[:n])))
	if err != nil || pid <= 0 {
		return ""
	}
	return fmt.Sprintf(" (pid %d)", pid)
}
