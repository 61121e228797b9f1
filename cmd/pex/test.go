package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pex-build/pex/internal/builder"
	"github.com/pex-build/pex/internal/testrecord"
)

func (a *app) testCommand() *cobra.Command {
	var onlyFailed bool
	c := &cobra.Command{
		Use:   "test [patterns]",
		Short: "Run the rules tagged test among the patterns, then print a table of results",
		Long: `Build the rules tagged "test" among the patterns (default: everything at and
below the current directory) and what they need, then print a table of the
tests: status, duration and findings. A failing test does not stop the
others (pex test implies -k). Exits 1 if any test failed, timed out or could
not run.

pex keeps, in .pex/, which tests of the last pex test of the same patterns
(from the same directory) did not pass. With --failed, only those run: the
ones that failed, timed out or were skipped because what they need failed.
Without such a record, every test runs; when the last run had no failure,
nothing does.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Like go test and cargo test, a failing test does not stop the others.
			a.keepGoing = true
			return a.test(cmd.Context(), args, onlyFailed)
		},
	}
	c.Flags().BoolVar(&onlyFailed, "failed", false, "run only the tests that did not pass in the last pex test of the same patterns")
	return c
}

// test runs the tests args select (with onlyFailed, those of them the
// last run of args found failing), prints the table and records what
// failed.
func (a *app) test(ctx context.Context, args []string, onlyFailed bool) error {
	ws, err := a.workspace()
	if err != nil {
		return err
	}
	rec := a.testRecords(ws, args)
	patterns := args
	var last *testrecord.Record // the record a --failed run narrows, nil when it runs everything
	if onlyFailed {
		if last = rec.read(); last != nil {
			run, gone, err := a.stillTests(ctx, ws, args, last.Failed)
			if err != nil {
				return err
			}
			if len(run) == 0 {
				if len(gone) > 0 && !a.dryRun {
					rec.write(last.Without(nil, gone))
				}
				fmt.Fprintf(a.stderr, "pex: no test failed in the last pex test of %s: nothing to run\n", rec.text())
				return nil
			}
			fmt.Fprintf(a.stderr, "pex: running %d test%s that failed last time; skipped %d that passed\n",
				len(run), plural(len(run)), last.Passed())
			patterns = run
			last = last.Without(nil, gone)
		}
	}
	sum, err := a.build(ctx, "test", patterns, true)
	if sum == nil {
		return err // nothing ran: a load or selection error
	}
	if !a.json {
		a.testTable(a.stdout, sum.Roots)
	}
	if !a.dryRun && !sum.Canceled && ctx.Err() == nil {
		rec.write(a.afterTests(rec, sum.Roots, last))
	}
	if err == nil && !allPassed(a.tests, len(sum.Roots)) {
		err = failed(exitFailed, "")
	}
	return err
}

// testTable prints one row per test, in the order they were asked for.
func (a *app) testTable(w io.Writer, tests []string) {
	byLabel := make(map[string]builder.Event, len(a.tests))
	for _, ev := range a.tests {
		byLabel[ev.Label] = ev
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TEST\tSTATUS\tTIME\tFINDINGS")
	passed := 0
	for _, label := range tests {
		ev, ok := byLabel[label]
		st := ev.Status
		if !ok {
			st = "not run"
		}
		if ev.Cache == "hit" || ev.Cache == "restored" || ev.Cache == "remote" {
			st += " (cached)"
		}
		if ev.Status == "ok" || ev.Status == "warn" {
			passed++
		}
		findings := ""
		if n := len(ev.Findings); n > 0 {
			findings = fmt.Sprintf("%d: %s", n, ev.Findings[0])
			if n > 1 {
				findings += fmt.Sprintf(" (+%d more)", n-1)
			}
		} else if ev.Status == "skipped" || ev.Status == "failed" || ev.Status == "timeout" {
			findings = ev.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", label, st, ev.Duration.Round(time.Millisecond), findings)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d of %d tests passed\n", passed, len(tests))
}

func allPassed(events []builder.Event, want int) bool {
	n := 0
	for _, ev := range events {
		if ev.Status != "ok" && ev.Status != "warn" {
			return false
		}
		n++
	}
	return n == want
}
