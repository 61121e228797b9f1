package watch

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeSource is a Source whose events the test sends by hand.
type fakeSource struct {
	events chan Event
	errors chan error

	mu      sync.Mutex
	calls   []string // "add DIR", "remove DIR"
	failAdd map[string]bool
	closed  int
}

func newFakeSource() *fakeSource {
	return &fakeSource{events: make(chan Event), errors: make(chan error), failAdd: map[string]bool{}}
}

func (f *fakeSource) Events() <-chan Event { return f.events }
func (f *fakeSource) Errors() <-chan error { return f.errors }

func (f *fakeSource) Add(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "add "+dir)
	if f.failAdd[dir] {
		return errors.New("cannot watch " + dir)
	}
	return nil
}

func (f *fakeSource) Remove(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "remove "+dir)
	return nil
}

func (f *fakeSource) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed++
	return nil
}

func (f *fakeSource) takeCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// recv returns the next batch, failing after a minute of (fake) time.
func recv(t *testing.T, w *Watcher) Batch {
	t.Helper()
	select {
	case b, ok := <-w.Batches():
		if !ok {
			t.Fatal("Batches closed")
		}
		return b
	case <-time.After(time.Minute):
		t.Fatal("no batch")
	}
	return Batch{}
}

// expectNone fails if a batch is sent in the next minute of fake time.
func expectNone(t *testing.T, w *Watcher) {
	t.Helper()
	select {
	case b := <-w.Batches():
		t.Fatalf("unexpected batch %v", b.Paths)
	case <-time.After(time.Minute):
	}
}

func write(path string) Event { return Event{Path: path, Op: Write} }

func TestDebounceCoalesces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFakeSource()
		w := New(src, Options{})
		defer w.Close()
		start := time.Now()
		src.events <- write("/w/a")
		time.Sleep(50 * time.Millisecond)
		src.events <- write("/w/b")
		time.Sleep(90 * time.Millisecond)
		src.events <- write("/w/c")
		b := recv(t, w)
		if want := []string{"/w/a", "/w/b", "/w/c"}; !slices.Equal(b.Paths, want) {
			t.Errorf("Paths = %v, want %v", b.Paths, want)
		}
		if got, want := time.Since(start), 240*time.Millisecond; got != want {
			t.Errorf("batch after %v, want %v (last event + debounce)", got, want)
		}
		if !b.First.Equal(start) {
			t.Errorf("First = %v, want %v", b.First, start)
		}
		expectNone(t, w)
	})
}

func TestQuietPeriodSeparatesBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFakeSource()
		w := New(src, Options{Debounce: 30 * time.Millisecond})
		defer w.Close()
		src.events <- write("/w/a")
		if b := recv(t, w); !slices.Equal(b.Paths, []string{"/w/a"}) {
			t.Errorf("first batch %v", b.Paths)
		}
		src.events <- write("/w/b")
		if b := recv(t, w); !slices.Equal(b.Paths, []string{"/w/b"}) {
			t.Errorf("second batch %v", b.Paths)
		}
	})
}

func TestBatchIsSortedAndDeduplicated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFakeSource()
		w := New(src, Options{})
		defer w.Close()
		for _, ev := range []Event{
			{"/w/b", Create}, {"/w/b", Write}, {"/w/a", Write},
			{"/w/./c", Create}, {"/w/c", Remove}, {"/w/a", Write | Chmod},
		} {
			src.events <- ev
		}
		if b, want := recv(t, w), []string{"/w/a", "/w/b", "/w/c"}; !slices.Equal(b.Paths, want) {
			t.Errorf("Paths = %v, want %v", b.Paths, want)
		}
	})
}

func TestIgnoreAndChmodNeverMakeABatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFakeSource()
		ignore := func(p string) bool { return p == "/w/out.o" || IsEditorTemp(p) }
		w := New(src, Options{Ignore: ignore})
		defer w.Close()
		src.events <- write("/w/out.o")
		src.events <- Event{"/w/.main.c.swp", Create}
		src.events <- Event{"/w/main.c", Chmod}
		expectNone(t, w)

		src.events <- write("/w/out.o")
		src.events <- Event{"/w/main.c", Create}
		if b := recv(t, w); !slices.Equal(b.Paths, []string{"/w/main.c"}) {
			t.Errorf("Paths = %v, want only main.c", b.Paths)
		}
	})
}

func TestMaxWaitFlushesASteadyStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFakeSource()
		w := New(src, Options{Debounce: 100 * time.Millisecond, MaxWait: time.Second})
		defer w.Close()
		start := time.Now()
		stop, stopped := make(chan struct{}), make(chan struct{})
		go func() { // an event every 50ms, until stopped
			defer close(stopped)
			for {
				select {
				case src.events <- write("/w/log"):
				case <-stop:
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
		b := recv(t, w)
		if got := time.Since(start); got != time.Second {
			t.Errorf("first batch after %v, want MaxWait (1s)", got)
		}
		if !slices.Equal(b.Paths, []string{"/w/log"}) {
			t.Errorf("Paths = %v", b.Paths)
		}
		recv(t, w)
		if got := time.Since(start); got > 2100*time.Millisecond {
			t.Errorf("second batch after %v, want about 2s", got)
		}
		close(stop)
		<-stopped
	})
}

