// This file turns the selected rules of a graph into exec tasks: the rules
// plus everything they need (deps, producers of their srcs and tools, and
// providers of the tokens they require), each linked to what it needs by
// requires/provides, with locks, priority, group and timeout carried over.

package builder

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/pex-build/pex/exec"
	"github.com/pex-build/pex/graph"
)

// ruleToken is the token a rule provides to the rules that depend on it;
// tokenName is a user token of requires/provides. Distinct types keep a
// rule named "db" apart from a token "db".
type (
	ruleToken *graph.Target
	tokenName string
)

// Plan is the set of rules a build considers, in registration order.
type Plan struct {
	Rules []*graph.Target
	// Selected are the rules asked for (the rest are needed by them).
	Selected []*graph.Target
	// providers maps each token to the rules providing it.
	providers map[string][]*graph.Target
}

// NewPlan computes the closure of the selected rules: what they depend on
// and the providers of every token they require, transitively. A token
// that no rule of the graph provides is a positioned error.
func NewPlan(g *graph.Graph, selected []*graph.Target) (*Plan, error) {
	providers := make(map[string][]*graph.Target)
	for _, t := range g.Targets {
		for _, tok := range t.Provides {
			providers[tok] = append(providers[tok], t)
		}
	}
	in := make(map[*graph.Target]bool, len(selected))
	var stack []*graph.Target
	push := func(t *graph.Target) {
		if !in[t] {
			in[t] = true
			stack = append(stack, t)
		}
	}
	for _, t := range selected {
		push(t)
	}
	for len(stack) > 0 {
		t := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, d := range t.DepTargets {
			push(d)
		}
		for _, tok := range t.Requires {
			ps := providers[tok]
			if len(ps) == 0 {
				return nil, &graph.Error{Pos: t.Pos, Msg: fmt.Sprintf(
					"rule %s requires %q, which no rule provides%s", t.Label, tok, tokenHint(tok, providers))}
			}
			for _, p := range ps {
				push(p)
			}
		}
	}
	p := &Plan{Selected: selected, Rules: make([]*graph.Target, 0, len(in)), providers: providers}
	for _, t := range g.Targets {
		if in[t] {
			p.Rules = append(p.Rules, t)
		}
	}
	return p, nil
}

func tokenHint(tok string, providers map[string][]*graph.Target) string {
	var known []string
	for k := range providers {
		known = append(known, k)
	}
	if len(known) == 0 {
		return ""
	}
	sort.Strings(known)
	if best := graph.Suggest(tok, known); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return " (provided tokens: " + strings.Join(known, ", ") + ")"
}

// tasks makes one exec task per rule of the plan, running fn.
func (p *Plan) tasks(fn func(t *graph.Target) exec.Func) []*exec.Task {
	tasks := make([]exec.Task, len(p.Rules))
	out := make([]*exec.Task, len(p.Rules))
	for i, t := range p.Rules {
		req := make([]any, 0, len(t.DepTargets)+len(t.Requires))
		for _, d := range t.DepTargets {
			req = append(req, ruleToken(d))
		}
		for _, tok := range t.Requires {
			req = append(req, tokenName(tok))
		}
		prov := make([]any, 0, 1+len(t.Provides))
		prov = append(prov, ruleToken(t))
		for _, tok := range t.Provides {
			prov = append(prov, tokenName(tok))
		}
		tasks[i] = exec.Task{
			Name:     t.Label.String(),
			Func:     fn(t),
			Requires: req,
			Provides: prov,
			Claims:   t.Claims,
			Uses:     t.Uses,
			Priority: t.Priority,
			Group:    t.Group,
			Timeout:  t.Timeout,
		}
		out[i] = &tasks[i]
	}
	return out
}

// groups returns the exec groups, of those declared, that rules use.
func groups(declared []graph.Group, rules []*graph.Target) []exec.Group {
	var names []string
	for _, t := range rules {
		if t.Group != "" && !slices.Contains(names, t.Group) {
			names = append(names, t.Group)
		}
	}
	var out []exec.Group
	for _, gr := range declared {
		if slices.Contains(names, gr.Name) {
			out = append(out, exec.Group{Name: gr.Name, Jobs: gr.Jobs, Priority: gr.Priority})
		}
	}
	return out
}
