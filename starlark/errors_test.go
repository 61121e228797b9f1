package starlark

import (
	"bufio"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/pex-build/pex/graph"
)

// TestErrors loads each workspace in testdata/errors. Exactly one line of
// its files carries a "### text" comment: the error must be positioned on
// that line (on the file alone, for errors about a whole file), and its
// message must contain text. An optional set.txt holds --set name=value
// lines.
func TestErrors(t *testing.T) {
	cases, err := os.ReadDir("testdata/errors")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Name(), func(t *testing.T) {
			dir := filepath.Join("testdata", "errors", c.Name())
			file, line, want := findMarker(t, dir)
			_, err := LoadAll(context.Background(), Options{Root: dir, Set: readSet(t, dir)})
			var ge *graph.Error
			if !errors.As(err, &ge) {
				t.Fatalf("error %v, want a *graph.Error", err)
			}
			at := graph.Pos{File: file, Line: line}
			if ge.Pos.File != file || ge.Pos.Line != line && !(ge.Pos.Line == 0 && line == 1) {
				t.Errorf("error at %v, want %v\n%v", ge.Pos, at, ge)
			}
			if !strings.Contains(ge.Msg, want) {
				t.Errorf("message %q does not contain %q", ge.Msg, want)
			}
			if r := []rune(ge.Msg); len(r) == 0 || unicode.IsUpper(r[0]) || strings.HasSuffix(ge.Msg, ".") {
				t.Errorf("message %q: want lower case, no final period", ge.Msg)
			}
		})
	}
}

// findMarker returns the file (slash-separated, relative to dir), line and
// text of the one "### text" comment in dir.
func findMarker(t *testing.T, dir string) (file string, line int, text string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for n := 1; sc.Scan(); n++ {
			_, marker, ok := strings.Cut(sc.Text(), "### ")
			if !ok {
				continue
			}
			if file != "" {
				t.Fatalf("two markers: %s:%d and %s", file, line, p)
			}
			rel, _ := filepath.Rel(dir, p)
			file, line, text = filepath.ToSlash(rel), n, strings.TrimSpace(marker)
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if file == "" {
		t.Fatalf("no ### marker in %s", dir)
	}
	return file, line, text
}

// readSet reads dir/set.txt, if any: one name=value per line.
func readSet(t *testing.T, dir string) map[string]string {
	data, err := os.ReadFile(filepath.Join(dir, "set.txt"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		name, value, _ := strings.Cut(line, "=")
		set[name] = value
	}
	return set
}

func TestBacktrace(t *testing.T) {
	ge := loadErr(t, map[string]string{
		"tools/defs.star": "def m():\n    fail(\"deep\")\n",
		"lib/BUILD":       "load(\"//tools:defs.star\", \"m\")\nm()\n",
	}, Options{})
	for _, want := range []string{"lib/BUILD:2:2: in <toplevel>", "tools/defs.star:2:9: in m", "deep"} {
		if !strings.Contains(ge.Backtrace, want) {
			t.Errorf("backtrace %q does not contain %q", ge.Backtrace, want)
		}
	}
	if want := "tools/defs.star:2:9: deep\n"; !strings.HasPrefix(ge.Error(), want) {
		t.Errorf("Error() = %q, want it to start with %q", ge.Error(), want)
	}
}
