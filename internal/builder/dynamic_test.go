package builder

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// A generator whose rules depend on each other: generated once, kept in
// the database, replayed by a no-op; generating another set retires the
// old rules and builds only what is new.
func TestDynamicRules(t *testing.T) {
	f := &fakeRunner{}
	root := writeTree(t, map[string]string{
		"BUILD": `rule(name = "gen", srcs = ["rules.star"], dynamic = True, cmd = "gen:rules.star")`,
		"rules.star": `
rule(name = "a", srcs = ["a.txt"], outs = ["a.out"], cmd = "cat")
rule(name = "b", srcs = [":a"], outs = ["b.out"], cmd = "upper")
`,
		"a.txt": "a1\n", "c.txt": "c1\n",
	})
	ws, _ := openTest(t, root, f, "")
	_, events := expectRan(t, ws, f, Request{}, "//:gen", "//:a", "//:b")
	if got := readFile(t, root, "b.out"); got != "A1\n" {
		t.Errorf("b.out = %q", got)
	}
	if ev := events["//:b"]; ev.GeneratedBy != "//:gen" || ev.Status != "ok" {
		t.Errorf("//:b reported as %+v", ev)
	}
	if ev := events["//:gen"]; ev.GeneratedBy != "" {
		t.Errorf("//:gen reported as generated: %+v", ev)
	}
	// A no-op runs nothing and evaluates nothing, and still reports the
	// generated rules, as generated.
	sum, events := expectRan(t, ws, f, Request{})
	if sum.Evaluated != "" || !sum.Verified || len(events) != 3 || events["//:a"].GeneratedBy != "//:gen" {
		t.Errorf("no-op: %+v, events %v", sum, events)
	}
	// So does a new process, and one that evaluates the BUILD files again
	// (the generated rules come back from the generator's row).
	ws.Close() // its lock
	ws2, _ := openTest(t, root, f, ws.StoreDir())
	expectRan(t, ws2, f, Request{})
	write(t, root, "BUILD", `rule(name = "gen", srcs = ["rules.star"], dynamic = True, cmd = "gen:rules.star")
rule(name = "other", srcs = ["c.txt"], outs = ["c.out"], cmd = "cat")`)
	sum, _ = expectRan(t, ws2, f, Request{}, "//:other")
	if sum.Evaluated == "" {
		t.Errorf("the edited BUILD file was not evaluated")
	}
	// A generated rule is named directly.
	expectRan(t, ws2, f, Request{Patterns: []string{"//:b"}})
	// Another set: b goes, c comes, a (unchanged) does not run again.
	write(t, root, "rules.star", `
rule(name = "a", srcs = ["a.txt"], outs = ["a.out"], cmd = "cat")
rule(name = "c", srcs = [":a", "c.txt"], outs = ["c2.out"], cmd = "cat")
`)
	_, events = expectRan(t, ws2, f, Request{}, "//:gen", "//:c")
	if _, ok := events["//:b"]; ok {
		t.Errorf("the retired //:b was reported: %+v", events["//:b"])
	}
	if got := readFile(t, root, "c2.out"); got != "a1\nc1\n" {
		t.Errorf("c2.out = %q", got)
	}
	if len(events) != 4 {
		t.Errorf("%d events, want gen, a, c, other: %v", len(events), events)
	}
	sum, events = expectRan(t, ws2, f, Request{})
	if !sum.Verified || len(events) != 4 {
		t.Errorf("no-op after the change: %+v, %d events", sum, len(events))
	}
	// Back to the first set: the generator's record is restored with
	// what it generated then, and b comes back from the store.
	write(t, root, "rules.star", `
rule(name = "a", srcs = ["a.txt"], outs = ["a.out"], cmd = "cat")
rule(name = "b", srcs = [":a"], outs = ["b.out"], cmd = "upper")
`)
	_, events = expectRan(t, ws2, f, Request{})
	if ev := events["//:b"]; ev.Cache != "restored" && ev.Cache != "hit" {
		t.Errorf("//:b after the revert: %+v", ev)
	}
}

