// This file checks that output directories do not lead out of the
// workspace through symbolic links. It is the only part of the package that
// touches the file system.

package graph

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// diskCheck memoises, per workspace-relative directory, whether it exists
// and where its symbolic links lead. Every directory prefix is looked at
// once (one Lstat), so checking the outputs of a large graph costs about one
// system call per distinct output directory.
type diskCheck struct {
	root string // absolute, symbolic links resolved
	memo map[string]dirInfo
}

type dirState uint8

const (
	dirOK      dirState = iota // exists (or is the root) inside the workspace
	dirMissing                 // does not exist (yet), nor does anything below
	dirEscapes                 // leads outside the workspace through link
	dirBroken                  // is below link, which cannot be resolved
)

type dirInfo struct {
	state dirState
	link  string // the symbolic link at fault, workspace-relative
}

func (d dirInfo) reason() string {
	if d.state == dirEscapes {
		return fmt.Sprintf("leaves the workspace through symbolic link %q", d.link)
	}
	return fmt.Sprintf("is under symbolic link %q, which cannot be resolved", d.link)
}

func newDiskCheck(root string) (*diskCheck, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("workspace root: %w", err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("workspace root: %w", err)
	}
	return &diskCheck{root: real, memo: make(map[string]dirInfo)}, nil
}

// dir reports on the workspace-relative directory rel ("." for the root).
func (d *diskCheck) dir(rel string) dirInfo {
	if rel == "." || rel == "" {
		return dirInfo{state: dirOK}
	}
	if v, ok := d.memo[rel]; ok {
		return v
	}
	v := d.dir(path.Dir(rel))
	if v.state == dirOK {
		v = d.stat(rel)
	}
	d.memo[rel] = v
	return v
}

// stat looks at rel, whose parent is known to be inside the workspace.
func (d *diskCheck) stat(rel string) dirInfo {
	full := filepath.Join(d.root, filepath.FromSlash(rel))
	fi, err := os.Lstat(full)
	switch {
	case err != nil || (!fi.IsDir() && fi.Mode()&fs.ModeSymlink == 0):
		return dirInfo{state: dirMissing}
	case fi.Mode()&fs.ModeSymlink == 0:
		return dirInfo{state: dirOK}
	}
	real, err := filepath.EvalSymlinks(full)
	switch {
	case err != nil:
		return dirInfo{state: dirBroken, link: rel}
	case !within(d.root, real):
		return dirInfo{state: dirEscapes, link: rel}
	}
	return dirInfo{state: dirOK}
}

// within reports whether path p is dir or below it.
func within(dir, p string) bool {
	if p == dir {
		return true
	}
	if !strings.HasSuffix(dir, string(filepath.Separator)) {
		dir += string(filepath.Separator)
	}
	return strings.HasPrefix(p, dir)
}
