package exec

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// The scheduler: one goroutine owns every node, queue and lock; tasks run
// on goroutines of their own and report back over a channel. Nothing else
// touches scheduler state, so it needs no mutex.

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

	stamp         int // plan: seq+1 of the last node linked from this one
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

type completion struct {
	n   *node
	res *Result
}

type addReq struct {
	tasks []*Task
	reply chan error
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
	done      chan completion
	work      chan *node // to the workers
	workers   sync.WaitGroup
	adds      chan addReq
	settling  []*node // settle worklist, reused
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

func (s *sched) loop() {
	ctxDone := s.ctx.Done()
	for {
		s.dispatch()
		if s.unsettled == 0 && s.running == 0 {
			break
		}
		if s.running == 0 && !s.anyReady() {
			s.quiesce()
			continue
		}
		select {
		case c := <-s.done:
			s.finish(c)
			s.drain()
		case req := <-s.adds:
			req.reply <- s.add(req.tasks)
		case <-ctxDone:
			s.canceled, ctxDone = true, nil
		}
	}
	close(s.work)
	s.workers.Wait()
	s.run.finish()
	// Adds that raced with the end of the run are refused.
	for {
		select {
		case req := <-s.adds:
			req.reply <- ErrRunFinished
		default:
			return
		}
	}
}

// drain settles every completion already waiting, so one wake-up of the
// scheduler serves many finished tasks.
func (s *sched) drain() {
	for {
		select {
		case c := <-s.done:
			s.finish(c)
		default:
			return
		}
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

// dispatch starts ready tasks of the running group while it has workers.
// Only when nothing runs may the next group (in run order) take over.
func (s *sched) dispatch() {
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
		s.start(n)
	}
}

func (s *sched) start(n *node) {
	n.state = stateRunning
	s.running++
	n.group.running++
	var shared map[string]any
	if n.task.Func != nil || len(n.providers) > 0 || len(s.opts.Shared) > 0 {
		shared = make(map[string]any, len(s.opts.Shared))
		for k, v := range s.opts.Shared {
			shared[k] = v
		}
		for _, p := range n.providers {
			for k, v := range p.res.Shared {
				shared[k] = v
			}
		}
	}
	n.ctx = taskCtx{s.ctx, n}
	n.result.Shared = shared
	s.work <- n
}

// worker runs tasks handed over by the scheduler until the run ends.
func worker(work <-chan *node, done chan<- completion, wg *sync.WaitGroup) {
	defer wg.Done()
	for n := range work {
		runTask(n, n.result.Shared, done)
	}
}

// runTask runs one task on its own goroutine and reports its result.
func runTask(n *node, shared map[string]any, done chan<- completion) {
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
	done <- completion{n, r}
}

func (s *sched) finish(c completion) {
	s.running--
	c.n.group.running--
	s.release(c.n)
	s.settle(c.n, c.res)
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
