// This file holds the Graph type: registration of targets, groups and
// packages, and lookups by name.

package graph

import (
	"fmt"
	"path"
	"slices"
)

// Graph holds every rule, group and package of a workspace. BUILD file
// evaluation fills it with Add, AddGroup and AddPackage; Resolve then links
// targets to the files and rules they use; Select, Closure, Dependents and
// Producer answer queries.
//
// A Graph is not safe for concurrent use. The zero Graph is empty and ready
// to use.
type Graph struct {
	// Targets are the registered rules, in registration order. Add them
	// with Add, which indexes them; do not modify the slice.
	Targets []*Target
	// Groups are the exclusive scheduling groups, in definition order.
	// Add them with AddGroup.
	Groups []Group

	byLabel  map[string]int32 // "pkg:name" → index in Targets
	groups   map[string]int   // name → index in Groups
	packages map[string]bool  // every package path
	pkgList  []string         // sorted packages; nil when stale
	outputs  map[string]int32 // workspace-relative output → producer index

	// Dependency edges of the resolved targets, Targets[:len(depEnd)], as
	// indices into Targets: the edges of target i are
	// deps[depEnd[i-1]:depEnd[i]] (from 0 for i == 0).
	deps   []int32
	depEnd []int32
}

// New returns an empty graph.
func New() *Graph {
	g := &Graph{}
	g.lazyInit()
	return g
}

// lazyInit makes the maps, so that the zero Graph works.
func (g *Graph) lazyInit() {
	if g.byLabel == nil {
		g.byLabel = make(map[string]int32)
		g.groups = make(map[string]int)
		g.packages = make(map[string]bool)
		g.outputs = make(map[string]int32)
	}
}

// Add registers a target, and its package. It fails with an *Error at
// t.Pos when the label is malformed or already taken. Targets may be added
// after Resolve (rules registered by a dynamic rule); the next Resolve
// resolves them.
func (g *Graph) Add(t *Target) error {
	g.lazyInit()
	if reason := checkLabel(t.Label); reason != "" {
		return &Error{Pos: t.Pos, Msg: reason}
	}
	if i, dup := g.ruleIndex(t.Label); dup {
		return &Error{Pos: t.Pos, Msg: fmt.Sprintf("rule %q already defined at %s",
			t.Label.String(), g.Targets[i].Pos)}
	}
	g.byLabel[t.Label.Pkg+":"+t.Label.Name] = int32(len(g.Targets))
	g.Targets = append(g.Targets, t)
	g.AddPackage(t.Label.Pkg)
	return nil
}

// AddGroup registers an exclusive scheduling group. It fails with an *Error
// at gr.Pos when the name is empty or already taken.
func (g *Graph) AddGroup(gr Group) error {
	g.lazyInit()
	if gr.Name == "" {
		return &Error{Pos: gr.Pos, Msg: "group with an empty name"}
	}
	if i, dup := g.groups[gr.Name]; dup {
		return &Error{Pos: gr.Pos, Msg: fmt.Sprintf("group %q already defined at %s",
			gr.Name, g.Groups[i].Pos)}
	}
	g.groups[gr.Name] = len(g.Groups)
	g.Groups = append(g.Groups, gr)
	return nil
}

// AddPackage registers a package path, "" for the root. Add registers the
// package of each target; AddPackage is for packages whose BUILD file
// defines no rule, which patterns still match.
func (g *Graph) AddPackage(pkg string) {
	g.lazyInit()
	if !g.packages[pkg] {
		g.packages[pkg] = true
		g.pkgList = nil
	}
}

// Lookup returns the target with the label.
func (g *Graph) Lookup(l Label) (*Target, bool) {
	i, ok := g.ruleIndex(l)
	if !ok {
		return nil, false
	}
	return g.Targets[i], true
}

// Group returns the group with the name.
func (g *Graph) Group(name string) (Group, bool) {
	i, ok := g.groups[name]
	if !ok {
		return Group{}, false
	}
	return g.Groups[i], true
}

// Producer returns the target that outputs the file at the
// workspace-relative path. It knows the outputs of resolved targets only.
func (g *Graph) Producer(p string) (*Target, bool) {
	i, ok := g.outputs[path.Clean(p)]
	if !ok {
		return nil, false
	}
	return g.Targets[i], true
}

// Packages returns the distinct package paths, sorted. The caller must not
// modify the slice.
func (g *Graph) Packages() []string {
	if g.pkgList == nil {
		g.pkgList = make([]string, 0, len(g.packages))
		for p := range g.packages {
			g.pkgList = append(g.pkgList, p)
		}
		slices.Sort(g.pkgList)
	}
	return g.pkgList
}

// hasPackageIn reports whether some package is at or below dir.
func (g *Graph) hasPackageIn(dir string) bool {
	pkgs := g.Packages()
	i, found := slices.BinarySearch(pkgs, dir)
	// Packages below dir sort right after dir itself ("lib" < "lib/a"),
	// though "lib-x" and "lib.x" sort between them: scan past those.
	for ; !found && i < len(pkgs); i++ {
		if inDir(pkgs[i], dir) {
			return true
		}
		if len(pkgs[i]) < len(dir) || pkgs[i][:len(dir)] != dir {
			return false
		}
	}
	return found
}

// ruleIndex returns the index in g.Targets of the rule with label l. The
// index is keyed by one string rather than by Label, which hashes and
// compares faster; building the key in a buffer on the stack allocates
// nothing.
func (g *Graph) ruleIndex(l Label) (int32, bool) {
	var buf [128]byte
	key := append(append(append(buf[:0], l.Pkg...), ':'), l.Name...)
	i, ok := g.byLabel[string(key)]
	return i, ok
}

// index returns the index of t in g.Targets, or -1.
func (g *Graph) index(t *Target) int {
	i, ok := g.ruleIndex(t.Label)
	if !ok || g.Targets[i] != t {
		return -1
	}
	return int(i)
}

// edges returns the dependency edges of resolved target i.
func (g *Graph) edges(i int) []int32 {
	if i >= len(g.depEnd) {
		return nil
	}
	start := int32(0)
	if i > 0 {
		start = g.depEnd[i-1]
	}
	return g.deps[start:g.depEnd[i]]
}
