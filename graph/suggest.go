// This file finds the "did you mean" suggestions of error messages: the
// existing name nearest to a misspelt one.

package graph

import (
	"fmt"
	"math"
)

// depHint returns the hint that follows `no rule "//lib:nett"` in an error
// about a dep: the rule outputting the file l names, else the rule nearest
// to l, else "".
func (g *Graph) depHint(l Label) string {
	if j, ok := g.outputs[l.Path()]; ok {
		return fmt.Sprintf(" (did you mean %q, which outputs it?)", g.Targets[j].Label.String())
	}
	return g.ruleHint(l)
}

// ruleHint returns ` (did you mean "//lib:net"?)` for the rule nearest to
// l, or "" when none is near.
func (g *Graph) ruleHint(l Label) string {
	if t := g.nearestRule(l); t != nil {
		return fmt.Sprintf(" (did you mean %q?)", t.Label.String())
	}
	return ""
}

// nearestRule returns the rule whose label is nearest to l by edit
// distance, within a third of the length of l's name (at least one edit);
// failing that, a rule of the same name in the package nearest to l's;
// failing that, nil. Ties go to the rule registered first.
func (g *Graph) nearestRule(l Label) *Target {
	x := l.Pkg + ":" + l.Name
	var m matcher
	var best *Target
	bestD := maxEdits(l.Name) + 1
	var buf []byte
	for _, t := range g.Targets {
		buf = append(append(append(buf[:0], t.Label.Pkg...), ':'), t.Label.Name...)
		if d := m.distance(x, buf, bestD); d < bestD {
			best, bestD = t, d
		}
	}
	if best != nil {
		return best
	}
	bestD = math.MaxInt // any package will do
	for _, t := range g.Targets {
		if t.Label.Name != l.Name {
			continue
		}
		if d := m.distance(l.Pkg, []byte(t.Label.Pkg), bestD); d < bestD {
			best, bestD = t, d
		}
	}
	return best
}

// nearest returns the candidate nearest to x by edit distance, within a
// third of x's length (at least one edit), or "". Ties go to the earliest
// candidate.
func nearest(x string, candidates []string) string {
	if x == "" {
		return ""
	}
	var m matcher
	best, bestD := "", maxEdits(x)+1
	for _, c := range candidates {
		if d := m.distance(x, []byte(c), bestD); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// maxEdits is how many edits away from name a suggestion may be.
func maxEdits(name string) int {
	return max(1, len(name)/3)
}

// groupNames returns the names of the groups in definition order.
func (g *Graph) groupNames() []string {
	names := make([]string, len(g.Groups))
	for i, gr := range g.Groups {
		names[i] = gr.Name
	}
	return names
}

// matcher computes edit distances, reusing its rows between calls.
type matcher struct {
	rows [3][]int
}

// distance returns the edit distance between a and b, or limit when it is
// limit or more. An edit inserts, deletes or replaces a byte, or swaps two
// adjacent ones ("lnit" is one edit from "lint"); case is ignored.
func (m *matcher) distance(a string, b []byte, limit int) int {
	if abs(len(a)-len(b)) >= limit {
		return limit
	}
	for k := range m.rows {
		if cap(m.rows[k]) < len(b)+1 {
			m.rows[k] = make([]int, len(b)+1)
		}
	}
	// Rows i-2, i-1 and i of the table over prefixes of a and b.
	pprev, prev, cur := m.rows[0][:len(b)+1], m.rows[1][:len(b)+1], m.rows[2][:len(b)+1]
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if lower(a[i-1]) == lower(b[j-1]) {
				cost = 0
			}
			d := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && lower(a[i-1]) == lower(b[j-2]) && lower(a[i-2]) == lower(b[j-1]) {
				d = min(d, pprev[j-2]+1)
			}
			cur[j] = d
			rowMin = min(rowMin, d)
		}
		if rowMin >= limit {
			return limit
		}
		pprev, prev, cur = prev, cur, pprev
	}
	return min(prev[len(b)], limit)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// Suggest returns the candidate nearest to x by edit distance, within a
// third of x's length (at least one edit), or "" when none is near. Ties
// go to the earliest candidate.
func Suggest(x string, candidates []string) string { return nearest(x, candidates) }
