package db

import "path/filepath"

// Layout names what a workspace keeps in its state directory, .pex/ at
// its root: the one place these names are spelled.
type Layout struct {
	Dir string // <root>/.pex
}

// LayoutOf returns the layout of the workspace at root.
func LayoutOf(root string) Layout { return Layout{Dir: filepath.Join(root, ".pex")} }

// DB is the build database.
func (l Layout) DB() string { return filepath.Join(l.Dir, "db") }

// Lock is the file whose flock(2) says a pex process is building.
func (l Layout) Lock() string { return filepath.Join(l.Dir, "lock") }

// Clock is the marker a cache.FileClock writes to read the file system's
// time.
func (l Layout) Clock() string { return filepath.Join(l.Dir, "clock") }

// Tmp holds each build's scratch directory (channel files, captures).
func (l Layout) Tmp() string { return filepath.Join(l.Dir, "tmp") }

// Procs holds the records of the process groups pex processes started
// (internal/procs).
func (l Layout) Procs() string { return filepath.Join(l.Dir, "procs") }

// Tests holds what the last pex test of each request found: which tests
// failed (cmd/pex's --failed reads it; see internal/testrecord).
func (l Layout) Tests() string { return filepath.Join(l.Dir, "tests") }
