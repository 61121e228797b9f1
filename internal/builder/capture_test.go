package builder

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"testing"

	"github.com/pex-build/pex/graph"
)

// TestCaptureKeepsHeadAndTail runs a command printing more than maxOutput
// and checks that its head and tail are kept, and that the capture leaves
// no file behind (on Linux, it never had one).
func TestCaptureKeepsHeadAndTail(t *testing.T) {
	root, tmp := t.TempDir(), t.TempDir()
	tg := &graph.Target{Label: label("loud"),
		Cmd: "printf head; head -c 5000000 /dev/zero | tr '\\0' x; printf tail >&2; exit 3"}
	c := &command{root: root, tmp: tmp, id: 1, t: tg, hostEnv: os.LookupEnv}
	o, err := c.run(context.Background())
	if ae, ok := err.(*ActionError); !ok || ae.ExitCode != 3 {
		t.Fatalf("run: %v, want exit status 3", err)
	}
	if len(o.output) > maxOutput+100 {
		t.Errorf("kept %d bytes of output, want about %d", len(o.output), maxOutput)
	}
	if !bytes.HasPrefix(o.output, []byte("headxxx")) || !bytes.HasSuffix(o.output, []byte("xxxtail")) ||
		!bytes.Contains(o.output, []byte("bytes of output elided")) {
		t.Errorf("output is not head, note, tail: %.20q ... %.20q", o.output, o.output[len(o.output)-20:])
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("left in the scratch directory: %v", left)
	}
	if runtime.GOOS == "linux" {
		cp, err := newCapture(tmp + "/x.out")
		if err != nil {
			t.Fatal(err)
		}
		defer cp.Close()
		if cp.path != "" {
			t.Errorf("output captured in %s, want a memory file", cp.path)
		}
	}
}
