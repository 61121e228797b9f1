package testrecord

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pex-build/pex/cache"
)

func TestWriteRead(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tests") // created by Write
	r := &Record{Cwd: "lib", Patterns: []string{"...", ":x"}, Total: 3, Failed: []string{"//lib:a", "//lib:b"}}
	if err := r.Write(dir); err != nil {
		t.Fatal(err)
	}
	got, err := Read(dir, "lib", []string{"...", ":x"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("read %+v, wrote %+v", got, r)
	}
	if got.Passed() != 1 {
		t.Errorf("Passed() = %d, want 1", got.Passed())
	}
	// Only the file, no temporary left.
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("dir holds %d files, want 1", len(ents))
	}

	// Another directory or other patterns are other requests.
	for _, req := range []struct {
		cwd      string
		patterns []string
	}{{"", []string{"...", ":x"}}, {"lib", []string{"..."}}, {"lib", []string{":x", "..."}}, {"lib", nil}, {`lib" "...`, []string{":x"}}} {
		if got, err := Read(dir, req.cwd, req.patterns); got != nil || err != nil {
			t.Errorf("Read(%q, %q) = %v, %v, want none", req.cwd, req.patterns, got, err)
		}
	}
}

func TestNoPatternsNoFailures(t *testing.T) {
	dir := t.TempDir()
	if err := (&Record{Total: 2}).Write(dir); err != nil {
		t.Fatal(err)
	}
	got, err := Read(dir, "", nil)
	if err != nil || got == nil {
		t.Fatalf("Read = %v, %v", got, err)
	}
	if got.Total != 2 || len(got.Failed) != 0 || len(got.Patterns) != 0 {
		t.Errorf("read %+v", got)
	}
}

func TestAbsent(t *testing.T) {
	got, err := Read(filepath.Join(t.TempDir(), "missing"), "", nil)
	if got != nil || err != nil {
		t.Fatalf("Read = %v, %v, want nil, nil", got, err)
	}
}

func TestDamaged(t *testing.T) {
	good := &Record{Cwd: "", Patterns: []string{"//..."}, Total: 2, Failed: []string{"//:a"}}
	dir := t.TempDir()
	if err := good.Write(dir); err != nil {
		t.Fatal(err)
	}
	path := Path(dir, "", []string{"//..."})
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(orig), "\n")
	other := &Record{Patterns: []string{"//lib/..."}, Total: 1}
	if err := other.Write(dir); err != nil {
		t.Fatal(err)
	}
	otherFile, _ := os.ReadFile(Path(dir, "", []string{"//lib/..."}))

	for name, content := range map[string]string{
		"empty":      "",
		"junk":       "junk\n",
		"truncated":  string(orig[:len(orig)-10]),
		"no newline": strings.TrimSuffix(string(orig), "\n"),
		"header":     "pex test record 2\n" + lines[1] + lines[2],
		"bit flip":   lines[0] + strings.Replace(lines[1], "//:a", "//:b", 1) + lines[2],
		"no digest":  lines[0] + lines[1] + "\n",
		"bad digest": lines[0] + lines[1] + "blake3 xyz\n",
		"extra line": string(orig) + "more\n",
		"other":      string(otherFile), // a valid record, of another request
		"not json":   withDigest("{"),
		"unknown":    withDigest(`{"cwd":"","patterns":["//..."],"total":1,"failed":[],"x":1}`),
		"total":      withDigest(`{"cwd":"","patterns":["//..."],"total":0,"failed":["//:a"]}`),
		"label":      withDigest(`{"cwd":"","patterns":["//..."],"total":1,"failed":["a"]}`),
	} {
		if err := os.WriteFile(path, []byte(content), 0o666); err != nil {
			t.Fatal(err)
		}
		got, err := Read(dir, "", []string{"//..."})
		if got != nil || !errors.Is(err, ErrDamaged) {
			t.Errorf("%s: Read = %v, %v, want damaged", name, got, err)
		}
	}

	// Writing again repairs it.
	if err := good.Write(dir); err != nil {
		t.Fatal(err)
	}
	if got, err := Read(dir, "", []string{"//..."}); err != nil || got == nil {
		t.Errorf("after rewriting: %v, %v", got, err)
	}
}

// withDigest is a record file around body, with a good digest.
func withDigest(body string) string {
	return header + "\n" + body + "\nblake3 " + cache.HashString(body).String() + "\n"
}

func TestUnreadable(t *testing.T) {
	dir := t.TempDir()
	// A directory where the file should be: it cannot be read.
	if err := os.Mkdir(Path(dir, "", nil), 0o777); err != nil {
		t.Fatal(err)
	}
	if got, err := Read(dir, "", nil); got != nil || err == nil {
		t.Fatalf("Read = %v, %v, want an error", got, err)
	}
}

func TestWithout(t *testing.T) {
	r := &Record{Cwd: "x", Patterns: []string{"..."}, Total: 5, Failed: []string{"//x:a", "//x:b", "//x:c"}}
	got := r.Without([]string{"//x:a"}, []string{"//x:c"})
	want := &Record{Cwd: "x", Patterns: []string{"..."}, Total: 4, Failed: []string{"//x:b"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Without = %+v, want %+v", got, want)
	}
	if got.Passed() != r.Passed()+1 {
		t.Errorf("Passed() = %d, want %d", got.Passed(), r.Passed()+1)
	}
	if len(r.Failed) != 3 {
		t.Errorf("Without changed its receiver: %+v", r)
	}
}
