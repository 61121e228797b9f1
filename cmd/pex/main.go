// Command pex is a build system and task runner: BUILD files in Starlark,
// a parallel scheduler with locks, priorities and groups, and a
// content-hashed cache. See README.md.
package main

import (
	"os"
	"runtime/debug"
)

func main() {
	// pex is a short-lived process whose heap is mostly the graph it keeps
	// to the end: collecting less often saves a no-op build real time.
	debug.SetGCPercent(400)
	os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
