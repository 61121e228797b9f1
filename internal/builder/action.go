// This file runs a rule's Starlark action (rule(action = fn)) through the
// starlark package: what the action may read, how ctx.run starts a
// command, and what the action leaves, as an outcome like a command's.

package builder

import (
	"context"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pex-build/pex/graph"
	"github.com/pex-build/pex/starlark"
)

// actions returns the build's action runner, made on first use.
func (b *builder) actions() *starlark.Actions {
	b.actionsOnce.Do(func() {
		b.dbMu.Lock()
		pkgs := b.db.Packages()
		b.dbMu.Unlock()
		b.actionRunner = starlark.NewActions(context.WithoutCancel(b.ctx), starlark.ActionOptions{
			Root: b.root, Set: b.opts.Set, Packages: pkgs,
			IsOutput: func(p string) bool {
				b.dbMu.Lock()
				defer b.dbMu.Unlock()
				return b.db.IsOutput(p)
			},
		})
	})
	return b.actionRunner
}

// runAction runs t's action: id numbers the run's scratch files.
func (b *builder) runAction(ctx context.Context, t *graph.Target, shared map[string]any, id int) (*outcome, error) {
	fail := func(code int, msg string) *ActionError { return &ActionError{Label: t.Label, ExitCode: code, Msg: msg} }
	if err := prepareOutputs(b.root, t); err != nil {
		return nil, fail(-1, err.Error())
	}
	readable := b.readable(t)
	srcs := srcFiles(b.graphFor(t), t)
	n := 0 // the action's thread calls Run, one call at a time
	call := &starlark.ActionCall{
		Target:   t,
		Srcs:     srcs,
		Shared:   shared,
		Readable: func(p string) bool { return readable[p] },
		Run: func(ctx context.Context, args starlark.RunArgs) (starlark.RunResult, error) {
			n++
			c := &command{root: b.root, tmp: b.tmp, id: id, t: t, hostEnv: b.opts.HostEnv, shared: shared,
				srcs: srcs, procs: b.w.procs}
			return c.runForAction(ctx, args, filepath.Join(b.tmp, fmt.Sprintf("%d.run%d", id, n)))
		},
	}
	res, err := b.actions().Run(ctx, call)
	o := &outcome{}
	if res != nil {
		o.output, o.findings, o.shared, o.sharedOrder = res.Output, res.Findings, res.Shared, res.SharedOrder
		o.generated = res.Generated
	}
	if err != nil {
		if ctx.Err() != nil {
			return o, ctx.Err()
		}
		code := -1
		var ae *starlark.ActionError
		if errors.As(err, &ae) {
			code = ae.Code
		}
		return o, fail(code, err.Error())
	}
	if res.Digest != t.Action.Digest {
		o.note = fmt.Sprintf("%s changed since the BUILD files were evaluated", t.Action.File)
	}
	for i, out := range t.OutFiles {
		if _, err := os.Lstat(filepath.Join(b.root, out)); err != nil {
			return o, fail(0, fmt.Sprintf("declared output %q was not produced: write it with ctx.write or a command ctx.run runs", t.Outs[i]))
		}
	}
	return o, nil
}

// readable returns what t's action may read: its inputs, tools, own
// outputs, and the outputs of its dependencies its key takes.
func (b *builder) readable(t *graph.Target) map[string]bool {
	ok := map[string]bool{}
	for _, l := range [][]string{t.Inputs, t.ToolFiles, t.OutFiles, b.keys.depFiles(t)} {
		for _, p := range l {
			ok[p] = true
		}
	}
	return ok
}

// runForAction runs a command of ctx.run with the rule's environment and
// args.Env over it, its output captured in files at base.
func (c *command) runForAction(ctx context.Context, args starlark.RunArgs, base string) (starlark.RunResult, error) {
	res := starlark.RunResult{Code: -1}
	vars := c.vars("", "")
	delete(vars, "PEX_REPORT")
	delete(vars, "PEX_SHARED")
	for k, v := range args.Env {
		vars[k] = v
	}
	stdout, err := newCapture(base + ".stdout")
	if err != nil {
		return res, fmt.Errorf("cannot capture output: %v", err)
	}
	defer stdout.Close()
	stderr, err := newCapture(base + ".stderr")
	if err != nil {
		return res, fmt.Errorf("cannot capture output: %v", err)
	}
	defer stderr.Close()
	dir := filepath.Join(c.root, filepath.FromSlash(args.Dir))
	cmd := osexec.Command("/bin/sh", "-c", args.Shell)
	if args.Argv != nil {
		// Looked up in the command's PATH, not pex's.
		prog, ok := lookPath(args.Argv[0], vars["PATH"], dir)
		if !ok {
			return res, fmt.Errorf("%s: no such program in the command's PATH", args.Argv[0])
		}
		cmd = &osexec.Cmd{Path: prog, Args: args.Argv}
	}
	cmd.Dir = dir
	cmd.Env = environ(vars)
	cmd.Stdin = devNull()
	cmd.Stdout, cmd.Stderr = stdout.f, stderr.f
	if args.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, args.Timeout)
		defer cancel()
	}
	if err := c.procs.Start(cmd); err != nil {
		return res, fmt.Errorf("cannot start %s: %v", cmd.Path, err)
	}
	waitErr := waitOrKill(ctx, cmd)
	c.procs.Ended(cmd.Process.Pid)
	res.Stdout, res.Stderr = readCapped(stdout.f), readCapped(stderr.f)
	switch {
	case waitErr == nil:
		res.Code = 0
	case ctx.Err() != nil && args.Timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return res, fmt.Errorf("command timed out after %s (its timeout); its processes were killed", args.Timeout)
	default:
		var ee *osexec.ExitError
		if errors.As(waitErr, &ee) {
			res.Code = ee.ExitCode()
		}
	}
	return res, nil
}

// checkShared fails a cmd rule that would receive a shared value that is
// not a string: environment variables are strings.
func checkShared(t *graph.Target, shared map[string]any) error {
	keys := make([]string, 0, len(shared))
	for k := range shared {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if v, ok := shared[k].(*starlark.Value); ok {
			return &ActionError{Label: t.Label, ExitCode: -1, Msg: fmt.Sprintf(
				"shared value %s from %s is a %s, but %s is a cmd rule, which receives shared values as environment variables (strings): share str(...) from %s, or make %s an action",
				k, v.From, v.Type, t.Label, v.From, t.Label)}
		}
	}
	return nil
}

// sharedText is a shared value as keys and records hold it: a string as
// it is, another value as a NUL (which no environment variable holds)
// and its canonical text.
func sharedText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case *starlark.Value:
		return "\x00" + v.Text
	}
	return fmt.Sprint(v)
}

// sharedValue is the inverse of sharedText, for a value the rule labelled
// from recorded.
func sharedValue(text, from string) any {
	if t, ok := strings.CutPrefix(text, "\x00"); ok {
		if v, err := starlark.ParseValue(t, from); err == nil {
			return v
		}
	}
	return text
}
