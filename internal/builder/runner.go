// This file runs a rule's command: /bin/sh -c (or, for a plain command,
// the program itself: direct.go) in the package directory, in a process
// group of its own (recorded, see internal/procs), with the fixed
// environment the README describes and the channel files through which it
// reports findings and shared values.

package builder

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pex-build/pex/cache"
	"github.com/pex-build/pex/graph"
	"github.com/pex-build/pex/internal/procs"
)

// killGrace is how long a cancelled command has between SIGTERM and
// SIGKILL to its process group.
const killGrace = 2 * time.Second

// maxOutput caps the captured output of one command; beyond it, only the
// head and tail are kept.
const maxOutput = 4 << 20

// ActionError is the failure of a rule's command.
type ActionError struct {
	Label    graph.Label
	ExitCode int // -1 when killed by a signal
	Msg      string
}

func (e *ActionError) Error() string { return e.Msg }

// Runner runs a rule's command: processRunner starts processes; tests
// give a fake that does in Go what the command would.
type Runner interface {
	run(ctx context.Context, c *command) (*outcome, error)
}

type processRunner struct{}

func (processRunner) run(ctx context.Context, c *command) (*outcome, error) { return c.run(ctx) }

// command is one run of a rule's command.
type command struct {
	root    string
	tmp     string // the build's scratch directory for channel files
	id      int
	t       *graph.Target
	hostEnv func(string) (string, bool)
	shared  map[string]any   // inherited from dependencies
	srcs    []string         // relative to the package, labels resolved
	procs   *procs.Table     // records the command's process group
	clock   *cache.FileClock // if set, tells outcome.started
}

// outcome is what a command left behind.
type outcome struct {
	// started is when the command started, as the file clock tells it
	// (a file changed since has no earlier ctime); zero without a clock.
	started     int64
	output      []byte
	findings    []string
	shared      map[string]any // written to $PEX_SHARED (strings) or ctx.shared
	sharedOrder []string       // its keys, in the order first written
	// note, if set, says why the run's result must not be cached.
	note string
	// generated is the Starlark a dynamic rule generated.
	generated string
}

// run runs the command to completion. A non-nil error is an *ActionError,
// or the context's error when the run was cancelled or timed out.
func (c *command) run(ctx context.Context) (*outcome, error) {
	t := c.t
	dir := filepath.Join(c.root, filepath.FromSlash(t.Label.Pkg))
	if err := prepareOutputs(c.root, t); err != nil {
		return nil, c.fail(-1, err.Error())
	}
	base := filepath.Join(c.tmp, fmt.Sprint(c.id))
	report, sharedFile, dynamic := base+".report", base+".shared", base+".dynamic"
	defer unlink(report, sharedFile, dynamic) // if the command wrote them
	out, err := newCapture(base + ".out")
	if err != nil {
		return nil, c.fail(-1, "cannot capture output: "+err.Error())
	}
	defer out.Close()
	var started int64
	if c.clock != nil {
		started = c.clock.Now()
	}
	vars := c.vars(report, sharedFile)
	if t.Dynamic {
		vars["PEX_DYNAMIC"] = dynamic
	}
	cmd, err := c.start(dir, vars, out.f)
	if err != nil {
		return nil, c.fail(-1, err.Error())
	}
	waitErr := waitOrKill(ctx, cmd)
	c.procs.Ended(cmd.Process.Pid)
	o := &outcome{started: started, output: readCapped(out.f)}
	if ctx.Err() != nil {
		return o, ctx.Err()
	}
	if waitErr != nil {
		code := -1
		var ee *osexec.ExitError
		if errors.As(waitErr, &ee) {
			code = ee.ExitCode()
		}
		return o, c.fail(code, exitMessage(waitErr, code))
	}
	if o.findings, err = readLines(report); err != nil {
		return o, c.fail(0, "reading $PEX_REPORT: "+err.Error())
	}
	if o.shared, o.sharedOrder, err = readShared(sharedFile); err != nil {
		return o, c.fail(0, err.Error())
	}
	if t.Dynamic {
		data, err := os.ReadFile(dynamic)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return o, c.fail(0, "reading $PEX_DYNAMIC: "+err.Error())
		}
		o.generated = string(data)
	}
	for i, out := range t.OutFiles {
		if _, err := os.Lstat(filepath.Join(c.root, out)); err != nil {
			return o, c.fail(0, fmt.Sprintf("declared output %q was not produced", t.Outs[i]))
		}
	}
	return o, nil
}

// start starts the command in dir with the environment vars, its output
// going to out: directly when it needs no shell (see direct.go), else
// with /bin/sh -c.
func (c *command) start(dir string, vars map[string]string, out *os.File) (*osexec.Cmd, error) {
	if cmd := c.startDirect(dir, vars, out); cmd != nil {
		return cmd, nil
	}
	cmd := osexec.Command("/bin/sh", "-c", c.t.Cmd)
	cmd.Dir = dir
	cmd.Env = environ(vars)
	cmd.Stdin = devNull()
	cmd.Stdout, cmd.Stderr = out, out // a file, not a pipe: no copier to wait for
	if err := c.procs.Start(cmd); err != nil {
		return nil, fmt.Errorf("cannot start /bin/sh: %v", err)
	}
	return cmd, nil
}

func (c *command) fail(code int, msg string) *ActionError {
	return &ActionError{Label: c.t.Label, ExitCode: code, Msg: msg}
}

