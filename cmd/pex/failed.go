// This file holds what pex test --failed needs: the record of the last
// pex test of the same patterns (internal/testrecord), read before the
// build and written after it.

package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pex-build/pex/internal/builder"
	"github.com/pex-build/pex/internal/testrecord"
)

// testRecords is the record of one pex test request: the directory pex
// was started in and the patterns as given.
type testRecords struct {
	a        *app
	dir, cwd string
	patterns []string
}

func (a *app) testRecords(ws *builder.Workspace, patterns []string) *testRecords {
	return &testRecords{a: a, dir: ws.TestsDir(), cwd: ws.Cwd, patterns: patterns}
}

// text names the request's patterns for a message.
func (r *testRecords) text() string {
	switch {
	case len(r.patterns) > 0:
		return strings.Join(r.patterns, " ")
	case r.cwd == "":
		return "//..."
	default:
		return "//" + r.cwd + "/..."
	}
}

// read returns the last record of the request, nil when there is none or
// it cannot be used (saying so, and why).
func (r *testRecords) read() *testrecord.Record {
	rec, err := testrecord.Read(r.dir, r.cwd, r.patterns)
	if err != nil {
		what := "cannot read the record of the last pex test"
		if errors.Is(err, testrecord.ErrDamaged) {
			what = "ignored the record of the last pex test"
		}
		fmt.Fprintf(r.a.stderr, "pex: note: %s: %v\n", what, err)
	}
	if rec == nil {
		fmt.Fprintln(r.a.stderr, "pex: no earlier pex test of these patterns is recorded: running every test")
	}
	return rec
}

// write replaces the request's record with rec; failing to is a note,
// not a failure of the tests.
func (r *testRecords) write(rec *testrecord.Record) {
	if err := rec.Write(r.dir); err != nil {
		fmt.Fprintf(r.a.stderr, "pex: note: cannot record which tests failed: %v\n", err)
	}
}

// stillTests splits labels, the tests that failed last time, into those
// that are still tests among the patterns, to run, and those that are
// gone (deleted, renamed, no longer tagged test), saying so of each.
func (a *app) stillTests(ctx context.Context, ws *builder.Workspace, patterns, labels []string) (run, gone []string, err error) {
	set, err := a.setValues()
	if err != nil {
		return nil, nil, err
	}
	g, err := ws.Graph(ctx, set, a.jobs)
	if err != nil {
		return nil, nil, failed(exitUsage, "%v", err)
	}
	targets, _, err := ws.Select(g, patterns)
	if err != nil {
		return nil, nil, failed(exitUsage, "%v", err)
	}
	tests := make(map[string]bool, len(targets))
	for _, t := range targets {
		if t.HasTag("test") {
			tests[t.Label.String()] = true
		}
	}
	for _, l := range labels {
		if tests[l] {
			run = append(run, l)
			continue
		}
		gone = append(gone, l)
		fmt.Fprintf(a.stderr, "pex: note: %s failed last time but is no longer a test among %s: dropped\n",
			l, a.testRecords(ws, patterns).text())
	}
	return run, gone, nil
}

// afterTests is the request's record after a run of the tests roots. A
// test passed when it ended ok or warn; one skipped because what it needs
// failed, or that never reported, did not: it is run again by --failed.
// After a --failed run (last not nil), the tests that now pass leave
// last's failed list and the others stay.
func (a *app) afterTests(r *testRecords, roots []string, last *testrecord.Record) *testrecord.Record {
	passed := make(map[string]bool, len(a.tests))
	for _, ev := range a.tests {
		passed[ev.Label] = ev.Status == "ok" || ev.Status == "warn"
	}
	if last != nil {
		var ok []string
		for _, l := range roots {
			if passed[l] {
				ok = append(ok, l)
			}
		}
		return last.Without(ok, nil)
	}
	rec := &testrecord.Record{Cwd: r.cwd, Patterns: slices.Clone(r.patterns), Total: len(roots)}
	for _, l := range roots {
		if !passed[l] {
			rec.Failed = append(rec.Failed, l)
		}
	}
	return rec
}
