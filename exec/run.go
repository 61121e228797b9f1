package exec

import (
	"context"
	"errors"
	"iter"
	"runtime"
	"sync"
)

// Options configure a run.
type Options struct {
	// Workers is the number of tasks of the default group that run at
	// once; < 1 means runtime.NumCPU().
	Workers int
	// KeepGoing keeps dispatching after a task fails or times out; tasks
	// that depend on it are still skipped. Without it, nothing new starts
	// after the first failure, running tasks finish, and the rest end
	// skipped.
	KeepGoing bool
	// Shared are the default shared values every task starts from.
	Shared map[string]any
	// Groups declares the exclusive scheduling groups tasks may name.
	Groups []Group
	// Open says tasks may still be added while the run goes on: a token
	// that no task provides is then not an error before the run; the tasks
	// requiring it end skipped if it is still unprovided once nothing else
	// can run.
	Open bool
}

// ErrRunFinished is returned by Add once the run has ended.
var ErrRunFinished = errors.New("exec: the run has finished")

// Run is a run in progress. Its results stream through Results while the
// scheduler goes on; Wait blocks until every task has its result and every
// goroutine of the run has ended.
type Run struct {
	mu      sync.Mutex
	cond    sync.Cond
	results []*Result
	done    bool
	counts  [len(statusNames)]int
	ended   chan struct{}
	cancel  context.CancelFunc
	s       *sched
}

// Start validates the tasks and starts running them. Validation errors —
// a lock both claimed and used by one task, an unknown group, a token no
// task provides (unless opts.Open), a dependency cycle between tasks or
// between groups — are returned before anything runs.
func Start(ctx context.Context, tasks []*Task, opts Options) (*Run, error) {
	if opts.Workers < 1 {
		opts.Workers = runtime.NumCPU()
	}
	s, err := newSched(opts, tasks)
	if err != nil {
		return nil, err
	}
	r := &Run{ended: make(chan struct{}), s: s}
	r.cond.L = &r.mu
	s.run = r
	s.idle.L = &s.mu
	s.ctx, r.cancel = context.WithCancel(context.WithValue(ctx, runKey{}, r))
	pool := opts.Workers
	for _, g := range s.groups {
		pool = max(pool, g.Jobs)
	}
	stop := make(chan struct{})
	s.workers.Add(pool + 1)
	go func() {
		defer s.workers.Done()
		s.watchCancel(stop)
	}()
	for range pool {
		go s.worker()
	}
	go func() {
		s.waitWorkers(stop)
		r.finish()
	}()
	return r, nil
}

type runKey struct{}

// FromContext returns the run that a task's context belongs to, so that a
// running task can Add tasks to it; nil outside a task.
func FromContext(ctx context.Context) *Run {
	r, _ := ctx.Value(runKey{}).(*Run)
	return r
}

// RunAll runs the tasks to the end and returns their results in the order
// they finished.
func RunAll(ctx context.Context, tasks []*Task, opts Options) ([]*Result, error) {
	r, err := Start(ctx, tasks, opts)
	if err != nil {
		return nil, err
	}
	r.Wait()
	return r.results, nil
}

// Results iterates over the results as tasks settle, in the order they
// settle, ending when every task has its result. Each call starts again
// from the first result. Stopping early is fine: the run goes on and its
// results stay available; the scheduler never waits for a consumer.
func (r *Run) Results() iter.Seq[*Result] {
	return func(yield func(*Result) bool) {
		for i := 0; ; i++ {
			r.mu.Lock()
			for i >= len(r.results) && !r.done {
				r.cond.Wait()
			}
			if i >= len(r.results) {
				r.mu.Unlock()
				return
			}
			res := r.results[i]
			r.mu.Unlock()
			if !yield(res) {
				return
			}
		}
	}
}

// Add adds tasks to the running run, from the caller or from a running
// task. They are scheduled like the others and may require tokens that
// were already provided. It returns an error for invalid tasks (then none
// is added) and ErrRunFinished once the run has ended.
func (r *Run) Add(tasks ...*Task) error {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished {
		return ErrRunFinished
	}
	err := s.add(tasks)
	s.idle.Broadcast()
	return err
}

// Cancel cancels the run: nothing new starts, running tasks see their
// context cancelled, and every task not finished ends as StatusCanceled.
func (r *Run) Cancel() { r.cancel() }

// Wait blocks until the run has ended and returns how many tasks ended in
// each status.
func (r *Run) Wait() Summary {
	<-r.ended
	r.mu.Lock()
	defer r.mu.Unlock()
	return Summary{counts: r.counts}
}

func (r *Run) emit(res *Result) {
	r.mu.Lock()
	r.results = append(r.results, res)
	r.counts[res.Status]++
	r.mu.Unlock()
	r.cond.Broadcast()
}

func (r *Run) finish() {
	r.mu.Lock()
	r.done = true
	r.mu.Unlock()
	r.cond.Broadcast()
	r.cancel()
	close(r.ended)
}

// Summary counts the results of a run by status.
type Summary struct{ counts [len(statusNames)]int }

// Count returns how many tasks ended with status st.
func (s Summary) Count(st Status) int { return s.counts[st] }

// OK reports whether no task failed, timed out, was skipped or cancelled.
func (s Summary) OK() bool {
	return s.counts[StatusFailed]+s.counts[StatusTimeout]+s.counts[StatusSkipped]+s.counts[StatusCanceled] == 0
}
