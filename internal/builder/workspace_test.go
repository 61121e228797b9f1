package builder

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pex-build/pex/cache"
	"github.com/pex-build/pex/internal/db"
)

// testWorkspace writes a workspace (pex.star and files) and opens it with
// a store of its own, a clock an hour ahead (files just written count as
// old enough to memoise: no test sleeps past the racy margin) and runner
// (nil: real processes).
func testWorkspace(t *testing.T, files map[string]string, runner Runner) *Workspace {
	t.Helper()
	ws, _ := openTest(t, writeTree(t, files), runner, "")
	return ws
}

// writeTree writes files (and an empty pex.star) into a new directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	files["pex.star"] += ""
	for name, content := range files {
		write(t, root, name, content)
	}
	return root
}

// ticks is the tests' file clock: every write is stamped a second after
// the one before, in the past, so that two writes never share a
// timestamp however coarse the file system's, and no write is recent.
var ticks atomic.Int64

func write(t *testing.T, root, name, content string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		t.Fatal(err)
	}
	os.Remove(p) // outputs are read-only
	if err := os.WriteFile(p, []byte(content), 0o666); err != nil {
		t.Fatal(err)
	}
	// The file and its directory (whose listing a glob or the package
	// walk may depend on) both get the new time.
	when := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(ticks.Add(1)) * time.Second)
	for _, q := range []string{p, filepath.Dir(p)} {
		if err := os.Chtimes(q, when, when); err != nil {
			t.Fatal(err)
		}
	}
}

