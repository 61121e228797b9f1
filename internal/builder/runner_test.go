package builder

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/pex-build/pex/graph"
)

// TestPrepareOutputs checks that stale outputs go before a command runs,
// files and directories alike, and that missing ones get their directory.
func TestPrepareOutputs(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"stale.txt", "dir.out/inner.txt"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte("old"), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	tg := &graph.Target{Label: label("r"), OutFiles: []string{"stale.txt", "dir.out", "new/sub/missing.txt"}}
	if err := prepareOutputs(root, tg); err != nil {
		t.Fatal(err)
	}
	for _, p := range tg.OutFiles {
		if _, err := os.Lstat(filepath.Join(root, p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: still there (%v)", p, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "new/sub")); err != nil || !fi.IsDir() {
		t.Errorf("the directory of a missing output was not created: %v", err)
	}
}
