package exec

import (
	"cmp"
	"slices"
)

// findCycle looks for a cycle reachable from roots through dependents
// (plus the extra edges not committed yet) and returns it as a CycleError,
// or nil. It is iterative, so a chain of 100k tasks does not grow the
// goroutine stack.
func findCycle(roots []*node, extra map[*node][]*node) *CycleError {
	succ := func(n *node) []*node {
		if extra == nil {
			return n.dependents
		}
		if x := extra[n]; len(x) > 0 {
			return append(slices.Clip(n.dependents), x...)
		}
		return n.dependents
	}
	// Colours live in the nodes; every node coloured is reset on return.
	var seen []*node
	defer func() {
		for _, n := range seen {
			n.color = white
		}
	}()
	var stack []frame
	for _, root := range roots {
		if root.color != white {
			continue
		}
		root.color = gray
		seen = append(seen, root)
		stack = append(stack[:0], frame{root, succ(root)})
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			if len(top.next) == 0 {
				top.n.color = black
				stack = stack[:len(stack)-1]
				continue
			}
			m := top.next[0]
			top.next = top.next[1:]
			switch m.color {
			case gray:
				return cycleFrom(stack, m)
			case white:
				m.color = gray
				seen = append(seen, m)
				stack = append(stack, frame{m, succ(m)})
			}
		}
	}
	return nil
}

// Colours of the depth-first search for cycles.
const (
	white uint8 = iota
	gray
	black
)

type frame struct {
	n    *node
	next []*node
}

func cycleFrom(stack []frame, m *node) *CycleError {
	var chain []string
	on := false
	for _, f := range stack {
		on = on || f.n == m
		if on {
			chain = append(chain, f.n.task.Name)
		}
	}
	return &CycleError{Chain: append(chain, m.task.Name)}
}

// groupOrder orders the groups that have tasks: a group runs after every
// group one of its tasks depends on, then by priority, then by definition
// (the default group first). extra are edges about to be added.
func (s *sched) groupOrder(extra []edge) ([]*groupState, error) {
	all := make([]*groupState, 0, len(s.groups))
	for _, g := range s.groups {
		all = append(all, g)
	}
	slices.SortFunc(all, func(a, b *groupState) int {
		if c := cmp.Compare(a.Priority, b.Priority); c != 0 {
			return c
		}
		return cmp.Compare(a.def, b.def)
	})
	if len(all) == 1 {
		return all, nil
	}
	after := make(map[*groupState]map[*groupState]bool) // g -> groups that must run before g
	dep := func(from, to *node) {
		if from.group != to.group {
			m := after[to.group]
			if m == nil {
				m = make(map[*groupState]bool)
				after[to.group] = m
			}
			m[from.group] = true
		}
	}
	for _, n := range s.nodes {
		for _, d := range n.dependents {
			dep(n, d)
		}
	}
	for _, e := range extra {
		if !e.settled {
			dep(e.from, e.to)
		}
	}
	var order []*groupState
	placed := make(map[*groupState]bool)
	for len(order) < len(all) {
		progress := false
		for _, g := range all {
			if placed[g] || !allPlaced(after[g], placed) {
				continue
			}
			order = append(order, g)
			placed[g] = true
			progress = true
			break // restart: the best-ranked ready group goes first
		}
		if !progress {
			return nil, groupCycle(all, after, placed)
		}
	}
	return order, nil
}

func allPlaced(need map[*groupState]bool, placed map[*groupState]bool) bool {
	for g := range need {
		if !placed[g] {
			return false
		}
	}
	return true
}

func groupName(g *groupState) string {
	if g.Name == "" {
		return "default"
	}
	return g.Name
}

// groupCycle finds a cycle among the groups not placed: from any of them,
// follow a predecessor that is not placed until one repeats.
func groupCycle(all []*groupState, after map[*groupState]map[*groupState]bool, placed map[*groupState]bool) error {
	var start *groupState
	for _, g := range all {
		if !placed[g] {
			start = g
			break
		}
	}
	seen := map[*groupState]int{}
	var path []*groupState
	for g := start; ; {
		if i, ok := seen[g]; ok {
			path = append(path[i:], g)
			break
		}
		seen[g] = len(path)
		path = append(path, g)
		var next *groupState
		for _, h := range all { // deterministic: by rank
			if after[g][h] && !placed[h] {
				next = h
				break
			}
		}
		g = next
	}
	// path follows "runs after" links; print it as dependency order.
	chain := make([]string, len(path))
	for i, g := range path {
		chain[len(path)-1-i] = groupName(g)
	}
	return &CycleError{Groups: true, Chain: chain}
}
