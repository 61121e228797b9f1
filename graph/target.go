package graph

import (
	"fmt"
	"path"
	"strings"
	"time"
)

// Pos is a position in a BUILD or .star file, used to make errors point at
// the place a user can fix. File is relative to the workspace root.
type Pos struct {
	File string
	Line int
	Col  int
}

// String formats the position as file:line:col, or just file when the line
// is unknown.
func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Target is one rule registered by a BUILD file. Every field is plain data
// (strings, ints, sorted-on-demand maps) so that a target can be hashed into
// a cache key and compared between two evaluations of the same workspace.
//
// Paths in Srcs, Outs and Tools are as the user wrote them: a path relative
// to the package directory, or a label ("//lib:gen.h", ":gen.h"). Resolve
// turns them into workspace-relative files and dependencies.
type Target struct {
	Label Label
	Pos   Pos // where rule() was called

	Cmd            string
	Srcs           []string
	Outs           []string
	Deps           []Label
	Requires       []string
	Provides       []string
	Claims         []string
	Uses           []string
	Priority       int
	Group          string
	Timeout        time.Duration
	Env            map[string]string
	EnvPassthrough []string
	Tools          []string
	// Kwargs are the keyword arguments of Action, each value as its
	// canonical Starlark text (see starlark.Canonical).
	Kwargs map[string]string
	Tags   []string
	Cache  bool
	// Action, when set, is the Starlark function run instead of Cmd.
	Action *Action
	// Dynamic rules may register rules while the build runs.
	Dynamic bool
	// GeneratedBy is the dynamic rule that registered this one while a
	// build ran; the zero Label for a rule a BUILD file wrote.
	GeneratedBy Label
	// Depfile is a Makefile-style dependency file the command writes
	// (relative to the package); the inputs it lists are recorded and
	// checked on the next build.
	Depfile string

	// Filled by Graph.Resolve.

	// Inputs are the workspace-relative paths of the target's srcs that no
	// rule produces (plain source files), in the order listed.
	Inputs []string
	// ToolFiles are the workspace-relative paths of its tools that no rule
	// produces, in the order listed; a tool given as an absolute path (a
	// host compiler, "/usr/bin/gcc") stays absolute.
	ToolFiles []string
	// OutFiles are the workspace-relative paths of its outs, in order.
	OutFiles []string
	// DepTargets are the rules that must finish first: deps, the producers
	// of srcs and tools, deduplicated, in the order first mentioned.
	DepTargets []*Target
}

// Action names a Starlark function run at execution time: a function
// defined with def at the top level of File, under Name. Digest identifies
// the code: the contents of File and, transitively, of every module it
// loads, so editing the function reruns its rules and editing an
// unrelated module does not.
type Action struct {
	File   string // workspace-relative path of the defining BUILD or .star file
	Name   string
	Digest string
}

// String names the action as "//pkg:file.star%fn".
func (a *Action) String() string {
	dir, file := path.Split(a.File)
	return "//" + strings.TrimSuffix(dir, "/") + ":" + file + "%" + a.Name
}

// Generated reports whether a dynamic rule registered the target.
func (t *Target) Generated() bool { return t.GeneratedBy != Label{} }

// HasTag reports whether the target carries the tag.
func (t *Target) HasTag(tag string) bool {
	for _, x := range t.Tags {
		if x == tag {
			return true
		}
	}
	return false
}

// Group is an exclusive scheduling group declared with group() in a .star
// or BUILD file.
type Group struct {
	Name     string
	Jobs     int
	Priority int
	Pos      Pos
}

// Error is a user error tied to a place in a BUILD or .star file. Its text
// reads "path/BUILD:12:5: message", followed by the Starlark backtrace when
// there is one.
type Error struct {
	Pos       Pos
	Msg       string
	Backtrace string
}

// Error formats the error as "file:line:col: message", then the
// backtrace.
func (e *Error) Error() string {
	s := e.Msg
	if e.Pos.File != "" {
		s = e.Pos.String() + ": " + e.Msg
	}
	if e.Backtrace != "" {
		s += "\n" + e.Backtrace
	}
	return s
}
