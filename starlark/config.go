// This file holds config(), which reads the --set name=value pairs of the
// command line, and the check that every --set was read by some config().

package starlark

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/pex-build/pex/graph"
	sl "go.starlark.net/starlark"
)

// configState is the configuration shared by every file of a Load.
type configState struct {
	set map[string]string // --set values, read-only

	// defaults holds the defaults given in pex.star, frozen; written while
	// pex.star runs, read-only afterwards.
	defaults map[string]sl.Value

	mu    sync.Mutex
	names map[string]bool // every name config() was called with
}

func newConfigState(set map[string]string) *configState {
	return &configState{set: set, defaults: map[string]sl.Value{}, names: map[string]bool{}}
}

// builtinConfig returns the --set value of a name, converted to the type
// of its default, or else the default.
func builtinConfig(th *sl.Thread, _ *sl.Builtin, args sl.Tuple, kwargs []sl.Tuple) (sl.Value, error) {
	env, err := envOf(th)
	if err != nil {
		return nil, err
	}
	var (
		name string
		def  sl.Value
	)
	if err := sl.UnpackArgs("config", args, kwargs, "name", &name, "default??", &def); err != nil {
		return nil, err
	}
	if name == "" {
		return nil, fmt.Errorf("config: name is empty")
	}
	c := env.l.config
	c.note(name)
	if def != nil && env.kind == kindWorkspace {
		def.Freeze()
		c.defaults[name] = def
	}
	if def == nil {
		def = c.defaults[name]
	}
	s, ok := c.set[name]
	switch {
	case ok:
		return convertSet(name, s, def)
	case def == nil:
		return nil, fmt.Errorf("config %q: no default here nor in %s, and no --set %s=VALUE", name, WorkspaceFile, name)
	}
	return def, nil
}

func (c *configState) note(name string) {
	c.mu.Lock()
	c.names[name] = true
	c.mu.Unlock()
}

// convertSet converts the --set value s of config name to the type of its
// default def; with no default, it stays a string.
func convertSet(name, s string, def sl.Value) (sl.Value, error) {
	bad := func(want string) error {
		return fmt.Errorf("config %q: --set %s=%s: want %s, like the default %s", name, name, s, want, def)
	}
	switch def.(type) {
	case nil, sl.String:
		return sl.String(s), nil
	case sl.Bool:
		switch s {
		case "true", "True", "1":
			return sl.True, nil
		case "false", "False", "0":
			return sl.False, nil
		}
		return nil, bad("true or false")
	case sl.Int:
		n, err := strconv.ParseInt(s, 0, 64)
		if err != nil {
			return nil, bad("an integer")
		}
		return sl.MakeInt64(n), nil
	case sl.Float:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, bad("a number")
		}
		return sl.Float(f), nil
	}
	return nil, fmt.Errorf("config %q: a default of type %s cannot be set from the command line (use a string, int, float or bool)",
		name, def.Type())
}

// checkUnused returns an error for the first --set name, in sorted order,
// that no config() call read: most likely a typo.
func (c *configState) checkUnused() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, name := range sortedKeys(c.set) {
		if c.names[name] {
			continue
		}
		msg := fmt.Sprintf("--set %s: no config() named %q", name, name)
		known := sortedKeys(c.names)
		switch near := nearest(name, known); {
		case near != "":
			msg += fmt.Sprintf(" (did you mean %q?)", near)
		case len(known) == 0:
			msg += " (no file calls config())"
		default:
			msg += " (known: " + quoteList(known) + ")"
		}
		return &graph.Error{Msg: msg}
	}
	return nil
}

// nearest returns the candidate closest to x in edit distance, if it is
// close enough to be a likely typo, or "".
func nearest(x string, candidates []string) string {
	best, bestDist := "", max(1, len(x)/3)+1
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(x), strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}
