//go:build !(linux && (amd64 || arm64))

package cache

// statter stats the paths of a proof. A statter is used by one goroutine.
type statter struct {
	root string
	buf  []byte
}

func newStatter(root string) *statter { return &statter{root: root} }

// stat stats the workspace-relative or absolute path, following
// symbolic links.
func (s *statter) stat(path []byte) FileStat {
	s.buf = s.buf[:0]
	if len(path) == 0 || path[0] != '/' {
		s.buf = append(append(s.buf, s.root...), '/')
	}
	s.buf = append(s.buf, path...)
	return StatFile(string(s.buf))
}

func (s *statter) close() {}
