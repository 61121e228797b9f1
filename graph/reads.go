package graph

import "strings"

// Reads says which outputs of its dependencies t reads, for its cache key:
// rules are the dependencies t names as rules (in deps, or by label in
// srcs or tools), whose every output it reads; files are the
// workspace-relative paths its srcs and tools name one by one, among them
// the outputs it reads of its other dependencies. Only the rules need be
// in g. A rule whose key took every output of a
// dependency that it reads one file of would rerun when another output of
// that dependency changed.
func (g *Graph) Reads(t *Target) (rules []*Target, files []string) {
	for _, l := range t.Deps {
		if d, ok := g.Lookup(l); ok {
			rules = append(rules, d)
		}
	}
	for _, list := range [2][]string{t.Srcs, t.Tools} {
		for _, s := range list {
			var p string
			switch {
			case s == "":
				continue
			case strings.HasPrefix(s, "//") || s[0] == ':':
				l, err := ParseLabel(s, t.Label.Pkg)
				if err != nil {
					continue
				}
				if d, ok := g.Lookup(l); ok {
					rules = append(rules, d)
					continue
				}
				p = l.Path()
			case s[0] == '/':
				continue // a host tool
			default:
				if p, _ = joinPath(t.Label.Pkg, s); p == "" {
					continue
				}
			}
			files = append(files, p)
		}
	}
	return rules, files
}
