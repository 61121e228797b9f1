package session

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pex-build/pex/graph"
	"github.com/pex-build/pex/internal/builder"
	"github.com/pex-build/pex/starlark"
)

func TestHeaderLine(t *testing.T) {
	for _, tc := range []struct {
		paths    []string
		overflow bool
		want     string
	}{
		{[]string{"src/main.c"}, false, "changed: src/main.c"},
		{[]string{"src/main.c", "src/a.h", "BUILD"}, false, "changed: src/main.c (+2 more)"},
		{nil, true, "changed: unknown (file events were lost); checking everything"},
		{nil, false, "changed: nothing known"},
	} {
		if got := headerLine(tc.paths, tc.overflow); got != tc.want {
			t.Errorf("headerLine(%q, %v) = %q, want %q", tc.paths, tc.overflow, got, tc.want)
		}
	}
}

func TestSummaryLine(t *testing.T) {
	for _, tc := range []struct {
		sum  builder.Summary
		want string
	}{
		{builder.Summary{Counts: map[string]int{"ok": 3}, Cache: map[string]int{"miss": 1, "hit": 2}, Duration: 312 * time.Millisecond},
			"pex: done: 1 ran, 2 cached in 312ms"},
		{builder.Summary{Counts: map[string]int{"ok": 2}, Cache: map[string]int{"hit": 1, "restored": 1}, Duration: 2 * time.Millisecond},
			"pex: done: 0 ran, 2 cached in 2ms"},
		{builder.Summary{Counts: map[string]int{"ok": 1, "failed": 1, "timeout": 1, "skipped": 3}, Cache: map[string]int{"miss": 1},
			Duration: 1500 * time.Millisecond}, "pex: FAILED: 1 ran, 0 cached, 2 failed, 3 skipped in 1.5s"},
	} {
		if got := summaryLine(&tc.sum); got != tc.want {
			t.Errorf("summaryLine(%+v) = %q, want %q", tc.sum, got, tc.want)
		}
	}
}

func TestDecideService(t *testing.T) {
	ok := func(cache string) builder.Event { return builder.Event{Status: "ok", Cache: cache} }
	closure := []string{"//app:bin", "//lib:lib"}
	hits := map[string]builder.Event{"//app:bin": ok("hit"), "//lib:lib": ok("hit")}
	ran := map[string]builder.Event{"//app:bin": ok("miss"), "//lib:lib": ok("hit")}
	restored := map[string]builder.Event{"//app:bin": ok("hit"), "//lib:lib": ok("restored")}
	failed := map[string]builder.Event{"//app:bin": {Status: "skipped", Cache: "none"}, "//lib:lib": {Status: "failed", Cache: "miss"}}
	running := serviceState{running: true, key: "k1"}
	for _, tc := range []struct {
		name      string
		st        serviceState
		results   map[string]builder.Event
		canceled  bool
		key       string
		start     bool
		why       string
		staleLeft string
	}{
		{"first start", serviceState{}, hits, false, "k1", true, "", ""},
		{"no-op save: all hits, same key", running, hits, false, "k1", false, "", ""},
		{"a dependency ran", running, ran, false, "k1", true, "//app:bin ran", ""},
		{"a dependency was restored", running, restored, false, "k1", true, "//lib:lib was restored from the cache", ""},
		{"own inputs or command changed", running, hits, false, "k2", true, "its command or inputs changed", ""},
		{"a dependency failed: keep the old one, remember", running, failed, false, "k1", false, "", "//lib:lib ran"},
		{"stale from a failed build, now all hits", serviceState{running: true, key: "k1", stale: "//lib:lib ran"}, hits, false, "k1",
			true, "//lib:lib ran", ""},
		{"cancelled build that ran a dependency", running, ran, true, "", false, "", "//app:bin ran"},
		{"not running, dependencies failed", serviceState{}, failed, false, "k1", false, "", "//lib:lib ran"},
		{"exited by itself: starts again", serviceState{key: "k1"}, hits, false, "k1", true, "", ""},
		{"a needed rule missing from the results", running, map[string]builder.Event{"//app:bin": ok("hit")}, false, "k1", false, "", ""},
	} {
		start, why, stale := decideService(tc.st, closure, tc.results, tc.canceled, tc.key)
		if start != tc.start || why != tc.why || stale != tc.staleLeft {
			t.Errorf("%s: got (%v, %q, %q), want (%v, %q, %q)", tc.name, start, why, stale, tc.start, tc.why, tc.staleLeft)
		}
	}
}

func TestWalkRoots(t *testing.T) {
	for _, tc := range []struct {
		args []string
		cwd  string
		want []string
	}{
		{nil, "", []string{""}},
		{nil, "app", []string{"app"}},
		{[]string{"//app:serve", "//lib/..."}, "", []string{"lib"}},
		{[]string{"//app:serve"}, "", nil},
		{[]string{"..."}, "app", []string{"app"}},
	} {
		got := walkRoots(tc.args, tc.cwd)
		if !slices.Equal(got, tc.want) {
			t.Errorf("walkRoots(%q, %q) = %q, want %q", tc.args, tc.cwd, got, tc.want)
		}
	}
}

