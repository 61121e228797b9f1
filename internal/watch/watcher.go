// The Watcher: one goroutine owns the pending set of changed paths and
// turns a Source's events into debounced, sorted batches.

package watch

import (
	"errors"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// Defaults for Options.
const (
	DefaultDebounce = 100 * time.Millisecond
	DefaultMaxWait  = time.Second
)

// Options configures a Watcher. The zero value is usable.
type Options struct {
	// Debounce is the quiet period after the last event before a batch
	// is sent; events closer together than this coalesce. Default
	// DefaultDebounce.
	Debounce time.Duration
	// MaxWait bounds how long a batch is held back by a steady stream of
	// events, counted from its first event. Default DefaultMaxWait; never
	// less than Debounce.
	MaxWait time.Duration
	// Ignore, if set, is called with each event's path before it is
	// batched; events for which it returns true are dropped. It runs on
	// the Watcher's goroutine and must not block. Typical uses: outputs
	// of rules, .pex/, the store, IsEditorTemp.
	Ignore func(path string) bool
	// OnError, if set, is called with each error the Source reports,
	// other than ErrOverflow (which Batch.Overflow carries). It runs on
	// the Watcher's goroutine and must not block. If nil, such errors
	// are dropped.
	OnError func(error)
}

func (o Options) withDefaults() Options {
	if o.Debounce <= 0 {
		o.Debounce = DefaultDebounce
	}
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	o.MaxWait = max(o.MaxWait, o.Debounce)
	return o
}

// Batch is a set of changes, sent once the Source has been quiet for
// Options.Debounce or the batch is Options.MaxWait old. A batch is never
// empty: it has at least one path, or Overflow is set.
type Batch struct {
	// Paths are the changed paths, absolute, sorted and without
	// duplicates. A path may name a directory that was created, removed
	// or renamed; nothing is reported for the entries inside it.
	Paths []string
	// Overflow reports that the Source lost events: changes may have
	// happened that Paths does not list. Treat every watched file as
	// possibly changed.
	Overflow bool
	// First is when the Watcher received the batch's first event.
	First time.Time
}

// Watcher turns the events of a Source into batches. Create it with New;
// receive from Batches; change what is watched with SetDirs; stop it with
// Close.
type Watcher struct {
	src     Source
	opts    Options
	batches chan Batch
	done    chan struct{}
	exited  chan struct{}

	closeOnce sync.Once
	closeErr  error

	mu   sync.Mutex      // serialises SetDirs
	dirs map[string]bool // directories added to src
}

// New starts a Watcher reading from src, which it owns from now on:
// Close closes it.
func New(src Source, opts Options) *Watcher {
	w := &Watcher{
		src:     src,
		opts:    opts.withDefaults(),
		batches: make(chan Batch),
		done:    make(chan struct{}),
		exited:  make(chan struct{}),
		dirs:    make(map[string]bool),
	}
	go w.loop()
	return w
}

// Batches returns the channel on which batches are sent. It is closed
// when the Watcher is closed or its Source stops. While nobody receives,
// the Watcher keeps reading events and merges them into the batch that
// waits, so a slow receiver gets everything in one batch.
func (w *Watcher) Batches() <-chan Batch { return w.batches }

// SetDirs makes the Source watch exactly dirs: directories no longer
// listed are removed, and each listed one is added. Adding is
// idempotent, and re-establishes a watch that was lost (a directory
// deleted and recreated) or that had to fall back to polling. Relative
// paths are made absolute. A directory that could not be added is
// reported in the returned error, the others are watched regardless.
func (w *Watcher) SetDirs(dirs []string) error {
	var errs []error
	want := make(map[string]bool, len(dirs))
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		want[abs] = true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, d := range slices.Sorted(maps.Keys(w.dirs)) {
		if !want[d] {
			if err := w.src.Remove(d); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, d := range slices.Sorted(maps.Keys(want)) {
		if err := w.src.Add(d); err != nil {
			errs = append(errs, err)
			delete(want, d)
		}
	}
	w.dirs = want
	return errors.Join(errs...)
}

// Close stops the Watcher, waits for its goroutine to end, closes the
// Batches channel and then the Source. It returns the Source's Close
// error. Calling it again does nothing.
func (w *Watcher) Close() error {
	w.closeOnce.Do(func() {
		close(w.done)
		<-w.exited
		w.closeErr = w.src.Close()
	})
	return w.closeErr
}

// loop is the only goroutine that touches the batcher.
func (w *Watcher) loop() {
	defer close(w.exited)
	defer close(w.batches)
	b := newBatcher(w.opts)
	defer b.timer.Stop()
	events, errs := w.src.Events(), w.src.Errors()
	for {
		var send chan<- Batch
		if b.ready != nil {
			send = w.batches
		} else if events == nil {
			return // the source stopped and everything was sent
		}
		select {
		case <-w.done:
			return
		case send <- b.out:
			b.ready = nil
		case <-b.timer.C:
			b.flush()
		case ev, ok := <-events:
			if !ok {
				events, errs = nil, nil
				b.flush()
			} else if w.accept(ev) {
				b.note(filepath.Clean(ev.Path), false)
			}
		case err, ok := <-errs:
			switch {
			case !ok:
				errs = nil
			case errors.Is(err, ErrOverflow):
				b.note("", true)
			case w.opts.OnError != nil:
				w.opts.OnError(err)
			}
		}
	}
}

// accept reports whether ev belongs in a batch.
func (w *Watcher) accept(ev Event) bool {
	if ev.Op&^Chmod == 0 || ev.Path == "" {
		return false
	}
	return w.opts.Ignore == nil || !w.opts.Ignore(ev.Path)
}
