package starlark

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/pex-build/pex/graph"
)

// writeWorkspace writes files (slash-separated paths relative to the root)
// into a new temporary directory, with an empty pex.star unless files has
// one, and returns the directory.
func writeWorkspace(t testing.TB, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	if _, ok := files[WorkspaceFile]; !ok {
		writeFile(t, root, WorkspaceFile, "")
	}
	for name, content := range files {
		writeFile(t, root, name, content)
	}
	return root
}

func writeFile(t testing.TB, root, name, content string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// mustLoad loads the workspace made of files and fails the test on error.
func mustLoad(t testing.TB, files map[string]string, opts Options) *Result {
	t.Helper()
	opts.Root = writeWorkspace(t, files)
	res, err := LoadAll(context.Background(), opts)
	if err != nil {
		t.Fatalf("LoadAll: %v", err)
	}
	return res
}

// loadErr loads the workspace made of files and returns its error as a
// *graph.Error, failing the test if there is none.
func loadErr(t testing.TB, files map[string]string, opts Options) *graph.Error {
	t.Helper()
	opts.Root = writeWorkspace(t, files)
	_, err := LoadAll(context.Background(), opts)
	if err == nil {
		t.Fatal("LoadAll succeeded, want an error")
	}
	ge, ok := err.(*graph.Error)
	if !ok {
		t.Fatalf("LoadAll error is %T (%v), want *graph.Error", err, err)
	}
	return ge
}

// target returns the target named label in g, failing the test if there
// is none.
func target(t testing.TB, g *graph.Graph, label string) *graph.Target {
	t.Helper()
	l, err := graph.ParseLabel(label, "")
	if err != nil {
		t.Fatal(err)
	}
	tg, ok := g.Lookup(l)
	if !ok {
		t.Fatalf("no target %s", label)
	}
	return tg
}

// labels returns the labels of g's targets in registration order.
func labels(g *graph.Graph) []string {
	var out []string
	for _, t := range g.Targets {
		out = append(out, t.Label.String())
	}
	return out
}