// testScope makes a workspace on disk and the scope of its load.
func testScope(t *testing.T, files map[string]string, args []string) (string, *scope) {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	res, err := starlark.LoadAll(t.Context(), starlark.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	var pats []graph.Pattern
	all := args
	if len(all) == 0 {
		all = []string{"//..."} // what pex watch builds when given nothing
	}
	for _, a := range all {
		p, err := graph.ParsePattern(a, "")
		if err != nil {
			t.Fatal(err)
		}
		pats = append(pats, p)
	}
	selected, err := res.Graph.Select(pats)
	if err != nil {
		t.Fatal(err)
	}
	load := &builder.Loaded{Graph: res.Graph, Files: res.Files, Dirs: res.Dirs, GlobDirs: res.GlobDirs}
	return root, newScope(scopeSource{root: root, load: load, rules: planRules(res.Graph, selected), walkRoots: walkRoots(args, ""),
		storeDir: filepath.Join(root, "store"), listed: listGlobDirs(root, res.GlobDirs)})
}

func TestScopeClassify(t *testing.T) {
	root, sc := testScope(t, map[string]string{
		"pex.star":      "",
		"defs.star":     "def cc(name, srcs): rule(name = name, srcs = srcs, outs = [name + '.o'], cmd = 'true')\n",
		"BUILD":         "",
		"app/BUILD":     `load("//:defs.star", "cc")` + "\ncc(name = 'main', srcs = ['main.c'])\nrule(name = 'all', srcs = glob(['src/*.c']), outs = ['all'], cmd = 'true')\n",
		"app/main.c":    "",
		"app/README":    "",
		"app/src/a.c":   "",
		"app/src/notes": "",
		"other/BUILD":   "rule(name = 'x', srcs = ['x.c'], cmd = 'true')\n",
		"other/x.c":     "",
	}, []string{"//app/..."})
	p := func(rel string) string { return filepath.Join(root, filepath.FromSlash(rel)) }
	if err := os.MkdirAll(p("app/newdir"), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p("app/src/b.c"), nil, 0o666); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path             string
		relevant, reload bool
	}{
		{"app/main.c", true, false},        // an input
		{"app/src/a.c", true, false},       // an input the glob returned, written
		{"app/src/b.c", true, true},        // new: the glob may return it
		{"app/src/gone.c", false, false},   // neither there nor known: a temporary file
		{"app/src/notes", false, false},    // there before, not matched, written
		{"app/BUILD", true, true},          // a BUILD file read
		{"defs.star", true, true},          // a .star file loaded
		{"pex.star", true, true},           // the workspace file
		{"app/sub/BUILD", false, false},    // not in a walked directory (app/sub does not exist)
		{"app/newdir", true, true},         // a new directory under the pattern: it may hold packages
		{"app/README", false, false},       // nothing reads it
		{"app/main.o", false, false},       // an output
		{"other/x.c", false, false},        // an input of a rule not selected
		{"app", true, true},                // a directory renamed: everything under it
		{".pex/state", false, false},       // pex's own state
		{"store/ab/cd", false, false},      // the store
		{"app/.main.c.swp", false, false},  // an editor's swap file
		{"app/src/a.c~", false, false},     // an editor's backup
		{"app/newpkg/BUILD", false, false}, // not walked yet: its directory's creation is reported instead
	} {
		rel, reload := sc.classify([]string{p(tc.path)})
		if (len(rel) > 0) != tc.relevant || reload != tc.reload {
			t.Errorf("affects(%s) = (%v, %v), want (%v, %v)", tc.path, rel, reload, tc.relevant, tc.reload)
		}
	}
	// During a build, only inputs and Starlark files cancel it; files that
	// come and go in globbed directories wait for its end.
	now, later := sc.split([]string{p("app/main.c"), p("app/src/b.c"), p("app/BUILD"), p("app/README"), p("app/newdir")})
	if want := []string{p("app/main.c"), p("app/BUILD")}; !slices.Equal(now, want) {
		t.Errorf("split: now = %q, want %q", now, want)
	}
	if want := []string{p("app/src/b.c"), p("app/newdir")}; !slices.Equal(later, want) {
		t.Errorf("split: later = %q, want %q", later, want)
	}
	dirs := sc.dirs()
	for _, want := range []string{root, p("app"), p("app/src")} {
		if !slices.Contains(dirs, want) {
			t.Errorf("dirs() = %q, lacks %s", dirs, want)
		}
	}
	if slices.Contains(dirs, p("store")) || slices.Contains(dirs, p(".pex")) {
		t.Errorf("dirs() = %q: watches the store or .pex", dirs)
	}
}

func TestScopeAfterFailedLoad(t *testing.T) {
	root, good := testScope(t, map[string]string{
		"pex.star": "", "BUILD": "rule(name = 'a', srcs = ['a.txt'], outs = ['a.out'], cmd = 'true')\n", "a.txt": "",
	}, nil)
	broken := &builder.Loaded{Files: []string{"BUILD", "pex.star"}, Dirs: []string{"."}}
	sc := newScope(scopeSource{root: root, load: broken, walkRoots: []string{""}, prev: good})
	for _, tc := range []struct {
		path             string
		relevant, reload bool
	}{
		{"BUILD", true, true},
		{"a.txt", true, false}, // still watched: the fix will rebuild it
		{"a.out", false, false},
	} {
		rel, reload := sc.classify([]string{filepath.Join(root, tc.path)})
		if (len(rel) > 0) != tc.relevant || reload != tc.reload {
			t.Errorf("affects(%s) = (%v, %v), want (%v, %v)", tc.path, rel, reload, tc.relevant, tc.reload)
		}
	}
}

func TestKeepBoth(t *testing.T) {
	before := map[string]bool{"/w/src/a.c": true, "/w/src/gone.c": true}
	after := map[string]bool{"/w/src/a.c": true, "/w/src/new.c": true, "/w/lib/x.c": true}
	got := keepBoth(before, after, map[string]bool{"/w/src": true})
	// new.c appeared while the globs ran: not listed, so its event reloads.
	// lib was not listed before: what it holds now is taken as listed.
	want := map[string]bool{"/w/src/a.c": true, "/w/lib/x.c": true}
	if !maps.Equal(got, want) {
		t.Errorf("keepBoth = %v, want %v", got, want)
	}
}
