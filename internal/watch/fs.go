// The file-system Source: fsnotify (inotify on Linux) for every directory
// it can watch, a Poller for the ones it cannot. This is the only file in
// pex that imports fsnotify.

package watch

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// FSOptions configures the Source that NewFS returns. The zero value is
// usable.
type FSOptions struct {
	// PollInterval is how often directories that cannot be watched are
	// listed. Default DefaultPollInterval.
	PollInterval time.Duration
	// PollOnly makes the Source poll every directory instead of using
	// fsnotify: for network file systems and bind mounts that deliver no
	// events.
	PollOnly bool
	// OnWarning, if set, is called with a message a user should read,
	// at most once per kind of problem: the inotify watch or instance
	// limit was reached and the Source falls back to polling. It is
	// called from NewFS or from Add, and must not call back into the
	// Source.
	OnWarning func(msg string)
}

// Warnings given through FSOptions.OnWarning. They name the sysctl to
// raise.
const (
	WatchLimitWarning = "watch: inotify watch limit reached (fs.inotify.max_user_watches); " +
		"polling the directories that could not be watched, which is slower. " +
		"To raise the limit: sudo sysctl fs.inotify.max_user_watches=524288 " +
		"(add fs.inotify.max_user_watches=524288 to /etc/sysctl.conf to keep it)"
	InstanceLimitWarning = "watch: cannot create an inotify instance: too many open files " +
		"(fs.inotify.max_user_instances, or the open-file limit, ulimit -n); " +
		"polling every directory, which is slower. " +
		"To raise the limit: sudo sysctl fs.inotify.max_user_instances=512 " +
		"(add fs.inotify.max_user_instances=512 to /etc/sysctl.conf to keep it)"
)

// NewFS returns a Source backed by fsnotify: inotify on Linux, kqueue on
// BSD and macOS, ReadDirectoryChangesW on Windows.
//
// Directories are watched individually, never recursively. A directory
// that cannot be watched is polled instead (see Poller): when the
// inotify watch limit is reached (with one WatchLimitWarning), when it
// does not exist yet, and when a watched directory is deleted or renamed
// away (until the next Add of it, which watches it again if it exists).
// If no inotify instance can be created at all, every directory is
// polled (with one InstanceLimitWarning). NewFS fails only when fsnotify
// fails for another reason.
func NewFS(opts FSOptions) (Source, error) {
	s := &fsSource{
		poll:   NewPoller(opts.PollInterval),
		events: make(chan Event),
		errors: make(chan error),
		done:   make(chan struct{}),
		warn:   opts.OnWarning,
		warned: make(map[string]bool),
		mode:   make(map[string]dirMode),
	}
	if !opts.PollOnly {
		fsw, err := newFsnotify()
		switch {
		case err == nil:
			s.fsw, s.addWatch = fsw, fsw.Add
		case errors.Is(err, syscall.EMFILE):
			s.warnOnce(InstanceLimitWarning)
		default:
			s.poll.Close()
			return nil, fmt.Errorf("watch: %w", err)
		}
	}
	s.wg.Add(1)
	go s.forward()
	return s, nil
}

// newFsnotify is fsnotify.NewWatcher; tests replace it to simulate the
// instance limit.
var newFsnotify = fsnotify.NewWatcher

// dirMode says how an fsSource watches one directory.
type dirMode int

const (
	unwatched dirMode = iota
	notified          // by fsnotify
	polled            // by the Poller
)

// fsSource merges the events of an fsnotify.Watcher and a Poller. Its
// mutex guards mode, which Add and Remove change on the caller's
// goroutine and forward changes when fsnotify drops a watch.
type fsSource struct {
	fsw      *fsnotify.Watcher // nil when polling only
	addWatch func(string) error
	poll     *Poller
	events   chan Event
	errors   chan error
	done     chan struct{}
	wg       sync.WaitGroup
	warn     func(string)

	mu     sync.Mutex
	mode   map[string]dirMode
	warned map[string]bool
	closed bool
}

func (s *fsSource) Events() <-chan Event { return s.events }
func (s *fsSource) Errors() <-chan error { return s.errors }

// Add watches dir with fsnotify if it can, else polls it.
func (s *fsSource) Add(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.mode[dir] == notified {
		return nil
	}
	if s.fsw != nil {
		err := s.addWatch(dir)
		switch {
		case err == nil:
			if s.mode[dir] == polled {
				s.poll.Remove(dir)
			}
			s.mode[dir] = notified
			return nil
		case errors.Is(err, syscall.ENOSPC):
			s.warnOnce(WatchLimitWarning)
		case errors.Is(err, fs.ErrNotExist):
			// Polled until it exists and is added again.
		default:
			return fmt.Errorf("watch: %s: %w", dir, err)
		}
	}
	return s.pollLocked(dir)
}

