package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/pex-build/pex/internal/build"
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
			_, err := a.build(cmd.Context(), args, nil)
			return err
		},
	}
}

// build loads the workspace and builds what args select; filter, if set,
// narrows the selection (pex test keeps the tests). It returns the events
// of the rules selected.
func (a *app) build(ctx context.Context, args []string, filter func(*selection) error) (*build.Summary, error) {
	root, cwd, err := a.findWorkspace()
	if err != nil {
		return nil, err
	}
	// Lock the workspace and read its state while the BUILD files load.
	type opened struct {
		c   *build.Cache
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		c, err := a.openCache(root)
		ch <- opened{c, err}
	}()
	w, err := a.loadAt(ctx, root, cwd)
	o := <-ch
	if o.err != nil {
		return nil, o.err
	}
	c := o.c
	defer c.Close()
	if err != nil {
		return nil, err
	}
	sel, err := w.selectTargets(args)
	if err != nil {
		return nil, err
	}
	if filter != nil {
		if err := filter(sel); err != nil {
			return nil, err
		}
	}
	if len(sel.services) > 0 && !a.json {
		fmt.Fprintln(a.stderr, "pex: note: "+serviceNote(sel.services))
	}
	tty := !a.json && a.stdout == os.Stdout && status.IsTerminal(os.Stdout)
	printer := status.New(a.stdout, status.Options{JSON: a.json, Verbose: a.verbose, TTY: tty, Color: status.WantColor(tty)})
	var events []build.Event
	sum, err := build.Run(ctx, build.Options{
		Cache:     c,
		GraphSum:  w.sum,
		Verbose:   a.verbose,
		NoCache:   a.noCache,
		Root:      w.root,
		Graph:     w.graph,
		Selected:  sel.targets,
		Jobs:      a.jobs,
		KeepGoing: a.keepGoing,
		DryRun:    a.dryRun,
		OnEvent: func(ev build.Event) {
			if ev.Event == build.EventRule && ev.Test {
				events = append(events, ev)
			}
			printer.Event(ev)
		},
	})
	if err != nil {
		return nil, failed(exitUsage, "%v", err)
	}
	a.tests = events
	switch {
	case sum.Canceled || ctx.Err() != nil:
		return sum, failed(a.interruptCode(), "interrupted")
	case sum.Failed:
		return sum, failed(exitFailed, "")
	}
	return sum, nil
}

// openCache locks the workspace, saying so when another pex holds it.
func (a *app) openCache(root string) (*build.Cache, error) {
	c, err := build.OpenCache(root, build.CacheOptions{
		NoWait: a.noWait,
		OnWait: func() { fmt.Fprintln(a.stderr, "pex: waiting for another pex process in this workspace to finish...") },
	})
	if err != nil {
		return nil, failed(exitUsage, "%v", err)
	}
	return c, nil
}
