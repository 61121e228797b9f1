// This file links targets to files and to each other. Resolve runs on every
// build over graphs of tens of thousands of rules, so it makes one pass per
// concern over the targets, keeps edges as indices in flat slices, and
// carves the per-target result slices out of a few shared allocations.

package graph

import (
	"fmt"
	"path"
	"strings"
)

// Resolve links the targets added since the previous call to the files and
// rules they use: it fills OutFiles, Inputs, ToolFiles and DepTargets (see
// Target), and checks that
//
//   - every output is a relative path that stays inside the workspace, also
//     after following the symbolic links on disk under root; no two rules
//     (nor one rule twice) declare the same output; and no output has the
//     name of another rule of its package;
//   - every dep names a rule, every group is declared with group();
//   - the rules form no dependency cycle.
//
// An entry of srcs or tools, which is a label ("//lib:gen.h", ":gen.h") or
// a path relative to the package ("gen/x.h", "../common/y.h"), resolves, in
// this order, to the rule with that label, which becomes a dependency; to
// the file's producer, which becomes a dependency; or to a plain source
// file, which is added to Inputs (or ToolFiles). A tool may also be an
// absolute path, for a host tool outside the workspace ("/usr/bin/gcc").
//
// root is the workspace directory on disk; "" skips the symbolic link check
// (tests, dry evaluation). Errors are an *Error at the position of the
// offending rule, a *CycleError, or an error about root itself. When
// Resolve fails, the graph's indices are left as they were before the call
// (the new targets' resolved fields aside), so Producer, Closure and a
// later Resolve behave as if the failed call had not happened.
//
// Targets resolved by an earlier call are not modified, so a build may read
// them while rules registered by a dynamic rule are resolved. New rules may
// depend on earlier ones; a new rule may not output a file that an earlier
// rule reads as a plain source.
func (g *Graph) Resolve(root string) error {
	g.lazyInit()
	if len(g.depEnd) == len(g.Targets) {
		return nil
	}
	r := resolver{g: g, start: len(g.depEnd)}
	if root != "" {
		d, err := newDiskCheck(root)
		if err != nil {
			return err
		}
		r.disk = d
	}
	if err := r.run(); err != nil {
		r.rollback()
		return err
	}
	return nil
}

// resolver holds the state of one Resolve call, over g.Targets[start:].
type resolver struct {
	g     *Graph
	start int
	disk  *diskCheck // nil: skip the symbolic link check

	// The arrays that the Inputs and ToolFiles of all new targets are
	// carved from.
	inputs, tools []string
	// mark[j] == i+1 when Targets[j] is already an edge of Targets[i].
	mark []int32
}

func (r *resolver) run() error {
	if err := r.outputs(); err != nil {
		return err
	}
	if err := r.checkEarlierReaders(); err != nil {
		return err
	}
	if err := r.edges(); err != nil {
		return err
	}
	if err := r.checkGenerated(); err != nil {
		return err
	}
	if err := r.g.findCycle(r.start); err != nil {
		return err
	}
	return nil
}

// checkGenerated fails when a written rule depends on a generated one:
// before its generator first runs, the rule does not exist.
func (r *resolver) checkGenerated() error {
	for _, t := range r.g.Targets[r.start:] {
		if t.Generated() {
			continue
		}
		for _, d := range t.DepTargets {
			if d.Generated() {
				return GeneratedDepError(t, d)
			}
		}
	}
	return nil
}

// GeneratedDepError is the error of a written rule t that depends on d,
// a rule a dynamic rule generates.
func GeneratedDepError(t, d *Target) error {
	return errorf(t.Pos, "rule %q depends on %q, which the dynamic rule %q generates while the build runs: a BUILD file cannot name a generated rule or its outputs; depend on %q instead",
		t.Label.String(), d.Label.String(), d.GeneratedBy.String(), d.GeneratedBy.String())
}

// rollback undoes what a failed run added to the graph's indices.
func (r *resolver) rollback() {
	g := r.g
	for p, i := range g.outputs {
		if int(i) >= r.start {
			delete(g.outputs, p)
		}
	}
	keep := 0
	if r.start > 0 {
		keep = int(g.depEnd[r.start-1])
	}
	g.deps = g.deps[:keep]
	g.depEnd = g.depEnd[:r.start]
}

// outputs fills OutFiles and indexes each output to its producer.
func (r *resolver) outputs() error {
	g := r.g
	targets := g.Targets[r.start:]
	total := 0
	for _, t := range targets {
		total += len(t.Outs)
	}
	files := make([]string, 0, total)
	if len(g.outputs) == 0 {
		g.outputs = make(map[string]int32, total)
	}
	for k, t := range targets {
		i := int32(r.start + k)
		first := len(files)
		for _, out := range t.Outs {
			p, err := r.outPath(t, out)
			if err != nil {
				return err
			}
			if j, dup := g.outputs[p]; dup {
				return r.duplicateOutput(t, out, p, j)
			}
			if err := r.checkNameClash(t, p); err != nil {
				return err
			}
			g.outputs[p] = i
			files = append(files, p)
		}
		t.OutFiles = clip(files[first:])
	}
	return nil
}

