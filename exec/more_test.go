package exec_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pex-build/pex/exec"
)

func failing(name string) *exec.Task {
	return &exec.Task{Name: name, Func: func(context.Context, map[string]any, map[string]any) (any, error) {
		time.Sleep(10 * time.Millisecond)
		return nil, errors.New("fail")
	}}
}

func TestFailingLockHolderReleasesTheLock(t *testing.T) {
	for _, keepGoing := range []bool{true} {
		rec := &recorder{}
		bad := failing("bad")
		bad.Claims = []string{"port"}
		next := logTask(rec, "next")
		next.Claims = []string{"port"}
		reader := logTask(rec, "reader")
		reader.Uses = []string{"port"}
		res := run(t, []*exec.Task{bad, next, reader}, exec.Options{Workers: 3, KeepGoing: keepGoing})
		assert.Equal(t, exec.StatusFailed, res["bad"].Status)
		assert.Equal(t, exec.StatusOK, res["next"].Status, "waiter woken after the holder failed")
		assert.Equal(t, exec.StatusOK, res["reader"].Status)
		assert.Equal(t, []string{"next", "reader"}, rec.events())
	}
}

func TestLockReleasedAfterPanicAndTimeout(t *testing.T) {
	rec := &recorder{}
	p := &exec.Task{Name: "panics", Claims: []string{"l"},
		Func: func(context.Context, map[string]any, map[string]any) (any, error) { panic("x") }}
	to := &exec.Task{Name: "slow", Claims: []string{"l"}, Timeout: 10 * time.Millisecond,
		Func: func(ctx context.Context, _, _ map[string]any) (any, error) { <-ctx.Done(); return nil, ctx.Err() }}
	after := logTask(rec, "after")
	after.Claims = []string{"l"}
	res := run(t, []*exec.Task{p, to, after}, exec.Options{Workers: 3, KeepGoing: true})
	assert.Equal(t, exec.StatusFailed, res["panics"].Status)
	assert.Equal(t, exec.StatusTimeout, res["slow"].Status)
	assert.Equal(t, exec.StatusOK, res["after"].Status)
}

// A stream of overlapping readers, each adding the next while it holds
// the lock, must not keep a waiting writer out until the stream ends.
func TestWriterDoesNotStarveBehindReaders(t *testing.T) {
	const stream = 20
	var writerStart, lastReaderStart atomic.Int64
	var reader func(i int) *exec.Task
	reader = func(i int) *exec.Task {
		return &exec.Task{Name: fmt.Sprint("reader", i), Uses: []string{"db"},
			Func: func(ctx context.Context, _, _ map[string]any) (any, error) {
				lastReaderStart.Store(time.Now().UnixNano())
				if i < stream {
					if err := exec.FromContext(ctx).Add(reader(i + 1)); err != nil {
						return nil, err
					}
				}
				time.Sleep(5 * time.Millisecond)
				return nil, nil
			}}
	}
	writer := &exec.Task{Name: "writer", Claims: []string{"db"}, Priority: 1,
		Func: func(context.Context, map[string]any, map[string]any) (any, error) {
			writerStart.Store(time.Now().UnixNano())
			return nil, nil
		}}
	r, err := exec.Start(context.Background(), []*exec.Task{reader(0), writer}, exec.Options{Workers: 4})
	require.NoError(t, err)
	sum := r.Wait()
	assert.Equal(t, stream+2, sum.Count(exec.StatusOK))
	assert.Less(t, writerStart.Load(), lastReaderStart.Load(), "the writer ran before the stream of readers ended")
}

func TestAddTasksMidRun(t *testing.T) {
	rec := &recorder{}
	parent := &exec.Task{Name: "parent", Provides: []any{"base"},
		Func: func(ctx context.Context, _, _ map[string]any) (any, error) {
			child := logTask(rec, "child")
			child.Requires = []any{"base", "late"}
			late := logTask(rec, "late")
			late.Provides = []any{"late"}
			return nil, exec.FromContext(ctx).Add(child, late)
		}}
	r, err := exec.Start(context.Background(), []*exec.Task{parent}, exec.Options{Workers: 2})
	require.NoError(t, err)
	var names []string
	for res := range r.Results() {
		names = append(names, res.Task.Name)
		assert.Equal(t, exec.StatusOK, res.Status, res.Task.Name)
	}
	require.Len(t, names, 3, "added tasks are scheduled, the run waits for them")
	assert.ElementsMatch(t, []string{"parent", "late"}, names[:2])
	assert.Equal(t, "child", names[2], "child waits for both providers")
	assert.Equal(t, []string{"late", "child"}, rec.events())
	assert.ErrorIs(t, r.Add(logTask(rec, "too late")), exec.ErrRunFinished)
}

