// This file answers questions about a resolved graph: which targets a set
// of patterns selects, what they need, and what needs them.

package graph

import (
	"fmt"
	"strings"
)

// Select returns the targets that match any of the patterns, in
// registration order. Wildcard patterns skip targets tagged manual or
// service: those are selected only by an explicit pattern. An explicit
// pattern that names no rule but a file that a rule outputs selects that
// rule (so "pex build //lib:gen.h" works, after Resolve).
//
// It fails, with a message for the command line, when an explicit pattern
// names no rule (`no rule "//lib:nett" (did you mean "//lib:net"?)`), or a
// wildcard pattern matches no package (`no packages match "//foo/..."`).
// A selection that is empty because every matching target is manual is not
// an error. No patterns select nothing.
func (g *Graph) Select(patterns []Pattern) ([]*Target, error) {
	picked := make([]bool, len(g.Targets))
	var wild []Pattern
	for _, p := range patterns {
		if l, ok := p.Label(); ok {
			i, ok := g.ruleIndex(l)
			if !ok {
				i, ok = g.outputs[l.Path()]
			}
			if !ok {
				hint := g.ruleHint(l)
				if hint == "" {
					hint = g.packageRules(l.Pkg)
				}
				return nil, fmt.Errorf("no rule %q%s", l.String(), hint)
			}
			picked[i] = true
			continue
		}
		found := g.packages[p.Pkg]
		if p.Recursive {
			found = g.hasPackageIn(p.Pkg)
		}
		if !found {
			return nil, fmt.Errorf("no packages match %q%s", p.String(), g.packageHint(p))
		}
		wild = append(wild, p)
	}
	if len(wild) > 0 {
		for i, t := range g.Targets {
			if picked[i] || t.HasTag("manual") || t.HasTag("service") {
				continue
			}
			for _, p := range wild {
				if p.Match(t.Label) {
					picked[i] = true
					break
				}
			}
		}
	}
	return g.collect(picked), nil
}

// packageRules returns ` (rules in //lib: a, b, c)`, or a note that the
// package does not exist, for an error about a rule not found there.
func (g *Graph) packageRules(pkg string) string {
	if !g.packages[pkg] {
		return fmt.Sprintf(" (no package %q)", "//"+pkg)
	}
	var names []string
	for _, t := range g.Targets {
		if t.Label.Pkg == pkg {
			names = append(names, t.Label.Name)
		}
	}
	switch {
	case len(names) == 0:
		return fmt.Sprintf(" (//%s has no rules)", pkg)
	case len(names) > 10:
		names = append(names[:10], "...")
	}
	return fmt.Sprintf(" (rules in //%s: %s)", pkg, strings.Join(names, ", "))
}

// packageHint returns ` (did you mean "//lib/..."?)`, the pattern p with
// the package nearest to its own, or "" when none is near.
func (g *Graph) packageHint(p Pattern) string {
	if p.Pkg == "" {
		return ""
	}
	near := nearest(p.Pkg, g.Packages())
	if near == "" {
		return ""
	}
	p.Pkg = near
	return fmt.Sprintf(" (did you mean %q?)", p.String())
}

// Closure returns the targets and every target they transitively depend on,
// in registration order. It follows the edges found by Resolve; targets not
// in g are ignored.
func (g *Graph) Closure(ts []*Target) []*Target {
	picked := make([]bool, len(g.Targets))
	stack := g.seed(ts, picked)
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, j := range g.edges(int(i)) {
			if !picked[j] {
				picked[j] = true
				stack = append(stack, j)
			}
		}
	}
	return g.collect(picked)
}

// Dependents returns the targets and every target that transitively depends
// on them, in registration order: what a change to them affects. It follows
// the edges found by Resolve; targets not in g are ignored.
func (g *Graph) Dependents(ts []*Target) []*Target {
	// Reverse the edges: rdeps[rstart[j]:rstart[j+1]] depend on j.
	rstart := make([]int32, len(g.Targets)+1)
	for _, j := range g.deps {
		rstart[j+1]++
	}
	for j := range len(g.Targets) {
		rstart[j+1] += rstart[j]
	}
	rdeps := make([]int32, len(g.deps))
	fill := append([]int32(nil), rstart[:len(g.Targets)]...)
	for i := range len(g.depEnd) {
		for _, j := range g.edges(i) {
			rdeps[fill[j]] = int32(i)
			fill[j]++
		}
	}
	picked := make([]bool, len(g.Targets))
	stack := g.seed(ts, picked)
	for len(stack) > 0 {
		j := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, i := range rdeps[rstart[j]:rstart[j+1]] {
			if !picked[i] {
				picked[i] = true
				stack = append(stack, i)
			}
		}
	}
	return g.collect(picked)
}

// seed marks the targets of ts that are in g as picked and returns their
// indices.
func (g *Graph) seed(ts []*Target, picked []bool) []int32 {
	var stack []int32
	for _, t := range ts {
		if i := g.index(t); i >= 0 && !picked[i] {
			picked[i] = true
			stack = append(stack, int32(i))
		}
	}
	return stack
}

// collect returns the picked targets in registration order.
func (g *Graph) collect(picked []bool) []*Target {
	n := 0
	for _, p := range picked {
		if p {
			n++
		}
	}
	out := make([]*Target, 0, n)
	for i, p := range picked {
		if p {
			out = append(out, g.Targets[i])
		}
	}
	return out
}
