package watch

import (
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"
)

// nextEvent returns the Poller's next event; in a bubble the fake clock
// runs until the next scan finds something.
func nextEvent(t *testing.T, p *Poller) Event {
	t.Helper()
	select {
	case ev := <-p.Events():
		return ev
	case <-time.After(time.Minute):
		t.Fatal("no event")
	}
	return Event{}
}

func expectEvents(t *testing.T, p *Poller, want ...Event) {
	t.Helper()
	for _, w := range want {
		if got := nextEvent(t, p); got != w {
			t.Errorf("event %v %s, want %v %s", got.Path, got.Op, w.Path, w.Op)
		}
	}
}

func expectNoEvent(t *testing.T, p *Poller) {
	t.Helper()
	select {
	case ev := <-p.Events():
		t.Errorf("unexpected event %v %s", ev.Path, ev.Op)
	case <-time.After(time.Minute):
	}
}

func mustWrite(t *testing.T, path, text string) {
	t.Helper()
	mustWriteB(t, path, text)
}

func mustWriteB(tb testing.TB, path, text string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		tb.Fatal(err)
	}
}

func TestPollerSeesCreateWriteReplaceChmodRemove(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.c")
	synctest.Test(t, func(t *testing.T) {
		p := NewPoller(100 * time.Millisecond)
		defer p.Close()
		if err := p.Add(dir); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, a, "one")
		expectEvents(t, p, Event{a, Create})

		mustWrite(t, a, "three")
		expectEvents(t, p, Event{a, Write})

		tmp := filepath.Join(dir, "a.c.tmp")
		mustWrite(t, tmp, "seven")
		if err := os.Rename(tmp, a); err != nil {
			t.Fatal(err)
		}
		expectEvents(t, p, Event{a, Create}) // another inode under the same name

		if err := os.Chmod(a, 0o600); err != nil {
			t.Fatal(err)
		}
		expectEvents(t, p, Event{a, Chmod})

		if err := os.Remove(a); err != nil {
			t.Fatal(err)
		}
		expectEvents(t, p, Event{a, Remove})
		expectNoEvent(t, p)
	})
}

func TestPollerWatchesMissingDirectories(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "later")
	synctest.Test(t, func(t *testing.T) {
		p := NewPoller(0)
		defer p.Close()
		if err := p.Add(dir); err != nil {
			t.Fatalf("Add of a missing directory: %v", err)
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, filepath.Join(dir, "x"), "x")
		mustWrite(t, filepath.Join(dir, "y"), "y")
		expectEvents(t, p,
			Event{dir, Create},
			Event{filepath.Join(dir, "x"), Create},
			Event{filepath.Join(dir, "y"), Create})

		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		expectEvents(t, p,
			Event{filepath.Join(dir, "x"), Remove},
			Event{filepath.Join(dir, "y"), Remove},
			Event{dir, Remove})
	})
}

func TestPollerRemoveAndClose(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		p := NewPoller(10 * time.Millisecond)
		if err := p.Add(dir); err != nil {
			t.Fatal(err)
		}
		if err := p.Remove(dir); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, filepath.Join(dir, "a"), "a")
		expectNoEvent(t, p)
		p.Close()
		p.Close()
		if err := p.Add(dir); err != ErrClosed {
			t.Errorf("Add after Close = %v, want ErrClosed", err)
		}
		if _, ok := <-p.Events(); ok {
			t.Error("Events not closed")
		}
	})
}
