//go:build !linux && !darwin

package procs

import (
	"errors"
	"syscall"
)

// proc is what Reap needs to know of a process.
type proc struct {
	pid, pgrp, sid int
	start          uint64
	zombie         bool
}

// Here a process cannot be identified, so nothing is recorded or reaped:
// Start only starts, and Table.open fails before anything is written.

func setDeathSignal(*syscall.SysProcAttr) {}

func bootID() (string, error) { return "", errors.New("not supported on this system") }

func process(int) (proc, bool) { return proc{}, false }

func members(int) []proc { return nil }
