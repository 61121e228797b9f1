package exec

import (
	"context"
	"errors"
	"time"
)

// Func is the work of a task. It receives the task's context (cancelled at
// its timeout or when the run is cancelled), its shared map (the run's
// defaults merged with what the tasks it requires left in theirs; it may
// write to it, and dependents inherit the result) and its kwargs. It returns
// a value for the result, or an error.
type Func func(ctx context.Context, shared map[string]any, kwargs map[string]any) (any, error)

// Task is a unit of work plus the metadata that schedules it.
type Task struct {
	// Name identifies the task in errors, reasons and results.
	Name string
	// Func is the work; a nil Func succeeds at once.
	Func Func
	// Requires are tokens that every task providing them must have
	// finished successfully before this task runs.
	Requires []any
	// Provides are tokens this task satisfies when it succeeds.
	Provides []any
	// Claims are exclusive locks, Uses shared locks, on named resources.
	// They are taken all at once when the task is dispatched and released
	// when it ends, whatever the outcome.
	Claims []string
	Uses   []string
	// Priority orders ready tasks: lower first, then registration order.
	Priority int
	// Group names the exclusive scheduling group ("" is the default one).
	Group string
	// Timeout, when positive, cancels the task's context at the deadline
	// and ends it as StatusTimeout.
	Timeout time.Duration
	// Kwargs are passed to Func as they are.
	Kwargs map[string]any
}

// Status is how a task ended.
type Status uint8

// The statuses a result can have.
const (
	StatusOK       Status = iota // succeeded
	StatusWarn                   // succeeded, with findings
	StatusFailed                 // returned an error or panicked
	StatusTimeout                // still running at its deadline
	StatusSkipped                // never ran: a dependency failed, a token was never provided, or the run stopped
	StatusCanceled               // the run's context was cancelled
)

var statusNames = [...]string{"ok", "warn", "failed", "timeout", "skipped", "canceled"}

// String returns the lower-case name of the status ("ok", "warn", ...).
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "unknown"
}

// Succeeded reports whether the status is ok or warn.
func (s Status) Succeeded() bool { return s == StatusOK || s == StatusWarn }

// Result is the one outcome of one task.
type Result struct {
	Task     *Task
	Status   Status
	Value    any            // what Func returned
	Err      error          // what Func returned, or why it failed
	Shared   map[string]any // the task's final shared map (nil if it never ran)
	Findings []string       // reported with Report; they make an ok task warn
	Reason   string         // for skipped and canceled tasks: why
	Soft     bool           // failed softly: dependents ran anyway
	Start    time.Time      // zero if it never ran
	End      time.Time
}

// Duration is how long the task ran (zero if it never ran).
func (r *Result) Duration() time.Duration {
	if r.Start.IsZero() {
		return 0
	}
	return r.End.Sub(r.Start)
}

// SoftError is a failure that does not stop dependents: the task is
// reported failed, but the tokens it provides count as satisfied and its
// dependents run with its shared values. Return it with SoftFail.
type SoftError struct{ Err error }

func (e *SoftError) Error() string { return e.Err.Error() }
func (e *SoftError) Unwrap() error { return e.Err }

// SoftFail wraps err so that the task fails softly (see SoftError).
func SoftFail(err error) error { return &SoftError{Err: err} }

func isSoft(err error) bool {
	var s *SoftError
	return errors.As(err, &s)
}

type findingsKey struct{}

// Report records a finding for the task running under ctx: a problem that
// does not fail it. A task that succeeds with findings ends as StatusWarn.
// Report is safe to call from several goroutines of one task; outside a
// task it does nothing.
func Report(ctx context.Context, finding string) {
	if n, ok := ctx.Value(findingsKey{}).(*node); ok {
		n.mu.Lock()
		n.findings = append(n.findings, finding)
		n.mu.Unlock()
	}
}

// Group is an exclusive scheduling group: only one group runs at a time,
// with its own number of workers.
type Group struct {
	Name     string
	Jobs     int // workers while this group runs; < 1 means 1
	Priority int // lower runs first among groups not ordered by dependencies
}

// TimeoutError is the error of a task still running at its deadline.
type TimeoutError struct {
	Task  string
	Limit time.Duration
}

func (e *TimeoutError) Error() string {
	return "timed out after " + e.Limit.String()
}
