// Package starlark evaluates a pex workspace — pex.star, the BUILD files
// and the .star files they load — into a graph.Graph. It is the only
// package of pex that imports go.starlark.net.
//
// # Workspace
//
// The workspace root is the nearest directory holding pex.star (FindRoot).
// pex.star runs first; it may be empty. It declares groups and config
// defaults, and may set
//
//	ignore = ["third_party", "web/node_modules"]
//
// to directories, relative to the root, that are never searched for
// packages nor globbed. A package is a directory holding a file named BUILD
// or BUILD.pex (both at once is an error). Directories named .git or .pex,
// ignored directories, and directories holding their own pex.star (nested
// workspaces) are skipped. Symbolic links to directories are not followed.
//
// BUILD files are evaluated in parallel; their rules are registered in
// package path order, then in call order, so the graph does not depend on
// timing.
//
// # Dialect
//
// Files are Starlark with the options Bazel users expect and a few more:
// if and for statements at top level, reassigning globals, while loops,
// recursion, and the set type.
//
// # Builtins
//
// rule(name, cmd="", srcs=[], outs=[], deps=[], requires=[], provides=[],
// claims=[], uses=[], priority=0, group="", timeout="", env={},
// env_passthrough=[], tools=[], kwargs={}, tags=[], cache=True,
// action=None, dynamic=False, depfile="") registers a
// rule in the package of the BUILD file being evaluated and returns its
// label, "//pkg:name". A name holds no "/", ":" nor spaces. deps are labels;
// timeout is a duration such as "30s", "5m" or "1h30m"; outs are paths
// relative to the package that stay inside the workspace; env values are
// strings; kwargs values are kept as their canonical text (see Canonical).
// action is a function defined at the top level of a BUILD or .star file,
// recorded by file, name and code digest (see Actions). A rule
// without cmd or action is an alias or aggregate of its deps. Passing None for a
// parameter is the same as leaving it out. rule may be called from a
// function defined in a .star file, when a BUILD file calls that function;
// the rule's position is then the call in the BUILD file.
//
// glob(include, exclude=[]) returns the sorted paths, relative to the
// package, of the files matching an include pattern and no exclude pattern.
// In a pattern, "*", "?" and "[...]" match within one path segment, and a
// "**" segment matches any number of directories ("dir/**" is every file
// below dir). As in a shell, a wildcard does not match a name starting
// with "." unless the pattern segment starts with "." too. glob never
// enters subpackages nor ignored directories, and never returns a file that
// a rule declares as output, wherever and whenever that rule is declared.
//
// load("//pkg:file.star", "name", alias="name") binds names from a .star
// file; ":file.star" names a file in the directory of the file loading it.
// Each .star file is evaluated once per load of the workspace and its
// values are frozen. At load time, outside any BUILD file, a .star file may
// not call rule, glob, group nor package_name.
//
// group(name, jobs=1, priority=0) declares an exclusive scheduling group,
// in pex.star or a BUILD file; a rule may name any group declared anywhere.
//
// config(name, default=None) returns the value of --set name=VALUE,
// converted to the type of the default (string, int, float, or bool written
// true, false, 1 or 0), or else the default. A default given in pex.star
// holds for every file that calls config(name) without one. Loading fails
// for a --set that no config() call read.
//
// host is a struct: host.os and host.arch (Go's names, "linux", "amd64"),
// and host.cpus.
//
// package_name() returns the package path ("" at the root). label(s)
// returns the absolute form of a label written in the current package.
// fail(*args, sep=" ") stops evaluation with its arguments as the message.
// struct(**kwargs) makes a struct. print writes to Options.Print.
//
// # Errors
//
// Every error is a *graph.Error whose position is a workspace-relative
// file, line and column: the call site for an error of a builtin, with the
// Starlark backtrace for evaluation errors. An error in a loaded .star file
// is reported where it occurs, in that file.
package starlark