// Errors in generated text fail the generator, positioned in the text;
// a generated rule taking a written rule's name fails it naming both.
func TestDynamicErrors(t *testing.T) {
	f := &fakeRunner{}
	ws := testWorkspace(t, map[string]string{
		"BUILD": `
rule(name = "bad", dynamic = True, cmd = "gen:bad.star")
rule(name = "clash", dynamic = True, cmd = "gen:clash.star")
rule(name = "plain", cmd = "gen:bad.star")
`,
		"bad.star":   "rule(name = \"x\")\nrule(name = 1 + \"a\")\n",
		"clash.star": "\nrule(name = \"plain\")\n",
	}, f)
	_, events, _ := build(t, ws, Request{KeepGoing: true})
	if ev := events["//:bad"]; ev.Status != "failed" || !strings.Contains(ev.Reason, "//:bad (generated):2:15: unknown binary op: int + string") {
		t.Errorf("//:bad: %+v", ev)
	}
	if ev := events["//:clash"]; ev.Status != "failed" ||
		!strings.Contains(ev.Reason, `//:clash (generated):2:5: rule "//:plain" already defined at BUILD:4:5`) {
		t.Errorf("//:clash: %+v", ev)
	}
	// A rule that is not dynamic generates nothing.
	if ev := events["//:plain"]; ev.Status != "ok" || len(events) != 3 {
		t.Errorf("//:plain: %+v; events %v", ev, events)
	}
}

// An action's key follows its function's module and what that loads, and
// its kwargs, canonically.
func TestActionKey(t *testing.T) {
	f := &fakeRunner{}
	root := writeTree(t, map[string]string{
		"BUILD": `
load(":defs.star", "stamp")
rule(name = "stamp", srcs = ["v.txt"], outs = ["out.txt"], action = stamp, kwargs = {"a": 1, "b": [2, 3]})
`,
		"defs.star": `
load(":util.star", "fmt")
def stamp(ctx, a, b):
    ctx.write("out.txt", fmt(ctx.read("v.txt").strip(), a, b))
`,
		"util.star":  "def fmt(v, a, b):\n    return '%s %d %s' % (v, a, b)\n",
		"other.star": "x = 1\n",
		"v.txt":      "1.0\n",
	})
	ws, _ := openTest(t, root, f, "")
	ran := func(want bool) {
		t.Helper()
		_, events, notes := build(t, ws, Request{})
		if ev := events["//:stamp"]; ev.Status != "ok" || (ev.Cache == "miss") != want {
			t.Fatalf("//:stamp: %+v, want ran %v (notes %q)", ev, want, notes)
		}
	}
	ran(true)
	if got := readFile(t, root, "out.txt"); got != "1.0 1 [2, 3]" {
		t.Errorf("out.txt = %q", got)
	}
	ran(false)
	write(t, root, "other.star", "x = 2\n") // loaded by nothing
	ran(false)
	write(t, root, "util.star", "def fmt(v, a, b):\n    return 'v%s %d %s' % (v, a, b)\n")
	ran(true)
	if got := readFile(t, root, "out.txt"); got != "v1.0 1 [2, 3]" {
		t.Errorf("out.txt after editing util.star = %q", got)
	}
	// The same kwargs in another order: same key.
	write(t, root, "BUILD", `
load(":defs.star", "stamp")
rule(name = "stamp", srcs = ["v.txt"], outs = ["out.txt"], action = stamp, kwargs = {"b": [2, 3], "a": 1})
`)
	ran(false)
	write(t, root, "BUILD", `
load(":defs.star", "stamp")
rule(name = "stamp", srcs = ["v.txt"], outs = ["out.txt"], action = stamp, kwargs = {"b": [2, 4], "a": 1})
`)
	ran(true)
	if got := readFile(t, root, "out.txt"); got != "v1.0 1 [2, 4]" {
		t.Errorf("out.txt after the kwargs changed = %q", got)
	}
}

