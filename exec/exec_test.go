package exec_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pex-build/pex/exec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder logs events from tasks in the order they happen.
type recorder struct {
	mu  sync.Mutex
	log []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.log = append(r.log, s)
	r.mu.Unlock()
}

func (r *recorder) events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

// logTask returns a task that logs its name when it runs.
func logTask(rec *recorder, name string) *exec.Task {
	return &exec.Task{Name: name, Func: func(context.Context, map[string]any, map[string]any) (any, error) {
		rec.add(name)
		return nil, nil
	}}
}

// spanTask logs "+name" when it starts and "-name" when it ends.
func spanTask(rec *recorder, name string, d time.Duration) *exec.Task {
	return &exec.Task{Name: name, Func: func(context.Context, map[string]any, map[string]any) (any, error) {
		rec.add("+" + name)
		time.Sleep(d)
		rec.add("-" + name)
		return nil, nil
	}}
}

func run(t *testing.T, tasks []*exec.Task, opts exec.Options) map[string]*exec.Result {
	t.Helper()
	results, err := exec.RunAll(context.Background(), tasks, opts)
	require.NoError(t, err)
	require.Len(t, results, len(tasks), "one result per task")
	byName := make(map[string]*exec.Result)
	for _, r := range results {
		require.NotContains(t, byName, r.Task.Name, "two results for one task")
		byName[r.Task.Name] = r
	}
	return byName
}

func TestReturnValuesAndErrors(t *testing.T) {
	boom := errors.New("boom")
	res := run(t, []*exec.Task{
		{Name: "value", Func: func(context.Context, map[string]any, map[string]any) (any, error) { return 42, nil }},
		{Name: "error", Func: func(context.Context, map[string]any, map[string]any) (any, error) { return nil, boom }},
		{Name: "panic", Func: func(context.Context, map[string]any, map[string]any) (any, error) { panic("oops") }},
		{Name: "nil func"},
	}, exec.Options{Workers: 2, KeepGoing: true})
	assert.Equal(t, 42, res["value"].Value)
	assert.Equal(t, exec.StatusOK, res["value"].Status)
	assert.ErrorIs(t, res["error"].Err, boom)
	assert.Equal(t, exec.StatusFailed, res["error"].Status)
	assert.Equal(t, exec.StatusFailed, res["panic"].Status)
	assert.ErrorContains(t, res["panic"].Err, "panic: oops")
	assert.Equal(t, exec.StatusOK, res["nil func"].Status)
	assert.False(t, res["value"].Start.IsZero())
	assert.False(t, res["value"].End.Before(res["value"].Start))
}

func TestPriorityOrder(t *testing.T) {
	for _, tc := range []struct {
		p3, p4 int
		want   []string
	}{
		{3, 4, []string{"a", "b"}},
		{4, 3, []string{"b", "a"}},
	} {
		rec := &recorder{}
		a, b := logTask(rec, "a"), logTask(rec, "b")
		a.Priority, b.Priority = tc.p3, tc.p4
		run(t, []*exec.Task{a, b}, exec.Options{Workers: 1})
		assert.Equal(t, tc.want, rec.events())
	}
}

func TestEqualPriorityKeepsRegistrationOrder(t *testing.T) {
	rec := &recorder{}
	var tasks []*exec.Task
	var want []string
	for i := range 20 {
		name := fmt.Sprint("t", i)
		tasks = append(tasks, logTask(rec, name))
		want = append(want, name)
	}
	run(t, tasks, exec.Options{Workers: 1})
	assert.Equal(t, want, rec.events())
}

func TestProviderRunsBeforeRequirerDespitePriority(t *testing.T) {
	rec := &recorder{}
	child := logTask(rec, "child")
	child.Requires, child.Priority = []any{"parent"}, 1
	parent := logTask(rec, "parent")
	parent.Provides, parent.Priority = []any{"parent"}, 100
	run(t, []*exec.Task{child, parent}, exec.Options{Workers: 1})
	assert.Equal(t, []string{"parent", "child"}, rec.events())
}

func TestChainOfThreeStaysInOrderWithFourWorkers(t *testing.T) {
	rec := &recorder{}
	c := logTask(rec, "c")
	c.Requires = []any{"b"}
	b := logTask(rec, "b")
	b.Requires, b.Provides = []any{"a"}, []any{"b"}
	a := logTask(rec, "a")
	a.Provides = []any{"a"}
	run(t, []*exec.Task{c, b, a}, exec.Options{Workers: 4})
	assert.Equal(t, []string{"a", "b", "c"}, rec.events())
}

func TestValidationErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tasks []*exec.Task
		opts  exec.Options
		want  string
	}{
		{"required but not provided", []*exec.Task{{Name: "x", Requires: []any{"db"}}}, exec.Options{},
			`task "x" requires db, which no task provides`},
		{"claims and uses overlap", []*exec.Task{{Name: "x", Claims: []string{"port"}, Uses: []string{"port"}}}, exec.Options{},
			`task "x": "port" is both claimed and used`},
		{"unknown group", []*exec.Task{{Name: "x", Group: "nope"}}, exec.Options{},
			`task "x": unknown group "nope"`},
		{"cycle", []*exec.Task{
			{Name: "a", Requires: []any{"c"}, Provides: []any{"a"}},
			{Name: "b", Requires: []any{"a"}, Provides: []any{"b"}},
			{Name: "c", Requires: []any{"b"}, Provides: []any{"c"}},
		}, exec.Options{}, "dependency cycle: a -> b -> c -> a"},
		{"self cycle", []*exec.Task{{Name: "a", Requires: []any{"a"}, Provides: []any{"a"}}}, exec.Options{},
			"dependency cycle: a -> a"},
		{"group cycle", []*exec.Task{
			{Name: "a1", Group: "A", Provides: []any{"a1"}},
			{Name: "b1", Group: "B", Requires: []any{"a1"}, Provides: []any{"b1"}},
			{Name: "a2", Group: "A", Requires: []any{"b1"}},
		}, exec.Options{Groups: []exec.Group{{Name: "A"}, {Name: "B"}}},
			"dependency cycle between groups: A -> B -> A"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ran := false
			for _, task := range tc.tasks {
				task.Func = func(context.Context, map[string]any, map[string]any) (any, error) { ran = true; return nil, nil }
			}
			_, err := exec.Start(context.Background(), tc.tasks, tc.opts)
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
			assert.False(t, ran, "nothing runs before a validation error")
		})
	}
	var cyc *exec.CycleError
	_, err := exec.Start(context.Background(), []*exec.Task{{Name: "a", Requires: []any{1}, Provides: []any{1}}}, exec.Options{})
	require.ErrorAs(t, err, &cyc)
	assert.Equal(t, []string{"a", "a"}, cyc.Chain)
}

func TestUsesInterleaveClaimsDoNot(t *testing.T) {
	rec := &recorder{}
	a, b := spanTask(rec, "a", 30*time.Millisecond), spanTask(rec, "b", 30*time.Millisecond)
	a.Uses, b.Uses = []string{"db"}, []string{"db"}
	run(t, []*exec.Task{a, b}, exec.Options{Workers: 2})
	ev := rec.events()
	sort.Strings(ev[:2])
	assert.Equal(t, []string{"+a", "+b"}, ev[:2], "readers share the lock")

	rec = &recorder{}
	a, b = spanTask(rec, "a", 20*time.Millisecond), spanTask(rec, "b", 20*time.Millisecond)
	a.Claims, b.Claims = []string{"db"}, []string{"db"}
	a.Priority, b.Priority = 2, 1
	run(t, []*exec.Task{a, b}, exec.Options{Workers: 2})
	assert.Equal(t, []string{"+b", "-b", "+a", "-a"}, rec.events(), "writers exclude each other, in priority order")
}

func TestSharedFlowsParentToChild(t *testing.T) {
	parent := &exec.Task{Name: "parent", Provides: []any{"parent"},
		Func: func(_ context.Context, shared map[string]any, _ map[string]any) (any, error) {
			shared["dummy2"] = 2345
			return nil, nil
		}}
	child := &exec.Task{Name: "child", Requires: []any{"parent"},
		Func: func(_ context.Context, shared map[string]any, _ map[string]any) (any, error) {
			shared["dummy1"] = 1234
			return nil, nil
		}}
	res := run(t, []*exec.Task{child, parent}, exec.Options{Workers: 2})
	assert.Equal(t, map[string]any{"dummy2": 2345}, res["parent"].Shared)
	assert.Equal(t, map[string]any{"dummy2": 2345, "dummy1": 1234}, res["child"].Shared)
}

func TestSharedMergeOrderAndTransitivity(t *testing.T) {
	set := func(name string, kv map[string]any) *exec.Task {
		return &exec.Task{Name: name, Provides: []any{name},
			Func: func(_ context.Context, shared map[string]any, _ map[string]any) (any, error) {
				for k, v := range kv {
					shared[k] = v
				}
				return nil, nil
			}}
	}
	first := set("first", map[string]any{"k": "first", "only1": 1})
	second := set("second", map[string]any{"k": "second"})
	mid := set("mid", map[string]any{"own": "mid"})
	mid.Requires = []any{"second", "first"}
	leaf := set("leaf", map[string]any{"k": "leaf"})
	leaf.Requires = []any{"mid"}
	res := run(t, []*exec.Task{first, second, mid, leaf}, exec.Options{Workers: 2, Shared: map[string]any{"default": true, "k": "default"}})
	assert.Equal(t, map[string]any{"default": true, "k": "second", "only1": 1, "own": "mid"}, res["mid"].Shared,
		"providers merged in registration order, later wins")
	assert.Equal(t, map[string]any{"default": true, "k": "leaf", "only1": 1, "own": "mid"}, res["leaf"].Shared,
		"own writes win; values flow transitively")
}

