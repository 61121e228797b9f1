// Package procs makes sure that no process group a pex process starts
// (build commands, services, pex run's command) outlives it, however it
// ends: even killed with SIGKILL, when no code of its own runs.
//
// Three things work together:
//
//   - On Linux every command is started with a parent-death signal
//     (SIGKILL when the thread that started it dies), which reaches the
//     group's first process, the shell.
//   - Every group is recorded in a file of the pex process's own under
//     .pex/procs/ the moment it starts (its id, its first process's start
//     time, so that a reused process id is never taken for it) and marked
//     ended when it is over. The next pex in the workspace (Reap) kills
//     the groups still alive that a pex no longer running recorded, and
//     says so.
//   - A reaper, a second pex process in a session of its own started with
//     the first group, waits for the end of a pipe that only the pex
//     holds; when the pex dies the pipe closes, and the reaper kills the
//     groups its record lists within milliseconds, without waiting for a
//     next pex.
//
// A command that moves itself to a process group or session of its own
// (a daemon) escapes all three, as it escapes a timeout.
//
// # Record format
//
// .pex/procs/<pid>.<start> is text, appended to one line per write:
//
//	pex procs 1 <boot id> <pid> <start>   the owner: this machine's boot,
//	                                     the pex process and its start time
//	+ <pgid> <start> <sid>               a group started: its id, the start
//	                                     time of its first process, its session
//	- <pgid>                             the group ended
//
// Start times are the kernel's (clock ticks since boot on Linux,
// microseconds since the epoch on macOS). A last line without its newline
// is a write cut short by a kill and is ignored. A file that does not
// parse, or whose boot id is not this boot's (the machine restarted, or
// the workspace is shared with another machine), is ignored with a note
// and removed, never trusted to kill anything.
package procs

import (
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// ReaperArg is the first argument that makes a pex process the reaper of
// another (see ReaperMain). It is not a command users type.
const ReaperArg = "__pex_reaper__"

// recordVersion is the version of the record format.
const recordVersion = 1

// Table records the process groups one pex process starts. A nil *Table
// records nothing: Start then only starts. A Table is safe for concurrent
// use.
type Table struct {
	dir    string // <root>/.pex/procs
	reaper string // the pex executable to start as reaper; "" for none

	mu     sync.Mutex
	f      *os.File // this process's record, created with the first group
	path   string
	header string         // its first line
	live   map[int]string // the live groups' lines, by group id
	size   int            // bytes written to f
	pipe   *os.File       // the write end of the reaper's pipe
	rcmd   *osexec.Cmd
	// reaping is closed once the reaper is started (or failed to be).
	reaping chan struct{}
	closed  bool
	// unsupported: processes cannot be identified here; nothing is
	// recorded.
	unsupported bool
}

// Options configure Open.
type Options struct {
	// Reaper is the pex executable to start as the reaper (with
	// ReaperArg); "" starts none, leaving what a killed pex left to the
	// next one.
	Reaper string
}

// Open returns the table of this process whose records go in dir (a
// workspace's .pex/procs). Nothing is written until a group starts.
func Open(dir string, o Options) *Table {
	return &Table{dir: dir, reaper: o.Reaper, live: map[int]string{}}
}

// Start starts cmd in a process group of its own, with a parent-death
// signal where the system has one, and records the group before it
// returns. If the group cannot be recorded, it is killed and Start fails.
func (t *Table) Start(cmd *osexec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	setDeathSignal(cmd.SysProcAttr)
	if t == nil {
		return cmd.Start()
	}
	recording, err := t.open()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil || !recording {
		return err
	}
	pgid := cmd.Process.Pid
	p, ok := process(pgid)
	if !ok {
		// It exited already, and was reaped: impossible before Wait, but
		// a group that cannot be identified is not recorded.
		return nil
	}
	if err := t.write(fmt.Sprintf("+ %d %d %d\n", pgid, p.start, p.sid), pgid, true); err != nil {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		_ = cmd.Wait()
		return err
	}
	return nil
}

// Ended marks the group pgid, started with Start, as over: it was killed,
// or nothing of it is left.
func (t *Table) Ended(pgid int) {
	if t == nil {
		return
	}
	_ = t.write(fmt.Sprintf("- %d\n", pgid), pgid, false)
}

// write appends one line to the record and notes whether pgid is live.
// A record grown large (pex watch, rebuilding all day) is written anew
// with the live groups alone.
func (t *Table) write(line string, pgid int, live bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.f == nil {
		return errors.New("the record of process groups is closed")
	}
	if live {
		t.live[pgid] = line
	} else if _, ok := t.live[pgid]; !ok {
		return nil
	} else {
		delete(t.live, pgid)
	}
	if t.size > compactAfter && len(t.live) < 64 {
		if err := t.compact(); err != nil {
			return fmt.Errorf("cannot record a process group in %s: %v", t.path, err)
		}
		return nil
	}
	n, err := t.f.WriteString(line)
	t.size += n
	if err != nil {
		return fmt.Errorf("cannot record a process group in %s: %v", t.path, err)
	}
	return nil
}

// compactAfter is the size past which a record is written anew.
var compactAfter = 1 << 20

// compact replaces the record with its header and the live groups' lines,
// in one rename: a reader sees the old record or the new one.
func (t *Table) compact() error {
	var b strings.Builder
	b.WriteString(t.header)
	for _, line := range t.live {
		b.WriteString(line)
	}
	tmp := t.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o666); err != nil {
		return err
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, t.path); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	t.f.Close()
	t.f, t.size = f, b.Len()
	return nil
}

