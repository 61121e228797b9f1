package builder

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRandomIncremental makes random edits, reverts, files appearing in
// and vanishing from globbed directories, command changes and deleted
// outputs, builds after each round, and checks every output against what
// its inputs make and that exactly the rules whose inputs took contents
// never built before ran (the others are up to date or restored).
func TestRandomIncremental(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { randomIncremental(t, seed) })
	}
}

// The workspace: packages p0..p3, each with rule g (cat of glob *.md) and
// a chain r0 <- r1 <- r2, r_i reading s_i.txt and r_{i-1}; p_k's r0 also
// reads p_{k-1}'s g. Each rule's command is cat or upper.
const (
	randPackages = 4
	randChain    = 3
)

type randModel struct {
	src  map[string]string // p/s_i.txt and p/*.md contents, by path
	cmd  map[string]string // rule (p:name) -> cat or upper
	seen map[string]bool   // rule + what its key hashes, ever built
}

func (m *randModel) buildFile(k int) string {
	p := fmt.Sprintf("p%d", k)
	var b strings.Builder
	fmt.Fprintf(&b, "rule(name = \"g\", srcs = glob([\"*.md\"]), outs = [\"g.out\"], cmd = %q)\n", m.cmd[p+":g"])
	for i := range randChain {
		srcs := fmt.Sprintf(`"s%d.txt"`, i)
		if i > 0 {
			srcs += fmt.Sprintf(`, ":r%d"`, i-1)
		} else if k > 0 {
			srcs += fmt.Sprintf(`, "//p%d:g"`, k-1)
		}
		fmt.Fprintf(&b, "rule(name = \"r%d\", srcs = [%s], outs = [\"r%d.out\"], cmd = %q)\n", i, srcs, i, m.cmd[fmt.Sprintf("%s:r%d", p, i)])
	}
	return b.String()
}

// expect returns every output's contents and the rules a build must run.
func (m *randModel) expect() (map[string]string, []string) {
	outs := map[string]string{}
	var ran []string
	apply := func(rule string, inputs []string, names string) string {
		var b strings.Builder
		for _, in := range inputs {
			b.WriteString(in)
		}
		out := b.String()
		if m.cmd[rule] == "upper" {
			out = strings.ToUpper(out)
		}
		key := rule + "\x00" + m.cmd[rule] + "\x00" + names + "\x00" + strings.Join(inputs, "\x00")
		if !m.seen[key] {
			m.seen[key] = true
			ran = append(ran, "//"+rule)
		}
		return out
	}
	for k := range randPackages {
		p := fmt.Sprintf("p%d", k)
		var mds []string
		for path := range m.src {
			if strings.HasPrefix(path, p+"/") && strings.HasSuffix(path, ".md") {
				mds = append(mds, path)
			}
		}
		slices.Sort(mds)
		var contents []string
		for _, md := range mds {
			contents = append(contents, m.src[md])
		}
		outs[p+"/g.out"] = apply(p+":g", contents, strings.Join(mds, ","))
		prev := ""
		if k > 0 {
			prev = outs[fmt.Sprintf("p%d/g.out", k-1)]
		}
		for i := range randChain {
			out := apply(fmt.Sprintf("%s:r%d", p, i), []string{m.src[fmt.Sprintf("%s/s%d.txt", p, i)], prev}, "")
			outs[fmt.Sprintf("%s/r%d.out", p, i)] = out
			prev = out
		}
	}
	slices.Sort(ran)
	return outs, ran
}

