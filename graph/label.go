// This file parses and prints labels, the names of rules and files, and
// holds the path checks that labels, patterns and Resolve share.

package graph

import (
	"fmt"
	"strings"
)

// Label names a rule, or a file, by its package path and its name within
// the package. Pkg is "" for the root package. Name may contain slashes
// when it names a file in a subdirectory of the package ("sub/gen.h").
type Label struct {
	Pkg  string
	Name string
}

// String formats the label in its canonical form, "//pkg/path:name", or
// "//:name" in the root package.
func (l Label) String() string {
	return "//" + l.Pkg + ":" + l.Name
}

// Path returns the workspace-relative path of the file the label names, if
// it names a file: the package path joined with the name.
func (l Label) Path() string {
	if l.Pkg == "" {
		return l.Name
	}
	return l.Pkg + "/" + l.Name
}

// ParseLabel parses s as a label written in package pkg (the package path
// of the BUILD file, "" at the root). It accepts:
//
//	//pkg/path:name   absolute
//	//pkg/path        short for //pkg/path:path (the last segment)
//	//:name           in the root package
//	:name             in package pkg
//	name              in package pkg (no slash, no colon)
//
// Package paths and names are slash-separated; their segments may not be
// empty, ".", ".." or "...", and they may contain no colon (but the one
// between them), no backslash and no control character.
func ParseLabel(s, pkg string) (Label, error) {
	fail := func(reason string) (Label, error) {
		return Label{}, fmt.Errorf("invalid label %q: %s", s, reason)
	}
	if s == "" {
		return fail("empty label")
	}
	if reason := badChar(s); reason != "" {
		return fail(reason)
	}
	var l Label
	relative := false
	switch {
	case strings.HasPrefix(s, "//"):
		rest := s[2:]
		p, name, hasColon := strings.Cut(rest, ":")
		if !hasColon {
			name = rest[strings.LastIndexByte(rest, '/')+1:]
		}
		l = Label{Pkg: p, Name: name}
	case s[0] == ':':
		l, relative = Label{Pkg: pkg, Name: s[1:]}, true
	case s[0] == '/':
		return fail(`absolute path; a label starts with "//" or ":"`)
	case strings.ContainsAny(s, ":/"):
		return fail(`a label with "/" or ":" starts with "//" or ":"`)
	default:
		l, relative = Label{Pkg: pkg, Name: s}, true
	}
	if strings.Contains(l.Name, ":") {
		return fail("more than one colon")
	}
	if relative {
		if reason := checkPkg(pkg); reason != "" {
			return Label{}, fmt.Errorf("invalid package %q: %s", pkg, reason)
		}
	} else if reason := checkPkg(l.Pkg); reason != "" {
		return fail(labelReason(reason, "package path"))
	}
	if l.Name == "" {
		return fail("missing target name")
	}
	if reason := checkPath(l.Name); reason != "" {
		return fail(labelReason(reason, "target name"))
	}
	return l, nil
}

// labelReason words a checkPath reason for a label.
func labelReason(reason, where string) string {
	if reason == dotDotDot {
		return `"..." is a pattern, not a label`
	}
	return reason + " in " + where
}

// checkLabel returns why l is not a valid label, or "".
func checkLabel(l Label) string {
	if reason := checkPkg(l.Pkg); reason != "" {
		return fmt.Sprintf("invalid package path %q: %s", l.Pkg, reason)
	}
	if l.Name == "" {
		return "empty rule name"
	}
	if reason := checkPath(l.Name); reason != "" {
		return fmt.Sprintf("invalid rule name %q: %s", l.Name, reason)
	}
	return ""
}

// checkPkg is checkPath for a package path, which may be "" (the root).
func checkPkg(p string) string {
	if p == "" {
		return ""
	}
	return checkPath(p)
}

// dotDotDot is the checkPath reason for a "..." segment, which callers
// reword: it is the recursive wildcard of patterns.
const dotDotDot = `"..." segment`

// checkPath returns why p is not a clean, non-empty, relative,
// slash-separated path without a colon, or "" when it is one.
func checkPath(p string) string {
	if p == "" {
		return "empty path"
	}
	if reason := badChar(p); reason != "" {
		return reason
	}
	if strings.IndexByte(p, ':') >= 0 {
		return "colon"
	}
	if p[0] == '/' {
		return "leading slash"
	}
	if p[len(p)-1] == '/' {
		return "trailing slash"
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "":
			return "double slash"
		case ".":
			return `"." segment`
		case "..":
			return `".." segment`
		case "...":
			return dotDotDot
		}
	}
	return ""
}

// badChar returns why s holds a character no label or pattern may hold,
// or "".
func badChar(s string) string {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			return `backslash (use "/")`
		case c < 0x20 || c == 0x7f:
			return "control character"
		}
	}
	return ""
}
