// The services of pex watch: rules tagged service, started once what they
// need is built and restarted when it changes. After every build the
// supervisor decides, for each service, from the build's results and the
// service's key (its command, environment and inputs): start it, restart
// it, or leave it alone. Only the watch loop's goroutine calls it; the
// services' own goroutines only report exits on a channel.

package session

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pex-build/pex/graph"
	"github.com/pex-build/pex/internal/builder"
)

// svc is one service as the supervisor sees it.
type svc struct {
	target  *graph.Target
	closure []string         // labels of the rules it needs
	key     string           // its key when it was started
	proc    *builder.Service // nil when not running
	// stale is why it must restart even if its key did not change: a
	// rule it needs ran or was restored since it started, perhaps in a
	// build that was cancelled or failed.
	stale string
}

type supervisor struct {
	out   *watchOutput
	grace time.Duration
	svcs  map[string]*svc
	exits chan *builder.Service // services that ended, by themselves or not
	done  chan struct{}         // closed when the watch ends
}

func newSupervisor(out *watchOutput, grace time.Duration) *supervisor {
	return &supervisor{out: out, grace: grace, svcs: map[string]*svc{},
		exits: make(chan *builder.Service), done: make(chan struct{})}
}

// serviceState is what decideService needs to know of a service.
type serviceState struct {
	running bool
	stale   string // a reason to restart found in an earlier build
	key     string // the key it was started with
}

// decideService says, after a build, whether a service must be (re)started
// and why, and what remains stale. results are the build's rule events by
// label; closure the labels of the rules the service needs. A service
// starts only after a build that was not cancelled and in which all it
// needs succeeded. It restarts when a rule it needs did not end as a cache
// hit, in this build or one since it started, or when its own key changed
// (command, environment, contents of its inputs): a file saved with the
// same bytes restarts nothing.
func decideService(st serviceState, closure []string, results map[string]builder.Event, canceled bool, key string) (start bool, why, stale string) {
	stale = st.stale
	ready := !canceled
	for _, l := range closure {
		ev, ok := results[l]
		if !ok || (ev.Status != "ok" && ev.Status != "warn") {
			ready = false
		}
		if ok && stale == "" && ev.Cache != "hit" && ev.Cache != "none" {
			stale = l + " " + cacheVerb(ev.Cache)
		}
	}
	switch {
	case !ready:
		return false, "", stale
	case !st.running:
		return true, "", ""
	case stale != "":
		return true, stale, ""
	case key != st.key:
		return true, "its command or inputs changed", ""
	}
	return false, "", ""
}

func cacheVerb(cache string) string {
	switch cache {
	case "miss":
		return "ran"
	case "restored", "remote":
		return "was restored from the cache"
	}
	return "changed"
}

// serviceKey computes a service's key; an error is a build error (a
// missing input).
type serviceKey func(t *graph.Target) (string, error)

// update brings the services in line with the latest build: those no
// longer selected stop, the others start or restart as decideService
// says. Old processes are stopped (in parallel) before new ones start, so
// the ports they held are free.
func (s *supervisor) update(ctx context.Context, g *graph.Graph, services []*graph.Target, results map[string]builder.Event,
	canceled bool, keyOf serviceKey, start func(t *graph.Target) (*builder.Service, error)) {
	wanted := map[string]bool{}
	var restart []*svc
	var why []string
	for _, t := range services {
		label := t.Label.String()
		wanted[label] = true
		sv := s.svcs[label]
		if sv == nil {
			sv = &svc{}
			s.svcs[label] = sv
		}
		sv.target, sv.closure = t, closureLabels(g, t)
		key, blocked := "", canceled
		if !blocked {
			var err error
			if key, err = keyOf(t); err != nil {
				s.out.failure(fmt.Errorf("%s: %v", label, err))
				blocked = true // it cannot start: leave it as it is
			}
		}
		st := serviceState{running: sv.proc != nil, stale: sv.stale, key: sv.key}
		ok, reason, stale := decideService(st, sv.closure, results, blocked, key)
		sv.stale = stale
		if ok {
			sv.key = key
			restart = append(restart, sv)
			why = append(why, reason)
		}
	}
	var stop []*svc
	for label, sv := range s.svcs {
		if !wanted[label] {
			stop = append(stop, sv)
			delete(s.svcs, label)
		}
	}
	s.stop(ctx, append(stop, restart...))
	for i, sv := range restart {
		if ctx.Err() != nil {
			return // interrupted: everything stops
		}
		s.start(sv, why[i], start)
	}
}

// closureLabels returns the labels of what t needs, sorted.
func closureLabels(g *graph.Graph, t *graph.Target) []string {
	plan, err := builder.NewPlan(g, []*graph.Target{t})
	if err != nil {
		return nil
	}
	var labels []string
	for _, r := range plan.Rules {
		if r != t {
			labels = append(labels, r.Label.String())
		}
	}
	sort.Strings(labels)
	return labels
}

func (s *supervisor) start(sv *svc, why string, start func(*graph.Target) (*builder.Service, error)) {
	label := sv.target.Label.String()
	p, err := start(sv.target)
	if err != nil {
		s.out.failure(fmt.Errorf("cannot start %s: %v", label, err))
		return
	}
	sv.proc = p
	s.out.service(eventServiceStarted, label, p.Pid(), why)
}

// stop stops the processes of svcs at once and waits for all of them.
func (s *supervisor) stop(ctx context.Context, svcs []*svc) {
	var wg sync.WaitGroup
	for _, sv := range svcs {
		if sv.proc == nil {
			continue
		}
		p := sv.proc
		sv.proc = nil
		wg.Go(func() {
			p.Stop(ctx, s.grace)
			s.out.service(eventServiceStopped, p.Label.String(), p.Pid(), "")
		})
	}
	wg.Wait()
}

// stopAll stops every service; ctx ends the grace period early.
func (s *supervisor) stopAll(ctx context.Context) {
	var all []*svc
	var running []string
	for _, sv := range s.svcs {
		all = append(all, sv)
		if sv.proc != nil {
			running = append(running, sv.target.Label.String())
		}
	}
	if len(running) > 0 {
		sort.Strings(running)
		s.out.note("stopping %s", strings.Join(running, ", "))
	}
	s.stop(ctx, all)
	close(s.done)
}

// exited handles a service that ended. One the supervisor stopped is no
// longer its svc's process and is ignored; one that ended by itself is
// reported once and starts again after the next builder.
func (s *supervisor) exited(p *builder.Service) {
	sv := s.svcs[p.Label.String()]
	if sv == nil || sv.proc != p {
		return
	}
	sv.proc = nil
	s.out.service(eventServiceExited, p.Label.String(), p.Pid(), builder.ExitMessage(p.Err()))
}

// onExit is the services' OnExit: it hands the service to the loop.
func (s *supervisor) onExit(p *builder.Service, _ error) {
	select {
	case s.exits <- p:
	case <-s.done:
	}
}