func TestMaxWaitNeverBelowDebounce(t *testing.T) {
	o := Options{Debounce: time.Second, MaxWait: time.Millisecond}.withDefaults()
	if o.MaxWait != time.Second {
		t.Errorf("MaxWait = %v, want raised to Debounce", o.MaxWait)
	}
	o = Options{}.withDefaults()
	if o.Debounce != DefaultDebounce || o.MaxWait != DefaultMaxWait {
		t.Errorf("defaults = %v, %v", o.Debounce, o.MaxWait)
	}
}

func TestSlowReceiverGetsOneMergedBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFakeSource()
		w := New(src, Options{})
		defer w.Close()
		src.events <- write("/w/a")
		time.Sleep(time.Second) // a batch is ready; nobody takes it
		src.events <- write("/w/b")
		time.Sleep(time.Second)
		if b := recv(t, w); !slices.Equal(b.Paths, []string{"/w/a", "/w/b"}) {
			t.Errorf("Paths = %v, want a and b merged", b.Paths)
		}
		expectNone(t, w)
	})
}

func TestOverflowMakesABatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFakeSource()
		var mu sync.Mutex
		var errs []error
		w := New(src, Options{OnError: func(err error) {
			mu.Lock()
			defer mu.Unlock()
			errs = append(errs, err)
		}})
		defer w.Close()
		src.errors <- ErrOverflow
		b := recv(t, w)
		if !b.Overflow || len(b.Paths) != 0 {
			t.Errorf("batch = %+v, want Overflow and no paths", b)
		}
		boom := errors.New("boom")
		src.errors <- boom
		expectNone(t, w)
		mu.Lock()
		defer mu.Unlock()
		if len(errs) != 1 || errs[0] != boom {
			t.Errorf("OnError got %v, want [boom]", errs)
		}
	})
}

func TestCloseStopsEverything(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFakeSource()
		w := New(src, Options{})
		src.events <- write("/w/a") // pending, never flushed
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if _, ok := <-w.Batches(); ok {
			t.Error("Batches not closed")
		}
		w.Close()
		if src.closed != 1 {
			t.Errorf("source closed %d times, want 1", src.closed)
		}
		// synctest.Test fails if the Watcher's goroutine outlives this.
	})
}

func TestSourceEndingFlushesThenCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFakeSource()
		w := New(src, Options{})
		defer w.Close()
		src.events <- write("/w/a")
		close(src.events)
		close(src.errors)
		if b := recv(t, w); !slices.Equal(b.Paths, []string{"/w/a"}) {
			t.Errorf("Paths = %v", b.Paths)
		}
		if _, ok := <-w.Batches(); ok {
			t.Error("Batches not closed after the source ended")
		}
	})
}

func TestSetDirsAddsAndRemovesTheDifference(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFakeSource()
		w := New(src, Options{})
		defer w.Close()
		check := func(dirs []string, want ...string) {
			t.Helper()
			if err := w.SetDirs(dirs); err != nil {
				t.Errorf("SetDirs(%v): %v", dirs, err)
			}
			if got := src.takeCalls(); !slices.Equal(got, want) {
				t.Errorf("SetDirs(%v) calls %v, want %v", dirs, got, want)
			}
		}
		check([]string{"/w/b", "/w/a", "/w/a/"}, "add /w/a", "add /w/b")
		check([]string{"/w/b", "/w/c"}, "remove /w/a", "add /w/b", "add /w/c")
		check(nil, "remove /w/b", "remove /w/c")

		src.failAdd["/w/bad"] = true
		if err := w.SetDirs([]string{"/w/bad", "/w/ok"}); err == nil {
			t.Error("SetDirs with an unwatchable dir: no error")
		}
		src.takeCalls()
		// The failed dir was never added, so it is not removed.
		check(nil, "remove /w/ok")
	})
}

func TestOpString(t *testing.T) {
	for op, want := range map[Op]string{0: "none", Create: "create", Write | Chmod: "write|chmod", Remove | Rename: "remove|rename"} {
		if got := op.String(); got != want {
			t.Errorf("Op(%d).String() = %q, want %q", op, got, want)
		}
	}
}

func TestIsEditorTemp(t *testing.T) {
	for path, want := range map[string]bool{
		"/w/main.c":                 false,
		"/w/.main.c.swp":            true,
		"/w/.main.c.swx":            true,
		"/w/main.c~":                true,
		"/w/4913":                   true,
		"/w/#main.c#":               true,
		"/w/.#main.c":               true,
		"/w/main.c___jb_tmp___":     true,
		"/w/main.c___jb_old___":     true,
		"/w/.goutputstream-ABC123":  true,
		"/w/main.c.kate-swp":        true,
		"/w/#":                      false,
		"/w/notes.swp.txt":          false,
		"/w/.gitignore":             false,
		"/w/sub/.hidden.swp":        true,
		"/w/sub/#include-ideas.txt": false,
	} {
		if got := IsEditorTemp(path); got != want {
			t.Errorf("IsEditorTemp(%q) = %v, want %v", path, got, want)
		}
	}
}
