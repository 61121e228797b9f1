package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// levels is the number of rule levels: a rule of level l reads outputs of
// rules of level l-1 only, so no chain of rules is longer than levels.
const levels = 4

// Options shape the generated graph.
type Options struct {
	Packages int    // number of packages
	Rules    int    // rules per package
	Srcs     int    // sources of its own package each rule reads
	Deps     int    // outputs of earlier packages each rule of level > 0 reads
	Seed     uint64 // seed of the pseudo-random choices
}

func (o Options) validate() error {
	switch {
	case o.Packages < 1:
		return errors.New("-packages must be at least 1")
	case o.Rules < 1:
		return errors.New("-rules must be at least 1")
	case o.Srcs < 1:
		return errors.New("-srcs must be at least 1")
	case o.Deps < 0:
		return errors.New("-deps must not be negative")
	}
	return nil
}

// RuleID names a rule by the index of its package and its index there.
type RuleID struct {
	Pkg, Index int
}

// Rule is one node of the graph: it reads Srcs (indexes of source files of
// its own package, in order) then the outputs of Deps (in order) and writes
// their concatenation to its output.
type Rule struct {
	ID    RuleID
	Level int
	Srcs  []int
	Deps  []RuleID
}

// Graph is the generated workspace: Rules[p][k] is rule k of package p.
type Graph struct {
	Options Options
	Rules   [][]Rule
}

// NewGraph draws the graph that opts describe. The same options always give
// the same graph.
func NewGraph(opts Options) *Graph {
	rng := rand.New(rand.NewPCG(opts.Seed, 0x70657862656e6368))
	g := &Graph{Options: opts, Rules: make([][]Rule, opts.Packages)}
	for p := range g.Rules {
		g.Rules[p] = make([]Rule, opts.Rules)
		for k := range g.Rules[p] {
			g.Rules[p][k] = g.newRule(rng, RuleID{p, k})
		}
	}
	return g
}

// SourcesPerPackage returns how many source files each package holds: one
// private source per rule, then the shared ones.
func (g *Graph) SourcesPerPackage() int {
	return g.Options.Rules + g.Options.Srcs
}

// newRule draws the inputs of rule id.
func (g *Graph) newRule(rng *rand.Rand, id RuleID) Rule {
	r := Rule{ID: id, Level: id.Index % levels}
	r.Srcs = append([]int{id.Index}, g.sharedSources(rng)...)
	if r.Level > 0 && id.Pkg > 0 {
		r.Deps = g.pickDeps(rng, id.Pkg, r.Level-1)
	}
	return r
}

// sharedSources returns S-1 distinct indexes of shared sources, in a random
// order.
func (g *Graph) sharedSources(rng *rand.Rand) []int {
	perm := rng.Perm(g.Options.Srcs)[:g.Options.Srcs-1]
	for i := range perm {
		perm[i] += g.Options.Rules
	}
	return perm
}

// pickDeps returns up to D distinct rules of the given level in packages
// before pkg. It gives fewer when there are fewer such rules.
func (g *Graph) pickDeps(rng *rand.Rand, pkg, level int) []RuleID {
	perLevel := (g.Options.Rules - level + levels - 1) / levels // rules of that level in a package
	want := min(g.Options.Deps, pkg*perLevel)
	seen := make(map[RuleID]bool, want)
	deps := make([]RuleID, 0, want)
	for len(deps) < want {
		id := RuleID{rng.IntN(pkg), level + levels*rng.IntN(perLevel)}
		if !seen[id] {
			seen[id] = true
			deps = append(deps, id)
		}
	}
	return deps
}

// Dependents returns, for every rule, how many rules read its output
// directly or transitively.
func (g *Graph) Dependents() map[RuleID]int {
	direct := map[RuleID][]RuleID{}
	for _, pkg := range g.Rules {
		for _, r := range pkg {
			for _, d := range r.Deps {
				direct[d] = append(direct[d], r.ID)
			}
		}
	}
	count := map[RuleID]int{}
	for id := range direct {
		count[id] = len(reachable(direct, id)) - 1
	}
	return count
}

// reachable returns the set of rules reachable from id through edges,
// id included.
func reachable(edges map[RuleID][]RuleID, id RuleID) map[RuleID]bool {
	seen := map[RuleID]bool{id: true}
	stack := []RuleID{id}
	for len(stack) > 0 {
		next := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, e := range edges[next] {
			if !seen[e] {
				seen[e] = true
				stack = append(stack, e)
			}
		}
	}
	return seen
}

// Leaf returns the rule whose private source the incremental scenarios
// change, and the number of rules that depend on it: of the level-0 rules
// of the package nearest the middle of the workspace that has any with
// dependents, the one with the most. Without dependents anywhere, it is
// rule 0 of the middle package.
func (g *Graph) Leaf() (RuleID, int) {
	dependents := g.Dependents()
	mid := g.Options.Packages / 2
	for dist := 0; dist < g.Options.Packages; dist++ {
		for _, p := range []int{mid + dist, mid - dist} {
			if p < 0 || p >= g.Options.Packages {
				continue
			}
			if id, n := g.leafIn(p, dependents); n > 0 {
				return id, n
			}
		}
	}
	return RuleID{mid, 0}, 0
}

// leafIn returns the level-0 rule of package p with the most dependents,
// the first one on ties.
func (g *Graph) leafIn(p int, dependents map[RuleID]int) (RuleID, int) {
	best := RuleID{p, 0}
	for k := levels; k < g.Options.Rules; k += levels {
		if id := (RuleID{p, k}); dependents[id] > dependents[best] {
			best = id
		}
	}
	return best, dependents[best]
}

// PkgName returns the directory name of package p.
func PkgName(p int) string { return fmt.Sprintf("p%04d", p) }

// RuleName returns the name of rule k in its package.
func RuleName(k int) string { return fmt.Sprintf("r%04d", k) }

// OutName returns the output file name of rule k, relative to its package.
func OutName(k int) string { return RuleName(k) + ".out" }

// SrcName returns the name of source file i of a package.
func SrcName(i int) string { return fmt.Sprintf("src_%d.txt", i) }
