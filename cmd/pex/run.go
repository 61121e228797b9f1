// pex run: build what a rule needs, then run its command in the
// foreground with the terminal attached, and exit with its status.

package main

import (
	"context"
	"fmt"
	"os"
	osexec "os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/spf13/cobra"

	"github.com/pex-build/pex/internal/status"
)

// defaultGrace is how long a command or service has between SIGTERM and
// SIGKILL.
const defaultGrace = 5 * time.Second

func (a *app) runCommand() *cobra.Command {
	var grace time.Duration
	c := &cobra.Command{
		Use:   "run TARGET [-- args]",
		Short: "Build what a rule needs, then run its command in the foreground",
		Long: `Build the dependencies of TARGET (through the cache, as pex build does; the
progress goes to standard error), then run its command in the foreground:
/bin/sh -c in its package directory, with the environment a build gives it,
standard input, output and error attached, and args appended ("$@"). Works
for rules tagged service: that is how to start a server by hand.

Everything after TARGET is passed to the command; "--" before the args is
optional. SIGINT and SIGTERM are passed on to the command's process group;
if it has not exited --grace after the first, it is killed.

Exit status: the command's (128+N if killed by signal N); 1 if a
dependency failed to build; 2 for bad usage or a BUILD file error.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rest := args[1:]
			if len(rest) > 0 && rest[0] == "--" {
				rest = rest[1:]
			}
			return a.run(cmd.Context(), args[0], rest, grace)
		},
	}
	c.Flags().SetInterspersed(false) // flags after TARGET belong to the command
	c.Flags().DurationVar(&grace, "grace", defaultGrace, "after passing on a signal, wait `D` before killing the command")
	return c
}

func (a *app) run(ctx context.Context, pattern string, args []string, grace time.Duration) error {
	ws, err := a.workspace()
	if err != nil {
		return err
	}
	req, err := a.request("run", nil)
	if err != nil {
		return err
	}
	g, err := ws.Graph(ctx, req.Set, a.jobs)
	if err != nil {
		return failed(exitUsage, "%v", err)
	}
	t, err := ws.One(g, pattern, "run")
	if err != nil {
		return failed(exitUsage, "%v", err)
	}
	if t.Action != nil {
		return failed(exitUsage, "%s runs a Starlark action, not a command (at %s): build it with pex build", t.Label, t.Pos)
	}
	if t.Cmd == "" {
		return failed(exitUsage, "%s has no cmd to run (at %s)", t.Label, t.Pos)
	}
	// The build's progress, or its events, go to stderr: stdout is the
	// program's.
	tty := !a.json && a.stderr == os.Stderr && status.IsTerminal(os.Stderr)
	printer := status.New(a.stderr, status.Options{JSON: a.json, Verbose: a.verbose, TTY: tty, Color: status.WantColor(tty)})
	req.OnEvent = printer.Event
	cmd, sum, err := ws.RunCommand(ctx, req, g, t, args)
	switch {
	case err != nil:
		return failed(exitUsage, "%v", err)
	case sum != nil && (sum.Canceled || ctx.Err() != nil):
		return failed(a.interruptCode(), "interrupted")
	case sum != nil && sum.Failed:
		return failed(exitFailed, "not running %s: a dependency failed", t.Label)
	case cmd == nil:
		fmt.Fprintf(a.stderr, "would run %s: %s\n", t.Label, strings.Join(append([]string{t.Cmd}, args...), " "))
		return nil
	}
	return a.foreground(cmd, grace)
}

// foreground runs cmd with the terminal attached and returns its exit
// status as an error (nil for 0). On a terminal where pex is in the
// foreground, the command's process group becomes the foreground one, as
// a shell does: it reads the terminal and Ctrl-C reaches it directly.
// Otherwise SIGINT, SIGTERM and SIGHUP that pex receives are passed on to
// its group. Either way, grace after the first signal it is killed, and what
// it leaves running in its group is killed when it exits.
func (a *app) foreground(cmd *osexec.Cmd, grace time.Duration) error {
	cmd.Stdin, cmd.Stdout, cmd.Stderr = a.stdin, a.stdout, a.stderr
	ttyFd, onTTY := foregroundTerminal(a.stdin)
	if onTTY {
		cmd.SysProcAttr.Foreground, cmd.SysProcAttr.Ctty = true, ttyFd
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := a.ws.Procs().Start(cmd); err != nil {
		return failed(exitFailed, "cannot start /bin/sh: %v", err)
	}
	pgid := cmd.Process.Pid
	defer a.ws.Procs().Ended(pgid)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var kill <-chan time.Time
	for {
		select {
		case err := <-done:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			if onTTY {
				takeTerminal(ttyFd)
			}
			return exitStatus(err)
		case sig := <-sigs:
			_ = syscall.Kill(-pgid, sig.(syscall.Signal))
			if kill == nil {
				kill = time.After(grace)
			}
		case <-kill:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}
}

// exitStatus turns what Wait returned into pex's exit: the command's
// status, or 128+N when signal N killed it.
func exitStatus(err error) error {
	if err == nil {
		return nil
	}
	ee, ok := err.(*osexec.ExitError)
	if !ok {
		return failed(exitFailed, "%v", err)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return failed(128+int(ws.Signal()), "")
	}
	return failed(ee.ExitCode(), "")
}

// foregroundTerminal returns the descriptor of r if it is a terminal whose
// foreground process group is pex's own.
func foregroundTerminal(r any) (int, bool) {
	f, ok := r.(*os.File)
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	var pgrp int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), uintptr(syscall.TIOCGPGRP),
		uintptr(unsafe.Pointer(&pgrp))); errno != 0 {
		return 0, false // not a terminal
	}
	return fd, int(pgrp) == syscall.Getpgrp()
}

// takeTerminal makes pex's process group the terminal's foreground one
// again. A background group doing so is sent SIGTTOU, which is ignored
// meanwhile.
func takeTerminal(fd int) {
	signal.Ignore(syscall.SIGTTOU)
	defer signal.Reset(syscall.SIGTTOU)
	pgrp := int32(syscall.Getpgrp())
	_, _, _ = syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), uintptr(syscall.TIOCSPGRP), uintptr(unsafe.Pointer(&pgrp)))
}