func exitMessage(err error, code int) string {
	var ee *osexec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Sprintf("command killed by signal %s", ws.Signal())
		}
	}
	if code >= 0 {
		return fmt.Sprintf("command exited with status %d", code)
	}
	return "command failed: " + err.Error()
}

// waitOrKill waits for the command. When ctx ends first (interrupt or
// timeout) its whole process group gets SIGTERM, then SIGKILL after
// killGrace. Once the shell has exited, whatever it left running in its
// group is killed too: no rule leaves processes behind.
func waitOrKill(ctx context.Context, cmd *osexec.Cmd) error {
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case err = <-done:
		case <-time.After(killGrace):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			err = <-done
		}
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return err
}

// prepareOutputs removes stale outputs, so that one the command fails to
// write is never mistaken for a fresh one, and creates their directories.
func prepareOutputs(root string, t *graph.Target) error {
	for _, out := range t.OutFiles {
		p := filepath.Join(root, out)
		// unlink alone: os.Remove tries rmdir too when it fails, as it does
		// for every output of a clean build.
		if err := syscall.Unlink(p); err != nil && err != syscall.ENOENT {
			if err := os.RemoveAll(p); err != nil {
				return fmt.Errorf("cannot remove stale output %s: %v", out, err)
			}
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
			return fmt.Errorf("cannot create directory for output %s: %v", out, err)
		}
	}
	return nil
}

// vars returns the command's environment: PATH, HOME, TMPDIR and LANG
// from the host, shared values inherited from dependencies, the rule's
// env, passed-through host variables, then pex's own variables, each
// later source winning.
func (c *command) vars(report, shared string) map[string]string {
	t := c.t
	vars := make(map[string]string, 16+len(t.Env)+len(c.shared))
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "LANG"} {
		if v, ok := c.hostEnv(k); ok {
			vars[k] = v
		}
	}
	if _, ok := vars["TMPDIR"]; !ok {
		vars["TMPDIR"] = os.TempDir()
	}
	for k, v := range c.shared {
		if s, ok := v.(string); ok { // a cmd rule is given no other (checkShared)
			vars[k] = s
		}
	}
	for k, v := range t.Env {
		vars[k] = v
	}
	for _, k := range t.EnvPassthrough {
		if v, ok := c.hostEnv(k); ok {
			vars[k] = v
		}
	}
	vars["SRCS"] = strings.Join(c.srcs, " ")
	vars["OUTS"] = strings.Join(t.Outs, " ")
	vars["OUT"] = ""
	if len(t.Outs) > 0 {
		vars["OUT"] = t.Outs[0]
	}
	vars["PKG"] = t.Label.Pkg
	vars["ROOT"] = c.root
	vars["NAME"] = t.Label.Name
	vars["PEX_REPORT"] = report
	vars["PEX_SHARED"] = shared
	return vars
}

// environ returns vars as a sorted list of NAME=value.
func environ(vars map[string]string) []string {
	env := make([]string, 0, len(vars)+1)
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}

// devNull returns /dev/null open for reading, the stdin of every command;
// one file serves them all.
var devNull = sync.OnceValue(func() *os.File {
	f, _ := os.Open(os.DevNull)
	return f // nil if it failed: os/exec then tries again itself
})

// unlink removes files, ignoring those that do not exist: one system call
// each, where os.Remove would try rmdir too.
func unlink(paths ...string) {
	for _, p := range paths {
		_ = syscall.Unlink(p)
	}
}

// readCapped reads the captured output in f, keeping the head and the
// tail when it is larger than maxOutput.
func readCapped(f *os.File) []byte {
	st, err := f.Stat()
	if err != nil {
		return nil
	}
	if st.Size() <= maxOutput {
		b := make([]byte, st.Size())
		n, _ := f.ReadAt(b, 0)
		return b[:n]
	}
	half := int64(maxOutput / 2)
	head := make([]byte, half)
	tail := make([]byte, half)
	_, _ = f.ReadAt(head, 0)
	_, _ = f.ReadAt(tail, st.Size()-half)
	note := fmt.Sprintf("\n... [%d bytes of output elided] ...\n", st.Size()-2*half)
	return append(append(head, note...), tail...)
}

// readLines returns the non-empty lines of a channel file; a file the
// command never wrote is no lines.
func readLines(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line := strings.TrimRight(sc.Text(), "\r"); strings.TrimSpace(line) != "" {
			lines = append(lines, line)
		}
	}
	return lines, sc.Err()
}

// readShared parses the KEY=VALUE lines written to $PEX_SHARED; a key
// written twice keeps its last value and its first place.
func readShared(path string) (map[string]any, []string, error) {
	lines, err := readLines(path)
	if err != nil || len(lines) == 0 {
		return nil, nil, err
	}
	kv := make(map[string]any, len(lines))
	var order []string
	for i, line := range lines {
		k, v, ok := strings.Cut(line, "=")
		if !ok || !validEnvName(k) {
			return nil, nil, fmt.Errorf("$PEX_SHARED line %d: want KEY=VALUE with KEY a variable name, got %q", i+1, line)
		}
		if strings.ContainsRune(v, 0) {
			return nil, nil, fmt.Errorf("$PEX_SHARED line %d: the value of %s holds a NUL byte, which no environment variable can", i+1, k)
		}
		if _, seen := kv[k]; !seen {
			order = append(order, k)
		}
		kv[k] = v
	}
	return kv, order, nil
}

func validEnvName(k string) bool {
	if k == "" {
		return false
	}
	for i, r := range k {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
