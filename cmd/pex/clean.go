package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) cleanCommand() *cobra.Command {
	var all bool
	c := &cobra.Command{
		Use:   "clean [patterns]",
		Short: "Remove the declared outputs of rules (with --all, pex's state too)",
		Long: `Remove the declared outputs of the rules the patterns select (default:
everything at and below the current directory, manual and service rules
included). With --all, also remove the workspace's state directory .pex/.
The shared content-addressed store is left alone: see 'pex cache gc'.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ws, err := a.workspace()
			if err != nil {
				return err
			}
			set, err := a.setValues()
			if err != nil {
				return err
			}
			g, err := ws.Graph(cmd.Context(), set, a.jobs)
			if err != nil {
				return failed(exitUsage, "%v", err)
			}
			ts, err := ws.Matching(g, args)
			if err != nil {
				return failed(exitUsage, "%v", err)
			}
			removed, errs, err := ws.Clean(ts, all, !a.noWait)
			for _, e := range errs {
				fmt.Fprintf(a.stderr, "pex: %v\n", e)
			}
			fmt.Fprintf(a.stdout, "removed %d output%s\n", removed, plural(removed))
			if err != nil {
				return failed(exitFailed, "%v", err)
			}
			if all {
				fmt.Fprintln(a.stdout, "removed the state in .pex/")
			}
			return nil
		},
	}
	c.Flags().BoolVar(&all, "all", false, "also remove the workspace state (.pex/)")
	return c
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
