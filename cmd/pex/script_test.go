package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// The end-to-end tests: testdata/script/*.txtar, each a workspace and a
// script run against the real pex binary (this test binary, re-executed).
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"pex": func() { os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

func TestScript(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir:                 "../../testdata/script",
		RequireExplicitExec: false,
		Setup: func(env *testscript.Env) error {
			env.Setenv("PEX_CACHE_DIR", env.WorkDir+"/.cache/pex")
			env.Setenv("HOME", env.WorkDir+"/home")
			return os.MkdirAll(env.WorkDir+"/home", 0o777)
		},
	})
}
