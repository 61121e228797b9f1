package exec

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Linking tasks into the scheduler's graph: token providers become edges
// provider -> requirer, validated before anything runs (or, for Add, before
// anything changes).

// CycleError is a dependency cycle through requires/provides, between tasks
// or between groups. Chain starts and ends with the same name.
type CycleError struct {
	Groups bool // a cycle between groups rather than tasks
	Chain  []string
}

func (e *CycleError) Error() string {
	if e.Groups {
		return "dependency cycle between groups: " + strings.Join(e.Chain, " -> ")
	}
	return "dependency cycle: " + strings.Join(e.Chain, " -> ")
}

// edge links a provider to a requirer. A settled edge is to a provider
// that already succeeded: it only passes on shared values.
type edge struct {
	from, to *node
	settled  bool
}

func newSched(opts Options, tasks []*Task) (*sched, error) {
	s := &sched{
		opts:      opts,
		providers: make(map[any][]*node),
		groups:    make(map[string]*groupState, len(opts.Groups)+1),
		locks:     make(map[string]*lockState),
	}
	s.groups[""] = &groupState{Group: Group{Jobs: opts.Workers}, def: -1}
	for i, g := range opts.Groups {
		if _, dup := s.groups[g.Name]; dup {
			return nil, fmt.Errorf("group %q defined twice", g.Name)
		}
		if g.Jobs < 1 {
			g.Jobs = 1
		}
		s.groups[g.Name] = &groupState{Group: g, def: i}
	}
	nodes, err := s.newNodes(tasks)
	if err != nil {
		return nil, err
	}
	edges, _, err := s.plan(nodes)
	if err != nil {
		return nil, err
	}
	s.commit(nodes, edges)
	if c := findCycle(nodes, nil); c != nil {
		return nil, c
	}
	order, err := s.groupOrder(nil)
	if err != nil {
		return nil, err
	}
	s.order = order
	for _, n := range nodes {
		s.maybeReady(n)
	}
	return s, nil
}

// add links tasks into a running scheduler; see Run.Add.
func (s *sched) add(tasks []*Task) error {
	nodes, err := s.newNodes(tasks)
	if err != nil {
		return err
	}
	edges, doomed, err := s.plan(nodes)
	if err != nil {
		return err
	}
	extra := make(map[*node][]*node)
	for _, e := range edges {
		if !e.settled {
			extra[e.from] = append(extra[e.from], e.to)
		}
	}
	if c := findCycle(nodes, extra); c != nil {
		return c
	}
	order, err := s.groupOrder(edges)
	if err != nil {
		return err
	}
	s.order = order
	s.commit(nodes, edges)
	for _, d := range doomed {
		d.n.state = stateSettled // not ready; settled below
	}
	for _, n := range nodes {
		s.maybeReady(n)
	}
	for _, d := range doomed {
		d.n.state = statePending
		s.settle(d.n, &Result{Task: d.n.task, Status: StatusSkipped, Reason: skipReason(d.failed)})
	}
	return nil
}

func (s *sched) newNodes(tasks []*Task) ([]*node, error) {
	nodes := make([]node, len(tasks))
	ptrs := make([]*node, len(tasks))
	for i, t := range tasks {
		if t == nil {
			return nil, fmt.Errorf("task %d is nil", len(s.nodes)+i)
		}
		g, ok := s.groups[t.Group]
		if !ok {
			return nil, fmt.Errorf("task %q: unknown group %q", t.Name, t.Group)
		}
		for _, c := range t.Claims {
			if slices.Contains(t.Uses, c) {
				return nil, fmt.Errorf("task %q: %q is both claimed and used", t.Name, c)
			}
		}
		nodes[i] = node{task: t, seq: len(s.nodes) + i, group: g}
		ptrs[i] = &nodes[i]
	}
	return ptrs, nil
}

type doom struct{ n, failed *node }

// plan computes the edges that linking nodes would add, without changing
// anything: from their providers to them, and from them to pending tasks
// already waiting for a token they provide. Each pair is linked once.
func (s *sched) plan(nodes []*node) ([]edge, []doom, error) {
	fresh := make(map[any][]*node, len(nodes))
	total := 0
	for _, n := range nodes {
		total += len(n.task.Provides)
	}
	// Most tokens have one provider: their slices share one array
	// (capacity 1 each, so a second provider reallocates).
	one := make([]*node, total)
	for _, n := range nodes {
		for _, tok := range n.task.Provides {
			if ps, ok := fresh[tok]; ok {
				fresh[tok] = append(ps, n)
				continue
			}
			one[0] = n
			fresh[tok] = one[:1:1]
			one = one[1:]
		}
	}
	var edges []edge
	var doomed []doom
	link := func(p, n *node) {
		if p.stamp != n.seq+1 {
			p.stamp = n.seq + 1
			edges = append(edges, edge{p, n, p.state == stateSettled})
		}
	}
	for _, n := range nodes {
		for _, tok := range n.task.Requires {
			old, nw := s.providers[tok], fresh[tok]
			if len(old)+len(nw) == 0 && !s.opts.Open {
				return nil, nil, fmt.Errorf("task %q requires %v, which no task provides", n.task.Name, tok)
			}
			for _, p := range old {
				if p.state == stateSettled && !(p.res.Status.Succeeded() || p.res.Soft) {
					if len(doomed) == 0 || doomed[len(doomed)-1].n != n {
						doomed = append(doomed, doom{n, p})
					}
					continue
				}
				link(p, n)
			}
			for _, p := range nw {
				link(p, n)
			}
		}
	}
	if len(s.nodes) > 0 && len(fresh) > 0 {
		for _, e := range s.nodes {
			if e.state != statePending {
				continue
			}
			for _, tok := range e.task.Requires {
				for _, p := range fresh[tok] {
					link(p, e)
				}
			}
		}
	}
	s.fresh = fresh
	return edges, doomed, nil
}

// commit links planned nodes and edges into the scheduler.
func (s *sched) commit(nodes []*node, edges []edge) {
	s.nodes = append(s.nodes, nodes...)
	s.unsettled += len(nodes)
	for _, n := range nodes {
		n.group.unsettled++
	}
	if len(s.providers) == 0 {
		s.providers = s.fresh // the first batch: plan's index is the index
	} else {
		for tok, ps := range s.fresh {
			s.providers[tok] = append(s.providers[tok], ps...)
		}
	}
	s.fresh = nil
	for _, e := range edges {
		e.to.providers = append(e.to.providers, e.from)
		if !e.settled {
			e.from.dependents = append(e.from.dependents, e.to)
			e.to.waiting++
		}
	}
	bySeq := func(a, b *node) int { return cmp.Compare(a.seq, b.seq) }
	for _, e := range edges {
		if ps := e.to.providers; len(ps) > 1 && !slices.IsSortedFunc(ps, bySeq) {
			slices.SortFunc(ps, bySeq)
		}
	}
	// Tokens still unprovided, for tasks that may wait for a later Add.
	for _, n := range s.nodes[len(s.nodes)-len(nodes):] {
		s.findMissing(n)
	}
	if len(s.nodes) > len(nodes) {
		for _, n := range s.nodes[:len(s.nodes)-len(nodes)] {
			if n.state == statePending && len(n.missing) > 0 {
				s.findMissing(n)
			}
		}
	}
}

func (s *sched) findMissing(n *node) {
	n.missing = n.missing[:0]
	for _, tok := range n.task.Requires {
		if len(s.providers[tok]) == 0 {
			n.missing = append(n.missing, tok)
		}
	}
}
