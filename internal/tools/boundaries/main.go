// Command boundaries fails when a package imports across pex's layering (the
// README's "Hacking on pex"): each third-party module lives in one package, graph imports no
// pex package, exec knows nothing of files, Starlark or caches, cache
// knows no labels, the database knows nothing of running rules, and the
// command line and the watch session reach the cache and the database
// only through the builder.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

const module = "github.com/pex-build/pex"

// owners maps a third-party module to the only pex package allowed to
// import it (tests included).
var owners = map[string]string{
	"go.starlark.net":              module + "/starlark",
	"github.com/spf13/cobra":       module + "/cmd/pex",
	"github.com/fsnotify/fsnotify": module + "/internal/watch",
	"github.com/zeebo/blake3":      module + "/cache",
}

// forbidden maps a pex package to pex packages it must not import.
var forbidden = map[string][]string{
	module + "/exec":  {module + "/"},
	module + "/graph": {module + "/"},
	module + "/cache": {module + "/graph", module + "/starlark", module + "/internal/"},
	// The database knows files, rows and the graph; not how rules run.
	module + "/internal/db": {module + "/exec", module + "/starlark", module + "/internal/"},
	// The command line and pex watch's session speak to the builder
	// only: neither opens the cache or the database behind its back.
	module + "/cmd/pex":          {module + "/cache", module + "/internal/db"},
	module + "/internal/session": {module + "/cache", module + "/internal/db"},
}

func main() {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}`, "./...").Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "boundaries: go list:", err)
		os.Exit(2)
	}
	bad := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := fields[0]
		for _, imp := range fields[1:] {
			if msg := violation(pkg, imp); msg != "" {
				fmt.Println(msg)
				bad++
			}
		}
	}
	if bad > 0 {
		os.Exit(1)
	}
}

func violation(pkg, imp string) string {
	for mod, owner := range owners {
		if (imp == mod || strings.HasPrefix(imp, mod+"/")) && pkg != owner {
			return fmt.Sprintf("%s imports %s; only %s may", pkg, imp, owner)
		}
	}
	for _, prefix := range forbidden[pkg] {
		if strings.HasPrefix(imp, prefix) && imp != pkg && imp != pkg+"_test" {
			return fmt.Sprintf("%s must not import %s", pkg, imp)
		}
	}
	return ""
}
