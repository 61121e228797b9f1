package exec

// The lock table: Claims are writer locks, Uses reader locks. A task takes
// all of its locks at once when it is dispatched, or none; a task that
// cannot waits in the queue of the first lock that stopped it and is woken
// when that lock frees. Writers are preferred: while a writer waits for a
// lock, no new reader takes it, so a stream of readers cannot starve it.

type lockState struct {
	writer         bool
	readers        int
	waitingWriters int      // blocked tasks that claim this lock
	writersQ       nodeHeap // blocked here, claiming this lock
	readersQ       nodeHeap // blocked here, using this lock
}

func (s *sched) lock(name string) *lockState {
	l := s.locks[name]
	if l == nil {
		l = &lockState{}
		s.locks[name] = l
	}
	return l
}

// tryAcquire takes every lock of n, or returns the first one that is not
// free for it (and takes none).
func (s *sched) tryAcquire(n *node) (blocker *lockState, claim bool) {
	for _, name := range n.task.Claims {
		if l := s.lock(name); l.writer || l.readers > 0 {
			return l, true
		}
	}
	for _, name := range n.task.Uses {
		if l := s.lock(name); l.writer || l.waitingWriters > 0 {
			return l, false
		}
	}
	for _, name := range n.task.Claims {
		s.locks[name].writer = true
	}
	for _, name := range n.task.Uses {
		s.locks[name].readers++
	}
	return nil, false
}

// block parks n in the queue of the lock that stopped it.
func (s *sched) block(n *node, l *lockState, claim bool) {
	n.state = stateBlocked
	if claim {
		l.writersQ.push(n)
	} else {
		l.readersQ.push(n)
	}
	if len(n.task.Claims) > 0 {
		for _, name := range n.task.Claims {
			s.locks[name].waitingWriters++
		}
		n.countedWriter = true
	}
	// n may have been woken for a lock that is still free; the next in that
	// lock's queue must not be left waiting because n went elsewhere.
	if from := n.wokenFrom; from != nil && from != l {
		n.wokenFrom = nil
		s.wake(from)
	}
	n.wokenFrom = nil
}

// release frees n's locks and wakes their waiters.
func (s *sched) release(n *node) {
	for _, name := range n.task.Claims {
		s.locks[name].writer = false
	}
	for _, name := range n.task.Uses {
		s.locks[name].readers--
	}
	for _, name := range n.task.Claims {
		s.wake(s.locks[name])
	}
	for _, name := range n.task.Uses {
		s.wake(s.locks[name])
	}
}

// wake moves the waiters of l that could now take it back to their
// groups' ready queues: one writer if l is free, else every reader if no
// writer is waiting.
func (s *sched) wake(l *lockState) {
	if l.writer {
		return
	}
	if l.readers == 0 && l.writersQ.len() > 0 {
		s.unblock(l.writersQ.pop(), l)
		return
	}
	if l.waitingWriters == 0 {
		for l.readersQ.len() > 0 {
			s.unblock(l.readersQ.pop(), l)
		}
	}
}

func (s *sched) unblock(n *node, from *lockState) {
	if n.countedWriter {
		for _, name := range n.task.Claims {
			s.locks[name].waitingWriters--
		}
		n.countedWriter = false
	}
	n.wokenFrom = from
	n.state = stateReady
	n.group.ready.push(n)
}