func TestPresetSharedAndKwargs(t *testing.T) {
	var gotShared, gotKwargs map[string]any
	task := &exec.Task{Name: "t", Kwargs: map[string]any{"user": "ann"},
		Func: func(_ context.Context, shared, kwargs map[string]any) (any, error) {
			gotShared, gotKwargs = shared, kwargs
			return nil, nil
		}}
	run(t, []*exec.Task{task}, exec.Options{Shared: map[string]any{"preset": 1}})
	assert.Equal(t, map[string]any{"preset": 1}, gotShared)
	assert.Equal(t, map[string]any{"user": "ann"}, gotKwargs)
}

func TestFailingProviderSkipsRequirersTransitively(t *testing.T) {
	rec := &recorder{}
	bad := &exec.Task{Name: "bad", Provides: []any{"bad"},
		Func: func(context.Context, map[string]any, map[string]any) (any, error) { return nil, errors.New("no") }}
	mid := logTask(rec, "mid")
	mid.Requires, mid.Provides = []any{"bad"}, []any{"mid"}
	leaf := logTask(rec, "leaf")
	leaf.Requires = []any{"mid"}
	other := logTask(rec, "other")
	res := run(t, []*exec.Task{bad, mid, leaf, other}, exec.Options{Workers: 1, KeepGoing: true})
	assert.Equal(t, exec.StatusFailed, res["bad"].Status)
	assert.Equal(t, exec.StatusSkipped, res["mid"].Status)
	assert.Equal(t, "dependency bad failed", res["mid"].Reason)
	assert.Equal(t, exec.StatusSkipped, res["leaf"].Status)
	assert.Equal(t, "dependency bad failed", res["leaf"].Reason, "the reason names the root cause")
	assert.Equal(t, []string{"other"}, rec.events(), "keep-going runs what does not depend on the failure")
}

func TestSoftFailureLetsDependentsRun(t *testing.T) {
	parent := &exec.Task{Name: "parent", Provides: []any{"p"},
		Func: func(_ context.Context, shared map[string]any, _ map[string]any) (any, error) {
			shared["from"] = "parent"
			return nil, exec.SoftFail(errors.New("flaky"))
		}}
	child := &exec.Task{Name: "child", Requires: []any{"p"}}
	res := run(t, []*exec.Task{parent, child}, exec.Options{})
	assert.Equal(t, exec.StatusFailed, res["parent"].Status)
	assert.True(t, res["parent"].Soft)
	assert.Equal(t, exec.StatusOK, res["child"].Status)
	assert.Equal(t, "parent", res["child"].Shared["from"])
}

func TestStopAtFirstFailure(t *testing.T) {
	rec := &recorder{}
	bad := &exec.Task{Name: "bad",
		Func: func(context.Context, map[string]any, map[string]any) (any, error) { return nil, errors.New("no") }}
	later := logTask(rec, "later")
	res := run(t, []*exec.Task{bad, later}, exec.Options{Workers: 1})
	assert.Empty(t, rec.events(), "nothing new starts after a failure")
	assert.Equal(t, exec.StatusSkipped, res["later"].Status)
	assert.Contains(t, res["later"].Reason, "stopped after bad failed")
}

func TestStopLetsRunningTasksFinish(t *testing.T) {
	rec := &recorder{}
	slow := spanTask(rec, "slow", 50*time.Millisecond)
	bad := &exec.Task{Name: "bad", Priority: 1,
		Func: func(context.Context, map[string]any, map[string]any) (any, error) { return nil, errors.New("no") }}
	never := logTask(rec, "never")
	never.Priority = 2
	res := run(t, []*exec.Task{slow, bad, never}, exec.Options{Workers: 2})
	assert.Equal(t, exec.StatusOK, res["slow"].Status)
	assert.Equal(t, []string{"+slow", "-slow"}, rec.events())
	assert.Equal(t, exec.StatusSkipped, res["never"].Status)
}

func TestFindingsMakeWarn(t *testing.T) {
	task := &exec.Task{Name: "lint", Func: func(ctx context.Context, _ map[string]any, _ map[string]any) (any, error) {
		exec.Report(ctx, "unused variable x")
		exec.Report(ctx, "line too long")
		return nil, nil
	}}
	res := run(t, []*exec.Task{task}, exec.Options{})
	assert.Equal(t, exec.StatusWarn, res["lint"].Status)
	assert.Equal(t, []string{"unused variable x", "line too long"}, res["lint"].Findings)
	exec.Report(context.Background(), "outside a task: ignored")
}
