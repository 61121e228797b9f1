// The Poller: a Source that lists directories on a timer and compares
// what it sees with the previous listing. NewFS uses it for directories
// that inotify cannot watch; it also stands on its own (network file
// systems, containers whose bind mounts deliver no events).

package watch

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultPollInterval is how often a Poller lists its directories unless
// told otherwise.
const DefaultPollInterval = 500 * time.Millisecond

// Poller is a Source that polls: every interval it lists each added
// directory and stats its entries, and reports entries that appeared
// (Create), disappeared (Remove), were replaced by another file (Create),
// changed size or modification time (Write) or only permissions (Chmod).
// A directory that does not exist is watched too: when it appears, it
// and its entries are reported as created; when it disappears, its
// entries and itself are reported as removed.
//
// A change that leaves size, modification time and inode alike is not
// seen; on file systems with coarse timestamps, two writes of the same
// size within one tick may look like one.
type Poller struct {
	interval time.Duration
	events   chan Event
	errors   chan error
	wake     chan struct{} // a directory was added
	done     chan struct{}
	exited   chan struct{}

	mu     sync.Mutex
	dirs   map[string]listing
	closed bool
}

// listing is what a Poller last saw of one directory.
type listing struct {
	exists  bool
	entries map[string]entryState
}

// entryState is what a Poller compares between two listings.
type entryState struct {
	mode  fs.FileMode
	size  int64
	mtime int64 // UnixNano
	ino   uint64
}

// NewPoller starts a Poller that lists its directories every interval
// (DefaultPollInterval if interval is not positive). Close stops it.
func NewPoller(interval time.Duration) *Poller {
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	p := &Poller{
		interval: interval,
		events:   make(chan Event),
		errors:   make(chan error),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		exited:   make(chan struct{}),
		dirs:     make(map[string]listing),
	}
	go p.loop()
	return p
}

// Events returns the channel on which changes are reported.
func (p *Poller) Events() <-chan Event { return p.events }

// Errors returns the channel on which failures are reported. A Poller
// reports none today; the channel is there to satisfy Source.
func (p *Poller) Errors() <-chan error { return p.errors }

// Add starts polling dir (made absolute). Its current listing is taken before Add
// returns, so any later change is reported. A missing dir is not an
// error; a dir that exists but cannot be listed is.
func (p *Poller) Add(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if _, ok := p.dirs[dir]; ok {
		return nil
	}
	l, err := list(dir)
	if err != nil {
		return fmt.Errorf("watch: poll %s: %w", dir, err)
	}
	p.dirs[dir] = l
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

// Remove stops polling dir.
func (p *Poller) Remove(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.dirs, dir)
	return nil
}

// Close stops polling, waits for the polling goroutine to end and closes
// Events and Errors. Calling it again does nothing.
func (p *Poller) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	close(p.done)
	<-p.exited
	close(p.events)
	close(p.errors)
	return nil
}

func (p *Poller) loop() {
	defer close(p.exited)
	timer := time.NewTimer(p.interval)
	defer timer.Stop()
	for {
		if p.idle() {
			select {
			case <-p.done:
				return
			case <-p.wake:
			}
			timer.Reset(p.interval)
		}
		select {
		case <-p.done:
			return
		case <-timer.C:
		}
		for _, ev := range p.scan() {
			select {
			case p.events <- ev:
			case <-p.done:
				return
			}
		}
		timer.Reset(p.interval)
	}
}

func (p *Poller) idle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.dirs) == 0
}

// scan lists every directory once and returns the changes, in the order
// of the directories' paths. The lock is held per directory, not for the whole scan, so that
// Add and Remove stay quick.
func (p *Poller) scan() []Event {
	p.mu.Lock()
	dirs := slices.Sorted(maps.Keys(p.dirs))
	p.mu.Unlock()

	var evs []Event
	for _, dir := range dirs {
		cur, err := list(dir)
		if err != nil {
			cur = listing{} // unreadable now: as good as gone
		}
		p.mu.Lock()
		prev, ok := p.dirs[dir]
		if ok {
			p.dirs[dir] = cur
		}
		p.mu.Unlock()
		if ok {
			evs = diff(evs, dir, prev, cur)
		}
	}
	return evs
}

// list reads dir and stats its entries. A missing directory (or a path
// that is not one) gives an empty listing and no error.
func list(dir string) (listing, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return listing{}, nil
		}
		return listing{}, err
	}
	l := listing{exists: true, entries: make(map[string]entryState, len(des))}
	for _, de := range des {
		info, err := de.Info()
		if err != nil {
			continue // removed since ReadDir; the next scan agrees
		}
		l.entries[de.Name()] = entryState{
			mode:  info.Mode(),
			size:  info.Size(),
			mtime: info.ModTime().UnixNano(),
			ino:   inode(info),
		}
	}
	return l, nil
}

// diff appends to evs the events that turn prev into cur: the directory
// itself if it appeared, its entries sorted by name, the directory itself
// if it disappeared.
func diff(evs []Event, dir string, prev, cur listing) []Event {
	if !prev.exists && cur.exists {
		evs = append(evs, Event{Path: dir, Op: Create})
	}
	var entries []Event
	for name, c := range cur.entries {
		p, ok := prev.entries[name]
		if op := change(p, c, ok); op != 0 {
			entries = append(entries, Event{Path: filepath.Join(dir, name), Op: op})
		}
	}
	for name := range prev.entries {
		if _, ok := cur.entries[name]; !ok {
			entries = append(entries, Event{Path: filepath.Join(dir, name), Op: Remove})
		}
	}
	slices.SortFunc(entries, func(a, b Event) int { return strings.Compare(a.Path, b.Path) })
	evs = append(evs, entries...)
	if prev.exists && !cur.exists {
		evs = append(evs, Event{Path: dir, Op: Remove})
	}
	return evs
}

// change says how an entry changed between two listings; existed tells
// whether it was in the first.
func change(prev, cur entryState, existed bool) Op {
	switch {
	case !existed, prev.ino != cur.ino, prev.mode.Type() != cur.mode.Type():
		return Create
	case prev.size != cur.size, prev.mtime != cur.mtime:
		return Write
	case prev.mode != cur.mode:
		return Chmod
	}
	return 0
}