func TestAddRequiringAlreadyProvidedToken(t *testing.T) {
	done := make(chan struct{})
	base := &exec.Task{Name: "base", Provides: []any{"b"},
		Func: func(_ context.Context, shared map[string]any, _ map[string]any) (any, error) {
			shared["v"] = 1
			return nil, nil
		}}
	holder := &exec.Task{Name: "holder", Requires: []any{"b"},
		Func: func(context.Context, map[string]any, map[string]any) (any, error) {
			<-done
			return nil, nil
		}}
	r, err := exec.Start(context.Background(), []*exec.Task{base, holder}, exec.Options{Workers: 2})
	require.NoError(t, err)
	var seen map[string]any
	late := &exec.Task{Name: "late", Requires: []any{"b"}, Func: func(_ context.Context, shared map[string]any, _ map[string]any) (any, error) {
		seen = shared
		close(done)
		return nil, nil
	}}
	time.Sleep(20 * time.Millisecond) // base has finished; holder is waiting
	require.NoError(t, r.Add(late))
	r.Wait()
	assert.Equal(t, map[string]any{"v": 1}, seen)
}

func TestAddRejectsCycleAndKeepsRunning(t *testing.T) {
	release := make(chan struct{})
	gate := &exec.Task{Name: "gate", Provides: []any{"g"},
		Func: func(context.Context, map[string]any, map[string]any) (any, error) { <-release; return nil, nil }}
	waiting := &exec.Task{Name: "waiting", Requires: []any{"g", "x"}, Provides: []any{"w"}}
	r, err := exec.Start(context.Background(), []*exec.Task{gate, waiting}, exec.Options{Workers: 2, Open: true})
	require.NoError(t, err)
	err = r.Add(&exec.Task{Name: "x", Requires: []any{"w"}, Provides: []any{"x"}})
	assert.EqualError(t, err, "dependency cycle: x -> waiting -> x")
	close(release)
	r.Wait()
	var statuses []string
	for res := range r.Results() {
		statuses = append(statuses, res.Task.Name+"="+res.Status.String()+" "+res.Reason)
	}
	assert.Equal(t, []string{"gate=ok ", "waiting=skipped requires token x, which no task provides"}, statuses)
}

func TestOpenRunSkipsUnprovidedAtTheEnd(t *testing.T) {
	needs := &exec.Task{Name: "needs", Requires: []any{"ghost"}, Provides: []any{"n"}}
	after := &exec.Task{Name: "after", Requires: []any{"n"}}
	res := run(t, []*exec.Task{needs, after, {Name: "free"}}, exec.Options{Open: true})
	assert.Equal(t, exec.StatusOK, res["free"].Status)
	assert.Equal(t, exec.StatusSkipped, res["needs"].Status)
	assert.Equal(t, "requires token ghost, which no task provides", res["needs"].Reason)
	assert.Equal(t, exec.StatusSkipped, res["after"].Status)
}

func TestSlowConsumerDoesNotStallDispatch(t *testing.T) {
	var tasks []*exec.Task
	for i := range 10 {
		tasks = append(tasks, &exec.Task{Name: fmt.Sprint(i)})
	}
	r, err := exec.Start(context.Background(), tasks, exec.Options{Workers: 1})
	require.NoError(t, err)
	n := 0
	var resumed time.Time
	var lastEnd time.Time
	for res := range r.Results() {
		if n == 0 {
			time.Sleep(100 * time.Millisecond)
			resumed = time.Now()
		}
		if res.End.After(lastEnd) {
			lastEnd = res.End
		}
		n++
	}
	assert.Equal(t, 10, n)
	assert.True(t, lastEnd.Before(resumed), "every task finished while the consumer slept")
}

func TestConsumerStoppingEarly(t *testing.T) {
	var tasks []*exec.Task
	for i := range 50 {
		tasks = append(tasks, &exec.Task{Name: fmt.Sprint(i), Func: func(context.Context, map[string]any, map[string]any) (any, error) {
			time.Sleep(time.Millisecond)
			return nil, nil
		}})
	}
	r, err := exec.Start(context.Background(), tasks, exec.Options{Workers: 2})
	require.NoError(t, err)
	for range r.Results() {
		break
	}
	sum := r.Wait() // goleak in TestMain checks nothing is left behind
	assert.Equal(t, 50, sum.Count(exec.StatusOK))
}

