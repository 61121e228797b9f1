package exec_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/pex-build/pex/exec"
)

func noop(context.Context, map[string]any, map[string]any) (any, error) { return nil, nil }

func benchRun(b *testing.B, mk func(n int) []*exec.Task, n int) {
	for _, workers := range []int{1, 8} {
		b.Run(fmt.Sprint("workers=", workers), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				tasks := mk(n)
				b.StartTimer()
				r, err := exec.Start(context.Background(), tasks, exec.Options{Workers: workers})
				if err != nil {
					b.Fatal(err)
				}
				if sum := r.Wait(); !sum.OK() {
					b.Fatal("run failed")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/task")
		})
	}
}

// BenchmarkIndependent dispatches 100k independent no-op tasks.
func BenchmarkIndependent(b *testing.B) {
	benchRun(b, func(n int) []*exec.Task {
		tasks := make([]*exec.Task, n)
		for i := range tasks {
			tasks[i] = &exec.Task{Name: "t", Func: noop}
		}
		return tasks
	}, 100_000)
}

// BenchmarkChain dispatches a chain of 100k tasks, each requiring the last.
func BenchmarkChain(b *testing.B) {
	benchRun(b, func(n int) []*exec.Task {
		tasks := make([]*exec.Task, n)
		for i := range tasks {
			tasks[i] = &exec.Task{Name: "t", Func: noop, Provides: []any{i}}
			if i > 0 {
				tasks[i].Requires = []any{i - 1}
			}
		}
		return tasks
	}, 100_000)
}

// BenchmarkLocks dispatches 10k tasks contending on 10 locks, a third of
// them as readers.
func BenchmarkLocks(b *testing.B) {
	locks := make([]string, 10)
	for i := range locks {
		locks[i] = fmt.Sprint("lock", i)
	}
	benchRun(b, func(n int) []*exec.Task {
		tasks := make([]*exec.Task, n)
		for i := range tasks {
			tasks[i] = &exec.Task{Name: "t", Func: noop}
			if i%3 == 0 {
				tasks[i].Uses = []string{locks[i%10]}
			} else {
				tasks[i].Claims = []string{locks[i%10]}
			}
		}
		return tasks
	}, 10_000)
}
