// This file runs a rule's command outside a build: in the foreground for
// pex run, or in the background as a service for pex watch. Either way it
// runs as it would in a build — /bin/sh -c in the package directory, in a
// process group of its own, with the fixed environment and the shared
// values its dependencies recorded — but nothing is captured or cached,
// and no build waits for it.

package builder

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/pex-build/pex/cache"
	"github.com/pex-build/pex/graph"
	"github.com/pex-build/pex/internal/db"
	"github.com/pex-build/pex/internal/procs"
)

// ProcessOptions describe a rule's command run outside a build.
type ProcessOptions struct {
	Root   string
	Graph  *graph.Graph
	Target *graph.Target
	// Args are appended to the command: it runs as
	// /bin/sh -c 'CMD "$@"' sh ARGS...
	Args []string
	// Workspace, if set, supplies the shared values that the target
	// inherits from the last recorded runs of its dependencies.
	Workspace *Workspace
	// HostEnv looks up the host's environment (os.LookupEnv if nil).
	HostEnv func(string) (string, bool)
	// Procs records the process groups started (see StartService); nil
	// records nothing.
	Procs *procs.Table
}

// Command returns the target's command, ready to start: /bin/sh -c in the
// package directory, in a process group of its own, with the environment
// a build gives the rule. $PEX_REPORT and $PEX_SHARED are the null
// device: nothing reads them. The caller sets Stdin, Stdout and Stderr,
// and starts it with procs.Table.Start, which records its group.
func Command(o ProcessOptions) *osexec.Cmd {
	t := o.Target
	if o.HostEnv == nil {
		o.HostEnv = os.LookupEnv
	}
	var shared map[string]any
	if o.Workspace != nil {
		shared = o.Workspace.inherited(o.Graph, t)
	}
	c := &command{root: o.Root, t: t, hostEnv: o.HostEnv, shared: shared, srcs: srcFiles(o.Graph, t)}
	script := t.Cmd
	if len(o.Args) > 0 {
		// Trailing blanks or a final newline would put "$@" on a line of its own.
		script = strings.TrimRight(script, " \t\r\n;") + ` "$@"`
	}
	cmd := osexec.Command("/bin/sh", append([]string{"-c", script, "sh"}, o.Args...)...)
	cmd.Dir = filepath.Join(o.Root, filepath.FromSlash(t.Label.Pkg))
	cmd.Env = environ(c.vars(os.DevNull, os.DevNull))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// ExitMessage describes how a command ended, from the error its Wait
// returned: "exited with status 3", "killed by signal terminated".
func ExitMessage(err error) string {
	if err == nil {
		return "exited with status 0"
	}
	code := -1
	var ee *osexec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	}
	return strings.TrimPrefix(exitMessage(err, code), "command ")
}

// inherited returns the shared values t would receive in a build: those
// its providers (dependencies and the providers of the tokens it
// requires) last recorded, transitively, merged as exec merges them.
// Rules with cache = False record nothing and pass nothing on here.
func (w *Workspace) inherited(g *graph.Graph, t *graph.Target) map[string]any {
	order := make(map[*graph.Target]int, len(g.Targets))
	providers := make(map[string][]*graph.Target)
	for i, r := range g.Targets {
		order[r] = i
		for _, tok := range r.Provides {
			providers[tok] = append(providers[tok], r)
		}
	}
	final := make(map[*graph.Target]map[string]any)
	var finalOf func(r *graph.Target) map[string]any
	inheritedOf := func(r *graph.Target) map[string]any {
		from := slices.Clone(r.DepTargets)
		for _, tok := range r.Requires {
			from = append(from, providers[tok]...)
		}
		slices.SortStableFunc(from, func(a, b *graph.Target) int { return order[a] - order[b] })
		m := make(map[string]any)
		for _, p := range slices.Compact(from) {
			for k, v := range finalOf(p) {
				m[k] = v
			}
		}
		return m
	}
	finalOf = func(r *graph.Target) map[string]any {
		if m, ok := final[r]; ok {
			return m
		}
		final[r] = nil // a cycle cannot be resolved, but must not loop
		m := inheritedOf(r)
		if row, ok := w.row(r.Label.String()); ok {
			for _, p := range row.Shared {
				m[p.Key] = p.Value
			}
		}
		final[r] = m
		return m
	}
	return inheritedOf(t)
}

// row returns the row of the rule with the label, from the database as
// last read.
func (w *Workspace) row(label string) (*db.Row, bool) {
	if w.db == nil {
		return nil, false
	}
	r, ok := w.db.RuleOf(label)
	if !ok {
		return nil, false
	}
	return w.db.Row(r)
}

