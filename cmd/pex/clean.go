package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/pex-build/pex/cache"
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
			w, err := a.load(cmd.Context())
			if err != nil {
				return err
			}
			ts, err := w.matching(args)
			if err != nil {
				return err
			}
			removed := 0
			for _, t := range ts {
				for _, out := range t.OutFiles {
					err := os.Remove(filepath.Join(w.root, filepath.FromSlash(out)))
					switch {
					case err == nil:
						removed++
					case !errors.Is(err, fs.ErrNotExist):
						fmt.Fprintf(a.stderr, "pex: %v\n", err)
					}
				}
			}
			fmt.Fprintf(a.stdout, "removed %d output%s\n", removed, plural(removed))
			if all {
				unlock, err := cache.Lock(cache.StateDir(w.root), !a.noWait, nil)
				if err != nil {
					return failed(exitUsage, "%v", err)
				}
				defer unlock()
				if err := removeStateExceptLock(cache.StateDir(w.root)); err != nil {
					return failed(exitFailed, "%v", err)
				}
				fmt.Fprintln(a.stdout, "removed the state in .pex/")
			}
			return nil
		},
	}
	c.Flags().BoolVar(&all, "all", false, "also remove the workspace state (.pex/)")
	return c
}

// removeStateExceptLock empties the state directory but for the lock file
// this process holds and the records of the process groups running pex
// processes started (another pex may be serving with pex run meanwhile).
func removeStateExceptLock(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == "lock" || e.Name() == "procs" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
