// Package graph is pex's build graph: the targets (rules) that BUILD files
// register, the names that refer to them, and the links between them.
//
// # Labels
//
// A package is a directory holding a BUILD file; its package path is its
// slash-separated path from the workspace root, "" for the root itself. A
// Label names a rule, or a file, by package path and name:
//
//	//lib/net:client    rule or file "client" of package lib/net
//	//lib/net          short for //lib/net:net
//	//:fmt             "fmt" in the root package
//	:client            "client" in the package of the BUILD file
//	client             the same (no slash, no colon)
//	//lib:sub/gen.h    a name may hold slashes: file sub/gen.h of lib
//
// Path segments may not be empty (no leading, trailing or double slash),
// nor ".", ".." or "..."; labels hold no backslash and no control
// character, and only the colon that separates package path and name. ParseLabel reports any of these with the label quoted, and
// Label.String prints the canonical form, "//pkg:name".
//
// # Patterns
//
// Patterns select targets on the command line (see ParsePattern):
//
//	//...            every target of the workspace
//	//lib/...        every target at or below lib
//	//lib:all        every target of package lib
//	//lib:client     one target; //lib is //lib:lib
//	:client, client  one target of the current directory's package
//	all, ...         its every target; everything at or below it
//	sub/...          relative forms of the above, cleaned as shell paths
//
// Wildcards skip targets tagged manual or service, which are built only
// when named: see Graph.Select.
//
// # Resolution
//
// Evaluating BUILD files fills a Graph with Add, AddGroup and AddPackage.
// Graph.Resolve then turns what the user wrote into files and edges:
//
//   - outs are paths relative to the package; each becomes a
//     workspace-relative path in OutFiles, indexed to its producer. An
//     output may leave its package but not the workspace, neither by ".."
//     nor through a symbolic link on disk; two rules may not declare the
//     same output, and an output may not have the name of another rule of
//     its package.
//   - deps must name rules; a misspelt one is reported with the nearest
//     existing label: `no rule "//lib:nett" (did you mean "//lib:net"?)`.
//   - an entry of srcs or tools names a rule (which becomes a dependency),
//     else a file that some rule outputs (its producer becomes a
//     dependency), else a source file (listed in Inputs or ToolFiles). A
//     rule may be named like its single output, as in make: ":app" is then
//     the rule. Tools may also be absolute paths, for host tools.
//   - DepTargets gathers deps and producers, deduplicated, in the order
//     first mentioned, and the rules may form no cycle:
//     "dependency cycle: //a:x -> //b:y -> //a:x" (a *CycleError).
//
// Errors a BUILD file causes are *Error values positioned at the rule, so
// they read "lib/BUILD:12:5: rule "//lib:x": ...".
//
// Resolve is incremental: a later call resolves only the targets added
// since (those a dynamic rule registers while the build runs) and leaves
// the others untouched.
package graph