func readFile(t *testing.T, root, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// openTest opens the workspace at root as testWorkspace does, with the
// store at storeDir ("" for a new one), the database looking through a
// file system that counts its stats.
func openTest(t *testing.T, root string, runner Runner, storeDir string) (*Workspace, *countingFS) {
	t.Helper()
	dir := storeDir
	if dir == "" {
		dir = t.TempDir()
	}
	fsys := &countingFS{FS: db.OS(root)}
	ws, err := Open(root, OpenOptions{StoreDir: dir, Runner: runner, FS: fsys,
		Now: func() time.Time { return time.Now().Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ws.Close)
	return ws, fsys
}

// countingFS counts what the database stats.
type countingFS struct {
	db.FS
	stats atomic.Int64
}

func (c *countingFS) Statter() db.Statter { return &countingStatter{c.FS.Statter(), &c.stats} }

type countingStatter struct {
	db.Statter
	n *atomic.Int64
}

func (s *countingStatter) Stat(p []byte, lstat bool) cache.Stat {
	s.n.Add(1)
	return s.Statter.Stat(p, lstat)
}

// fakeRunner does in Go what the test rules' commands say, and remembers
// which rules ran. A command is words, done in order:
//
//	cat        each output gets the rule's srcs, concatenated
//	upper      the same, upper-cased
//	first      the first line of the srcs
//	dep        the files the first src lists (one per line), concatenated;
//	           the depfile names them
//	fail       the command fails
//	block      waits until the build is cancelled
//	find:X     reports finding X
//	share:K=V  shares K=V with dependents
//	echo:K     writes the shared value K it received
//	gen:F      generates the rules file F of the package holds (for a
//	           dynamic rule: what it would write to $PEX_DYNAMIC)
type fakeRunner struct {
	mu  sync.Mutex
	ran []string
	// started, if set, is called as each command starts.
	started func(label string)
}

func (f *fakeRunner) run(ctx context.Context, c *command) (*outcome, error) {
	t := c.t
	label := t.Label.String()
	f.mu.Lock()
	f.ran = append(f.ran, label)
	started := f.started
	f.mu.Unlock()
	if started != nil {
		started(label)
		if err := ctx.Err(); err != nil {
			return nil, err // killed as it started
		}
	}
	if err := prepareOutputs(c.root, t); err != nil {
		return nil, c.fail(-1, err.Error())
	}
	o := &outcome{shared: map[string]any{}}
	if c.clock != nil {
		o.started = c.clock.Now()
	}
	pkg := filepath.Join(c.root, filepath.FromSlash(t.Label.Pkg))
	cat := func(names []string) (string, error) {
		var b strings.Builder
		for _, n := range names {
			data, err := os.ReadFile(filepath.Join(pkg, n))
			if err != nil {
				return "", err
			}
			b.Write(data)
		}
		return b.String(), nil
	}
	var out string
	for _, word := range strings.Fields(t.Cmd) {
		var err error
		switch verb, arg, _ := strings.Cut(word, ":"); verb {
		case "cat", "upper", "first":
			out, err = cat(c.srcs)
			if verb == "upper" {
				out = strings.ToUpper(out)
			} else if verb == "first" {
				out, _, _ = strings.Cut(out, "\n")
			}
		case "dep":
			var list string
			if list, err = cat(c.srcs[:1]); err == nil {
				names := strings.Fields(list)
				if out, err = cat(names); err == nil {
					df := filepath.Join(pkg, depfilePath(t))
					err = os.WriteFile(df, []byte(t.Outs[0]+": "+strings.Join(names, " ")+"\n"), 0o666)
				}
			}
		case "fail":
			return o, c.fail(1, "command exited with status 1")
		case "block":
			<-ctx.Done()
			return o, ctx.Err()
		case "find":
			o.findings = append(o.findings, arg)
		case "share":
			k, v, _ := strings.Cut(arg, "=")
			o.shared[k] = v
			o.sharedOrder = append(o.sharedOrder, k)
		case "echo":
			out += fmt.Sprint(c.shared[arg])
		case "gen":
			o.generated, err = cat([]string{arg})
		default:
			return o, c.fail(-1, "fake runner: unknown word "+word)
		}
		if err != nil {
			return o, c.fail(-1, err.Error())
		}
	}
	for _, p := range t.OutFiles {
		if err := os.WriteFile(filepath.Join(c.root, filepath.FromSlash(p)), []byte(out), 0o666); err != nil {
			return o, c.fail(-1, err.Error())
		}
	}
	return o, nil
}

// took returns the rules run since the last call, sorted.
func (f *fakeRunner) took() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ran := f.ran
	f.ran = nil
	slices.Sort(ran)
	return ran
}

// build builds req in ws, failing the test on an error, and returns the
// summary, the rule events by label, and the notes.
func build(t *testing.T, ws *Workspace, req Request) (*Summary, map[string]Event, []string) {
	t.Helper()
	events := map[string]Event{}
	var notes []string
	req.OnEvent = func(ev Event) {
		if ev.Event == EventRule {
			events[ev.Label] = ev
		}
	}
	req.OnNote = func(n string) { notes = append(notes, n) }
	req.HostEnv = func(string) (string, bool) { return "", false }
	if req.Command == "" {
		req.Command = "build"
	}
	req.Verbose = true
	sum, err := ws.Build(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	return sum, events, notes
}

// expectRan builds req and checks that exactly the rules want ran.
func expectRan(t *testing.T, ws *Workspace, f *fakeRunner, req Request, want ...string) (*Summary, map[string]Event) {
	t.Helper()
	sum, events, notes := build(t, ws, req)
	slices.Sort(want)
	if got := f.took(); !slices.Equal(got, want) {
		t.Fatalf("ran %q, want %q (notes %q)", got, want, notes)
	}
	return sum, events
}

var chain = map[string]string{
	"BUILD": `
rule(name = "lower", srcs = ["a.txt", "b.txt"], outs = ["ab.txt"], cmd = "cat")
rule(name = "upper", srcs = [":lower"], outs = ["AB.txt"], cmd = "upper")
rule(name = "first", srcs = [":upper"], outs = ["first.txt"], cmd = "first find:checked")
rule(name = "c", srcs = ["c.txt"], outs = ["c.out"], cmd = "cat")
`,
	"a.txt": "a1\n", "b.txt": "b1\n", "c.txt": "c1\n",
}

func TestBuildNoop(t *testing.T) {
	f := &fakeRunner{}
	root := writeTree(t, chain)
	ws, fsys := openTest(t, root, f, "")
	sum, _, notes := build(t, ws, Request{})
	if sum.Evaluated != "no evaluation saved" || len(f.took()) != 4 {
		t.Errorf("first build: evaluated %q", sum.Evaluated)
	}
	// -v says why it looked at every rule.
	if want := "checked every rule against the database (this request was never verified): 4 to build"; !slices.Contains(notes, want) {
		t.Errorf("first build's notes %q, want %q", notes, want)
	}
	if got := readFile(t, root, "first.txt"); got != "A1" {
		t.Errorf("first.txt = %q", got)
	}
	// The clock says every file is old enough: the build verified the
	// request, so a no-op stats only the files it depends on.
	fsys.stats.Store(0)
	sum, events := expectRan(t, ws, f, Request{})
	if sum.Evaluated != "" || !sum.Verified || sum.Dirty != 0 || len(events) != 4 {
		t.Errorf("no-op: %+v, %d events", sum, len(events))
	}
	if ev := events["//:first"]; ev.Status != "warn" || ev.Cache != "hit" || !slices.Equal(ev.Findings, []string{"checked"}) {
		t.Errorf("no-op replayed //:first as %+v", ev)
	}
	// pex.star, BUILD and the root directory for the evaluation; 3
	// sources and 4 outputs for the rules.
	if n := fsys.stats.Load(); n != int64(sum.Files)+3 || sum.Files != 7 {
		t.Errorf("verified no-op: %d stats for %d files", n, sum.Files)
	}
	// A new process (a new Workspace) sees the same.
	ws2, _ := openTest(t, root, f, ws.StoreDir())
	if sum, _ := expectRan(t, ws2, f, Request{}); !sum.Verified {
		t.Errorf("new process: not verified: %+v", sum)
	}
}

func TestBuildEditRevertCutoff(t *testing.T) {
	f := &fakeRunner{}
	files := maps.Clone(chain)
	files["BUILD"] += `rule(name = "final", srcs = [":first"], outs = ["final.txt"], cmd = "cat")` + "\n"
	root := writeTree(t, files)
	ws, _ := openTest(t, root, f, "")
	expectRan(t, ws, f, Request{}, "//:lower", "//:upper", "//:first", "//:final", "//:c")

	// An edit runs its rule and what depends on it, nothing else.
	write(t, root, "a.txt", "a2\n")
	_, events := expectRan(t, ws, f, Request{}, "//:lower", "//:upper", "//:first", "//:final")
	if got := readFile(t, root, "final.txt"); got != "A2" {
		t.Errorf("final.txt = %q after an edit", got)
	}
	if why := events["//:lower"].Why; !slices.Equal(why, []string{"srcs changed: a.txt"}) {
		t.Errorf("//:lower ran because %q", why)
	}

	// A revert restores the outputs from the store: nothing runs.
	write(t, root, "a.txt", "a1\n")
	_, events = expectRan(t, ws, f, Request{})
	if got := readFile(t, root, "final.txt"); got != "A1" {
		t.Errorf("final.txt = %q after a revert", got)
	}
	if ev := events["//:lower"]; ev.Cache != "restored" {
		t.Errorf("reverted //:lower: cache %q, want restored", ev.Cache)
	}

	// Early cutoff: b.txt's edit changes what upper writes but not its
	// first line, so final, reading first's output, does not run.
	write(t, root, "b.txt", "b2\n")
	expectRan(t, ws, f, Request{}, "//:lower", "//:upper", "//:first")
	if got := readFile(t, root, "AB.txt"); got != "A1\nB2\n" {
		t.Errorf("AB.txt = %q", got)
	}

	// A file saved as it was (a new stat, the same bytes) changes nothing.
	write(t, root, "c.txt", "c1\n")
	expectRan(t, ws, f, Request{})

	// A deleted output, or one changed in place, comes back from the
	// store.
	os.Remove(filepath.Join(root, "c.out"))
	write(t, root, "final.txt", "scribbled")
	_, events = expectRan(t, ws, f, Request{})
	if got := readFile(t, root, "c.out"); got != "c1\n" || events["//:c"].Cache != "restored" {
		t.Errorf("deleted c.out: %q, cache %q", got, events["//:c"].Cache)
	}
	if got := readFile(t, root, "final.txt"); got != "A1" {
		t.Errorf("final.txt = %q after it was scribbled on", got)
	}
}

func TestBuildDepfile(t *testing.T) {
	f := &fakeRunner{}
	root := writeTree(t, map[string]string{
		"BUILD": `rule(name = "dep", srcs = ["list.txt"], outs = ["dep.out"], depfile = "$OUT.d", cmd = "dep")
rule(name = "use", srcs = [":dep"], outs = ["use.out"], cmd = "upper")
`,
		"list.txt": "x.h\n", "x.h": "x1\n", "y.h": "y1\n",
	})
	ws, _ := openTest(t, root, f, "")
	expectRan(t, ws, f, Request{}, "//:dep", "//:use")
	expectRan(t, ws, f, Request{})

	// An edited input the depfile named reruns the rule.
	write(t, root, "x.h", "x2\n")
	_, events := expectRan(t, ws, f, Request{}, "//:dep", "//:use")
	if why := events["//:dep"].Why; len(why) != 1 || !strings.Contains(why[0], "x.h") {
		t.Errorf("//:dep ran because %q", why)
	}
	// The depfile now names y.h too: an edit to it is seen, one to a file
	// it never named is not.
	write(t, root, "list.txt", "x.h y.h\n")
	expectRan(t, ws, f, Request{}, "//:dep", "//:use")
	write(t, root, "y.h", "y2\n")
	expectRan(t, ws, f, Request{}, "//:dep", "//:use")
	if got := readFile(t, root, "use.out"); got != "X2\nY2\n" {
		t.Errorf("use.out = %q", got)
	}
	write(t, root, "z.h", "z\n")
	expectRan(t, ws, f, Request{})
	// Once it names x.h no more, x.h's edits do not rerun it.
	write(t, root, "list.txt", "y.h\n")
	expectRan(t, ws, f, Request{}, "//:dep", "//:use")
	write(t, root, "x.h", "x3\n")
	expectRan(t, ws, f, Request{})
}

func TestBuildInterrupted(t *testing.T) {
	f := &fakeRunner{}
	root := writeTree(t, map[string]string{
		"BUILD": `rule(name = "fast", srcs = ["a.txt"], outs = ["fast.out"], cmd = "cat")
rule(name = "slow", srcs = ["a.txt"], outs = ["slow.out"], cmd = "block")
rule(name = "after", srcs = [":slow"], outs = ["after.out"], cmd = "cat")
`,
		"a.txt": "a\n",
	})
	ws, _ := openTest(t, root, f, "")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req := Request{Command: "build", Jobs: 2, HostEnv: func(string) (string, bool) { return "", false },
		OnEvent: func(ev Event) {
			if ev.Label == "//:fast" {
				cancel() // Ctrl-C once fast is done
			}
		}}
	sum, err := ws.Build(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Canceled || sum.Counts["ok"] != 1 {
		t.Fatalf("interrupted build: %+v", sum)
	}
	f.took()
	// What finished stays done; what was interrupted runs again.
	write(t, root, "BUILD", strings.Replace(readFile(t, root, "BUILD"), `cmd = "block"`, `cmd = "cat"`, 1))
	expectRan(t, ws, f, Request{}, "//:slow", "//:after")
}

// TestBuildKilled kills a build (as kill -9 would: its database is never
// saved) after some rules ran and while one was writing its output: the
// next pex must leave every output right, running only what the store
// cannot vouch for.
func TestBuildKilled(t *testing.T) {
	f := &fakeRunner{}
	root := writeTree(t, chain)
	ws, _ := openTest(t, root, f, "")
	expectRan(t, ws, f, Request{}, "//:lower", "//:upper", "//:first", "//:c")
	saved, err := os.ReadFile(ws.layout.DB())
	if err != nil {
		t.Fatal(err)
	}

	write(t, root, "a.txt", "a2\n")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f.started = func(label string) {
		if label == "//:upper" {
			cancel()
			os.Remove(filepath.Join(root, "AB.txt"))
			write(t, root, "AB.txt", "half") // what it wrote before it died
		}
	}
	if _, err := ws.Build(ctx, Request{Command: "build", HostEnv: func(string) (string, bool) { return "", false }}); err != nil {
		t.Fatal(err)
	}
	ws.Close()
	f.started = nil
	if err := os.WriteFile(ws.layout.DB(), saved, 0o666); err != nil { // the save that never happened
		t.Fatal(err)
	}
	if got := f.took(); !slices.Equal(got, []string{"//:lower", "//:upper"}) {
		t.Fatalf("killed build ran %q", got)
	}

	ws, _ = openTest(t, root, f, ws.StoreDir())
	_, events := expectRan(t, ws, f, Request{}, "//:upper", "//:first")
	if ev := events["//:lower"]; ev.Cache != "hit" {
		t.Errorf("//:lower, recorded in the store before the kill: cache %q, want hit", ev.Cache)
	}
	if got := readFile(t, root, "AB.txt"); got != "A2\nB1\n" {
		t.Errorf("AB.txt = %q", got)
	}
	expectRan(t, ws, f, Request{})
}

func TestBuildRequestsInARow(t *testing.T) {
	f := &fakeRunner{}
	root := writeTree(t, chain)
	ws, _ := openTest(t, root, f, "")
	c := Request{Patterns: []string{"//:c"}}
	first := Request{Patterns: []string{"//:first"}}
	sum, _ := expectRan(t, ws, f, c, "//:c")
	if !slices.Equal(sum.Roots, []string{"//:c"}) {
		t.Errorf("roots %q", sum.Roots)
	}
	expectRan(t, ws, f, Request{}, "//:lower", "//:upper", "//:first")
	expectRan(t, ws, f, c)
	expectRan(t, ws, f, first)

	// An edit outside a request leaves it up to date; the next request
	// that needs it builds it.
	write(t, root, "a.txt", "a2\n")
	expectRan(t, ws, f, c)
	expectRan(t, ws, f, Request{Patterns: []string{"//:upper"}}, "//:lower", "//:upper")
	expectRan(t, ws, f, first, "//:first")
	expectRan(t, ws, f, Request{})

	// Another directory is another request, with its own patterns.
	write(t, root, "sub/BUILD", `rule(name = "s", srcs = ["s.txt"], outs = ["s.out"], cmd = "cat")`)
	write(t, root, "sub/s.txt", "s\n")
	ws.Cwd = "sub"
	expectRan(t, ws, f, Request{}, "//sub:s")
	ws.Cwd = ""
	expectRan(t, ws, f, Request{})
}

func TestBuildEvaluation(t *testing.T) {
	f := &fakeRunner{}
	root := writeTree(t, map[string]string{
		"BUILD":      `rule(name = "a", srcs = ["a.txt"], outs = ["a.out"], cmd = "cat")` + "\n",
		"a.txt":      "a\n",
		"pex.star":   `greeting = config("greeting", "hello")` + "\n",
		"docs/BUILD": `rule(name = "docs", srcs = glob(["*.md"]), outs = ["docs.out"], cmd = "cat")` + "\n",
		"docs/1.md":  "one\n",
	})
	ws, _ := openTest(t, root, f, "")
	expectRan(t, ws, f, Request{}, "//:a", "//docs:docs")

	for _, tc := range []struct {
		name   string
		change func()
		req    Request
		why    string
		ran    []string
	}{
		{"nothing", func() {}, Request{}, "", nil},
		{"a rule added", func() {
			write(t, root, "BUILD", readFile(t, root, "BUILD")+`rule(name = "b", srcs = ["a.txt"], outs = ["b.out"], cmd = "upper")`+"\n")
		}, Request{}, "BUILD changed: BUILD", []string{"//:b"}},
		{"a globbed file added", func() { write(t, root, "docs/2.md", "two\n") }, Request{},
			"a file appeared or went in a globbed directory: docs/", []string{"//docs:docs"}},
		{"an output written in a globbed directory", func() { os.Remove(filepath.Join(root, "docs/docs.out")) }, Request{},
			"", nil},
		{"a new package", func() {
			write(t, root, "new/BUILD", `rule(name = "n", outs = ["n.out"], cmd = "cat")`)
		}, Request{}, "a directory the package walk lists changed: ./", []string{"//new:n"}},
		{"a --set value", func() {}, Request{Set: map[string]string{"greeting": "hey"}}, "the --set values changed", nil},
		{"the --set value again", func() {}, Request{Set: map[string]string{"greeting": "hey"}}, "", nil},
	} {
		tc.change()
		sum, _ := expectRan(t, ws, f, tc.req, tc.ran...)
		if sum.Evaluated != tc.why {
			t.Errorf("%s: evaluated %q, want %q", tc.name, sum.Evaluated, tc.why)
		}
	}
	if got := readFile(t, root, "docs/docs.out"); got != "one\ntwo\n" {
		t.Errorf("docs.out = %q", got)
	}
}

func TestBuildFailureAndShared(t *testing.T) {
	f := &fakeRunner{}
	root := writeTree(t, map[string]string{
		"BUILD": `rule(name = "base", srcs = ["v.txt"], cmd = "share:V=1")
rule(name = "leaf", srcs = ["l.txt"], deps = [":base"], outs = ["leaf.out"], cmd = "cat echo:V")
rule(name = "bad", srcs = ["bad.txt"], outs = ["bad.out"], cmd = "fail")
rule(name = "top", srcs = [":bad"], outs = ["top.out"], cmd = "cat")
`,
		"v.txt": "", "l.txt": "l:", "bad.txt": "",
	})
	ws, _ := openTest(t, root, f, "")
	sum, events := expectRan(t, ws, f, Request{KeepGoing: true}, "//:base", "//:leaf", "//:bad")
	if !sum.Failed || events["//:top"].Status != "skipped" {
		t.Errorf("failed build: %+v, //:top %+v", sum, events["//:top"])
	}
	// A failed rule runs again, and only it; its fix runs what it skipped.
	expectRan(t, ws, f, Request{KeepGoing: true}, "//:bad")
	write(t, root, "BUILD", strings.Replace(readFile(t, root, "BUILD"), `cmd = "fail"`, `cmd = "cat"`, 1))
	expectRan(t, ws, f, Request{}, "//:bad", "//:top")

	// An up-to-date rule passes its shared values on to a dependent that
	// runs; a changed value reruns the dependent.
	write(t, root, "l.txt", "l2:")
	expectRan(t, ws, f, Request{}, "//:leaf")
	if got := readFile(t, root, "leaf.out"); got != "l2:1" {
		t.Errorf("leaf.out = %q", got)
	}
	write(t, root, "BUILD", strings.Replace(readFile(t, root, "BUILD"), `share:V=1`, `share:V=2`, 1))
	expectRan(t, ws, f, Request{}, "//:base", "//:leaf")
	if got := readFile(t, root, "leaf.out"); got != "l2:2" {
		t.Errorf("leaf.out = %q", got)
	}
}

func TestBuildDryRunAndHints(t *testing.T) {
	f := &fakeRunner{}
	root := writeTree(t, chain)
	ws, _ := openTest(t, root, f, "")
	expectRan(t, ws, f, Request{}, "//:lower", "//:upper", "//:first", "//:c")

	// -n says what would run, and why, and changes nothing.
	write(t, root, "c.txt", "c2\n")
	_, events := expectRan(t, ws, f, Request{DryRun: true})
	if ev := events["//:c"]; !ev.DryRun || !slices.Equal(ev.Why, []string{"srcs changed: c.txt"}) {
		t.Errorf("dry run: //:c %+v", ev)
	}
	if ev := events["//:lower"]; ev.DryRun {
		t.Errorf("dry run: //:lower would run: %+v", ev)
	}

	// pex watch names the paths it saw change: they are all a verified
	// request stats.
	sum, _ := expectRan(t, ws, f, Request{Changed: []string{"c.txt"}}, "//:c")
	if !sum.Verified || sum.Changed != 1 {
		t.Errorf("hinted build: %+v", sum)
	}
	write(t, root, "a.txt", "a2\n")
	expectRan(t, ws, f, Request{Changed: []string{"a.txt"}}, "//:lower", "//:upper", "//:first")
	expectRan(t, ws, f, Request{Changed: []string{}})
	if got := readFile(t, root, "first.txt"); got != "A2" {
		t.Errorf("first.txt = %q", got)
	}
}

// TestBuildSameRuleInTwoPackages builds two packages holding the same
// rule on the same files: commands run in their package, so both keys
// hash the same relative paths, and yet each package gets its own
// outputs, never the other's record.
func TestBuildSameRuleInTwoPackages(t *testing.T) {
	f := &fakeRunner{}
	rule := `rule(name = "g", srcs = ["a.txt"], outs = ["g.out"], cmd = "cat")` + "\n"
	root := writeTree(t, map[string]string{"p/BUILD": rule, "p/a.txt": "a\n", "q/BUILD": rule, "q/a.txt": "a\n"})
	ws, _ := openTest(t, root, f, "")
	expectRan(t, ws, f, Request{}, "//p:g", "//q:g")
	if got := readFile(t, root, "q/g.out"); got != "a\n" {
		t.Errorf("q/g.out = %q", got)
	}
}

// TestBuildDamagedRowsFoundLate: the row data is checked only when a
// build reads it. Damage found then makes the build start from an empty
// database, saying so: every rule is checked again, the outputs come
// from the store, and nothing runs that did not change.
func TestBuildDamagedRowsFoundLate(t *testing.T) {
	f := &fakeRunner{}
	root := writeTree(t, chain)
	ws, _ := openTest(t, root, f, "")
	expectRan(t, ws, f, Request{}, "//:lower", "//:upper", "//:first", "//:c")
	ws.Close()
	data, err := os.ReadFile(ws.layout.DB())
	if err != nil {
		t.Fatal(err)
	}
	// The row data is section 7; its offset is in the section table.
	off := int(data[20+6*24+8]) | int(data[20+6*24+9])<<8 | int(data[20+6*24+10])<<16
	data[off+5] ^= 0xff
	if err := os.WriteFile(ws.layout.DB(), data, 0o666); err != nil {
		t.Fatal(err)
	}
	write(t, root, "c.txt", "c2\n") // the check must read rows
	ws, _ = openTest(t, root, f, ws.StoreDir())
	sum, events, notes := build(t, ws, Request{})
	if got := f.took(); !slices.Equal(got, []string{"//:c"}) {
		t.Errorf("ran %q, want only //:c", got)
	}
	if !slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, "fails its checksum") }) {
		t.Errorf("notes %q, want one saying the database was damaged", notes)
	}
	if sum.Evaluated == "" || events["//:first"].Status != "warn" || events["//:lower"].Cache != "hit" {
		t.Errorf("after damage: evaluated %q, //:first %+v, //:lower %+v", sum.Evaluated, events["//:first"], events["//:lower"])
	}
	if got := readFile(t, root, "c.out"); got != "c2\n" {
		t.Errorf("c.out = %q", got)
	}
	expectRan(t, ws, f, Request{})
}