// Shared values cross between cmd rules and actions: strings both ways;
// another value reaching a cmd rule fails it naming both rules. A hit
// replays them.
func TestActionShared(t *testing.T) {
	f := &fakeRunner{}
	ws := testWorkspace(t, map[string]string{
		"BUILD": `
def mid(ctx):
    ctx.shared["W"] = "w" + ctx.shared["V"]

def parts(ctx):
    ctx.shared["PARTS"] = ctx.shared["V"].split(".")

def leaf(ctx):
    ctx.write(ctx.outs[0], "%s %s" % (ctx.shared["PARTS"], ctx.shared["W"]))

rule(name = "base", cmd = "share:V=1.2")
rule(name = "mid", deps = [":base"], action = mid)
rule(name = "parts", deps = [":base"], action = parts)
rule(name = "leaf", deps = [":mid", ":parts"], outs = ["leaf.txt"], action = leaf)
rule(name = "echo", deps = [":mid"], outs = ["echo.txt"], cmd = "echo:W")
rule(name = "bad", deps = [":parts"], outs = ["bad.txt"], cmd = "echo:PARTS")
`,
	}, f)
	check := func() {
		t.Helper()
		_, events, _ := build(t, ws, Request{KeepGoing: true})
		if got := readFile(t, ws.Root, "leaf.txt"); got != `["1", "2"] w1.2` {
			t.Errorf("leaf.txt = %q", got)
		}
		if got := readFile(t, ws.Root, "echo.txt"); got != "w1.2" {
			t.Errorf("echo.txt = %q", got)
		}
		ev := events["//:bad"]
		if ev.Status != "failed" || !strings.Contains(ev.Reason, "shared value PARTS from //:parts is a list, but //:bad is a cmd rule") {
			t.Errorf("//:bad: %+v", ev)
		}
	}
	check()
	if got := f.took(); !slices.Equal(got, []string{"//:base", "//:echo"}) {
		t.Errorf("commands run: %q", got)
	}
	// Nothing changed: every value is replayed (the failed rule, tried
	// again, fails the same).
	check()
	if got := f.took(); len(got) != 0 {
		t.Errorf("commands run on the second build: %q", got)
	}
}

// Generated rules join the running build: one starts while a rule that
// does not depend on the generator is still running (here: waits for it).
func TestDynamicRulesJoinTheRun(t *testing.T) {
	f := &fakeRunner{}
	var once sync.Once
	xStarted := make(chan struct{})
	f.started = func(label string) {
		if label == "//:x" {
			once.Do(func() { close(xStarted) })
		}
	}
	ws := testWorkspace(t, map[string]string{
		"BUILD": `
rule(name = "gen", dynamic = True, cmd = "gen:rules.star")
rule(name = "slow", outs = ["slow.out"], cmd = "block")
`,
		"rules.star": `rule(name = "x", srcs = ["x.txt"], outs = ["x.out"], cmd = "cat")`,
		"x.txt":      "x\n",
	}, f)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	xDone := make(chan struct{})
	go func() {
		select {
		case <-xDone:
		case <-time.After(20 * time.Second): // a loaded machine; the test fails below
		}
		cancel() // ends //:slow
	}()
	var events []Event
	sum, err := ws.Build(ctx, Request{Command: "build", Jobs: 2, HostEnv: func(string) (string, bool) { return "", false },
		OnEvent: func(ev Event) {
			events = append(events, ev)
			if ev.Label == "//:x" {
				close(xDone)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-xStarted:
	default:
		t.Fatalf("//:x did not start while //:slow ran: %+v", sum)
	}
	var x Event
	for _, ev := range events {
		if ev.Label == "//:x" {
			x = ev
		}
	}
	if x.Status != "ok" || x.GeneratedBy != "//:gen" {
		t.Errorf("//:x: %+v", x)
	}
}
