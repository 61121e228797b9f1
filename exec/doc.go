// Package exec runs units of work in the right order, in parallel.
//
// It is the engine pex grew out of, as a library: it knows nothing of
// files, Starlark or caches, and any Go program can use it to run a test
// suite or other ordered work.
//
// # Tasks
//
// A Task is a Go function plus metadata:
//
//   - Requires and Provides are tokens (any comparable values). A task is
//     ready when every task that provides a token it requires has finished
//     successfully. A token required but provided by no task is an error
//     before anything runs (unless Options.Open).
//   - Claims and Uses are exclusive and shared locks on named resources,
//     taken all or nothing when the task is dispatched and released however
//     it ends (success, error, panic, timeout, cancel). Writers are
//     preferred: once a claimer waits for a lock, new users queue behind it.
//   - Priority orders ready tasks, lower first, then registration order, so
//     a run with one worker is deterministic.
//   - Group names an exclusive scheduling group (Options.Groups): one group
//     runs at a time with its own number of workers; the next starts when
//     it has finished. Groups run in the order of the dependencies between
//     their tasks, then their priority, then definition order, the default
//     group ("") first among equals. A cycle between groups is an error.
//   - Timeout cancels the task's context at the deadline; the task ends as
//     StatusTimeout. Go cannot stop a goroutine: a task that ignores its
//     context keeps its worker and its locks until it returns, and is then
//     reported as timed out whatever it returned.
//   - Kwargs are passed to the function as they are.
//
// # Shared values
//
// Every task receives a shared map: a copy of Options.Shared, merged with
// the final shared maps of the tasks providing what it requires (in their
// registration order, later wins). What the task writes wins over what it
// inherited, and its dependents inherit the result, transitively. The
// Result carries the final map.
//
// # Results
//
// Each task ends with exactly one Result: ok, warn (succeeded but reported
// findings with Report), failed, timeout, skipped (with the reason) or
// canceled. A failed task's dependents are skipped, transitively; a task
// returning SoftFail(err) is reported failed but its dependents run and
// inherit its shared values. Without Options.KeepGoing the first failure
// stops dispatch: running tasks finish, the rest end skipped.
//
// Results stream through Run.Results as tasks finish, while the scheduler
// goes on: it never waits for the consumer, and a consumer may stop early.
// Run.Add adds tasks while the run goes on (a running task finds its run
// with FromContext); the run ends when every task has its result. Run.Cancel,
// or cancelling the context given to Start, stops dispatch and cancels the
// running tasks' contexts; every task still gets its result. When Wait
// returns, no goroutine of the run is left.
//
// # Design
//
// A fixed pool of workers, as many as the largest group's job count, runs
// the task functions. The scheduling state (ready queues, lock table, group
// order) is guarded by one mutex, and the workers schedule themselves: the
// worker that finishes a task settles it and dispatches what became ready,
// running the first itself, so a chain of tasks runs on one goroutine
// without a hand-off; idle workers are woken only for surplus work.
package exec
