// This file parses the target patterns given on the command line.

package graph

import (
	"fmt"
	"path"
	"strings"
)

// Pattern selects targets on the command line. It is one of three kinds:
//
//   - a single target, "//lib:net": Name is set and Recursive is false;
//   - every target of one package, "//lib:all": Name is "" and Recursive
//     is false;
//   - every target of every package at or below a directory, "//lib/..."
//     ("//..." for the whole workspace): Recursive is true and Name is "".
//
// Pkg is the package path, or for a recursive pattern the directory
// ("" for the workspace root).
type Pattern struct {
	Pkg       string
	Name      string
	Recursive bool
}

// ParsePattern parses a command-line pattern typed in the directory of
// package cwdPkg ("" at the workspace root). Absolute forms are
//
//	//...  //lib/...  //lib:all  //lib:name  //lib (= //lib:lib)
//
// and "//lib/...:all" is accepted for "//lib/...". Other forms are relative
// to cwdPkg, as paths typed in a shell are: ":name" and a plain "name"
// (no slash, no colon) name a target of the current package; "all" and
// ":all" its every target; "..." everything at and below it;
// "sub/dir:name", "sub/dir:all" and "sub/..." work as their absolute
// forms below it; and "sub/dir" (any relative path with a slash, and "."
// or "..") names the package directory, like "//cwd/sub/dir". Relative
// package paths are cleaned, so "../lib/..." and "lib/" work, but they may
// not leave the workspace.
func ParsePattern(s, cwdPkg string) (Pattern, error) {
	fail := func(reason string) (Pattern, error) {
		return Pattern{}, fmt.Errorf("invalid pattern %q: %s", s, reason)
	}
	if s == "" {
		return fail("empty pattern")
	}
	if reason := badChar(s); reason != "" {
		return fail(reason)
	}
	if reason := checkPkg(cwdPkg); reason != "" {
		return Pattern{}, fmt.Errorf("invalid current package %q: %s", cwdPkg, reason)
	}
	abs := strings.HasPrefix(s, "//")
	body := s
	switch {
	case abs:
		body = s[2:]
	case s[0] == '/':
		return fail(`absolute path; a pattern starts with "//" or is relative to the current package`)
	}
	dir, name, hasColon := strings.Cut(body, ":")
	if strings.Contains(name, ":") {
		return fail("more than one colon")
	}
	if !abs && !hasColon && !strings.Contains(body, "/") && !isDots(body) {
		dir, name, hasColon = "", body, true // a plain name
	}
	recursive := false
	if dir == "..." || strings.HasSuffix(dir, "/...") {
		recursive = true
		dir = strings.TrimSuffix(strings.TrimSuffix(dir, "..."), "/")
	}
	if !abs {
		if dir = path.Join(cwdPkg, dir); dir == ".." || strings.HasPrefix(dir, "../") {
			return fail("outside the workspace")
		}
		if dir == "." {
			dir = ""
		}
	}
	if reason := checkPkg(dir); reason != "" {
		return fail(patternReason(reason))
	}
	switch {
	case recursive:
		if hasColon && name != "all" {
			return fail(`"..." cannot be combined with a target name`)
		}
		return Pattern{Pkg: dir, Recursive: true}, nil
	case !hasColon:
		name = dir[strings.LastIndexByte(dir, '/')+1:]
	case name == "all":
		return Pattern{Pkg: dir}, nil
	}
	if name == "" {
		return fail("missing target name")
	}
	if reason := checkPath(name); reason != "" {
		return fail(reason + " in target name")
	}
	return Pattern{Pkg: dir, Name: name}, nil
}

// isDots reports whether s is ".", ".." or "...", which are paths, not
// target names.
func isDots(s string) bool {
	return s == "." || s == ".." || s == "..."
}

// patternReason words a checkPath reason for a pattern.
func patternReason(reason string) string {
	if reason == dotDotDot {
		return `"..." must be the last path segment`
	}
	return reason
}

// String formats the pattern in its canonical absolute form: "//...",
// "//lib/...", "//lib:all" or "//lib:name".
func (p Pattern) String() string {
	switch {
	case p.Recursive && p.Pkg == "":
		return "//..."
	case p.Recursive:
		return "//" + p.Pkg + "/..."
	case p.Name == "":
		return "//" + p.Pkg + ":all"
	}
	return "//" + p.Pkg + ":" + p.Name
}

// Explicit reports whether the pattern names exactly one target rather than
// being a wildcard.
func (p Pattern) Explicit() bool {
	return !p.Recursive && p.Name != ""
}

// Label returns the label an explicit pattern names; ok is false for a
// wildcard.
func (p Pattern) Label() (l Label, ok bool) {
	if !p.Explicit() {
		return Label{}, false
	}
	return Label{Pkg: p.Pkg, Name: p.Name}, true
}

// Match reports whether the pattern selects the label. It looks at names
// only: tags (manual, service) are Graph.Select's business.
func (p Pattern) Match(l Label) bool {
	switch {
	case p.Recursive:
		return inDir(l.Pkg, p.Pkg)
	case p.Name == "":
		return l.Pkg == p.Pkg
	}
	return l.Pkg == p.Pkg && l.Name == p.Name
}

// inDir reports whether package path pkg is dir or below it.
func inDir(pkg, dir string) bool {
	if dir == "" || pkg == dir {
		return true
	}
	return len(pkg) > len(dir) && pkg[len(dir)] == '/' && pkg[:len(dir)] == dir
}
