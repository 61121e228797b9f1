// Reaping: what the next pex in a workspace, or the reaper of a pex that
// died, does with the groups a record lists as still running.

package procs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Report is what Reap did.
type Report struct {
	// Stopped counts the process groups killed: commands and services
	// that a pex which is no longer running left behind.
	Stopped int
	// Notes describe records ignored: damaged, or from another boot.
	Notes []string
}

// Message is the one line to tell the user, or "" when there is nothing
// to tell: how many commands were stopped.
func (r Report) Message() string {
	switch r.Stopped {
	case 0:
		return ""
	case 1:
		return "stopped 1 command left running by a pex that was killed"
	}
	return fmt.Sprintf("stopped %d commands left running by a pex that was killed", r.Stopped)
}

// Reap kills the process groups still alive that pex processes recorded
// in dir (a workspace's .pex/procs) and did not live to see
// end: it reads every record in dir whose owner is no longer
// running, kills its groups, waits (a little) for them to go, and removes
// it. Records of running pex processes are left alone. It costs one
// directory read when there is nothing to do.
func Reap(dir string) Report {
	names, err := readDirNames(dir)
	if err != nil || len(names) == 0 {
		return Report{}
	}
	var rep Report
	boot, bootErr := bootID()
	for _, name := range names {
		path := filepath.Join(dir, name)
		rec, err := readRecord(path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			continue // its owner ended meanwhile
		case err != nil:
			rep.Notes = append(rep.Notes, fmt.Sprintf("ignored %s: %v", recordName(dir, path), err))
			os.Remove(path)
			continue
		case bootErr != nil:
			continue // nothing can be checked here
		case rec.boot != boot:
			rep.Notes = append(rep.Notes, fmt.Sprintf(
				"ignored %s: written before this machine last started, or on another machine", recordName(dir, path)))
			os.Remove(path)
			continue
		}
		if p, ok := process(rec.pid); ok && p.start == rec.start && !p.zombie {
			continue // a pex still running
		}
		rep.Stopped += rec.kill()
		os.Remove(path)
	}
	return rep
}

// recordName names a record file for a note, relative to the workspace
// (dir is <root>/.pex/procs).
func recordName(dir, path string) string {
	if rel, err := filepath.Rel(filepath.Dir(filepath.Dir(dir)), path); err == nil {
		return rel
	}
	return path
}

// readDirNames lists dir's entries without statting them.
func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// ReaperMain is all a reaper process does: it waits until its standard
// input, a pipe only the pex that started it holds, reaches its end
// (that pex has exited, however it died), then kills the groups the
// record at path lists as live, and removes it. A pex that exits normally
// removes its record first, leaving nothing to do.
func ReaperMain(path string) {
	signal.Ignore(syscall.SIGINT, syscall.SIGHUP, syscall.SIGPIPE)
	_, _ = io.Copy(io.Discard, os.Stdin)
	rec, err := readRecord(path)
	if err != nil {
		return
	}
	if boot, err := bootID(); err != nil || boot != rec.boot {
		return
	}
	rec.kill()
	os.Remove(path)
}

// record is a parsed record file.
type record struct {
	boot   string
	pid    int
	start  uint64
	groups []group // live ones, in the order started
}

// group is a process group as recorded: its id, the start time of its
// first process and its session.
type group struct {
	pgid  int
	start uint64
	sid   int
}

// readRecord parses the record at path.
func readRecord(path string) (*record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if i := bytes.LastIndexByte(data, '\n'); i+1 < len(data) {
		data = data[:i+1] // a last line cut short by a kill
	}
	rec := &record{}
	live := map[int]int{} // pgid -> index in groups
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if n == 1 {
			if len(f) != 6 || f[0] != "pex" || f[1] != "procs" || f[2] != strconv.Itoa(recordVersion) {
				return nil, errors.New("not a record of process groups that this pex can read")
			}
			rec.boot = f[3]
			if rec.pid, err = strconv.Atoi(f[4]); err == nil {
				rec.start, err = strconv.ParseUint(f[5], 10, 64)
			}
			if err != nil {
				return nil, fmt.Errorf("line 1: %v", err)
			}
			continue
		}
		switch {
		case len(f) == 4 && f[0] == "+":
			var g group
			var err1, err2, err3 error
			g.pgid, err1 = strconv.Atoi(f[1])
			g.start, err2 = strconv.ParseUint(f[2], 10, 64)
			g.sid, err3 = strconv.Atoi(f[3])
			if err := errors.Join(err1, err2, err3); err != nil || g.pgid <= 1 {
				return nil, fmt.Errorf("line %d: damaged", n)
			}
			live[g.pgid] = len(rec.groups)
			rec.groups = append(rec.groups, g)
		case len(f) == 2 && f[0] == "-":
			pgid, err := strconv.Atoi(f[1])
			if err != nil {
				return nil, fmt.Errorf("line %d: damaged", n)
			}
			if i, ok := live[pgid]; ok {
				rec.groups[i].pgid = 0
				delete(live, pgid)
			}
		default:
			return nil, fmt.Errorf("line %d: damaged", n)
		}
	}
	if rec.boot == "" {
		return nil, errors.New("empty")
	}
	kept := rec.groups[:0]
	for _, g := range rec.groups {
		if g.pgid != 0 {
			kept = append(kept, g)
		}
	}
	rec.groups = kept
	return rec, nil
}

// reapWait bounds how long reaping waits for killed groups to be gone.
const reapWait = 2 * time.Second

// kill kills the record's live groups that are still the ones recorded
// and waits, up to reapWait, until none of them has a process left. It
// returns how many it killed.
func (r *record) kill() int {
	var killed []int
	for _, g := range r.groups {
		if g.alive() && syscall.Kill(-g.pgid, syscall.SIGKILL) == nil {
			killed = append(killed, g.pgid)
		}
	}
	deadline := time.Now().Add(reapWait)
	for _, pgid := range killed {
		for hasLiving(pgid) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	return len(killed)
}

// hasLiving reports whether group pgid has a process that is not a zombie
// (one that exited and waits for its parent to collect it).
func hasLiving(pgid int) bool {
	for _, p := range members(pgid) {
		if !p.zombie {
			return true
		}
	}
	return false
}

// alive reports whether the group is still the one recorded and has a
// process left to kill. While its first process lives, that process's
// start time says whether it is the one recorded (a process id reused
// since never matches). Once it has gone, the group lives on in the
// processes it started, which are of the same session and started no
// earlier; no new group can take its id while one of them lives. A
// zombie counts as gone.
func (g group) alive() bool {
	if p, ok := process(g.pgid); ok {
		if p.start != g.start || p.pgrp != g.pgid {
			return false // the id went to another process
		}
		if !p.zombie {
			return true
		}
		// A first process killed but not yet collected (its parent, pex,
		// is gone) is dead: the group lives only in what it started.
	}
	for _, p := range members(g.pgid) {
		if p.sid == g.sid && p.start >= g.start && !p.zombie {
			return true
		}
	}
	return false
}
