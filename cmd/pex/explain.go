package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pex-build/pex/graph"
	"github.com/pex-build/pex/internal/builder"
)

func (a *app) explainCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "explain TARGET",
		Short: "Say whether a target would run, and why",
		Long: `Say whether TARGET is up to date, would be restored from the cache, or would
run — and why: the inputs, environment variables, command or dependencies
that changed since it last ran (like ninja -d explain). Nothing is run.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ws, err := a.workspace()
			if err != nil {
				return err
			}
			req, err := a.request("explain", nil)
			if err != nil {
				return err
			}
			g, err := ws.Graph(cmd.Context(), req.Set, a.jobs)
			if err != nil {
				return failed(exitUsage, "%v", err)
			}
			t, err := ws.One(g, args[0], "explain")
			if err != nil {
				return failed(exitUsage, "%v", err)
			}
			events, err := ws.Explain(cmd.Context(), req, t)
			if err != nil {
				return failed(exitUsage, "%v", err)
			}
			a.printExplanation(events, t)
			return nil
		},
	}
}

func (a *app) printExplanation(events []builder.Event, target *graph.Target) {
	label := target.Label.String()
	var first []string
	for _, ev := range events {
		if ev.Label == label {
			fmt.Fprintln(a.stdout, explainLine(ev, target))
			for _, why := range ev.Why {
				fmt.Fprintf(a.stdout, "  %s\n", why)
			}
		} else if ev.DryRun && ev.Cache == "miss" {
			first = append(first, fmt.Sprintf("  %s: %s", ev.Label, strings.Join(ev.Why, "; ")))
		}
	}
	if len(first) > 0 {
		fmt.Fprintln(a.stdout, "would run first:")
		for _, f := range first {
			fmt.Fprintln(a.stdout, f)
		}
	}
}

func explainLine(ev builder.Event, t *graph.Target) string {
	switch {
	case ev.Status == "failed":
		return ev.Label + " cannot be checked: " + ev.Reason
	case ev.DryRun && ev.Cache == "restored":
		return ev.Label + " would be restored from the cache: its outputs are missing or changed, the store has them"
	case ev.DryRun:
		return ev.Label + " would run:"
	case t.Cmd == "" && len(t.OutFiles) == 0:
		return ev.Label + " is up to date (it runs nothing)"
	default:
		return ev.Label + " is up to date"
	}
}
