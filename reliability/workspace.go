// Package reliability is pex's reliability suite: it drives the real pex
// binary on a generated workspace, killing it with SIGKILL at random
// moments, running builds concurrently and saving files while rules run,
// and checks after each round that every output is the one its inputs
// make. `go test ./reliability` runs a short form (also part of make
// test); `make reliability` runs the long one.
//
// This file generates the workspace and knows, for any contents of its
// sources, what every output must hold.
package reliability

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// The workspace: packages of rules, each rule concatenating some of its
// package's sources and up to two outputs of earlier packages, some with
// the package's tool, some with a header found through a depfile. Every
// command writes its output in place in pieces, with pauses between them
// of a tenth of a second or so. The last package also has a dynamic rule,
// which generates one or two rules from what gen.txt holds (see
// generated).
const (
	packages        = 12
	rulesPerPackage = 10
	sourcesPer      = 4
	variants        = 3 // contents each editable file can have
)

// rule is one generated rule.
type rule struct {
	pkg, name string
	srcs      []string // as in the BUILD file: package-relative, or labels of outputs
	tool      bool     // runs the package's tool.sh
	header    bool     // reads h.txt, which its depfile names
	pause     [2]int   // hundredths of a second
}

func (r rule) label() string { return "//" + r.pkg + ":" + r.name }
func (r rule) out() string   { return r.pkg + "/" + r.name + ".out" }

// workspace is a generated workspace and the contents of its files.
type workspace struct {
	dir   string
	rules []rule
	// files maps every editable file (sources, tools, headers), by
	// workspace path, to the variant it holds.
	files map[string]int
}

