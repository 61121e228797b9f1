package procs

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// proc is what Reap needs to know of a process.
type proc struct {
	pid, pgrp, sid int
	start          uint64 // clock ticks after boot
	zombie         bool
}

// setDeathSignal asks for SIGKILL to the command when the thread that
// started it dies: for pex, when pex dies.
func setDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }

// bootID returns the id the kernel chose for this boot.
func bootID() (string, error) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", err
	}
	return string(bytes.TrimSpace(b)), nil
}

// process returns the process pid, from /proc/<pid>/stat.
func process(pid int) (proc, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return proc{}, false
	}
	return parseStat(pid, b)
}

// parseStat reads a /proc/<pid>/stat line: "pid (comm) state ppid pgrp
// session ...", the start time its 22nd field. comm may hold spaces and
// parentheses, so the fields are counted after its last ')'.
func parseStat(pid int, b []byte) (proc, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return proc{}, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 20 {
		return proc{}, false
	}
	p := proc{pid: pid, zombie: string(f[0]) == "Z"}
	var err1, err2, err3 error
	p.pgrp, err1 = strconv.Atoi(string(f[2]))
	p.sid, err2 = strconv.Atoi(string(f[3]))
	p.start, err3 = strconv.ParseUint(string(f[19]), 10, 64)
	return p, err1 == nil && err2 == nil && err3 == nil
}

// members returns the processes of group pgid, by a walk of /proc.
func members(pgid int) []proc {
	names, err := readDirNames("/proc")
	if err != nil {
		return nil
	}
	var ps []proc
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		if p, ok := process(pid); ok && p.pgrp == pgid {
			ps = append(ps, p)
		}
	}
	return ps
}
