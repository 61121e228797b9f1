// This file holds the root command, the flags every subcommand accepts,
// and the mapping from errors to exit codes: 0 success, 1 a rule failed or
// timed out, 2 bad usage or a BUILD file error, 130 interrupted.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/pex-build/pex/internal/builder"
	"github.com/pex-build/pex/internal/procs"
)

// Exit codes.
const (
	exitOK        = 0
	exitFailed    = 1
	exitUsage     = 2
	exitInterrupt = 130
)

// exitError carries an exit code; its message, if any, is printed.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func failed(code int, format string, args ...any) error {
	return &exitError{code: code, msg: fmt.Sprintf(format, args...)}
}

// flags are the options accepted before or after any subcommand.
type flags struct {
	dir       string
	jobs      int
	keepGoing bool
	dryRun    bool
	set       []string
	verbose   bool
	json      bool
	noCache   bool
	noWait    bool
}

type app struct {
	flags
	stdin          io.Reader
	stdout, stderr io.Writer
	signal         atomic.Value    // os.Signal that interrupted the build, if any
	tests          []builder.Event // the test rules' events of the last build
	// ws is the workspace the command works in, once opened (workspace).
	ws *builder.Workspace
}

// Main runs pex with args and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 2 && args[0] == procs.ReaperArg {
		procs.ReaperMain(args[1]) // a pex's reaper: see internal/procs
		return exitOK
	}
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	defer func() {
		if a.ws != nil {
			a.ws.Close()
		}
	}()
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	ctx, stop := a.signalContext()
	defer stop()
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, "pex: "+ee.msg)
		}
		return ee.code
	}
	// Cobra's own errors: unknown command or flag, bad arguments.
	fmt.Fprintf(stderr, "pex: %v\nRun 'pex --help' for usage.\n", err)
	return exitUsage
}

// signalContext is cancelled on SIGINT or SIGTERM; running commands are
// then killed and the build reports before exiting.
func (a *app) signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			a.signal.Store(sig)
			cancel()
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel()
	}
}

func (a *app) interruptCode() int {
	if sig, _ := a.signal.Load().(os.Signal); sig == syscall.SIGTERM {
		return 128 + int(syscall.SIGTERM)
	}
	return exitInterrupt
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "pex",
		Short: "pex builds and runs what changed, in parallel, from Starlark BUILD files",
		Long: `pex is a build system and task runner. BUILD files (Starlark) declare rules:
commands with their inputs, outputs, dependencies, locks, priorities and
groups. pex runs what is needed in parallel, in the right order.

Exit status: 0 success, 1 a rule failed or timed out, 2 bad usage or a BUILD
file error, 130 interrupted.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
	}
	f := root.PersistentFlags()
	f.StringVarP(&a.dir, "directory", "C", "", "run as if pex was started in `DIR`")
	f.IntVarP(&a.jobs, "jobs", "j", runtime.NumCPU(), "run `N` rules at once in the default group")
	f.BoolVarP(&a.keepGoing, "keep-going", "k", false, "keep going after a failure with what does not depend on it")
	f.BoolVarP(&a.dryRun, "dry-run", "n", false, "print what would run, run nothing")
	f.StringArrayVar(&a.set, "set", nil, "set a config() value: `name=value` (repeatable)")
	f.BoolVarP(&a.verbose, "verbose", "v", false, "print each command, its output and why it ran, and every rule up to date")
	f.BoolVar(&a.json, "json", false, "write one JSON event per line on stdout, nothing else")
	f.BoolVar(&a.noCache, "no-cache", false, "run every rule, ignoring and refreshing the cache")
	f.BoolVar(&a.noWait, "no-wait", false, "fail at once if another pex process is building in this workspace")
	root.AddCommand(a.buildCommand(), a.testCommand(), a.explainCommand(), a.cleanCommand(),
		a.cacheCommand(), a.initCommand(), a.versionCommand(), a.runCommand(), a.watchCommand())
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return failed(exitUsage, "%v\nRun '%s --help' for usage.", err, c.CommandPath())
	})
	return root
}

func (a *app) setValues() (map[string]string, error) {
	m := make(map[string]string, len(a.set))
	for _, kv := range a.set {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, failed(exitUsage, "--set %q: want name=value", kv)
		}
		m[k] = v
	}
	return m, nil
}

func (a *app) workDir() (string, error) {
	if a.dir == "" {
		return os.Getwd()
	}
	st, err := os.Stat(a.dir)
	if err != nil || !st.IsDir() {
		return "", failed(exitUsage, "-C %s: not a directory", a.dir)
	}
	return a.dir, nil
}
