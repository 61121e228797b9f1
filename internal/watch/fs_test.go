// Tests against the real file system: fsnotify, the polling fallback,
// and the Watcher on top, with real time.

package watch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// patience bounds every wait for a batch that must come. A batch is
// expected within Debounce of the change; the margin absorbs a loaded
// machine under -race.
const patience = 5 * time.Second

// newFSWatcher starts a Watcher on NewFS over dirs, closed at cleanup.
func newFSWatcher(t *testing.T, fo FSOptions, dirs ...string) *Watcher {
	t.Helper()
	if fo.PollInterval == 0 {
		fo.PollInterval = 50 * time.Millisecond
	}
	src, err := NewFS(fo)
	if err != nil {
		t.Fatal(err)
	}
	w := New(src, Options{Ignore: IsEditorTemp})
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Error(err)
		}
	})
	if err := w.SetDirs(dirs); err != nil {
		t.Fatal(err)
	}
	return w
}

// waitFor reads batches until one holds path, and returns that batch and
// how long it took from start.
func waitFor(t *testing.T, w *Watcher, path string, start time.Time, within time.Duration) (Batch, time.Duration) {
	t.Helper()
	deadline := time.After(within - time.Since(start))
	var seen [][]string
	for {
		select {
		case b, ok := <-w.Batches():
			if !ok {
				t.Fatal("Batches closed")
			}
			if slices.Contains(b.Paths, path) {
				return b, time.Since(start)
			}
			seen = append(seen, b.Paths)
		case <-deadline:
			t.Fatalf("no batch with %s within %v; got %v", path, within, seen)
		}
	}
}

// expectQuiet fails if a batch arrives within d.
func expectQuiet(t *testing.T, w *Watcher, d time.Duration) {
	t.Helper()
	select {
	case b := <-w.Batches():
		t.Errorf("unexpected batch %v", b.Paths)
	case <-time.After(d):
	}
}

func TestFSWriteIsReportedWithinASecond(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "main.c")
	mustWrite(t, f, "int main;")
	w := newFSWatcher(t, FSOptions{}, dir)
	start := time.Now()
	mustWrite(t, f, "int main(void) { return 0; }")
	b, took := waitFor(t, w, f, start, time.Second)
	t.Logf("write to batch: %v", took)
	if !slices.Equal(b.Paths, []string{f}) {
		t.Errorf("Paths = %v, want just %s", b.Paths, f)
	}
}

func TestFSAtomicSaveReportsTheTarget(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "handler.go")
	mustWrite(t, f, "v1")
	w := newFSWatcher(t, FSOptions{}, dir)
	// As vim does with backupcopy=no: write a temporary file, rename it over the target.
	tmp := filepath.Join(dir, ".handler.go.swp")
	mustWrite(t, tmp, "v2")
	if err := os.Rename(tmp, f); err != nil {
		t.Fatal(err)
	}
	b, _ := waitFor(t, w, f, time.Now(), patience)
	if slices.Contains(b.Paths, tmp) {
		t.Errorf("editor temp file %s reported despite IsEditorTemp", tmp)
	}
	// The watch survives the rename: the next save is seen too.
	mustWrite(t, tmp, "v3")
	if err := os.Rename(tmp, f); err != nil {
		t.Fatal(err)
	}
	waitFor(t, w, f, time.Now(), patience)
}

func TestFSNewAndDeletedFiles(t *testing.T) {
	dir := t.TempDir()
	w := newFSWatcher(t, FSOptions{}, dir)
	f := filepath.Join(dir, "new.c")
	mustWrite(t, f, "x")
	waitFor(t, w, f, time.Now(), patience)
	if err := os.Remove(f); err != nil {
		t.Fatal(err)
	}
	waitFor(t, w, f, time.Now(), patience)
}

func TestFSNewSubdirectoryAfterSetDirs(t *testing.T) {
	root := t.TempDir()
	w := newFSWatcher(t, FSOptions{}, root)
	sub := filepath.Join(root, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	waitFor(t, w, sub, time.Now(), patience)
	// The caller re-evaluates and now watches the new package too.
	if err := w.SetDirs([]string{root, sub}); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(sub, "BUILD")
	mustWrite(t, f, "rule(name = 'x')")
	waitFor(t, w, f, time.Now(), patience)
}

func TestFSRemovedDirectoryIsNoLongerWatched(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	w := newFSWatcher(t, FSOptions{}, a, b)
	if err := w.SetDirs([]string{b}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(a, "x"), "x")
	expectQuiet(t, w, 300*time.Millisecond)
	fb := filepath.Join(b, "y")
	mustWrite(t, fb, "y")
	waitFor(t, w, fb, time.Now(), patience)
}

func TestFSDeletedAndRecreatedDirectory(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "lib")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w := newFSWatcher(t, FSOptions{}, dir)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	waitFor(t, w, dir, time.Now(), patience)
	if m := w.src.(*fsSource).modeOf(dir); m != polled {
		t.Errorf("deleted directory in mode %d, want polled", m)
	}

	// Recreated before the caller calls SetDirs again: polled meanwhile.
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "net.c")
	mustWrite(t, f, "x")
	waitFor(t, w, f, time.Now(), patience)

	// SetDirs with the same set watches it with inotify again.
	if err := w.SetDirs([]string{dir}); err != nil {
		t.Fatal(err)
	}
	if m := w.src.(*fsSource).modeOf(dir); m != notified {
		t.Errorf("after SetDirs the directory is watched in mode %d, want notified", m)
	}
	g := filepath.Join(dir, "dns.c")
	mustWrite(t, g, "y")
	waitFor(t, w, g, time.Now(), patience)
}

