// What pex watch prints: a header naming what triggered each rebuild, the
// build's own progress, a summary line, notes about services, and the
// services' output, one prefixed line at a time. Builds and services write
// from different goroutines, so every write goes through one lock. With
// --json, stdout gets JSON events only and services write to stderr.

package session

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/pex-build/pex/internal/builder"
	"github.com/pex-build/pex/internal/status"
)

// Event kinds pex watch adds to the build's.
const (
	eventWatchTriggered = "watch_triggered"
	eventWatchError     = "watch_error"
	eventServiceStarted = "service_started"
	eventServiceStopped = "service_stopped"
	eventServiceExited  = "service_exited"
)

// watchEvent is a JSON event of pex watch's own.
type watchEvent struct {
	Event  string   `json:"event"`
	Paths  []string `json:"paths,omitempty"`
	Label  string   `json:"label,omitempty"`
	Pid    int      `json:"pid,omitempty"`
	Reason string   `json:"reason,omitempty"`
	Error  string   `json:"error,omitempty"`
}

type watchOutput struct {
	mu      sync.Mutex
	out     io.Writer // progress, or JSON events
	errOut  io.Writer // errors, and services' output with --json
	json    bool
	tty     bool
	color   bool
	verbose bool
}

func (o *watchOutput) write(w io.Writer, s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.tty && w == o.out {
		s = "\r\x1b[K" + s // over a status line a build may have left
	}
	io.WriteString(w, s)
}

func (o *watchOutput) event(ev watchEvent) {
	b, _ := json.Marshal(ev)
	o.write(o.out, string(b)+"\n")
}

// printer returns a printer for one build; its summary line is replaced
// by summaryLine.
func (o *watchOutput) printer() status.Printer {
	p := status.New(o.out, status.Options{JSON: o.json, Verbose: o.verbose, TTY: o.tty, Color: o.color})
	return &lockedPrinter{o: o, p: p}
}

type lockedPrinter struct {
	o *watchOutput
	p status.Printer
}

func (l *lockedPrinter) Event(ev builder.Event) {
	if ev.Event == builder.EventBuildFinished && !l.o.json {
		return // summaryLine says it the watch way
	}
	l.o.mu.Lock()
	defer l.o.mu.Unlock()
	l.p.Event(ev)
}

// triggered announces a rebuild and what caused it; paths are relative
// to the root.
func (o *watchOutput) triggered(paths []string, overflow bool) {
	if o.json {
		if paths == nil {
			paths = []string{}
		}
		o.event(watchEvent{Event: eventWatchTriggered, Paths: paths})
		return
	}
	o.write(o.out, headerLine(paths, overflow)+"\n")
}

// headerLine is "changed: src/main.c (+2 more)".
func headerLine(paths []string, overflow bool) string {
	switch {
	case overflow:
		return "changed: unknown (file events were lost); checking everything"
	case len(paths) == 0:
		return "changed: nothing known"
	case len(paths) == 1:
		return "changed: " + paths[0]
	}
	return fmt.Sprintf("changed: %s (+%d more)", paths[0], len(paths)-1)
}

func (o *watchOutput) summary(sum *builder.Summary) {
	if o.json {
		return // build_finished carries the totals
	}
	o.write(o.out, summaryLine(sum)+"\n")
}

// summaryLine is "pex: 2 ran, 5 cached, 1 failed, 3 skipped in 1.2s".
func summaryLine(sum *builder.Summary) string {
	ran := sum.Cache["miss"]
	cached := sum.Cache["hit"] + sum.Cache["restored"] + sum.Cache["remote"]
	bad := sum.Counts["failed"] + sum.Counts["timeout"]
	parts := []string{fmt.Sprintf("%d ran", ran), fmt.Sprintf("%d cached", cached)}
	if bad > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", bad))
	}
	if n := sum.Counts["skipped"]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d skipped", n))
	}
	word := "pex: done"
	if bad > 0 {
		word = "pex: FAILED"
	}
	return fmt.Sprintf("%s: %s in %s", word, strings.Join(parts, ", "), shortDuration(sum.Duration))
}

func shortDuration(d time.Duration) string {
	if d >= time.Second {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

// note prints a line of pex's own ("pex: ..."); not with --json.
func (o *watchOutput) note(format string, args ...any) {
	if !o.json {
		o.write(o.out, "pex: "+fmt.Sprintf(format, args...)+"\n")
	}
}

// failure prints an error that does not end the watch: a BUILD error, a
// service that cannot start.
func (o *watchOutput) failure(err error) {
	if o.json {
		o.event(watchEvent{Event: eventWatchError, Error: err.Error()})
	}
	o.write(o.errOut, "pex: "+err.Error()+"\n")
}

// serviceLine prints a line a service wrote, prefixed with its label.
func (o *watchOutput) serviceLine(label, line string) {
	w := o.out
	if o.json {
		w = o.errOut
	}
	o.write(w, "["+label+"] "+line+"\n")
}

func (o *watchOutput) service(kind, label string, pid int, reason string) {
	if o.json {
		o.event(watchEvent{Event: kind, Label: label, Pid: pid, Reason: reason})
		return
	}
	switch kind {
	case eventServiceStarted:
		if reason != "" {
			o.note("restarted %s: %s", label, reason)
		} else {
			o.note("started %s", label)
		}
	case eventServiceExited:
		o.note("%s %s; it starts again on the next change", label, reason)
	}
}
