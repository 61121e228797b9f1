package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

const starterWorkspace = `# pex.star: workspace-wide settings. This file marks the workspace root.
#
# ignore = ["third_party", "node_modules"]   # directories that are never packages
# group(name = "integration", jobs = 1)      # an exclusive scheduling group
`

const starterBuild = `# BUILD: the rules of this directory. Build them with "pex build".
# The language: README.md, "The BUILD language", in pex's sources.

rule(
    name = "hello",
    outs = ["hello.txt"],
    cmd = "echo hello from pex > $OUT",
)

rule(
    name = "check",
    srcs = [":hello"],
    cmd = "grep -q hello $SRCS",
    tags = ["test"],
)
`

func (a *app) initCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Make the current directory a workspace: write pex.star and a starter BUILD",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := a.workDir()
			if err != nil {
				return err
			}
			for _, name := range []string{"pex.star", "BUILD", "BUILD.pex"} {
				if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
					return failed(exitUsage, "%s already exists in %s; pex init writes only into a directory without one", name, dir)
				}
			}
			if err := writeNew(filepath.Join(dir, "pex.star"), starterWorkspace); err != nil {
				return err
			}
			if err := writeNew(filepath.Join(dir, "BUILD"), starterBuild); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "wrote pex.star and BUILD in %s; try: pex build && pex test\n", dir)
			return nil
		},
	}
}

func writeNew(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if errors.Is(err, os.ErrExist) {
		return failed(exitUsage, "%s already exists", path)
	}
	if err != nil {
		return failed(exitUsage, "%v", err)
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return failed(exitUsage, "%v", err)
	}
	return f.Close()
}
