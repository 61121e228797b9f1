package exec

// nodeHeap is a binary min-heap of nodes ordered by (priority, seq): the
// order in which ready tasks are dispatched. It is typed rather than going
// through container/heap to keep dispatch free of interface calls.
// Entries carry their sort key inline, so sifting touches no node.
type nodeHeap []heapEntry

type heapEntry struct {
	prio, seq int
	n         *node
}

func less(a, b heapEntry) bool {
	if a.prio != b.prio {
		return a.prio < b.prio
	}
	return a.seq < b.seq
}

func (h *nodeHeap) push(n *node) {
	*h = append(*h, heapEntry{n.task.Priority, n.seq, n})
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !less(s[i], s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *nodeHeap) pop() *node {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= len(s) {
			break
		}
		m := l
		if r := l + 1; r < len(s) && less(s[r], s[l]) {
			m = r
		}
		if !less(s[m], s[i]) {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top.n
}

func (h nodeHeap) len() int { return len(h) }
