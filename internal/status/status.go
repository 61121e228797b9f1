// Package status turns build events into what a person or a program reads:
// a ninja-style status line on a terminal, one plain line per rule in a
// pipe or under CI, or one JSON object per event with --json.
package status

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pex-build/pex/internal/builder"
)

// Printer prints events. It is not safe for concurrent use: the builder
// calls it from one goroutine.
type Printer interface {
	Event(ev builder.Event)
}

// Options choose the printer.
type Options struct {
	JSON    bool
	Verbose bool // print every command and its output
	TTY     bool // overwrite one status line instead of a line per rule
	Color   bool
}

// New returns the printer for w.
func New(w io.Writer, o Options) Printer {
	if o.JSON {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return &jsonPrinter{enc: enc}
	}
	return &human{w: w, o: o}
}

// IsTerminal reports whether f is a terminal and not under CI, the case
// where a self-overwriting status line is wanted.
func IsTerminal(f *os.File) bool {
	if os.Getenv("CI") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), ioctlGetTermios)
	return err == nil
}

// WantColor reports whether colour is wanted on a terminal: not when
// NO_COLOR is set to anything.
func WantColor(tty bool) bool {
	_, no := os.LookupEnv("NO_COLOR")
	return tty && !no
}

type jsonPrinter struct{ enc *json.Encoder }

func (p *jsonPrinter) Event(ev builder.Event) {
	if ev.Event == builder.EventRule && ev.Status != "failed" && ev.Status != "timeout" {
		ev.Output = ""
	}
	_ = p.enc.Encode(ev)
}

// human prints for people.
type human struct {
	w        io.Writer
	o        Options
	total    int
	done     int
	lineOpen bool      // a status line is on screen, to be overwritten
	lastLine time.Time // when the status line was last drawn
}

// lineEvery is how often the status line is redrawn at most: a no-op
// build of ten thousand rules must not write ten thousand lines.
const lineEvery = 50 * time.Millisecond

func (p *human) Event(ev builder.Event) {
	switch ev.Event {
	case builder.EventBuildStarted:
		p.total = ev.Total
	case builder.EventRule:
		p.done++
		p.rule(ev)
	case builder.EventBuildFinished:
		p.clearLine()
		fmt.Fprintln(p.w, p.summary(ev))
	}
}

func (p *human) rule(ev builder.Event) {
	if ev.Cache == "hit" && ev.Status == "ok" && !p.o.Verbose && !p.o.TTY {
		return // up to date: nothing to say
	}
	progress := fmt.Sprintf("[%d/%d]", p.done, p.total)
	var b strings.Builder
	switch {
	case ev.DryRun && ev.Cache == "restored":
		fmt.Fprintf(&b, "%s would restore %s from the cache\n", progress, ev.Label)
	case ev.DryRun:
		run := ev.Cmd
		if ev.Action != "" {
			run = "action " + ev.Action
		}
		fmt.Fprintf(&b, "%s would run %s: %s\n", progress, ev.Label, run)
		for _, why := range ev.Why {
			fmt.Fprintf(&b, "  because %s\n", why)
		}
	case ev.Status == "failed" || ev.Status == "timeout":
		fmt.Fprintf(&b, "%s %s %s: %s\n", progress, p.paint("FAILED", red), ev.Label, ev.Reason)
		if ev.Target != nil {
			fmt.Fprintf(&b, "  in %s\n", ev.Target.Pos)
		}
		b.WriteString(what(ev))
		b.WriteString(indentOutput(ev.Output))
	case ev.Status == "skipped":
		if !p.o.TTY || p.o.Verbose {
			fmt.Fprintf(&b, "%s %s %s: %s\n", progress, p.paint("skipped", yellow), ev.Label, ev.Reason)
		}
	default:
		warn := ev.Status == "warn"
		quiet := ev.Cache == "hit" && !warn // up to date: nothing to say
		if warn || p.o.Verbose || (!p.o.TTY && !quiet) {
			word := ev.Status
			if ev.Cache == "hit" || ev.Cache == "restored" || ev.Cache == "remote" {
				word += " (" + ev.Cache + ")"
			}
			color := green
			if warn {
				color = yellow
			}
			fmt.Fprintf(&b, "%s %s %s %s\n", progress, p.paint(word, color), ev.Label, dur(ev.Duration))
		}
		if p.o.Verbose && (ev.Cmd != "" || ev.Action != "") && ev.Cache == "miss" {
			for _, why := range ev.Why {
				fmt.Fprintf(&b, "  because %s\n", why)
			}
			b.WriteString(what(ev))
			b.WriteString(indentOutput(ev.Output))
		}
		for _, f := range ev.Findings {
			fmt.Fprintf(&b, "  finding: %s\n", f)
		}
	}
	if ev.Note != "" {
		fmt.Fprintf(&b, "pex: %s\n", ev.Note)
	}
	if b.Len() > 0 {
		p.clearLine()
		io.WriteString(p.w, b.String())
	}
	if p.o.TTY && p.done < p.total && (!p.lineOpen || time.Since(p.lastLine) >= lineEvery) {
		p.clearLine()
		fmt.Fprintf(p.w, "%s %s", progress, ev.Label)
		p.lineOpen, p.lastLine = true, time.Now()
	}
}

func (p *human) clearLine() {
	if p.lineOpen {
		io.WriteString(p.w, "\r\x1b[K")
		p.lineOpen = false
	}
}

func (p *human) summary(ev builder.Event) string {
	c := ev.Counts
	total := 0
	for _, n := range c {
		total += n
	}
	parts := []string{}
	for _, s := range []string{"ok", "warn", "failed", "timeout", "skipped"} {
		if c[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c[s], s))
		}
	}
	word := p.paint("pex: done", green)
	if ev.OK != nil && !*ev.OK {
		word = p.paint("pex: FAILED", red)
	}
	if total == 0 {
		return word + ": nothing to do"
	}
	return fmt.Sprintf("%s: %d rule%s (%s) in %s", word, total, plural(total), strings.Join(parts, ", "), dur(ev.Duration))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func indentOutput(out string) string {
	if out == "" {
		return ""
	}
	out = strings.TrimRight(out, "\n")
	return "  | " + strings.ReplaceAll(out, "\n", "\n  | ") + "\n"
}

func dur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	default:
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
}

const (
	red    = "31"
	green  = "32"
	yellow = "33"
)

func (p *human) paint(s, color string) string {
	if !p.o.Color {
		return s
	}
	return "\x1b[" + color + "m" + s + "\x1b[0m"
}

// what says what a rule ran: "  $ cmd", or "  action //pkg:file.star%fn".
func what(ev builder.Event) string {
	switch {
	case ev.Action != "":
		return "  action " + ev.Action + "\n"
	case ev.Cmd != "":
		return "  $ " + ev.Cmd + "\n"
	}
	return ""
}
