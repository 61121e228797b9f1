// This file holds rule(), which turns a call in a BUILD file into a
// graph.Target, and the per-package state it registers into.

package starlark

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pex-build/pex/graph"
	sl "go.starlark.net/starlark"
)

// A pkgState is what the evaluation of one BUILD file produced. Only the
// goroutine evaluating the package touches it until evaluation ends.
type pkgState struct {
	path    string // package path
	file    string // its BUILD file
	targets []*graph.Target
	groups  []graph.Group
	outs    map[string]bool // workspace-relative outputs of targets
	err     error

	globbed  map[string]bool        // workspace-relative paths glob returned
	globDirs map[string]bool        // workspace-relative directories glob listed
	listings map[string][]globEntry // glob's directory cache, by workspace-relative directory
}

func newPkgState(p pkgFile) *pkgState {
	return &pkgState{
		path:     p.path,
		file:     p.file,
		outs:     map[string]bool{},
		globbed:  map[string]bool{},
		globDirs: map[string]bool{},
		listings: map[string][]globEntry{},
	}
}

func (s *pkgState) add(t *graph.Target) {
	s.targets = append(s.targets, t)
	for _, out := range t.Outs {
		p, _ := outPath(s.path, out) // checked by rule()
		s.outs[p] = true
	}
}

// globbedOutput reports whether a glob of the package returned one of outs.
func (s *pkgState) globbedOutput(outs map[string]bool) bool {
	for p := range s.globbed {
		if outs[p] {
			return true
		}
	}
	return false
}

