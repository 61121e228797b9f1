package exec_test

import (
	"context"
	"fmt"
	"time"

	"github.com/pex-build/pex/exec"
)

// The original engine's README example: greet, get_password and get_user
// each take a while; format_msg needs the user and the password. With one
// worker the run takes about the sum of the three, with ten about the
// longest.
func Example() {
	sleepy := func(d time.Duration, key, value string) exec.Func {
		return func(ctx context.Context, shared map[string]any, _ map[string]any) (any, error) {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if key != "" {
				shared[key] = value
			}
			return nil, nil
		}
	}
	tasks := func() []*exec.Task {
		return []*exec.Task{
			{Name: "greet", Func: sleepy(100*time.Millisecond, "", "")},
			{Name: "get_password", Provides: []any{"password"}, Func: sleepy(100*time.Millisecond, "password", "hunter2")},
			{Name: "get_user", Provides: []any{"user"}, Func: sleepy(100*time.Millisecond, "user", "ann")},
			{Name: "format_msg", Requires: []any{"user", "password"},
				Func: func(_ context.Context, shared map[string]any, _ map[string]any) (any, error) {
					return fmt.Sprintf("%s:%s", shared["user"], shared["password"]), nil
				}},
		}
	}
	for _, workers := range []int{1, 10} {
		start := time.Now()
		results, err := exec.RunAll(context.Background(), tasks(), exec.Options{Workers: workers})
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, r := range results {
			if r.Task.Name == "format_msg" {
				fmt.Println(r.Value)
			}
		}
		// Round to the nearest 100 ms: one worker takes the sum of the sleeps.
		fmt.Printf("%d worker(s): about %d00 ms\n", workers, (time.Since(start)+50*time.Millisecond)/(100*time.Millisecond))
	}
	// Output:
	// ann:hunter2
	// 1 worker(s): about 300 ms
	// ann:hunter2
	// 10 worker(s): about 100 ms
}