// open creates this process's record, and starts the reaper, on first
// use. It reports whether groups are recorded: not on a system where a
// process cannot be identified (nor where /proc is missing).
func (t *Table) open() (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.f != nil || t.unsupported {
		return t.f != nil, nil
	}
	if t.closed {
		return false, errors.New("the record of process groups is closed")
	}
	me, ok := process(os.Getpid())
	boot, err := bootID()
	if !ok || err != nil {
		t.unsupported = true
		return false, nil
	}
	if err := os.MkdirAll(t.dir, 0o777); err != nil {
		return false, fmt.Errorf("cannot record process groups: %v", err)
	}
	path := filepath.Join(t.dir, strconv.Itoa(os.Getpid())+"."+strconv.FormatUint(me.start, 10))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o666)
	if err != nil {
		return false, fmt.Errorf("cannot record process groups: %v", err)
	}
	header := fmt.Sprintf("pex procs %d %s %d %d\n", recordVersion, boot, os.Getpid(), me.start)
	if _, err := f.WriteString(header); err != nil {
		f.Close()
		os.Remove(path)
		return false, fmt.Errorf("cannot record process groups: %v", err)
	}
	t.f, t.path, t.header, t.size = f, path, header, len(header)
	// The first command need not wait for it.
	t.reaping = make(chan struct{})
	go func() {
		defer close(t.reaping)
		t.startReaper()
	}()
	return true, nil
}

// startReaper starts the reaper of this process, if it has one. Should
// that fail, the next pex in the workspace still reaps what this one
// leaves if it is killed.
func (t *Table) startReaper() {
	if t.reaper == "" {
		return
	}
	r, w, err := os.Pipe()
	if err != nil {
		return
	}
	defer r.Close()
	t.mu.Lock()
	path := t.path
	t.mu.Unlock()
	cmd := &osexec.Cmd{
		Path:        t.reaper,
		Args:        []string{"pex", ReaperArg, path},
		Dir:         "/",
		Stdin:       r,
		SysProcAttr: &syscall.SysProcAttr{Setsid: true}, // no terminal's signals reach it
	}
	if err := cmd.Start(); err != nil {
		w.Close()
		return
	}
	t.mu.Lock()
	t.pipe, t.rcmd = w, cmd
	t.mu.Unlock()
}

// Close kills any group still recorded as live (there should be none),
// removes this process's record and lets its reaper go.
func (t *Table) Close() {
	if t == nil {
		return
	}
	t.mu.Lock()
	reaping := t.reaping
	t.mu.Unlock()
	if reaping != nil {
		<-reaping
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	if t.f == nil {
		return
	}
	for pgid := range t.live {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	t.f.Close()
	os.Remove(t.path)
	t.f = nil
	if t.pipe != nil {
		t.pipe.Close()
		go t.rcmd.Wait() //nolint:errcheck // it finds no record and exits; not worth waiting for
		t.pipe = nil
	}
}
