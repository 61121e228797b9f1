// pex watch: its flags; internal/session does the watching.

package main

import (
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/pex-build/pex/internal/session"
	"github.com/pex-build/pex/internal/watch"
)

type watchFlags struct {
	debounce time.Duration
	grace    time.Duration
	poll     bool
}

func (a *app) watchCommand() *cobra.Command {
	var f watchFlags
	c := &cobra.Command{
		Use:   "watch [patterns]",
		Short: "Build, then rebuild what changes affect as files are saved; run services",
		Long: `Build the rules the patterns name (as pex build does), then watch their inputs
and the BUILD and .star files, and rebuild what each change affects, through
the cache: a file saved with the same bytes, or touched, runs nothing. A
change arriving during a build cancels it (its commands are killed) and a
new build starts with everything changed so far. Outputs of rules, .pex/
and the cache's store never trigger a build. A BUILD error is shown and
watching goes on; fixing the file resumes.

Rules tagged service among the patterns are long-running processes (a dev
server): each starts once what it needs is built, its output prefixed with
its label. It is restarted — SIGTERM to its process group, --grace, then
SIGKILL, and only then the new one — when a rule it needs ran or was
restored, or its own command, environment or inputs changed. Ctrl-C (or
SIGTERM, or SIGHUP when the terminal closes) stops every service and every
command; a second Ctrl-C skips the grace period.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.dryRun {
				return failed(exitUsage, "pex watch does not take -n/--dry-run")
			}
			ws, err := a.workspace()
			if err != nil {
				return err
			}
			req, err := a.request("watch", args)
			if err != nil {
				return err
			}
			err = session.Run(cmd.Context(), session.Options{Workspace: ws, Request: req, Stdout: a.stdout, Stderr: a.stderr,
				JSON: a.json, Debounce: f.debounce, Grace: f.grace, Poll: f.poll, InterruptCode: a.interruptCode})
			var ee *session.ExitError
			if errors.As(err, &ee) {
				return failed(ee.Code, "%s", ee.Msg)
			}
			return err
		},
	}
	fl := c.Flags()
	fl.DurationVar(&f.debounce, "debounce", watch.DefaultDebounce, "wait until files have been quiet for `D` before building")
	fl.DurationVar(&f.grace, "grace", defaultGrace, "give a service `D` to exit after SIGTERM before SIGKILL")
	fl.BoolVar(&f.poll, "poll", false, "poll directories instead of using inotify (network file systems)")
	return c
}