// ServiceKey returns a digest of what the service t is made of: its
// command, environment (with inherited shared values), the contents of its
// srcs and tools, its outputs and the labels of its dependencies. What its
// dependencies produce is not part of it: a caller restarts a service when
// one of them did not end as a cache hit. The error is the one a build
// would report, such as a missing input.
func (w *Workspace) ServiceKey(g *graph.Graph, t *graph.Target) (string, error) {
	key, _, _, err := newKeys(w.Root, cache.NewMemoAt(w.now), g, os.LookupEnv).key(t, w.inherited(g, t))
	if err != nil {
		return "", err
	}
	return key.String(), nil
}

// Discovered returns the inputs that t's depfile listed in its last
// recorded run: workspace-relative paths, or absolute ones outside the
// workspace.
func (w *Workspace) Discovered(t *graph.Target) []string {
	row, ok := w.row(t.Label.String())
	if !ok {
		return nil
	}
	paths := make([]string, len(row.Discovered))
	for i, it := range row.Discovered {
		paths[i] = w.db.File(it.File).Path
	}
	return paths
}

// Service is a rule's command running in the background, for pex watch.
// Start it with StartService; stop it with Stop.
type Service struct {
	Label graph.Label
	cmd   *osexec.Cmd
	pgid  int

	exited  chan struct{} // closed once the shell was reaped and its group killed
	drained chan struct{} // closed once its output reached EOF
	err     error         // what Wait returned; read after exited
}

// ServiceOptions configure StartService.
type ServiceOptions struct {
	ProcessOptions
	// OnLine receives each line the service writes on its standard output
	// or error, without the line ending, from one goroutine. Long lines
	// come in pieces of 64 KiB.
	OnLine func(line string)
	// OnExit, if set, is called once the service has exited, by itself or
	// because it was stopped, from a goroutine of its own, after the last
	// OnLine call (or a second after its exit if something it started
	// still holds its output open).
	OnExit func(s *Service, err error)
}

// drainWait bounds how long an exited service's output is read: a process
// that left the group and kept the pipe open must not hold us up.
const drainWait = time.Second

// StartService starts t's command in the background. Its standard input
// is the null device; its output goes, line by line, to o.OnLine.
func StartService(o ServiceOptions) (*Service, error) {
	cmd := Command(o.ProcessOptions)
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = w, w // a file, not a pipe of os/exec: Wait does not wait for readers
	if err := o.Procs.Start(cmd); err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	w.Close()
	s := &Service{Label: o.Target.Label, cmd: cmd, pgid: cmd.Process.Pid,
		exited: make(chan struct{}), drained: make(chan struct{})}
	go func() {
		defer close(s.drained)
		defer r.Close()
		readLinesTo(r, o.OnLine)
	}()
	go func() {
		s.err = cmd.Wait()
		// Whatever it left running in its group goes with it, as for a rule.
		_ = syscall.Kill(-s.pgid, syscall.SIGKILL)
		o.Procs.Ended(s.pgid)
		close(s.exited)
		select {
		case <-s.drained:
		case <-time.After(drainWait):
		}
		if o.OnExit != nil {
			o.OnExit(s, s.err)
		}
	}()
	return s, nil
}

func readLinesTo(r io.Reader, onLine func(string)) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 && onLine != nil {
			onLine(strings.TrimRight(string(line), "\r\n"))
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// Pid returns the process id of the service's shell, which is also its
// process group id.
func (s *Service) Pid() int { return s.pgid }

// Done is closed when the service has exited and its process group was
// killed.
func (s *Service) Done() <-chan struct{} { return s.exited }

// Err returns what waiting for the service's shell returned; call it after
// Done is closed.
func (s *Service) Err() error {
	<-s.exited
	return s.err
}

// Stop ends the service: SIGTERM to its process group, then SIGKILL once
// grace has passed or ctx is done, whichever comes first. It returns once
// the shell has exited, its group was killed and its output was read to
// the end (or drainWait passed), so that a port it held is free. Stopping
// a service that already exited returns at once.
func (s *Service) Stop(ctx context.Context, grace time.Duration) {
	select {
	case <-s.exited:
	default:
		_ = syscall.Kill(-s.pgid, syscall.SIGTERM)
		timer := time.NewTimer(grace)
		select {
		case <-s.exited:
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
		_ = syscall.Kill(-s.pgid, syscall.SIGKILL)
		<-s.exited
	}
	select {
	case <-s.drained:
	case <-time.After(drainWait):
	}
}