func randomIncremental(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 42))
	words := []string{"x\n", "y\n", "z\n"}
	m := &randModel{src: map[string]string{}, cmd: map[string]string{}, seen: map[string]bool{}}
	files := map[string]string{}
	for k := range randPackages {
		p := fmt.Sprintf("p%d", k)
		m.cmd[p+":g"] = "cat"
		for i := range randChain {
			m.cmd[fmt.Sprintf("%s:r%d", p, i)] = "cat"
			path := fmt.Sprintf("%s/s%d.txt", p, i)
			m.src[path] = words[rng.IntN(len(words))]
			files[path] = m.src[path]
		}
		m.src[p+"/a.md"] = "a\n"
		files[p+"/a.md"] = "a\n"
		files[p+"/BUILD"] = m.buildFile(k)
	}
	root := writeTree(t, files)
	f := &fakeRunner{}
	ws, _ := openTest(t, root, f, "")
	check := func(round int, what []string) {
		t.Helper()
		outs, want := m.expect()
		// Now and then the next build is another process's, reading the
		// database (its appended records) from disk; and a build of one
		// package's rules comes first, so that the full build's request
		// finds the database changed by another request.
		if rng.IntN(3) == 0 {
			ws.Close()
			ws, _ = openTest(t, root, f, ws.StoreDir())
			what = append(what, "new process")
		}
		var ran []string
		if rng.IntN(3) == 0 {
			pkg := fmt.Sprintf("//p%d/...", rng.IntN(randPackages))
			build(t, ws, Request{Patterns: []string{pkg}})
			ran = f.took()
			what = append(what, "built "+pkg+" first")
		}
		_, events, _ := build(t, ws, Request{})
		got := append(ran, f.took()...)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			for l, ev := range events {
				if ev.Status != "ok" {
					t.Logf("%s: %s %s %s %s", l, ev.Status, ev.Cache, ev.Reason, ev.Output)
				}
			}
			t.Fatalf("round %d (%s): ran %q, want %q", round, strings.Join(what, "; "), got, want)
		}
		for path, content := range outs {
			if got := readFile(t, root, path); got != content {
				t.Fatalf("round %d (%s): %s = %q, want %q", round, strings.Join(what, "; "), path, got, content)
			}
		}
		if len(events) != randPackages*(randChain+1) {
			t.Fatalf("round %d: %d rule events", round, len(events))
		}
	}
	check(0, []string{"first build"})
	for round := 1; round <= 30; round++ {
		var what []string
		for range 1 + rng.IntN(3) {
			k := rng.IntN(randPackages)
			p := fmt.Sprintf("p%d", k)
			switch op := rng.IntN(10); {
			case op < 4: // edit (often back to what it was: a revert)
				path := fmt.Sprintf("%s/s%d.txt", p, rng.IntN(randChain))
				m.src[path] = words[rng.IntN(len(words))]
				write(t, root, path, m.src[path])
				what = append(what, "edit "+path)
			case op < 7: // a globbed file appears, changes or goes
				path := fmt.Sprintf("%s/%c.md", p, 'a'+rng.IntN(3))
				if _, ok := m.src[path]; ok && rng.IntN(2) == 0 {
					delete(m.src, path)
					remove(t, root, path)
					what = append(what, "remove "+path)
				} else {
					m.src[path] = words[rng.IntN(len(words))]
					write(t, root, path, m.src[path])
					what = append(what, "write "+path)
				}
			case op < 9: // a command changes
				rule := fmt.Sprintf("%s:r%d", p, rng.IntN(randChain))
				if rng.IntN(3) == 0 {
					rule = p + ":g"
				}
				m.cmd[rule] = map[string]string{"cat": "upper", "upper": "cat"}[m.cmd[rule]]
				write(t, root, p+"/BUILD", m.buildFile(k))
				what = append(what, "command of "+rule)
			default: // an output deleted: restored, not run
				path := fmt.Sprintf("%s/r%d.out", p, rng.IntN(randChain))
				remove(t, root, path)
				what = append(what, "delete "+path)
			}
		}
		check(round, what)
	}
}

// remove removes a file and stamps its directory with the tests' clock,
// as write does.
func remove(t *testing.T, root, name string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(name))
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(ticks.Add(1)) * time.Second)
	if err := os.Chtimes(filepath.Dir(p), when, when); err != nil {
		t.Fatal(err)
	}
}