func TestCancelYieldsAResultForEveryTask(t *testing.T) {
	started := make(chan struct{})
	blocker := &exec.Task{Name: "blocker", Func: func(ctx context.Context, _, _ map[string]any) (any, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	tasks := []*exec.Task{blocker}
	for i := range 5 {
		tasks = append(tasks, &exec.Task{Name: fmt.Sprint("queued", i)})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := exec.Start(ctx, tasks, exec.Options{Workers: 1})
	require.NoError(t, err)
	<-started
	cancel()
	sum := r.Wait()
	assert.Equal(t, 6, sum.Count(exec.StatusCanceled))
	for res := range r.Results() {
		assert.Equal(t, "run canceled", res.Reason)
	}
}

func TestTimeout(t *testing.T) {
	honours := &exec.Task{Name: "honours", Timeout: 20 * time.Millisecond,
		Func: func(ctx context.Context, _, _ map[string]any) (any, error) {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(10 * time.Second):
				return nil, nil
			}
		}}
	ignores := &exec.Task{Name: "ignores", Timeout: 10 * time.Millisecond,
		Func: func(context.Context, map[string]any, map[string]any) (any, error) {
			time.Sleep(60 * time.Millisecond)
			return "done anyway", nil
		}}
	fast := &exec.Task{Name: "fast", Timeout: time.Second}
	res := run(t, []*exec.Task{honours, ignores, fast}, exec.Options{Workers: 3, KeepGoing: true})
	assert.Equal(t, exec.StatusTimeout, res["honours"].Status)
	assert.Less(t, res["honours"].Duration(), 5*time.Second)
	assert.EqualError(t, res["honours"].Err, "timed out after 20ms")
	assert.Equal(t, exec.StatusTimeout, res["ignores"].Status, "a task that ignores its context still times out")
	assert.GreaterOrEqual(t, res["ignores"].Duration(), 60*time.Millisecond, "its result waits for it to return")
	assert.Equal(t, exec.StatusOK, res["fast"].Status)
}

func TestGroupsRunOneAtATime(t *testing.T) {
	var active, maxA, maxB atomic.Int32
	var current atomic.Value
	var overlap atomic.Bool
	mk := func(name, group string, max *atomic.Int32) *exec.Task {
		return &exec.Task{Name: name, Group: group, Func: func(context.Context, map[string]any, map[string]any) (any, error) {
			if g, _ := current.Load().(string); g != "" && g != group && active.Load() > 0 {
				overlap.Store(true)
			}
			current.Store(group)
			n := active.Add(1)
			for {
				m := max.Load()
				if n <= m || max.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(10 * time.Millisecond)
			active.Add(-1)
			return nil, nil
		}}
	}
	var tasks []*exec.Task
	for i := range 4 {
		tasks = append(tasks, mk(fmt.Sprint("a", i), "A", &maxA), mk(fmt.Sprint("b", i), "B", &maxB))
	}
	rec := &recorder{}
	first := logTask(rec, "b-order")
	first.Group = "B"
	res := run(t, tasks, exec.Options{Workers: 8, Groups: []exec.Group{{Name: "A", Jobs: 1, Priority: 2}, {Name: "B", Jobs: 3, Priority: 1}}})
	assert.Len(t, res, 8)
	assert.False(t, overlap.Load(), "two groups ran at once")
	assert.Equal(t, int32(1), maxA.Load())
	assert.Equal(t, int32(3), maxB.Load())
	var bEnd, aStart time.Time
	for _, r := range res {
		if r.Task.Group == "B" && r.End.After(bEnd) {
			bEnd = r.End
		}
		if r.Task.Group == "A" && (aStart.IsZero() || r.Start.Before(aStart)) {
			aStart = r.Start
		}
	}
	assert.False(t, aStart.Before(bEnd), "group B (priority 1) finished before A started")
}

func TestGroupOrderFollowsDependenciesOverPriority(t *testing.T) {
	rec := &recorder{}
	a := logTask(rec, "a")
	a.Group, a.Requires = "A", []any{"b"}
	b := logTask(rec, "b")
	b.Group, b.Provides = "B", []any{"b"}
	d := logTask(rec, "default")
	run(t, []*exec.Task{a, b, d}, exec.Options{Workers: 1,
		Groups: []exec.Group{{Name: "A", Priority: -5}, {Name: "B", Priority: 10}}})
	// A must wait for B; the default group (priority 0) outranks B (10).
	assert.Equal(t, []string{"default", "b", "a"}, rec.events())
}

func TestDeterministicWithOneWorker(t *testing.T) {
	build := func(rec *recorder) []*exec.Task {
		var tasks []*exec.Task
		for i := range 30 {
			tk := logTask(rec, fmt.Sprint(i))
			tk.Priority = i % 3
			tk.Provides = []any{i}
			if i > 2 {
				tk.Requires = []any{i / 3}
			}
			tasks = append(tasks, tk)
		}
		return tasks
	}
	var first []string
	for range 5 {
		rec := &recorder{}
		run(t, build(rec), exec.Options{Workers: 1})
		if first == nil {
			first = rec.events()
		}
		assert.Equal(t, first, rec.events())
	}
}