func (r *resolver) duplicateOutput(t *Target, out, p string, j int32) error {
	if r.g.Targets[j] == t {
		return errorf(t.Pos, "rule %q lists output %q twice", t.Label.String(), out)
	}
	other := r.g.Targets[j]
	return errorf(t.Pos, "rule %q: output %q is also an output of rule %q (%s)",
		t.Label.String(), p, other.Label.String(), other.Pos)
}

// checkNameClash fails when output p of t, inside t's package, has the
// name of another rule of the package: ":name" would name both. A rule may
// be named like its own output.
func (r *resolver) checkNameClash(t *Target, p string) error {
	name := p
	if pkg := t.Label.Pkg; pkg != "" {
		if len(p) <= len(pkg) || p[len(pkg)] != '/' || p[:len(pkg)] != pkg {
			return nil
		}
		name = p[len(pkg)+1:]
	}
	j, ok := r.g.ruleIndex(Label{Pkg: t.Label.Pkg, Name: name})
	if !ok || r.g.Targets[j] == t {
		return nil
	}
	other := r.g.Targets[j]
	return errorf(t.Pos, "rule %q: output %q has the name of rule %q (%s)",
		t.Label.String(), name, other.Label.String(), other.Pos)
}

// outPath checks an entry of outs and returns its workspace-relative path.
func (r *resolver) outPath(t *Target, out string) (string, error) {
	fail := func(reason string) (string, error) {
		return "", errorf(t.Pos, "rule %q: output %q %s", t.Label.String(), out, reason)
	}
	switch {
	case out == "":
		return "", errorf(t.Pos, "rule %q: empty path in outs", t.Label.String())
	case out[0] == '/':
		return fail("is an absolute path")
	case out[0] == ':':
		return fail("is a label; outs are paths relative to the package")
	}
	p, reason := joinPath(t.Label.Pkg, out)
	if reason == "" && p == t.Label.Pkg {
		reason = "is the package directory"
	}
	if reason != "" {
		return fail(reason)
	}
	if r.disk != nil {
		if d := r.disk.dir(path.Dir(p)); d.state != dirOK && d.state != dirMissing {
			return fail(d.reason())
		}
	}
	return p, nil
}

// checkEarlierReaders fails when a new target outputs a file that a target
// resolved by an earlier call reads as a plain source: that target's
// dependencies would be wrong.
func (r *resolver) checkEarlierReaders() error {
	g := r.g
	if r.start == 0 {
		return nil
	}
	for _, old := range g.Targets[:r.start] {
		for _, files := range [2][]string{old.Inputs, old.ToolFiles} {
			for _, p := range files {
				if j, ok := g.outputs[p]; ok && int(j) >= r.start {
					t := g.Targets[j]
					return errorf(t.Pos, "rule %q: output %q is already a source file of rule %q (%s)",
						t.Label.String(), p, old.Label.String(), old.Pos)
				}
			}
		}
	}
	return nil
}

// edges resolves deps, srcs and tools into DepTargets, Inputs and
// ToolFiles.
func (r *resolver) edges() error {
	g := r.g
	nSrcs, nTools := 0, 0
	for _, t := range g.Targets[r.start:] {
		nSrcs += len(t.Srcs)
		nTools += len(t.Tools)
	}
	r.inputs = make([]string, 0, nSrcs)
	r.tools = make([]string, 0, nTools)
	r.mark = make([]int32, len(g.Targets))
	base := len(g.deps)
	for i := r.start; i < len(g.Targets); i++ {
		if err := r.targetEdges(g.Targets[i], int32(i)); err != nil {
			return err
		}
		g.depEnd = append(g.depEnd, int32(len(g.deps)))
	}
	r.fillDepTargets(base)
	return nil
}

// targetEdges resolves the deps, srcs and tools of t, Targets[i].
func (r *resolver) targetEdges(t *Target, i int32) error {
	g := r.g
	for _, l := range t.Deps {
		j, ok := g.ruleIndex(l)
		if !ok {
			return errorf(t.Pos, "rule %q: no rule %q%s", t.Label.String(), l.String(), g.depHint(l))
		}
		r.addEdge(i, j)
	}
	if err := r.checkGroup(t); err != nil {
		return err
	}
	var err error
	first := len(r.inputs)
	if r.inputs, err = r.files(t, i, t.Srcs, "srcs", r.inputs); err != nil {
		return err
	}
	t.Inputs = clip(r.inputs[first:])
	first = len(r.tools)
	if r.tools, err = r.files(t, i, t.Tools, "tools", r.tools); err != nil {
		return err
	}
	t.ToolFiles = clip(r.tools[first:])
	return nil
}

