//go:build unix

package cache

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestLockNoWait(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".pex")
	unlock, err := Lock(filepath.Join(dir, "lock"), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Lock(filepath.Join(dir, "lock"), false, nil)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Lock: %v, want ErrLocked", err)
	}
	if want := fmt.Sprintf("(pid %d)", os.Getpid()); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name the holder %s", err, want)
	}
	unlock()
	unlock() // a second call does nothing
	unlock2, err := Lock(filepath.Join(dir, "lock"), false, nil)
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	unlock2()
}

func TestLockWait(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".pex")
	unlock, err := Lock(filepath.Join(dir, "lock"), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var waits atomic.Int32
	done := make(chan error)
	go func() {
		unlock2, err := Lock(filepath.Join(dir, "lock"), true, func() { waits.Add(1) })
		if err == nil {
			unlock2()
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Lock returned while the lock was held: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := waits.Load(); n != 1 {
		t.Errorf("onWait called %d times, want 1", n)
	}
}

// TestLockOtherProcess holds the lock in a child process, as a second pex
// would, and checks that it is released when the child dies.
func TestLockOtherProcess(t *testing.T) {
	if dir := os.Getenv("PEX_TEST_LOCK_HOLDER"); dir != "" {
		if _, err := Lock(filepath.Join(dir, "lock"), false, nil); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("locked")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	dir := filepath.Join(t.TempDir(), ".pex")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockOtherProcess$")
	cmd.Env = append(os.Environ(), "PEX_TEST_LOCK_HOLDER="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "locked\n" {
		t.Fatalf("child: %q", line)
	}
	_, err = Lock(filepath.Join(dir, "lock"), false, nil)
	if want := fmt.Sprintf("(pid %d)", cmd.Process.Pid); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Lock while a child holds it: %v, want ErrLocked naming %s", err, want)
	}
	waited := make(chan bool, 1)
	go func() {
		<-waited
		cmd.Process.Kill() // kill -9: the kernel releases the lock
	}()
	unlock, err := Lock(filepath.Join(dir, "lock"), true, func() { waited <- true })
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	cmd.Wait()
}
