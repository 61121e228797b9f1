package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pex-build/pex/cache"
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
	tty := !a.json && a.stdout == os.Stdout && status.IsTerminal(os.Stdout)
	printer := status.New(a.stdout, status.Options{JSON: a.json, Verbose: a.verbose, TTY: tty, Color: status.WantColor(tty)})
	proof := a.proofOptions(root, cwd, args, filter == nil)
	var check cache.ProofCheck
	defer check.Close()
	if proof != nil {
		var sum *build.Summary
		if sum, check = build.Answer(proof.Path, root, proof.Request, nil, printer.Event); sum != nil {
			if a.verbose {
				fmt.Fprintf(a.stderr, "pex: up to date: the %d files and directories the last build depended on are unchanged\n", sum.Proven)
			}
			return sum, nil
		}
		if check.Stale != nil {
			sum, ok, err := build.Patch(ctx, check.Stale, check.Payload, build.Options{
				Root: root, Jobs: a.jobs, KeepGoing: a.keepGoing, Verbose: a.verbose,
				Proof: proof, OnEvent: printer.Event, Procs: a.procs,
			}, a.cacheOptions())
			if err != nil {
				return nil, failed(exitUsage, "%v", err)
			}
			if ok {
				if a.verbose {
					fmt.Fprintf(a.stderr, "pex: %d changed files reached %d rules; the last build's proof vouched for the rest\n",
						len(check.Changed), sum.Reached)
				}
				return a.finished(ctx, sum)
			}
		}
	}
	// A valid proof whose evaluation paths all held vouches for the saved
	// graph, and lists every file of the rules that changed.
	known := check.Valid && !check.EvaluationChanged
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
	w, err := a.loadTrusting(ctx, root, cwd, known)
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
	if proof != nil {
		if len(sel.services) > 0 {
			os.Remove(proof.Path) // its note must be printed: no proof
			proof = nil
		} else {
			proof.Evaluation = w.evaluationStats
		}
	}
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
		Proof:     proof,
		Procs:     a.procs,

		ChangedKnown: known,
		Changed:      check.Changed,
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
	return a.finished(ctx, sum)
}

// finished returns a build's summary with the error its end calls for.
func (a *app) finished(ctx context.Context, sum *build.Summary) (*build.Summary, error) {
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
	c, err := build.OpenCache(root, a.cacheOptions())
	if err != nil {
		return nil, failed(exitUsage, "%v", err)
	}
	return c, nil
}

func (a *app) cacheOptions() build.CacheOptions {
	return build.CacheOptions{
		NoWait: a.noWait,
		OnWait: func() { fmt.Fprintln(a.stderr, "pex: waiting for another pex process in this workspace to finish...") },
	}
}

// proofOptions returns where the up-to-date proof of this request lives
// and the request it must answer (see internal/build/proof.go), or nil
// when the request cannot be answered by one: JSON and dry-run output and
// --no-cache need the full build, and so does narrowing (pex test prints
// a table of its tests).
func (a *app) proofOptions(root, cwd string, args []string, plain bool) *build.ProofOptions {
	if !plain || a.json || a.dryRun || a.noCache {
		return nil
	}
	req := a.proofRequest(cwd, args)
	path := filepath.Join(root, ".pex", "proof", cache.HashBytes(req).String()[:16])
	return &build.ProofOptions{Path: path, Request: req}
}

// proofRequest spells out everything besides files that a build's answer
// depends on: the pex binary, the command and where it was run, the
// patterns, the --set values and the host facts config() sees.
func (a *app) proofRequest(cwd string, args []string) []byte {
	var b strings.Builder
	exe, err := os.Executable()
	if err == nil {
		fmt.Fprintf(&b, "pex %s %s\x00", exe, cache.StatFile(exe))
	}
	fmt.Fprintf(&b, "build\x00%s\x00%s/%s/%d\x00", cwd, runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	for _, arg := range args {
		b.WriteString(arg + "\x00")
	}
	set := slices.Clone(a.set)
	slices.Sort(set)
	for _, kv := range set {
		b.WriteString("--set " + kv + "\x00")
	}
	return []byte(b.String())
}

// evaluationStats stats what evaluating the workspace depended on, then
// checks that it still holds, for an up-to-date proof. A path whose stat
// is too recent to vouch for it (a directory a rule just wrote an output
// in) carries the digest of its contents, taken after the stat and before
// the check, so that a change at any moment shows later. The saved
// evaluation itself comes first: when its stat holds, a later build may
// take it without checking the rest (see loadTrusting).
func (w *workspace) evaluationStats() ([]cache.ProofFile, bool) {
	paths := w.res.Inputs()
	if paths == nil {
		return nil, false
	}
	files := make([]cache.ProofFile, 1, len(paths)+1)
	now := time.Now()
	for _, p := range paths {
		abs := filepath.Join(w.root, p)
		f := cache.ProofFile{Path: p, Stat: cache.StatFile(abs)}
		if f.Stat.Recent(now) {
			d, err := cache.ContentDigest(abs, f.Stat)
			if err != nil {
				return nil, false
			}
			f.Content, f.Verify, f.Digest = true, true, d
		}
		files = append(files, f)
	}
	if !w.res.Holds() {
		return nil, false
	}
	// Holds may have saved it again, as a new file: its stat is taken
	// after, and a new file's inode tells it from the last one.
	snap, _ := filepath.Rel(w.root, snapshotPath(w.root))
	files[0] = cache.ProofFile{Path: filepath.ToSlash(snap), Stat: cache.StatFile(snapshotPath(w.root))}
	return files, true
}
