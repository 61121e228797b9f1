package exec

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// The scheduler: its state (nodes, ready queues, lock table, group order)
// is guarded by one mutex, and the workers schedule themselves: a worker
// that finishes a task settles it and, still holding the lock, takes the
// next ready task and runs it, so a chain of tasks runs on one goroutine
// with no hand-off. Idle workers wait on a condition variable.

type nodeState uint8

const (
	statePending nodeState = iota // waiting for providers
	stateReady                    // in its group's ready queue
	stateBlocked                  // in a lock's queue
	stateRunning
	stateSettled
)

type node struct {
	task       *Task
	seq        int
	group      *groupState
	providers  []*node // tasks providing a required token, by seq, no duplicates
	dependents []*node
	waiting    int   // providers not settled yet
	missing    []any // required tokens no task provides (yet)
	state      nodeState
	res        *Result
	result     Result // res points here once the task ran

	ctx      taskCtx    // the context the task runs under
	mu       sync.Mutex // guards findings, written by Report
	findings []string

	stamp         int   // plan: seq+1 of the last node linked from this one
	color         uint8 // findCycle's mark, white outside it
	countedWriter bool
	wokenFrom     *lockState
}

type groupState struct {
	Group
	def       int // definition order; the default group is -1
	ready     nodeHeap
	unsettled int
	running   int
}

type sched struct {
	opts      Options
	run       *Run
	ctx       context.Context // cancelled by Cancel and on the caller's ctx
	nodes     []*node
	providers map[any][]*node // token -> tasks providing it, by seq
	fresh     map[any][]*node // plan's index of the batch being added
	groups    map[string]*groupState
	order     []*groupState // groups in run order
	active    *groupState
	locks     map[string]*lockState
	running   int
	unsettled int
	stopped   string // why dispatch stopped after a failure ("" while going)
	canceled  bool
	finished  bool    // every task settled: workers exit, Add is refused
	started   []*node // dispatched, waiting for a worker to pick them up
	settling  []*node // settle worklist, reused

	mu      sync.Mutex // guards everything above
	idle    sync.Cond  // workers waiting for a ready task
	workers sync.WaitGroup
}

// taskCtx is a task's context: the run's, plus the node for Report and
// FromContext. It lives inside the node to save an allocation per task.
type taskCtx struct {
	context.Context
	n *node
}

func (c *taskCtx) Value(key any) any {
	if _, ok := key.(findingsKey); ok {
		return c.n
	}
	return c.Context.Value(key)
}

// worker runs tasks until the run has finished. It holds s.mu except
// while a task's function runs.
func (s *sched) worker() {
	defer s.workers.Done()
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.finished {
		if n := s.next(); n != nil {
			shared := s.sharedFor(n)
			s.mu.Unlock()
			r := runTask(n, shared)
			s.mu.Lock()
			s.finish(n, r)
			continue
		}
		switch {
		case s.unsettled == 0 && s.running == 0:
			s.finished = true
			s.idle.Broadcast()
		case s.running == 0 && !s.anyReady():
			s.quiesce()
		default:
			s.idle.Wait()
		}
	}
}

// watchCancel marks the run cancelled when its context ends.
func (s *sched) watchCancel(stop <-chan struct{}) {
	select {
	case <-s.ctx.Done():
		s.mu.Lock()
		s.canceled = true
		s.idle.Broadcast()
		s.mu.Unlock()
	case <-stop:
	}
}

func (s *sched) anyReady() bool {
	if s.stopped != "" || s.canceled {
		return false
	}
	for _, g := range s.order {
		if g.ready.len() > 0 {
			return true
		}
	}
	return false
}

// next returns a task to run: one already dispatched, or else it
// dispatches and returns the first. Dispatching starts every ready task
// of the running group that has a free worker and can take its locks,
// as the original engine did, so a waiting writer registers at once.
func (s *sched) next() *node {
	if len(s.started) == 0 {
		s.dispatch()
	}
	if len(s.started) == 0 {
		return nil
	}
	n := s.started[0]
	s.started = s.started[1:]
	if len(s.started) > 0 {
		s.idle.Broadcast() // work for the others
	}
	return n
}

// dispatch moves ready tasks of the running group to s.started while the
// group has workers. Only when nothing runs may the next group (in run
// order) take over.
func (s *sched) dispatch() {
	if s.ctx.Err() != nil {
		s.canceled = true // the watcher may not have seen it yet
	}
	if s.stopped != "" || s.canceled {
		return
	}
	g := s.active
	if s.running == 0 && (g == nil || g.ready.len() == 0) {
		g = nil
		for _, o := range s.order {
			if o.ready.len() > 0 {
				g = o
				break
			}
		}
		s.active = g
	}
	if g == nil {
		return
	}
	for g.running < g.Jobs && g.ready.len() > 0 {
		n := g.ready.pop()
		if l, claim := s.tryAcquire(n); l != nil {
			s.block(n, l, claim)
			continue
		}
		n.wokenFrom = nil
		n.state = stateRunning
		s.running++
		g.running++
		n.ctx = taskCtx{s.ctx, n}
		s.started = append(s.started, n)
	}
}

// sharedFor builds the shared map a task starts from: the run's defaults,
// then its providers' final maps in registration order.
func (s *sched) sharedFor(n *node) map[string]any {
	if n.task.Func == nil && len(n.providers) == 0 && len(s.opts.Shared) == 0 {
		return nil
	}
	shared := make(map[string]any, len(s.opts.Shared))
	for k, v := range s.opts.Shared {
		shared[k] = v
	}
	for _, p := range n.providers {
		for k, v := range p.res.Shared {
			shared[k] = v
		}
	}
	return shared
}

