package main

import (
	"errors"
	osexec "os/exec"
	"testing"
)

func TestExitStatus(t *testing.T) {
	run := func(script string) error { return osexec.Command("/bin/sh", "-c", script).Run() }
	for _, tc := range []struct {
		script string
		want   int
	}{
		{"exit 0", 0},
		{"exit 7", 7},
		{"kill -TERM $$", 143},
		{"kill -INT $$", 130},
	} {
		err := exitStatus(run(tc.script))
		got := 0
		var ee *exitError
		if errors.As(err, &ee) {
			got = ee.code
		}
		if got != tc.want {
			t.Errorf("exitStatus(%q) = %d, want %d", tc.script, got, tc.want)
		}
	}
}