// pollLocked moves dir to the Poller; s.mu is held.
func (s *fsSource) pollLocked(dir string) error {
	if s.mode[dir] == polled {
		return nil
	}
	if err := s.poll.Add(dir); err != nil {
		return err
	}
	s.mode[dir] = polled
	return nil
}

// Remove stops watching dir, however it was watched.
func (s *fsSource) Remove(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mode := s.mode[dir]
	delete(s.mode, dir)
	switch mode {
	case notified:
		err := s.fsw.Remove(dir)
		// A watch the kernel already dropped (directory deleted) is gone
		// either way.
		if err != nil && !errors.Is(err, fsnotify.ErrNonExistentWatch) && !errors.Is(err, syscall.EINVAL) {
			return fmt.Errorf("watch: %s: %w", dir, err)
		}
	case polled:
		return s.poll.Remove(dir)
	}
	return nil
}

// Close stops fsnotify, the Poller and the forwarding goroutine, then
// closes Events and Errors. Calling it again does nothing.
func (s *fsSource) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.done)
	var err error
	if s.fsw != nil {
		err = s.fsw.Close()
	}
	s.poll.Close()
	s.wg.Wait()
	close(s.events)
	close(s.errors)
	return err
}

func (s *fsSource) warnOnce(msg string) {
	if s.warn != nil && !s.warned[msg] {
		s.warned[msg] = true
		s.warn(msg)
	}
}

// forward copies fsnotify's and the Poller's events and errors to the
// Source's channels until Close.
func (s *fsSource) forward() {
	defer s.wg.Done()
	var fsEvents <-chan fsnotify.Event
	var fsErrors <-chan error
	if s.fsw != nil {
		fsEvents, fsErrors = s.fsw.Events, s.fsw.Errors
	}
	pollEvents, pollErrors := s.poll.Events(), s.poll.Errors()
	for {
		var ev Event
		var err error
		select {
		case <-s.done:
			return
		case fe, ok := <-fsEvents:
			if !ok {
				fsEvents = nil
				continue
			}
			ev = Event{Path: fe.Name, Op: fromFsnotify(fe.Op)}
			s.noteLost(ev)
		case e, ok := <-fsErrors:
			if !ok {
				fsErrors = nil
				continue
			}
			if errors.Is(e, fsnotify.ErrEventOverflow) {
				e = ErrOverflow
			}
			err = e
		case pe, ok := <-pollEvents:
			if !ok {
				pollEvents = nil
				continue
			}
			ev = pe
		case e, ok := <-pollErrors:
			if !ok {
				pollErrors = nil
				continue
			}
			err = e
		}
		if !s.send(ev, err) {
			return
		}
	}
}

// send delivers ev, or err if it is not nil; it reports false on Close.
func (s *fsSource) send(ev Event, err error) bool {
	if err != nil {
		select {
		case s.errors <- err:
			return true
		case <-s.done:
			return false
		}
	}
	select {
	case s.events <- ev:
		return true
	case <-s.done:
		return false
	}
}

// noteLost moves a watched directory that was removed or renamed to the
// Poller: fsnotify dropped its watch, and a directory recreated under the
// same name would otherwise go unwatched. The next Add of the directory
// watches it with fsnotify again. Waiting for that Add, rather than
// re-adding here, leaves fsnotify the time to process the old watch's
// last events, which name the same path.
func (s *fsSource) noteLost(ev Event) {
	if ev.Op&(Remove|Rename) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mode[ev.Path] == notified && !s.closed {
		s.mode[ev.Path] = unwatched
		if err := s.pollLocked(ev.Path); err != nil {
			delete(s.mode, ev.Path)
		}
	}
}

// fromFsnotify converts fsnotify's operations to ours, dropping those
// this package does not know.
func fromFsnotify(op fsnotify.Op) Op {
	var o Op
	for _, m := range []struct {
		from fsnotify.Op
		to   Op
	}{{fsnotify.Create, Create}, {fsnotify.Write, Write}, {fsnotify.Remove, Remove}, {fsnotify.Rename, Rename}, {fsnotify.Chmod, Chmod}} {
		if op.Has(m.from) {
			o |= m.to
		}
	}
	return o
}

// modeOf says how dir is watched; for tests.
func (s *fsSource) modeOf(dir string) dirMode {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mode[dir]
}
