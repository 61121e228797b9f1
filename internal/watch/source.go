// The Source interface and its event type: what the Watcher consumes.
// Sources report raw activity; the Watcher filters, debounces and batches.

package watch

import (
	"errors"
	"strings"
)

// Source yields raw change events for the directories added to it.
// NewFS returns the file-system implementation and NewPoller a polling
// one; tests inject their own.
//
// Events are reported for the entries of each added directory, not
// recursively; their paths are the added directory joined with the
// entry's name. A Source must keep delivering events while Add or Remove
// is being called from another goroutine. After Close returns, no more
// events are sent; the Sources of this package also close Events and
// Errors then.
type Source interface {
	// Events returns the channel on which changes are reported.
	Events() <-chan Event
	// Errors returns the channel on which failures are reported;
	// ErrOverflow means that events were lost.
	Errors() <-chan error
	// Add starts watching dir, an absolute directory path. Adding a
	// directory again is cheap and not an error.
	Add(dir string) error
	// Remove stops watching dir. Removing a directory that is not
	// watched is not an error.
	Remove(dir string) error
	// Close stops the source and releases what it holds.
	Close() error
}

// Event is one change reported by a Source.
type Event struct {
	// Path is the absolute path of the file or directory that changed.
	Path string
	// Op says what happened to it; it may hold several operations.
	Op Op
}

// Op is a set of file operations, as reported by a Source.
type Op uint32

// The operations a Source reports. They mirror fsnotify's: a rename
// reports Rename on the old name and Create on the new one, so an atomic
// save (write a temporary file, rename it over the target) shows up as
// Create on the target.
const (
	// Create means that a path appeared: created, or renamed to.
	Create Op = 1 << iota
	// Write means that a file's contents were written or truncated.
	Write
	// Remove means that a path was deleted.
	Remove
	// Rename means that a path was renamed to something else.
	Rename
	// Chmod means that only attributes changed; the Watcher drops events
	// that carry nothing else.
	Chmod
)

var opNames = []struct {
	op   Op
	name string
}{{Create, "create"}, {Write, "write"}, {Remove, "remove"}, {Rename, "rename"}, {Chmod, "chmod"}}

// Has reports whether o includes every operation in op.
func (o Op) Has(op Op) bool { return o&op == op }

// String returns the operations in o joined by "|", such as "create|write".
func (o Op) String() string {
	var names []string
	for _, n := range opNames {
		if o.Has(n.op) {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, "|")
}

// ErrOverflow is reported by a Source when it dropped events, for
// instance when the kernel's inotify queue overflowed
// (fs.inotify.max_queued_events). The Watcher turns it into a Batch with
// Overflow set.
var ErrOverflow = errors.New("watch: event queue overflowed; some changes were not seen")

// ErrClosed is returned by Add on a Source that has been closed.
var ErrClosed = errors.New("watch: source is closed")
