package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/pex-build/pex/internal/procs"
)

// The end-to-end tests: testdata/script/*.txtar, each a workspace and a
// script run against the real pex binary (this test binary, re-executed).
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"pex": func() { os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

func TestScript(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir:                 "../../testdata/script",
		RequireExplicitExec: false,
		Setup: func(env *testscript.Env) error {
			env.Setenv("PEX_CACHE_DIR", env.WorkDir+"/.cache/pex")
			env.Setenv("HOME", env.WorkDir+"/home")
			return os.MkdirAll(env.WorkDir+"/home", 0o777)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"gone":       cmdGone,
			"killreaper": cmdKillReaper,
		},
	})
}

// gone FILE...: within 2 s, no process whose pid a FILE holds is left
// (zombies aside); with !, each is still running.
func cmdGone(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) == 0 {
		ts.Fatalf("usage: gone FILE...")
	}
	var pids []int
	for _, f := range args {
		pid, err := strconv.Atoi(strings.TrimSpace(ts.ReadFile(f)))
		ts.Check(err)
		pids = append(pids, pid)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		var running []int
		for _, pid := range pids {
			if processRunning(pid) {
				running = append(running, pid)
			}
		}
		switch {
		case neg && len(running) < len(pids):
			ts.Fatalf("process gone, want it running: %v of %v left", running, pids)
		case neg:
			return
		case len(running) == 0:
			return
		case time.Now().After(deadline):
			ts.Fatalf("processes still running 2s later: %v", running)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processRunning reports whether process pid exists and is not a zombie.
func processRunning(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && b[i+2] != 'Z'
}

// killreaper: SIGKILL the reapers of the pex processes of this script's
// workspace, as a kill of a whole process tree would.
func cmdKillReaper(ts *testscript.TestScript, neg bool, args []string) {
	dirs, _ := os.ReadDir("/proc")
	killed := 0
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		args := strings.Split(string(cmdline), "\x00")
		if len(args) > 2 && args[1] == procs.ReaperArg && strings.HasPrefix(args[2], ts.Getenv("WORK")) {
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				killed++
			}
		}
	}
	if killed == 0 {
		ts.Fatalf("no reaper found")
	}
}
