package main

import (
	"context"
	"os"

	"github.com/spf13/cobra"

	"github.com/pex-build/pex/internal/builder"
	"github.com/pex-build/pex/internal/status"
)

func (a *app) buildCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "build [patterns]",
		Short: "Build the rules the patterns name, and what they need",
		Long: `Build the rules the patterns name and everything they depend on.

Patterns: //... (everything), //lib/... (a subtree), //lib:all (a package),
//lib:name, :name and name (in the current directory's package). Without a
pattern, everything at and below the current directory is built. Rules
tagged manual or service are built only when named.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := a.build(cmd.Context(), "build", args, false)
			return err
		},
	}
}

// build builds what args select (with tests, only the rules tagged test
// among them), printing as it goes, and records the test rules' events.
func (a *app) build(ctx context.Context, command string, args []string, tests bool) (*builder.Summary, error) {
	ws, err := a.workspace()
	if err != nil {
		return nil, err
	}
	req, err := a.request(command, args)
	if err != nil {
		return nil, err
	}
	tty := !a.json && a.stdout == os.Stdout && status.IsTerminal(os.Stdout)
	printer := status.New(a.stdout, status.Options{JSON: a.json, Verbose: a.verbose, TTY: tty, Color: status.WantColor(tty)})
	req.Tests = tests
	req.OnEvent = func(ev builder.Event) {
		if ev.Event == builder.EventRule && ev.Test {
			a.tests = append(a.tests, ev)
		}
		printer.Event(ev)
	}
	sum, err := ws.Build(ctx, req)
	if err != nil {
		return nil, failed(exitUsage, "%v", err)
	}
	return a.finished(ctx, sum)
}

// finished returns a build's summary with the error its end calls for.
func (a *app) finished(ctx context.Context, sum *builder.Summary) (*builder.Summary, error) {
	switch {
	case sum.Canceled || ctx.Err() != nil:
		return sum, failed(a.interruptCode(), "interrupted")
	case sum.Failed:
		return sum, failed(exitFailed, "")
	}
	return sum, nil
}
