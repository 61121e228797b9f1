//go:build unix

package starlark

import (
	"hash/fnv"
	"os"
	"path"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/pex-build/pex/graph"
)

// takeStamp stamps a workspace-relative path for a snapshot. A file that
// cannot be stat'ed, or a directory that cannot be read, gives a stamp
// with only its path and kind: it matches only a path that was missing.
func takeStamp(root string, g *graph.Graph, rel string, kind byte) stamp {
	abs := filepath.Join(root, filepath.FromSlash(rel))
	st := stamp{path: rel, kind: kind}
	var s unix.Stat_t
	if err := unix.Stat(abs, &s); err != nil {
		return st
	}
	st.mtime = s.Mtim.Nano()
	st.ctime = s.Ctim.Nano()
	if kind != stampFile {
		// size holds the listing digest; mtime and ctime let a check
		// skip reading a directory whose entries did not change.
		st.size = int64(listingDigest(abs, g, rel, kind))
		return st
	}
	st.size = s.Size
	st.inode = s.Ino
	return st
}

// restamp reports whether the path still matches its stamp: a file its
// stat; a directory its times or, when they moved (rules writing outputs
// there move them), its listing digest, which leaves outputs out. It
// returns the stamp with a directory's current times (left out when too
// recent to trust, as dirStamp does).
func restamp(root string, g *graph.Graph, want stamp, trusted int64) (stamp, bool) {
	if want.kind == stampFile {
		return want, takeStamp(root, g, want.path, want.kind) == want
	}
	abs := filepath.Join(root, filepath.FromSlash(want.path))
	var s unix.Stat_t
	if err := unix.Stat(abs, &s); err != nil {
		return want, want == stamp{path: want.path, kind: want.kind}
	}
	mtime, ctime := s.Mtim.Nano(), s.Ctim.Nano()
	if mtime == want.mtime && ctime == want.ctime {
		return want, true
	}
	if int64(listingDigest(abs, g, want.path, want.kind)) != want.size {
		return want, false
	}
	if mtime > trusted || ctime > trusted {
		mtime, ctime = -1, -1
	}
	want.mtime, want.ctime = mtime, ctime
	return want, true
}

// listingDigest digests what matters of a directory's listing: for the
// package walk, its subdirectories and marker files; for glob, every name
// but the outputs of rules. Zero when it cannot be read.
func listingDigest(abs string, g *graph.Graph, rel string, kind byte) uint64 {
	entries, err := os.ReadDir(abs)
	if err != nil {
		return 0
	}
	h := fnv.New64a()
	for _, e := range entries {
		name := e.Name()
		switch kind {
		case stampWalk:
			if name == ".git" || name == ".pex" || !e.IsDir() && name != "BUILD" && name != "BUILD.pex" && name != "pex.star" {
				continue
			}
		case stampGlob:
			if _, out := g.Producer(path.Join(rel, name)); out {
				continue
			}
		}
		h.Write([]byte(name))
		if e.IsDir() {
			h.Write([]byte{'/'})
		}
		h.Write([]byte{0})
	}
	return h.Sum64() | 1 // never 0, which stands for unreadable
}
