// This file is the load cache: each .star module is evaluated once per
// Load, whichever package asks first, while other packages asking for it
// wait. Because packages are evaluated in parallel, a cycle of loads may
// span goroutines: package A's goroutine runs x.star, which waits for
// y.star, which B's goroutine runs and which waits for x.star. Waiting
// would deadlock, so before waiting the cache follows the waits-for chain
// (module -> goroutine running it -> module that goroutine waits for ...)
// and reports a load cycle if it leads back to the goroutine about to wait.
// One mutex guards the whole chain, so the check sees a consistent state.

package starlark

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	sl "go.starlark.net/starlark"
)

// A moduleCache holds the modules loaded so far, by workspace-relative
// path.
type moduleCache struct {
	mu      sync.Mutex
	entries map[string]*module
}

// A module is a .star file, being loaded or loaded.
type module struct {
	path  string // workspace-relative
	name  string // canonical label, "//dir:file.star"
	ready chan struct{}

	// Set before ready is closed, read-only afterwards.
	globals sl.StringDict
	err     error

	owner *loadThread // the thread evaluating it; nil once ready; guarded by moduleCache.mu
}

// A loadThread is one logical thread of loading: the evaluation of pex.star
// or of one BUILD file, and of the modules it loads, nested.
type loadThread struct {
	stack    []*module // modules it is evaluating, outermost first; guarded by moduleCache.mu
	waitsFor *module   // the module it waits for, if any; guarded by moduleCache.mu
}

// A loadCycleError reports modules that load each other.
type loadCycleError struct {
	chain []string
}

func (e *loadCycleError) Error() string {
	return "load cycle: " + strings.Join(e.chain, " -> ")
}

// A moduleRef names a module to load.
type moduleRef struct {
	path string // workspace-relative
	name string // canonical label
}

// parseModule resolves the label in a load statement of a file in the
// workspace-relative directory dir: "//pkg:file.star", or ":file.star" for
// a file in dir.
func parseModule(label, dir string) (moduleRef, error) {
	bad := func(why string) (moduleRef, error) {
		return moduleRef{}, errors.New(why) // the load statement names the label
	}
	var pkg, file string
	switch {
	case strings.HasPrefix(label, "//"):
		var ok bool
		if pkg, file, ok = strings.Cut(label[2:], ":"); !ok {
			return bad(`want "//pkg:file.star" or ":file.star"`)
		}
	case strings.HasPrefix(label, ":"):
		pkg, file = dir, label[1:]
	default:
		return bad(`want "//pkg:file.star" or ":file.star"`)
	}
	if !strings.HasSuffix(file, ".star") {
		return bad("a module is a .star file")
	}
	p := path.Join(pkg, file)
	if path.IsAbs(p) || p == ".." || hasDotDotPrefix(p) ||
		pkg != "" && path.Clean(pkg) != pkg || path.Clean(file) != file {
		return bad("not a clean path inside the workspace")
	}
	if p == WorkspaceFile {
		return bad(WorkspaceFile + " cannot be loaded; put shared definitions in a .star file")
	}
	return moduleRef{path: p, name: moduleName(p)}, nil
}

// loadModule returns the globals of the module ref, evaluating it on the
// calling goroutine unless another goroutine is already doing so.
func (l *loader) loadModule(lt *loadThread, ref moduleRef) (sl.StringDict, error) {
	c := &l.modules
	c.mu.Lock()
	if m := c.entries[ref.path]; m != nil {
		if m.owner != nil {
			if chain := c.cycle(lt, m); chain != nil {
				c.mu.Unlock()
				return nil, &loadCycleError{chain: chain}
			}
		}
		lt.waitsFor = m
		c.mu.Unlock()
		<-m.ready
		c.mu.Lock()
		lt.waitsFor = nil
		c.mu.Unlock()
		return m.globals, m.err
	}
	m := &module{path: ref.path, name: ref.name, ready: make(chan struct{}), owner: lt}
	c.entries[ref.path] = m
	lt.stack = append(lt.stack, m)
	c.mu.Unlock()

	m.globals, m.err = l.evalModule(lt, m)

	c.mu.Lock()
	m.owner = nil
	lt.stack = lt.stack[:len(lt.stack)-1]
	c.mu.Unlock()
	close(m.ready)
	return m.globals, m.err
}

// cycle reports whether lt waiting for m would close a cycle, and returns
// the modules of that cycle, first and last alike. It follows the
// waits-for chain: m is being evaluated by its owner, which may wait for
// another module, and so on; each thread's part of the cycle is its stack
// from the module reached to the module it waits from. It must be called
// with c.mu held.
func (c *moduleCache) cycle(lt *loadThread, m *module) []string {
	var rest []string
	for m != nil && m.owner != nil {
		owner := m.owner
		i := slices.Index(owner.stack, m)
		if owner == lt {
			chain := moduleNames(lt.stack[i:])
			chain = append(chain, rest...)
			return append(chain, m.name)
		}
		rest = append(rest, moduleNames(owner.stack[i:])...)
		m = owner.waitsFor
	}
	return nil
}

func moduleNames(ms []*module) []string {
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.name
	}
	return names
}

// evalModule reads and runs the module m for the load thread lt.
func (l *loader) evalModule(lt *loadThread, m *module) (sl.StringDict, error) {
	l.noteFile(m.path)
	src, err := os.ReadFile(filepath.Join(l.root, filepath.FromSlash(m.path)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s does not exist", m.path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %s", m.path, ioMessage(err))
	}
	env := &fileEnv{l: l, lt: lt, kind: kindModule, file: m.path, dir: path.Dir("/" + m.path)[1:]}
	globals, _, err := l.execFile(env, src)
	return globals, err
}
