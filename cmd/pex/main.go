// Command pex is a build system and task runner: BUILD files in Starlark,
// a parallel scheduler with locks, priorities and groups, and a
// content-hashed cache. See README.md.
package main

import (
	"os"
)

func main() {
	os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
