package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pex-build/pex/internal/builder"
)

func (a *app) testCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "test [patterns]",
		Short: "Run the rules tagged test among the patterns, then print a table of results",
		Long: `Build the rules tagged "test" among the patterns (default: everything at and
below the current directory) and what they need, then print a table of the
tests: status, duration and findings. A failing test does not stop the
others (pex test implies -k). Exits 1 if any test failed, timed out or could
not run.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Like go test and cargo test, a failing test does not stop the others.
			a.keepGoing = true
			sum, err := a.build(cmd.Context(), "test", args, true)
			if sum == nil {
				return err // nothing ran: a load or selection error
			}
			if !a.json {
				a.testTable(a.stdout, sum.Roots)
			}
			if err == nil && !allPassed(a.tests, len(sum.Roots)) {
				err = failed(exitFailed, "")
			}
			return err
		},
	}
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
