//go:build !(linux && (amd64 || arm64))

package cache

// A Statter stats many workspace-relative (or absolute) paths. A Statter
// is used by one goroutine; Close it when done.
type Statter struct {
	root string
	buf  []byte
}

// NewStatter returns a Statter of paths relative to root.
func NewStatter(root string) *Statter { return &Statter{root: root} }

// Stat stats path, following symbolic links unless lstat.
func (s *Statter) Stat(path []byte, lstat bool) Stat {
	s.buf = s.buf[:0]
	if len(path) == 0 || path[0] != '/' {
		s.buf = append(append(s.buf, s.root...), '/')
	}
	s.buf = append(s.buf, path...)
	return statPath(string(s.buf), !lstat)
}

// Close does nothing here.
func (s *Statter) Close() {}
