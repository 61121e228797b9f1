// This file opens the workspace a command works in, once per process.

package main

import (
	"fmt"
	"os"

	"github.com/pex-build/pex/internal/builder"
)

// workspace opens the workspace holding the current directory (or -C's),
// which first stops what a killed pex left running there, saying so.
func (a *app) workspace() (*builder.Workspace, error) {
	if a.ws != nil {
		return a.ws, nil
	}
	dir, err := a.workDir()
	if err != nil {
		return nil, err
	}
	exe, _ := os.Executable()
	ws, err := builder.Open(dir, builder.OpenOptions{Reaper: exe})
	if err != nil {
		return nil, failed(exitUsage, "%v", err)
	}
	for _, n := range ws.Reaped.Notes {
		fmt.Fprintln(a.stderr, "pex: note: "+n)
	}
	if msg := ws.Reaped.Message(); msg != "" {
		fmt.Fprintln(a.stderr, "pex: "+msg)
	}
	a.ws = ws
	return ws, nil
}

// request is a builder request from the common flags.
func (a *app) request(command string, patterns []string) (builder.Request, error) {
	set, err := a.setValues()
	if err != nil {
		return builder.Request{}, err
	}
	return builder.Request{
		Command: command, Patterns: patterns, Set: set, Jobs: a.jobs,
		KeepGoing: a.keepGoing, DryRun: a.dryRun, Verbose: a.verbose, NoCache: a.noCache, NoWait: a.noWait,
		OnNote: func(msg string) { fmt.Fprintln(a.stderr, "pex: "+msg) },
	}, nil
}