// newWorkspace generates the workspace in dir, every file at variant 0.
func newWorkspace(dir string, seed uint64) (*workspace, error) {
	rng := rand.New(rand.NewPCG(seed, 1))
	w := &workspace{dir: dir, files: map[string]int{}}
	for p := range packages {
		pkg := fmt.Sprintf("p%02d", p)
		for s := range sourcesPer {
			w.files[fmt.Sprintf("%s/s%d.txt", pkg, s)] = 0
		}
		w.files[pkg+"/tool.sh"] = 0
		w.files[pkg+"/h.txt"] = 0
		if p == packages-1 {
			w.files[pkg+"/gen.txt"] = 0
		}
		for j := range rulesPerPackage {
			r := rule{pkg: pkg, name: fmt.Sprintf("r%d", j), tool: j%3 == 0, header: j%4 == 1,
				pause: [2]int{5 + rng.IntN(10), 5 + rng.IntN(15)}}
			for _, s := range rng.Perm(sourcesPer)[:1+rng.IntN(2)] {
				r.srcs = append(r.srcs, fmt.Sprintf("s%d.txt", s))
			}
			for range rng.IntN(3) {
				if len(w.rules) == 0 || p == 0 {
					break
				}
				d := w.rules[rng.IntN(p*rulesPerPackage)] // an earlier package's
				l := "//" + d.pkg + ":" + d.name + ".out"
				if !contains(r.srcs, l) {
					r.srcs = append(r.srcs, l)
				}
			}
			w.rules = append(w.rules, r)
		}
	}
	if err := w.writeAll(); err != nil {
		return nil, err
	}
	return w, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// writeAll writes pex.star, the BUILD files and every editable file.
func (w *workspace) writeAll() error {
	if err := w.write("pex.star", ""); err != nil {
		return err
	}
	byPkg := map[string][]rule{}
	for _, r := range w.rules {
		byPkg[r.pkg] = append(byPkg[r.pkg], r)
	}
	for pkg, rules := range byPkg {
		var b strings.Builder
		for _, r := range rules {
			b.WriteString(r.build())
		}
		if pkg == dynamicPkg() {
			b.WriteString(generator)
		}
		if err := w.write(pkg+"/BUILD", b.String()); err != nil {
			return err
		}
	}
	for path, v := range w.files {
		if err := w.set(path, v); err != nil {
			return err
		}
	}
	return nil
}

// build returns the rule's BUILD text.
func (r rule) build() string {
	cmd := fmt.Sprintf("echo %s > $OUT; sleep 0.%02d; cat $SRCS >> $OUT", r.label(), r.pause[0])
	extra := ""
	if r.tool {
		cmd += "; sh tool.sh >> $OUT"
		extra += `, tools = ["tool.sh"]`
	}
	if r.header {
		cmd += `; cat h.txt >> $OUT; echo "$OUT: h.txt" > $OUT.d`
		extra += `, depfile = "$OUT.d"`
	}
	cmd += fmt.Sprintf("; sleep 0.%02d; echo end >> $OUT", r.pause[1])
	return fmt.Sprintf("rule(name = %q, srcs = %s, outs = [%q], cmd = %q%s)\n",
		r.name, starlarkList(r.srcs), r.name+".out", cmd, extra)
}

func starlarkList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// dynamicPkg is the package with the dynamic rule.
func dynamicPkg() string { return fmt.Sprintf("p%02d", packages-1) }

// generator is the dynamic rule: it generates d0, which reads s0.txt and
// embeds what gen.txt holds, and, when gen.txt holds an odd variant, d1,
// which reads d0's output; their commands pause as the others' do.
const generator = `rule(name = "gen", srcs = ["gen.txt"], dynamic = True, cmd = """
v=$(cat gen.txt)
sleep 0.05
printf 'rule(name = "d0", srcs = ["s0.txt"], outs = ["d0.out"], cmd = "echo d0 > $OUT; sleep 0.05; cat $SRCS >> $OUT; echo %s >> $OUT; echo end >> $OUT")\\n' "$v" > $PEX_DYNAMIC
case "$v" in *v1) printf 'rule(name = "d1", srcs = [":d0.out"], outs = ["d1.out"], cmd = "echo d1 > $OUT; sleep 0.05; cat $SRCS >> $OUT; echo end >> $OUT")\\n' >> $PEX_DYNAMIC;; esac
""")
`

// generated returns what the generated rules' outputs must hold for the
// files' current variants, by workspace path.
func (w *workspace) generated() map[string]string {
	pkg := dynamicPkg()
	gen := content(pkg+"/gen.txt", w.files[pkg+"/gen.txt"])
	d0 := "d0\n" + content(pkg+"/s0.txt", w.files[pkg+"/s0.txt"]) + gen + "end\n"
	out := map[string]string{pkg + "/d0.out": d0}
	if w.files[pkg+"/gen.txt"]%2 == 1 {
		out[pkg+"/d1.out"] = "d1\n" + d0 + "end\n"
	}
	return out
}

// content returns what the editable file at path holds at variant v.
func content(path string, v int) string {
	if strings.HasSuffix(path, "tool.sh") {
		return fmt.Sprintf("echo tool %s v%d\n", path, v)
	}
	return fmt.Sprintf("%s v%d\n", path, v)
}

// set writes variant v of the editable file at path.
func (w *workspace) set(path string, v int) error {
	w.files[path] = v
	return w.write(path, content(path, v))
}

func (w *workspace) write(rel, text string) error {
	p := filepath.Join(w.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(text), 0o666)
}

// editable returns the editable files, sorted, for picking at random.
func (w *workspace) editable() []string {
	paths := make([]string, 0, len(w.files))
	for p := range w.files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

// expected returns what every output must hold for the files' current
// variants, by workspace path.
func (w *workspace) expected() map[string]string {
	want := make(map[string]string, len(w.rules))
	for _, r := range w.rules {
		var b strings.Builder
		b.WriteString(r.label() + "\n")
		for _, s := range r.srcs {
			if strings.HasPrefix(s, "//") {
				dep := strings.TrimPrefix(s, "//")
				dep = strings.Replace(dep, ":", "/", 1)
				b.WriteString(want[dep])
				continue
			}
			p := r.pkg + "/" + s
			b.WriteString(content(p, w.files[p]))
		}
		if r.tool {
			p := r.pkg + "/tool.sh"
			fmt.Fprintf(&b, "tool %s v%d\n", p, w.files[p])
		}
		if r.header {
			p := r.pkg + "/h.txt"
			b.WriteString(content(p, w.files[p]))
		}
		b.WriteString("end\n")
		want[r.out()] = b.String()
	}
	for p, c := range w.generated() {
		want[p] = c
	}
	return want
}

// wrongOutputs compares the outputs in the tree with want and returns the
// paths of those that differ or are missing.
func (w *workspace) wrongOutputs(want map[string]string) []string {
	var wrong []string
	for _, p := range slices.Sorted(maps.Keys(want)) {
		got, err := os.ReadFile(filepath.Join(w.dir, p))
		if err != nil || string(got) != want[p] {
			wrong = append(wrong, p)
		}
	}
	return wrong
}
