// This file implements glob(): patterns of slash-separated segments, where
// "*", "?" and "[...]" match within one segment and "**" matches any number
// of directories. Like a shell, and unlike Bazel, a wildcard does not match
// a name that starts with "." unless the segment itself starts with ".", so
// editor swap files and .gitignore stay out of globs.

package starlark

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	sl "go.starlark.net/starlark"
)

// A globEntry is one entry of a listed directory.
type globEntry struct {
	name string
	dir  bool // a directory, not a symbolic link to one
	file bool // a regular file, or a symbolic link to one
}

func builtinGlob(th *sl.Thread, _ *sl.Builtin, args sl.Tuple, kwargs []sl.Tuple) (sl.Value, error) {
	env, err := envOf(th)
	if err != nil {
		return nil, err
	}
	if err := env.needPackage("glob"); err != nil {
		return nil, err
	}
	var include, exclude stringList
	if err := sl.UnpackArgs("glob", args, kwargs, "include", &include, "exclude??", &exclude); err != nil {
		return nil, err
	}
	paths, err := env.l.glob(env.pkg, include, exclude)
	if err != nil {
		return nil, fmt.Errorf("glob: %v", err)
	}
	elems := make([]sl.Value, len(paths))
	for i, p := range paths {
		elems[i] = sl.String(p)
	}
	return sl.NewList(elems), nil
}

// glob returns the sorted package-relative paths of the files of package s
// that match an include pattern and no exclude pattern. It skips
// subpackages, ignored directories, and the outputs of rules: those
// registered so far in s, and those in l.exclude.
func (l *loader) glob(s *pkgState, include, exclude []string) ([]string, error) {
	inc, err := compilePatterns(include)
	if err != nil {
		return nil, err
	}
	exc, err := compilePatterns(exclude)
	if err != nil {
		return nil, err
	}
	found := map[string]bool{}
	for _, segs := range inc {
		if err := l.expand(s, "", segs, found); err != nil {
			return nil, err
		}
	}
	paths := make([]string, 0, len(found))
	for rel := range found {
		ws := joinPath(s.path, rel)
		if s.outs[ws] || l.exclude[ws] || l.actions != nil && l.actions.IsOutput != nil && l.actions.IsOutput(ws) || matchAny(exc, rel) {
			continue
		}
		paths = append(paths, rel)
		s.globbed[ws] = true
	}
	sort.Strings(paths)
	return paths, nil
}

// compilePatterns splits patterns into segments, checking them.
func compilePatterns(patterns []string) ([][]string, error) {
	out := make([][]string, len(patterns))
	for i, p := range patterns {
		segs, err := compilePattern(p)
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %v", p, err)
		}
		out[i] = segs
	}
	return out, nil
}

func compilePattern(p string) ([]string, error) {
	switch {
	case p == "":
		return nil, errors.New("empty pattern")
	case strings.HasPrefix(p, "/"):
		return nil, errors.New("absolute; patterns are relative to the package")
	}
	var segs []string
	for _, seg := range strings.Split(p, "/") {
		switch {
		case seg == "" || seg == "." || seg == "..":
			return nil, fmt.Errorf("path segment %q not allowed", seg)
		case seg == "**":
			if len(segs) > 0 && segs[len(segs)-1] == "**" {
				continue // "**/**" is "**"
			}
		case strings.Contains(seg, "**"):
			return nil, errors.New(`"**" must be a whole path segment`)
		default:
			if _, err := path.Match(seg, ""); err != nil {
				return nil, errors.New("malformed pattern")
			}
		}
		segs = append(segs, seg)
	}
	if segs[len(segs)-1] == "**" {
		segs = append(segs, "*") // "dir/**" is every file below dir
	}
	return segs, nil
}

// expand adds to found the files matching segs below the package-relative
// directory rel.
func (l *loader) expand(s *pkgState, rel string, segs []string, found map[string]bool) error {
	entries, err := l.list(s, rel)
	if err != nil {
		return err
	}
	if segs[0] == "**" {
		if err := l.expand(s, rel, segs[1:], found); err != nil {
			return err
		}
		for _, e := range entries {
			if sub := joinPath(rel, e.name); e.dir && e.name[0] != '.' && l.descendable(s, sub) {
				if err := l.expand(s, sub, segs, found); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, e := range entries {
		if !matchSegment(segs[0], e.name) {
			continue
		}
		sub := joinPath(rel, e.name)
		switch {
		case len(segs) == 1 && e.file:
			found[sub] = true
		case len(segs) > 1 && e.dir && l.descendable(s, sub):
			if err := l.expand(s, sub, segs[1:], found); err != nil {
				return err
			}
		}
	}
	return nil
}

// descendable reports whether glob may enter the package-relative
// directory rel of s: it is no subpackage, nor ignored, nor the root of a
// nested workspace.
func (l *loader) descendable(s *pkgState, rel string) bool {
	ws := joinPath(s.path, rel)
	return l.walkable(ws) && !l.packages[ws] && !l.nested[ws]
}

// list returns the entries of the package-relative directory rel of s,
// reading it once per package evaluation.
func (l *loader) list(s *pkgState, rel string) ([]globEntry, error) {
	ws := joinPath(s.path, rel)
	if entries, ok := s.listings[ws]; ok {
		return entries, nil
	}
	s.globDirs[dirPath(ws)] = true
	dir := filepath.Join(l.root, filepath.FromSlash(ws))
	des, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("cannot list %s: %s", dirPath(ws), ioMessage(err))
	}
	entries := make([]globEntry, len(des))
	for i, de := range des {
		entries[i] = globEntry{name: de.Name(), dir: de.IsDir(), file: isFile(filepath.Join(dir, de.Name()), de)}
	}
	s.listings[ws] = entries
	return entries, nil
}

// matchSegment reports whether the pattern segment pat matches name.
func matchSegment(pat, name string) bool {
	if name[0] == '.' && pat[0] != '.' {
		return false
	}
	ok, _ := path.Match(pat, name)
	return ok
}

// matchAny reports whether one of the compiled patterns matches the
// slash-separated path p.
func matchAny(patterns [][]string, p string) bool {
	if len(patterns) == 0 {
		return false
	}
	names := strings.Split(p, "/")
	for _, segs := range patterns {
		if matchSegments(segs, names) {
			return true
		}
	}
	return false
}

func matchSegments(segs, names []string) bool {
	for len(segs) > 0 {
		if segs[0] == "**" {
			for i := 0; i <= len(names); i++ {
				if matchSegments(segs[1:], names[i:]) {
					return true
				}
				if i < len(names) && names[i][0] == '.' {
					break // "**" does not enter hidden directories
				}
			}
			return false
		}
		if len(names) == 0 || !matchSegment(segs[0], names[0]) {
			return false
		}
		segs, names = segs[1:], names[1:]
	}
	return len(names) == 0
}