// files resolves the entries of srcs or tools (named by field) of t,
// Targets[i]: it adds an edge to each rule they name or whose outputs they
// name, and appends the source files to dst.
func (r *resolver) files(t *Target, i int32, entries []string, field string, dst []string) ([]string, error) {
	for _, s := range entries {
		j, p, err := r.file(t, s, field)
		if err != nil {
			return dst, err
		}
		if j >= 0 {
			r.addEdge(i, j)
		} else {
			dst = append(dst, p)
		}
	}
	return dst, nil
}

// addEdge adds an edge from Targets[i], the target being resolved, to
// Targets[j], unless it has it already.
func (r *resolver) addEdge(i, j int32) {
	if r.mark[j] != i+1 {
		r.mark[j] = i + 1
		r.g.deps = append(r.g.deps, j)
	}
}

// fillDepTargets sets DepTargets of the new targets from the index edges,
// which start at g.deps[base].
func (r *resolver) fillDepTargets(base int) {
	g := r.g
	all := make([]*Target, len(g.deps)-base)
	for k, j := range g.deps[base:] {
		all[k] = g.Targets[j]
	}
	start := base
	for i := r.start; i < len(g.Targets); i++ {
		end := int(g.depEnd[i])
		g.Targets[i].DepTargets = clip(all[start-base : end-base])
		start = end
	}
}

func (r *resolver) checkGroup(t *Target) error {
	if t.Group == "" {
		return nil
	}
	if _, ok := r.g.groups[t.Group]; ok {
		return nil
	}
	hint := ""
	if s := nearest(t.Group, r.g.groupNames()); s != "" {
		hint = fmt.Sprintf(" (did you mean %q?)", s)
	}
	return errorf(t.Pos, "rule %q: no group %q%s", t.Label.String(), t.Group, hint)
}

// file resolves an entry of srcs or tools (named by field) to the index of
// the rule it makes a dependency, or to a source file (index -1).
func (r *resolver) file(t *Target, s, field string) (int32, string, error) {
	g := r.g
	var p string
	switch {
	case s == "":
		return -1, "", errorf(t.Pos, "rule %q: empty path in %s", t.Label.String(), field)
	case strings.HasPrefix(s, "//") || s[0] == ':':
		l, err := ParseLabel(s, t.Label.Pkg)
		if err != nil {
			return -1, "", errorf(t.Pos, "rule %q: %s: %v", t.Label.String(), field, err)
		}
		if j, ok := g.ruleIndex(l); ok {
			return j, "", nil
		}
		p = l.Path()
	case s[0] == '/':
		if field == "tools" {
			return -1, path.Clean(s), nil
		}
		return -1, "", errorf(t.Pos, "rule %q: %s entry %q is an absolute path", t.Label.String(), field, s)
	default:
		var reason string
		if p, reason = joinPath(t.Label.Pkg, s); reason != "" {
			return -1, "", errorf(t.Pos, "rule %q: %s entry %q %s", t.Label.String(), field, s, reason)
		}
	}
	if j, ok := g.outputs[p]; ok {
		return j, "", nil
	}
	return -1, p, nil
}

// joinPath joins a package path and a path relative to it into a clean
// workspace-relative path. The reason is not "" when the result is the
// workspace root or outside it.
func joinPath(pkg, rel string) (p, reason string) {
	if isClean(rel) {
		if pkg == "" {
			return rel, ""
		}
		return pkg + "/" + rel, ""
	}
	p = path.Join(pkg, rel)
	switch {
	case p == "..", strings.HasPrefix(p, "../"):
		return "", "is outside the workspace"
	case p == ".":
		return "", "is the workspace root"
	}
	return p, ""
}

// isClean reports whether rel is a non-empty relative path that path.Clean
// would leave unchanged and that has no ".." segment.
func isClean(rel string) bool {
	if rel == "" || rel[0] == '/' || rel[len(rel)-1] == '/' {
		return false
	}
	segStart := 0
	for i := 0; i <= len(rel); i++ {
		if i < len(rel) && rel[i] != '/' {
			continue
		}
		switch rel[segStart:i] {
		case "", ".", "..":
			return false
		}
		segStart = i + 1
	}
	return true
}

// clip returns s with its capacity cut to its length, so that appending to
// it cannot write into the shared array it was carved from, or nil when it
// is empty.
func clip[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s[:len(s):len(s)]
}

func errorf(pos Pos, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}
