package procs

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// proc is what Reap needs to know of a process.
type proc struct {
	pid, pgrp, sid int
	start          uint64 // microseconds since the epoch
	zombie         bool
}

// setDeathSignal does nothing: macOS has no parent-death signal. The
// reaper and the next pex stop what a killed pex left.
func setDeathSignal(*syscall.SysProcAttr) {}

// bootID returns the time this machine booted, which names the boot.
func bootID() (string, error) {
	tv, err := unix.SysctlTimeval("kern.boottime")
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d.%06d", tv.Sec, tv.Usec), nil
}

// zombieState is SZOMB, a process that exited and was not waited for.
const zombieState = 5

func procOf(k *unix.KinfoProc) proc {
	p := proc{pid: int(k.Proc.P_pid), pgrp: int(k.Eproc.Pgid), zombie: k.Proc.P_stat == zombieState,
		start: uint64(k.Proc.P_starttime.Sec)*1e6 + uint64(k.Proc.P_starttime.Usec)}
	p.sid, _ = unix.Getsid(p.pid)
	return p
}

// process returns the process pid.
func process(pid int) (proc, bool) {
	k, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil || int(k.Proc.P_pid) != pid {
		return proc{}, false
	}
	return procOf(k), true
}

// members returns the processes of group pgid.
func members(pgid int) []proc {
	ks, err := unix.SysctlKinfoProcSlice("kern.proc.pgrp", pgid)
	if err != nil {
		return nil
	}
	ps := make([]proc, 0, len(ks))
	for i := range ks {
		ps = append(ps, procOf(&ks[i]))
	}
	return ps
}