func TestFSMissingDirectoryIsPolledUntilItExists(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "gen")
	w := newFSWatcher(t, FSOptions{}, dir)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "out.h")
	mustWrite(t, f, "x")
	waitFor(t, w, f, time.Now(), patience)
}

func TestFSWatchLimitFallsBackToPolling(t *testing.T) {
	full, fine, later := t.TempDir(), t.TempDir(), t.TempDir()
	var mu sync.Mutex
	var warnings []string
	src, err := NewFS(FSOptions{PollInterval: 50 * time.Millisecond, OnWarning: func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		warnings = append(warnings, msg)
	}})
	if err != nil {
		t.Fatal(err)
	}
	// Simulate the kernel refusing more watches for two of the directories.
	fs := src.(*fsSource)
	realAdd := fs.addWatch
	fs.addWatch = func(dir string) error {
		if dir == full || dir == later {
			return syscall.ENOSPC // what inotify_add_watch returns at the limit
		}
		return realAdd(dir)
	}
	w := New(src, Options{})
	defer w.Close()
	if err := w.SetDirs([]string{full, fine}); err != nil {
		t.Fatalf("SetDirs at the watch limit: %v", err)
	}
	if err := w.SetDirs([]string{full, fine, later}); err != nil {
		t.Fatalf("SetDirs at the watch limit: %v", err)
	}
	mu.Lock()
	if len(warnings) != 1 || !strings.Contains(warnings[0], "sudo sysctl fs.inotify.max_user_watches=524288") {
		t.Errorf("warnings = %q, want one naming the sysctl", warnings)
	}
	mu.Unlock()
	for _, dir := range []string{full, fine, later} {
		f := filepath.Join(dir, "a.c")
		mustWrite(t, f, "x")
		waitFor(t, w, f, time.Now(), patience)
	}
	if m := fs.modeOf(full); m != polled {
		t.Errorf("directory at the limit in mode %d, want polled", m)
	}
}

func TestFSPollOnly(t *testing.T) {
	dir := t.TempDir()
	w := newFSWatcher(t, FSOptions{PollOnly: true}, dir)
	f := filepath.Join(dir, "a.c")
	mustWrite(t, f, "x")
	waitFor(t, w, f, time.Now(), patience)
	if m := w.src.(*fsSource).modeOf(dir); m != polled {
		t.Errorf("mode %d, want polled", m)
	}
}

func TestFSAddAfterClose(t *testing.T) {
	src, err := NewFS(FSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if err := src.Add(t.TempDir()); !errors.Is(err, ErrClosed) {
		t.Errorf("Add after Close = %v, want ErrClosed", err)
	}
	if err := src.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestFSOverflowBecomesAnOverflowBatch(t *testing.T) {
	w := newFSWatcher(t, FSOptions{}, t.TempDir())
	fs := w.src.(*fsSource)
	fs.fsw.Errors <- fsnotify.ErrEventOverflow // as inotify's reader does on IN_Q_OVERFLOW
	select {
	case b := <-w.Batches():
		if !b.Overflow {
			t.Errorf("batch %+v, want Overflow", b)
		}
	case <-time.After(patience):
		t.Fatal("no batch after an overflow")
	}
}

func TestFSInstanceLimitPollsEverything(t *testing.T) {
	defer func(orig func() (*fsnotify.Watcher, error)) { newFsnotify = orig }(newFsnotify)
	newFsnotify = func() (*fsnotify.Watcher, error) {
		return nil, fmt.Errorf("couldn't initialize inotify: %w", syscall.EMFILE)
	}
	var warnings []string
	dir := t.TempDir()
	w := newFSWatcher(t, FSOptions{OnWarning: func(msg string) { warnings = append(warnings, msg) }}, dir)
	if len(warnings) != 1 || !strings.Contains(warnings[0], "fs.inotify.max_user_instances") {
		t.Errorf("warnings = %q, want one naming fs.inotify.max_user_instances", warnings)
	}
	f := filepath.Join(dir, "a.c")
	mustWrite(t, f, "x")
	waitFor(t, w, f, time.Now(), patience)
}
