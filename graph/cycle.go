// This file finds dependency cycles.

package graph

import "strings"

// CycleError reports a dependency cycle. Chain starts and ends with the
// same label; a rule that depends on itself gives a chain of two.
type CycleError struct {
	Chain []Label
}

// Error formats the cycle as "dependency cycle: //a:x -> //b:y -> //a:x".
func (e *CycleError) Error() string {
	var b strings.Builder
	b.WriteString("dependency cycle: ")
	for i, l := range e.Chain {
		if i > 0 {
			b.WriteString(" -> ")
		}
		b.WriteString(l.String())
	}
	return b.String()
}

const (
	white = iota // not visited
	grey         // on the DFS stack
	black        // done: no cycle through it
)

// findCycle returns a *CycleError for the first cycle found by a
// depth-first search from each of Targets[start:] in registration order,
// following edges in order, or nil. Targets before start were checked by an
// earlier call and have no edges to later ones. The search keeps its own
// stack, so a chain of any length does not grow the goroutine's.
func (g *Graph) findCycle(start int) *CycleError {
	color := make([]uint8, len(g.Targets))
	for i := range start {
		color[i] = black
	}
	var stack []frame
	for s := start; s < len(g.Targets); s++ {
		if color[s] != white {
			continue
		}
		color[s] = grey
		stack = append(stack[:0], frame{node: int32(s)})
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			edges := g.edges(int(top.node))
			if top.next == len(edges) {
				color[top.node] = black
				stack = stack[:len(stack)-1]
				continue
			}
			j := edges[top.next]
			top.next++
			switch color[j] {
			case white:
				color[j] = grey
				stack = append(stack, frame{node: j})
			case grey:
				return g.cycleError(stack, j)
			}
		}
	}
	return nil
}

// frame is a node on the depth-first search stack.
type frame struct {
	node int32
	next int // index of the next edge to follow in g.edges(node)
}

// cycleError builds the chain from j's frame up the stack, back to j.
func (g *Graph) cycleError(stack []frame, j int32) *CycleError {
	k := len(stack) - 1
	for stack[k].node != j {
		k--
	}
	chain := make([]Label, 0, len(stack)-k+1)
	for _, f := range stack[k:] {
		chain = append(chain, g.Targets[f.node].Label)
	}
	return &CycleError{Chain: append(chain, g.Targets[j].Label)}
}
