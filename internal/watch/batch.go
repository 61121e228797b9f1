// The batcher: the Watcher's state between events. One batch is being
// debounced; another, already flushed, may wait for a receiver.

package watch

import (
	"slices"
	"time"
)

// pending accumulates the changes of one batch.
type pending struct {
	paths    map[string]struct{}
	overflow bool
	first    time.Time
	deadline time.Time // first + MaxWait
}

func (p *pending) empty() bool { return p == nil || (len(p.paths) == 0 && !p.overflow) }

func (p *pending) batch() Batch {
	paths := make([]string, 0, len(p.paths))
	for path := range p.paths {
		paths = append(paths, path)
	}
	slices.Sort(paths)
	return Batch{Paths: paths, Overflow: p.overflow, First: p.first}
}

// merge adds q's changes to p.
func (p *pending) merge(q *pending) {
	for path := range q.paths {
		p.paths[path] = struct{}{}
	}
	p.overflow = p.overflow || q.overflow
}

// batcher debounces changes into batches. timer fires when cur is due:
// Debounce after its last change, or MaxWait after its first.
type batcher struct {
	debounce, maxWait time.Duration
	timer             *time.Timer
	cur               *pending // accumulating
	ready             *pending // flushed, waiting for a receiver
	out               Batch    // ready.batch(), computed once per flush
}

func newBatcher(o Options) *batcher {
	b := &batcher{debounce: o.Debounce, maxWait: o.MaxWait, timer: time.NewTimer(time.Hour)}
	b.timer.Stop()
	return b
}

// note records a changed path (none if path is empty) or lost events,
// and re-arms the timer.
func (b *batcher) note(path string, overflow bool) {
	now := time.Now()
	if b.cur == nil {
		b.cur = &pending{paths: make(map[string]struct{}), first: now, deadline: now.Add(b.maxWait)}
	}
	if path != "" {
		b.cur.paths[path] = struct{}{}
	}
	b.cur.overflow = b.cur.overflow || overflow
	b.timer.Reset(min(b.debounce, b.cur.deadline.Sub(now)))
}

// flush moves the current changes to the ready batch, merging them into
// it if the receiver has not taken it yet.
func (b *batcher) flush() {
	b.timer.Stop()
	if b.cur.empty() {
		return
	}
	if b.ready == nil {
		b.ready = b.cur
	} else {
		b.ready.merge(b.cur)
	}
	b.out, b.cur = b.ready.batch(), nil
}
