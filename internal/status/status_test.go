package status

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pex-build/pex/internal/builder"
)

func events() []builder.Event {
	ok := false
	return []builder.Event{
		{Event: builder.EventBuildStarted, Total: 4},
		{Event: builder.EventRule, Label: "//:up", Status: "ok", Cache: "hit"},
		{Event: builder.EventRule, Label: "//:ran", Status: "ok", Cache: "miss", Duration: 1500 * time.Millisecond, Cmd: "echo noise", Output: "noise\n"},
		{Event: builder.EventRule, Label: "//:lint", Status: "warn", Cache: "miss", Findings: []string{"too <long>"}},
		{Event: builder.EventRule, Label: "//:bad", Status: "failed", Cache: "miss", Reason: "command exited with status 2",
			Cmd: "make it", Output: "line 1\nline 2\n"},
		{Event: builder.EventBuildFinished, Counts: map[string]int{"ok": 2, "warn": 1, "failed": 1}, OK: &ok, Duration: 2 * time.Second},
	}
}

func TestPlainLines(t *testing.T) {
	var out bytes.Buffer
	p := New(&out, Options{})
	for _, ev := range events() {
		p.Event(ev)
	}
	want := `[2/4] ok //:ran 1.5s
[3/4] warn //:lint 0ms
  finding: too <long>
[4/4] FAILED //:bad: command exited with status 2
  $ make it
  | line 1
  | line 2
pex: FAILED: 4 rules (2 ok, 1 warn, 1 failed) in 2.0s
`
	if out.String() != want {
		t.Errorf("plain output:\n%s\nwant:\n%s", out.String(), want)
	}
	if strings.Contains(out.String(), "noise") {
		t.Error("the output of a successful rule is shown without -v")
	}
}

func TestVerboseShowsOutputAndHits(t *testing.T) {
	var out bytes.Buffer
	p := New(&out, Options{Verbose: true})
	for _, ev := range events() {
		p.Event(ev)
	}
	for _, want := range []string{"[1/4] ok (hit) //:up", "  | noise"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-v output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestJSONOneObjectPerLine(t *testing.T) {
	var out bytes.Buffer
	p := New(&out, Options{JSON: true})
	for _, ev := range events() {
		p.Event(ev)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(events()) {
		t.Fatalf("%d lines for %d events", len(lines), len(events()))
	}
	for _, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		if m["label"] == "//:ran" && m["output"] != nil {
			t.Error("output of a successful rule in --json")
		}
		if m["label"] == "//:bad" && m["output"] != "line 1\nline 2\n" {
			t.Errorf("failure output missing: %v", m["output"])
		}
	}
	if !strings.Contains(out.String(), `"too <long>"`) {
		t.Error("HTML-escaped findings")
	}
}

func TestTerminalLineOverwritesAndColours(t *testing.T) {
	var out bytes.Buffer
	p := New(&out, Options{TTY: true, Color: true})
	for _, ev := range events() {
		p.Event(ev)
	}
	s := out.String()
	if !strings.Contains(s, "[1/4] //:up") || !strings.Contains(s, "\r\x1b[K") {
		t.Errorf("no self-overwriting status line: %q", s)
	}
	if !strings.Contains(s, "\x1b[31mFAILED\x1b[0m") {
		t.Errorf("failure not in red: %q", s)
	}
	out.Reset()
	p = New(&out, Options{TTY: true, Color: false})
	for _, ev := range events() {
		p.Event(ev)
	}
	if strings.Contains(out.String(), "\x1b[3") {
		t.Errorf("colour without Color (NO_COLOR): %q", out.String())
	}
}

func TestWantColorHonoursNoColor(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	if WantColor(true) {
		t.Error("NO_COLOR set (even empty) but colour wanted")
	}
}
