//go:build linux && (amd64 || arm64)

package cache

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// statterTree makes a tree of directories, files and symbolic links, and
// returns its root and paths in it, one directory's paths together.
func statterTree(t *testing.T) (string, []string) {
	root := t.TempDir()
	write := func(p string) {
		if err := os.WriteFile(filepath.Join(root, p), []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, p string) {
		if err := os.Symlink(target, filepath.Join(root, p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(root, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	write("a/x")
	paths := []string{"a/x", "a", "a/missing", "b/x"} // one-letter names first
	for i := range 4 {
		d := fmt.Sprintf("d%d", i)
		if err := os.MkdirAll(filepath.Join(root, d, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		write(d + "/BUILD")
		write(d + "/f")
		write(d + "/sub/g")
		paths = append(paths, d, d+"/BUILD", d+"/f", d+"/missing", d+"/sub", d+"/sub/g", d+"/sub/missing")
	}
	write("top")
	link("d0/f", "link")      // to a file
	link("d1", "dirlink")     // to a directory
	link("nowhere", "broken") // to nothing
	link("../d2/f", "d0/up")  // out of its directory
	paths = append(paths,
		"top", "link", "dirlink", "broken", "missing", "d0/up",
		"dirlink/f", "dirlink/missing", "dirlink/sub/g",
		"nodir/a", "nodir/b", "nodir/c", "nodir/sub/a",
		"top/x", "top/y", // a file used as a directory
		"d0/../top", "d0/./f", "d0//f", "d0/sub/..",
		"/x", "/", "", "d0/", "d0/sub/",
		filepath.Join(root, "d3/f"), filepath.Join(root, "d3/sub"), filepath.Join(root, "d3/missing"),
		filepath.Join(root, "nodir/a"), filepath.Join(root, "link"), filepath.Join(root, "top"),
	)
	return root, paths
}

// wantStat is what the Statter should find at p, from a stat of the whole
// path.
func wantStat(root, p string, lstat bool) Stat {
	if p == "" || strings.HasSuffix(p, "/") {
		return Stat{} // no name to stat in the directory
	}
	if !filepath.IsAbs(p) {
		p = root + "/" + p
	}
	if lstat {
		return LstatPath(p)
	}
	return StatPath(p)
}

// alternating orders paths so that each directory's paths are apart: one
// from each directory, then the next from each, and so on.
func alternating(paths []string) []string {
	byDir := map[string][]string{}
	var dirs []string
	for _, p := range paths {
		d := filepath.Dir(p)
		if byDir[d] == nil {
			dirs = append(dirs, d)
		}
		byDir[d] = append(byDir[d], p)
	}
	var out []string
	for len(out) < len(paths) {
		for _, d := range dirs {
			if ps := byDir[d]; len(ps) > 0 {
				out = append(out, ps[0])
				byDir[d] = ps[1:]
			}
		}
	}
	return out
}

func TestStatter(t *testing.T) {
	root, paths := statterTree(t)
	sorted := slices.Clone(paths)
	slices.Sort(sorted)
	shuffled := slices.Clone(paths)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) {
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	})
	var doubled []string // each path twice in a row
	for _, p := range paths {
		doubled = append(doubled, p, p)
	}
	orders := map[string][]string{
		"grouped":     paths,
		"sorted":      sorted,
		"alternating": alternating(paths),
		"shuffled":    shuffled,
		"doubled":     doubled,
		"twice":       append(alternating(paths), paths...),
	}
	for name, order := range orders {
		for _, lstat := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/lstat=%v", name, lstat), func(t *testing.T) {
				s := NewStatter(root)
				defer s.Close()
				for _, p := range order {
					got, want := s.Stat([]byte(p), lstat), wantStat(root, p, lstat)
					if got != want {
						t.Errorf("Stat(%q, %v) = %v, want %v", p, lstat, got, want)
					}
				}
			})
		}
	}
}

func TestStatterKinds(t *testing.T) {
	root, _ := statterTree(t)
	s := NewStatter(root)
	defer s.Close()
	for _, c := range []struct {
		path  string
		lstat bool
		kind  Kind
	}{
		{"d0/f", false, File},
		{"d0", false, Dir},
		{"d0/missing", false, Missing},
		{"nodir/a", false, Missing},
		{"link", true, Link},
		{"link", false, File},
		{"broken", true, Link},
		{"broken", false, Missing},
		{"dirlink", true, Link},
		{"dirlink", false, Dir},
		{"dirlink/f", true, File},
		{filepath.Join(root, "d0/f"), false, File},
	} {
		if got := s.Stat([]byte(c.path), c.lstat).Kind; got != c.kind {
			t.Errorf("Stat(%q, %v).Kind = %d, want %d", c.path, c.lstat, got, c.kind)
		}
	}
}

// TestStatterMissingRoot checks that a root that cannot be opened leaves
// its paths missing, but not absolute ones.
func TestStatterMissingRoot(t *testing.T) {
	root, paths := statterTree(t)
	s := NewStatter(filepath.Join(root, "nodir"))
	defer s.Close()
	for _, p := range alternating(append(paths, paths...)) {
		want := Stat{}
		if filepath.IsAbs(p) {
			want = wantStat(root, p, false)
		}
		if got := s.Stat([]byte(p), false); got != want {
			t.Errorf("Stat(%q) = %v, want %v", p, got, want)
		}
	}
}

// TestStatterClose checks that Close releases every directory held open.
func TestStatterClose(t *testing.T) {
	root, paths := statterTree(t)
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip(err)
		}
		return len(ents)
	}
	before := fds()
	s := NewStatter(root)
	for _, p := range append(paths, "d0/f") { // ends in one directory
		s.Stat([]byte(p), false)
	}
	s.Stat([]byte("top"), false) // and the root
	s.Close()
	if after := fds(); after != before {
		t.Errorf("%d files open after Close, want %d", after, before)
	}
}

// BenchmarkStatterAlternating stats each of many directories and a file
// in it, the file first, as a walk of build files does.
func BenchmarkStatterAlternating(b *testing.B) {
	root := b.TempDir()
	var paths [][]byte
	for i := range 500 {
		d := fmt.Sprintf("d%04d", i)
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, d, "f"), nil, 0o644); err != nil {
			b.Fatal(err)
		}
		paths = append(paths, []byte(d+"/f"), []byte(d))
	}
	for b.Loop() {
		s := NewStatter(root)
		for _, p := range paths {
			if !s.Stat(p, false).Exists() {
				b.Fatalf("%s is missing", p)
			}
		}
		s.Close()
	}
}