// runTask runs one task's function and returns its result.
func runTask(n *node, shared map[string]any) *Result {
	t := n.task
	var ctx context.Context = &n.ctx
	cancel := context.CancelFunc(func() {})
	if t.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, t.Timeout)
	}
	r := &n.result
	*r = Result{Task: t, Shared: shared, Start: time.Now()}
	func() {
		defer func() {
			if p := recover(); p != nil {
				r.Err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
			}
		}()
		if t.Func != nil {
			r.Value, r.Err = t.Func(ctx, shared, t.Kwargs)
		}
	}()
	r.End = time.Now()
	timedOut := t.Timeout > 0 && ctx.Err() == context.DeadlineExceeded
	cancel()
	n.mu.Lock()
	r.Findings = n.findings
	n.mu.Unlock()
	switch {
	case timedOut:
		r.Status = StatusTimeout
		r.Err = &TimeoutError{Task: t.Name, Limit: t.Timeout}
	case r.Err != nil && ctx.Err() != nil:
		r.Status = StatusCanceled
		r.Reason = "run canceled"
	case r.Err != nil:
		r.Status = StatusFailed
		r.Soft = isSoft(r.Err)
	case len(r.Findings) > 0:
		r.Status = StatusWarn
	}
	return r
}

// finish settles a task that ran. The worker that ran it goes on to
// dispatch what that made ready, waking others only for the surplus (see
// next), so a chain runs on one worker without waking the rest.
func (s *sched) finish(n *node, r *Result) {
	s.running--
	n.group.running--
	s.release(n)
	s.settle(n, r)
}

// settle records n's result and propagates it to dependents: ready when
// their last provider succeeded, skipped (transitively) when one failed.
func (s *sched) settle(n *node, r *Result) {
	s.settling = append(s.settling[:0], n)
	n.res = r
	for len(s.settling) > 0 {
		n := s.settling[len(s.settling)-1]
		s.settling = s.settling[:len(s.settling)-1]
		r := n.res
		n.state = stateSettled
		s.unsettled--
		n.group.unsettled--
		s.run.emit(r)
		ok := r.Status.Succeeded() || r.Soft
		if !ok && (r.Status == StatusFailed || r.Status == StatusTimeout) && !s.opts.KeepGoing && s.stopped == "" {
			s.stopped = fmt.Sprintf("not started: the run stopped after %s %s", n.task.Name, r.Status)
		}
		for _, d := range n.dependents {
			if d.state != statePending {
				continue
			}
			if ok {
				d.waiting--
				s.maybeReady(d)
				continue
			}
			d.res = &Result{Task: d.task, Status: StatusSkipped, Reason: skipReason(n)}
			d.state = stateSettled // claimed; counted when popped
			s.settling = append(s.settling, d)
		}
	}
}

func skipReason(failed *node) string {
	r := failed.res
	if r.Status == StatusSkipped {
		return r.Reason
	}
	return fmt.Sprintf("dependency %s %s", failed.task.Name, r.Status)
}

func (s *sched) maybeReady(n *node) {
	if n.state == statePending && n.waiting == 0 && len(n.missing) == 0 {
		n.state = stateReady
		n.group.ready.push(n)
	}
}

// quiesce settles what can never run once nothing runs and nothing is
// ready: after a failure or cancel everything left, otherwise the tasks
// waiting for tokens that no task provides.
func (s *sched) quiesce() {
	for _, n := range s.nodes {
		if n.state == stateSettled || n.state == stateRunning {
			continue
		}
		var r *Result
		switch {
		case s.canceled:
			r = &Result{Task: n.task, Status: StatusCanceled, Reason: "run canceled"}
		case s.stopped != "":
			r = &Result{Task: n.task, Status: StatusSkipped, Reason: s.stopped}
		case len(n.missing) > 0:
			r = &Result{Task: n.task, Status: StatusSkipped,
				Reason: fmt.Sprintf("requires token %v, which no task provides", n.missing[0])}
		case n.waiting > 0:
			continue // settled when its provider is
		default:
			r = &Result{Task: n.task, Status: StatusSkipped, Reason: "cannot run"}
		}
		s.settle(n, r)
	}
	if s.unsettled > 0 {
		// Only waiters on tasks that cannot run are left; they were settled
		// above through their providers. Anything else is a scheduler bug,
		// and still gets its one result.
		for _, n := range s.nodes {
			if n.state != stateSettled && n.state != stateRunning {
				s.settle(n, &Result{Task: n.task, Status: StatusSkipped, Reason: "cannot run"})
			}
		}
	}
	// Lock and ready queues may still hold settled nodes; empty them.
	for _, g := range s.order {
		g.ready = g.ready[:0]
	}
	for _, l := range s.locks {
		l.writersQ, l.readersQ, l.waitingWriters = nil, nil, 0
	}
}

// waitWorkers waits until the run has finished, then stops the cancel
// watcher and waits for every goroutine of the run.
func (s *sched) waitWorkers(stop chan struct{}) {
	s.mu.Lock()
	for !s.finished {
		s.idle.Wait()
	}
	s.mu.Unlock()
	close(stop)
	s.workers.Wait()
}