// globbedPaths returns the paths glob returned, relative to the package,
// sorted.
func (s *pkgState) globbedPaths() []string {
	paths := make([]string, 0, len(s.globbed))
	for p := range s.globbed {
		if s.path != "" {
			p = p[len(s.path)+1:]
		}
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

// ruleArgs are the arguments of rule(), unpacked.
type ruleArgs struct {
	name, cmd, group, timeout, depfile string
	action                             sl.Value
	srcs, outs, deps, tools, tags      stringList
	requires, provides, claims, uses   stringList
	envPassthrough                     stringList
	priority                           int
	env                                stringDict
	kwargs                             canonicalDict
	cache, dynamic                     bool
}

func builtinRule(th *sl.Thread, _ *sl.Builtin, args sl.Tuple, kwargs []sl.Tuple) (sl.Value, error) {
	env, err := envOf(th)
	if err != nil {
		return nil, err
	}
	if err := env.needPackage("rule"); err != nil {
		return nil, err
	}
	a := ruleArgs{action: sl.None, cache: true}
	if err := sl.UnpackArgs("rule", args, kwargs,
		"name", &a.name, "cmd??", &a.cmd, "action??", &a.action,
		"srcs??", &a.srcs, "outs??", &a.outs, "deps??", &a.deps,
		"requires??", &a.requires, "provides??", &a.provides,
		"claims??", &a.claims, "uses??", &a.uses,
		"priority??", &a.priority, "group??", &a.group, "timeout??", &a.timeout,
		"env??", &a.env, "env_passthrough??", &a.envPassthrough, "tools??", &a.tools,
		"kwargs??", &a.kwargs, "tags??", &a.tags, "cache??", &a.cache,
		"dynamic??", &a.dynamic, "depfile??", &a.depfile,
	); err != nil {
		return nil, err
	}
	t, err := a.target(env.pkg.path)
	if err != nil {
		return nil, err
	}
	t.Pos = filePos(th, env.file)
	env.pkg.add(t)
	return sl.String(t.Label.String()), nil
}

// target checks the arguments and returns the target they describe.
func (a *ruleArgs) target(pkg string) (*graph.Target, error) {
	if err := checkName(a.name); err != nil {
		return nil, fmt.Errorf("rule: %v", err)
	}
	label := graph.Label{Pkg: pkg, Name: a.name}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("rule %q: %s", label.String(), fmt.Sprintf(format, args...))
	}
	action, err := actionOf(a.action)
	switch {
	case err != nil:
		return nil, fail("action: %v", err)
	case action != nil && a.cmd != "":
		return nil, fail("cmd and action are exclusive: a rule runs a shell command or a Starlark function, not both")
	case action != nil && a.depfile != "":
		return nil, fail("depfile is for cmd rules: an action's reads are its declared inputs")
	case action != nil && slices.Contains(a.tags, "service"):
		return nil, fail("a service runs a command (cmd), which pex starts and restarts; an action cannot be one")
	}
	if a.depfile != "" {
		if _, err := outPath(pkg, a.depfile); err != nil {
			return nil, fail("depfile: %v", err)
		}
	}
	t := &graph.Target{
		Label:          label,
		Cmd:            a.cmd,
		Srcs:           a.srcs,
		Outs:           a.outs,
		Requires:       a.requires,
		Provides:       a.provides,
		Claims:         a.claims,
		Uses:           a.uses,
		Priority:       a.priority,
		Group:          a.group,
		Env:            a.env,
		EnvPassthrough: a.envPassthrough,
		Tools:          a.tools,
		Kwargs:         a.kwargs,
		Tags:           a.tags,
		Cache:          a.cache,
		Depfile:        a.depfile,
		Action:         action,
		Dynamic:        a.dynamic,
	}
	for _, d := range a.deps {
		dep, err := graph.ParseLabel(d, pkg)
		if err != nil {
			return nil, fail("deps: %v", err)
		}
		t.Deps = append(t.Deps, dep)
	}
	if a.timeout != "" {
		d, err := time.ParseDuration(a.timeout)
		if err != nil || d <= 0 {
			return nil, fail(`timeout: bad duration %q: want a number and a unit, such as "30s", "5m" or "1h30m"`, a.timeout)
		}
		t.Timeout = d
	}
	if err := checkLocks(a.claims, a.uses); err != nil {
		return nil, fail("%v", err)
	}
	if err := checkOuts(pkg, a.outs); err != nil {
		return nil, fail("outs: %v", err)
	}
	return t, nil
}

// actionOf checks the action parameter of rule(): None, or a function
// that pex can find again by name when the build runs.
func actionOf(v sl.Value) (*graph.Action, error) {
	if v == sl.None {
		return nil, nil
	}
	fn, ok := v.(*sl.Function)
	if !ok {
		return nil, fmt.Errorf("got %s, want a function defined with def", v.Type())
	}
	if fn.Name() == "lambda" || fn.Globals()[fn.Name()] != v {
		return nil, fmt.Errorf("%s (%s) is not a function defined at the top level of its file: pex finds an action by its file and name when the build runs, so define it with def at the top level of a BUILD or .star file",
			fn.Name(), fn.Position())
	}
	return &graph.Action{File: fn.Position().Filename(), Name: fn.Name()}, nil
}

// checkLocks checks that no resource is both claimed and used.
func checkLocks(claims, uses []string) error {
	for _, c := range claims {
		if slices.Contains(uses, c) {
			return fmt.Errorf("%q is in both claims and uses: a rule either claims a resource (exclusive) or uses it (shared)", c)
		}
	}
	return nil
}

// checkOuts checks the outputs of a rule in package pkg.
func checkOuts(pkg string, outs []string) error {
	seen := map[string]bool{}
	for _, out := range outs {
		p, err := outPath(pkg, out)
		if err != nil {
			return err
		}
		if seen[p] {
			return fmt.Errorf("%q is listed twice", out)
		}
		seen[p] = true
	}
	return nil
}

// checkName checks a rule name: it becomes the part of a label after the
// colon.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("name is empty")
	case strings.ContainsAny(name, "/:"):
		return fmt.Errorf("bad name %q: a rule name cannot contain \"/\" or \":\"", name)
	case strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return fmt.Errorf("bad name %q: a rule name cannot contain spaces or control characters", name)
	}
	return nil
}

// outPath returns the workspace-relative path of the output out of a rule
// in package pkg, or an error if out does not name a file inside the
// workspace.
func outPath(pkg, out string) (string, error) {
	switch {
	case out == "":
		return "", errors.New("empty path")
	case strings.HasPrefix(out, ":") || strings.HasPrefix(out, "//"):
		return "", fmt.Errorf("%q is a label; outputs are paths relative to the package", out)
	case path.IsAbs(out):
		return "", fmt.Errorf("%q is absolute; outputs are paths relative to the package", out)
	case path.Clean(out) == ".":
		return "", fmt.Errorf("%q names the package directory, not a file", out)
	}
	p := path.Join(pkg, out)
	if p == ".." || hasDotDotPrefix(p) {
		return "", fmt.Errorf("%q is outside the workspace", out)
	}
	if first, _, _ := strings.Cut(p, "/"); first == ".git" || first == ".pex" {
		return "", fmt.Errorf("%q is inside %s, which pex does not write to", out, first)
	}
	return p, nil
}
