package procs

import (
	"bufio"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the reaper (ReaperArg) and as a pex process
// to kill (PROCS_TEST_OWNER: it starts a group, prints its id, and waits).
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == ReaperArg {
		ReaperMain(os.Args[2])
		os.Exit(0)
	}
	if dir := os.Getenv("PROCS_TEST_OWNER"); dir != "" {
		owner(dir, os.Getenv("PROCS_TEST_REAPER") != "")
	}
	os.Exit(m.Run())
}

// owner starts a command that leaves a second process in its group, tells
// the group's id on stdout, and waits to be killed.
func owner(stateDir string, reaper bool) {
	o := Options{}
	if reaper {
		o.Reaper, _ = os.Executable()
	}
	tb := Open(filepath.Join(stateDir, "procs"), o)
	cmd := osexec.Command("/bin/sh", "-c", "sleep 300 & sleep 300")
	if err := tb.Start(cmd); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println(cmd.Process.Pid)
	time.Sleep(time.Hour)
	os.Exit(0)
}

func skipUnsupported(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("process groups are not recorded on", runtime.GOOS)
	}
}

// groupGone waits up to d for group pgid to have no process left.
func groupGone(pgid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !hasLiving(pgid) {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// leaderAlive reports whether process pgid is alive and not a zombie.
func leaderAlive(pgid int) bool {
	p, ok := process(pgid)
	return ok && !p.zombie
}

// living returns the processes of group pgid that are not zombies.
func living(pgid int) []proc {
	var ps []proc
	for _, p := range members(pgid) {
		if !p.zombie {
			ps = append(ps, p)
		}
	}
	return ps
}

// startGroup starts sh with script in a group of its own, unrecorded.
func startGroup(t *testing.T, script string) *osexec.Cmd {
	t.Helper()
	cmd := osexec.Command("/bin/sh", "-c", script)
	if err := (*Table)(nil).Start(cmd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	return cmd
}

// writeRecord writes a record file for owner pid/start with lines.
func writeRecord(t *testing.T, stateDir, boot string, pid int, start uint64, lines ...string) string {
	t.Helper()
	dir := filepath.Join(stateDir, "procs")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("%d.%d", pid, start))
	text := fmt.Sprintf("pex procs 1 %s %d %d\n", boot, pid, start) + strings.Join(lines, "")
	if err := os.WriteFile(path, []byte(text), 0o666); err != nil {
		t.Fatal(err)
	}
	return path
}

// deadProcess returns the id and start time of a process that has exited.
func deadProcess(t *testing.T) (int, uint64) {
	t.Helper()
	cmd := osexec.Command("/bin/sh", "-c", "read x")
	w, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p, ok := process(cmd.Process.Pid)
	if !ok {
		t.Fatal("cannot read the process just started")
	}
	w.Close()
	_ = cmd.Wait()
	return p.pid, p.start
}

func groupLine(t *testing.T, cmd *osexec.Cmd) string {
	t.Helper()
	p, ok := process(cmd.Process.Pid)
	if !ok {
		t.Fatal("cannot read the group's first process")
	}
	return fmt.Sprintf("+ %d %d %d\n", p.pid, p.start, p.sid)
}

func TestTableRecordsGroups(t *testing.T) {
	skipUnsupported(t)
	stateDir := t.TempDir()
	tb := Open(filepath.Join(stateDir, "procs"), Options{})
	cmd := osexec.Command("/bin/sh", "-c", "sleep 300")
	if err := tb.Start(cmd); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	if got, _ := syscall.Getpgid(pgid); got != pgid {
		t.Errorf("the command runs in group %d, not a group of its own", got)
	}
	files, _ := filepath.Glob(filepath.Join(stateDir, "procs", "*"))
	if len(files) != 1 {
		t.Fatalf("records = %v, want one", files)
	}
	rec, err := readRecord(files[0])
	if err != nil || len(rec.groups) != 1 || rec.groups[0].pgid != pgid || rec.pid != os.Getpid() {
		t.Fatalf("record = %+v, %v; want this process's, with group %d", rec, err, pgid)
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	_ = cmd.Wait()
	tb.Ended(pgid)
	if rec, err := readRecord(files[0]); err != nil || len(rec.groups) != 0 {
		t.Errorf("after Ended, record = %+v, %v; want no live group", rec, err)
	}
	tb.Close()
	if _, err := os.Stat(files[0]); !os.IsNotExist(err) {
		t.Error("Close left the record behind")
	}
}

// TestReapDeadOwner kills what a pex no longer running recorded, leader
// gone or not, and says how many groups it stopped.
func TestReapDeadOwner(t *testing.T) {
	skipUnsupported(t)
	stateDir := t.TempDir()
	boot, _ := bootID()
	pid, start := deadProcess(t)
	both := startGroup(t, "sleep 300 & sleep 300")
	orphan := startGroup(t, "sleep 300 & exit 0") // its shell exits, the sleep lives on
	orphanLine := groupLine(t, orphan)
	_ = orphan.Wait()
	if len(living(orphan.Process.Pid)) == 0 {
		t.Fatal("the orphaned sleep is not running")
	}
	ended := startGroup(t, "sleep 300")
	path := writeRecord(t, stateDir, boot, pid, start, groupLine(t, both), orphanLine,
		groupLine(t, ended), fmt.Sprintf("- %d\n", ended.Process.Pid), "+ 12") // a line cut short
	rep := Reap(filepath.Join(stateDir, "procs"))
	if rep.Stopped != 2 || len(rep.Notes) != 0 {
		t.Errorf("Reap = %+v, want 2 groups stopped and no notes", rep)
	}
	if rep.Message() != "stopped 2 commands left running by a pex that was killed" {
		t.Errorf("message = %q", rep.Message())
	}
	for _, cmd := range []*osexec.Cmd{both, orphan} {
		if !groupGone(cmd.Process.Pid, 2*time.Second) {
			t.Errorf("group %d still has processes", cmd.Process.Pid)
		}
	}
	if len(living(ended.Process.Pid)) == 0 {
		t.Error("Reap killed a group recorded as ended")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Error("the record was not removed")
	}
	if rep := Reap(filepath.Join(stateDir, "procs")); rep.Stopped != 0 || len(rep.Notes) != 0 {
		t.Errorf("second Reap = %+v, want nothing", rep)
	}
}

// TestReapTrustsNothingDoubtful leaves alone a running pex's record, and
// kills nothing a damaged record, one from another boot or a group whose
// id now belongs to another process names.
func TestReapTrustsNothingDoubtful(t *testing.T) {
	skipUnsupported(t)
	stateDir := filepath.Join(t.TempDir(), ".pex")
	boot, _ := bootID()
	victim := startGroup(t, "sleep 300")
	line := groupLine(t, victim)
	me, _ := process(os.Getpid())
	pid, start := deadProcess(t)
	p, _ := process(victim.Process.Pid)
	reused := fmt.Sprintf("+ %d %d %d\n", p.pid, p.start+1, p.sid) // another process's start time

	live := writeRecord(t, stateDir, boot, os.Getpid(), me.start, line)
	writeRecord(t, stateDir, boot, pid, start, line, "garbage here\n")
	writeRecord(t, stateDir, "another-boot", pid, start+1, line)
	writeRecord(t, stateDir, boot, pid, start+2, reused)
	rep := Reap(filepath.Join(stateDir, "procs"))
	if rep.Stopped != 0 {
		t.Errorf("Reap stopped %d groups, want none", rep.Stopped)
	}
	if len(rep.Notes) != 2 {
		t.Errorf("notes = %q, want one for the damaged record and one for the other boot's", rep.Notes)
	}
	for _, n := range rep.Notes {
		if !strings.HasPrefix(n, "ignored .pex/procs/") {
			t.Errorf("note %q does not name the record", n)
		}
	}
	if len(living(victim.Process.Pid)) == 0 {
		t.Fatal("a doubtful record killed a process")
	}
	if _, err := os.Stat(live); err != nil {
		t.Error("the running pex's record was removed")
	}
}

// TestKilledOwner kills a pex-like process with SIGKILL: with its reaper,
// nothing of its group is left moments later; without, the parent-death
// signal takes the shell (on Linux) and the next Reap the rest.
func TestKilledOwner(t *testing.T) {
	skipUnsupported(t)
	for _, reaper := range []bool{true, false} {
		t.Run(fmt.Sprintf("reaper=%v", reaper), func(t *testing.T) {
			stateDir := t.TempDir()
			exe, _ := os.Executable()
			cmd := osexec.Command(exe, "-test.run=^$")
			cmd.Env = append(os.Environ(), "PROCS_TEST_OWNER="+stateDir)
			if reaper {
				cmd.Env = append(cmd.Env, "PROCS_TEST_REAPER=1")
			}
			out, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(out).ReadString('\n')
			pgid, perr := strconv.Atoi(strings.TrimSpace(line))
			if err != nil || perr != nil {
				_ = cmd.Process.Kill()
				t.Fatalf("owner said %q, %v", line, err)
			}
			t.Cleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
			for deadline := time.Now().Add(2 * time.Second); len(living(pgid)) < 3 && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond) // the shell starts its sleeps
			}
			if len(living(pgid)) < 3 {
				t.Fatalf("group %d has %d processes, want its shell and two sleeps", pgid, len(living(pgid)))
			}
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if reaper {
				if !groupGone(pgid, 2*time.Second) {
					t.Fatalf("2s after the owner was killed, group %d has %d processes", pgid, len(living(pgid)))
				}
				return
			}
			if runtime.GOOS == "linux" {
				// The parent-death signal kills the group's first process.
				deadline := time.Now().Add(2 * time.Second)
				for leaderAlive(pgid) && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				if leaderAlive(pgid) {
					t.Error("the group's first process outlived its killed parent")
				}
			}
			if len(living(pgid)) == 0 {
				t.Fatal("nothing of the group is left for Reap to stop")
			}
			if rep := Reap(filepath.Join(stateDir, "procs")); rep.Stopped != 1 {
				t.Errorf("Reap = %+v, want one group stopped", rep)
			}
			if !groupGone(pgid, 2*time.Second) {
				t.Errorf("after Reap, group %d has %d processes", pgid, len(living(pgid)))
			}
		})
	}
}

// TestTableCompacts writes a long-lived pex's record anew once it grows,
// keeping the groups still live.
func TestTableCompacts(t *testing.T) {
	skipUnsupported(t)
	defer func(n int) { compactAfter = n }(compactAfter)
	compactAfter = 300
	tb := Open(t.TempDir(), Options{})
	defer tb.Close()
	long := osexec.Command("/bin/sh", "-c", "sleep 300")
	if err := tb.Start(long); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(-long.Process.Pid, syscall.SIGKILL); _ = long.Wait() }()
	for range 40 {
		cmd := osexec.Command("/bin/true")
		if err := tb.Start(cmd); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		tb.Ended(cmd.Process.Pid)
	}
	fi, err := os.Stat(tb.path)
	if err != nil || fi.Size() > 400 {
		t.Fatalf("record size = %v, %v; want it written anew, small", fi, err)
	}
	rec, err := readRecord(tb.path)
	if err != nil || len(rec.groups) != 1 || rec.groups[0].pgid != long.Process.Pid {
		t.Errorf("compacted record = %+v, %v; want the one live group", rec, err)
	}
}

// TestReapZombieIsGone counts a group whose only process was killed but
// not yet collected by its parent (pex died; the reaper got there first)
// as gone: the next pex must not claim to have stopped it.
func TestReapZombieIsGone(t *testing.T) {
	skipUnsupported(t)
	stateDir := t.TempDir()
	boot, _ := bootID()
	pid, start := deadProcess(t)
	killed := startGroup(t, "sleep 300")
	line := groupLine(t, killed)
	// Kill the whole group: sh may run sleep as a child rather than exec it,
	// and a killed sh alone would leave that child living. The leader stays
	// a zombie until the deferred Wait.
	if err := syscall.Kill(-killed.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	defer killed.Wait()
	if !groupGone(killed.Process.Pid, 2*time.Second) {
		t.Fatal("the killed sleep did not die")
	}
	writeRecord(t, stateDir, boot, pid, start, line)
	if rep := Reap(filepath.Join(stateDir, "procs")); rep.Stopped != 0 {
		t.Errorf("Reap = %+v, want nothing stopped: the group's one process is a zombie", rep)
	}
}
