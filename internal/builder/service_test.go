package builder

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pex-build/pex/graph"
)

// serviceGraph resolves targets in a fresh workspace whose files are given.
func serviceGraph(t *testing.T, files map[string]string, targets ...*graph.Target) (string, *graph.Graph) {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	g := graph.New()
	for _, tg := range targets {
		tg.Cache = true
		if err := g.Add(tg); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Resolve(root); err != nil {
		t.Fatal(err)
	}
	return root, g
}

func label(name string) graph.Label { return graph.Label{Name: name} }

func TestCommandArgsAndEnvironment(t *testing.T) {
	tg := &graph.Target{Label: label("show"), Srcs: []string{"in.txt"}, Env: map[string]string{"GREETING": "hi"},
		Cmd: "echo \"$NAME $SRCS $GREETING [$HOSTONLY]\"\nprintf '<%s>'  \n"}
	root, g := serviceGraph(t, map[string]string{"in.txt": ""}, tg)
	t.Setenv("HOSTONLY", "leak")
	cmd := Command(ProcessOptions{Root: root, Graph: g, Target: tg, Args: []string{"a", "b c"}})
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "show in.txt hi []\n<a><b c>"; string(out) != want {
		t.Errorf("output %q, want %q", out, want)
	}
	if cmd.SysProcAttr == nil || !cmd.SysProcAttr.Setpgid {
		t.Error("the command does not get a process group of its own")
	}
}

// lines collects a service's output.
type lines struct {
	mu sync.Mutex
	l  []string
}

func (l *lines) add(s string) { l.mu.Lock(); l.l = append(l.l, s); l.mu.Unlock() }

func (l *lines) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.l...)
}

func TestServiceStreamsLinesAndReportsExit(t *testing.T) {
	tg := &graph.Target{Label: label("serve"), Cmd: "echo one; echo two >&2; printf three; exit 3"}
	root, g := serviceGraph(t, nil, tg)
	var out lines
	exited := make(chan string, 1)
	s, err := StartService(ServiceOptions{
		ProcessOptions: ProcessOptions{Root: root, Graph: g, Target: tg},
		OnLine:         out.add,
		OnExit:         func(_ *Service, err error) { exited <- ExitMessage(err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case msg := <-exited:
		if msg != "exited with status 3" {
			t.Errorf("exit: %q", msg)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the service's exit was not reported")
	}
	if got := strings.Join(out.get(), "|"); got != "one|two|three" {
		t.Errorf("lines %q, want one|two|three", got)
	}
	<-s.Done()
}

func TestServiceStopKillsAfterGrace(t *testing.T) {
	// The shell ignores SIGTERM, and so does the sleep it starts; a child
	// in the background stays in its group.
	tg := &graph.Target{Label: label("stubborn"), Cmd: "trap '' TERM; sleep 1000 & echo $!; echo ready; while :; do sleep 0.05; done"}
	root, g := serviceGraph(t, nil, tg)
	var out lines
	s, err := StartService(ServiceOptions{ProcessOptions: ProcessOptions{Root: root, Graph: g, Target: tg}, OnLine: out.add})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); len(out.get()) < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the service did not start")
		}
	}
	var child int
	if _, err := fmt.Sscan(out.get()[0], &child); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s.Stop(context.Background(), 300*time.Millisecond)
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("Stop returned after %v, before the grace period", d)
	}
	if msg := ExitMessage(s.Err()); msg != "killed by signal killed" {
		t.Errorf("exit: %q", msg)
	}
	// SIGKILL is delivered at once but takes effect asynchronously: give
	// the child a moment to die before calling it a survivor.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if err := syscall.Kill(child, 0); err != nil || zombie(child) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service's child %d outlived Stop", child)
		}
	}
}

func TestServiceStopEndsGraceOnContext(t *testing.T) {
	tg := &graph.Target{Label: label("stubborn"), Cmd: "trap '' TERM; echo ready; while :; do sleep 0.05; done"}
	root, g := serviceGraph(t, nil, tg)
	var out lines
	s, err := StartService(ServiceOptions{ProcessOptions: ProcessOptions{Root: root, Graph: g, Target: tg}, OnLine: out.add})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); len(out.get()) < 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the service did not start")
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan struct{})
	go func() { s.Stop(ctx, time.Hour); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Stop waited for the grace period despite a cancelled context")
	}
}

func TestServiceKey(t *testing.T) {
	tg := &graph.Target{Label: label("serve"), Srcs: []string{"conf"}, Cmd: "serve"}
	root, g := serviceGraph(t, map[string]string{"conf": "a", "pex.star": ""}, tg)
	ws, err := Open(root, OpenOptions{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	key := func() string {
		k, err := ws.ServiceKey(g, tg)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	k1 := key()
	write := func(s string) {
		p := filepath.Join(root, "conf")
		if err := os.WriteFile(p, []byte(s), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	write("a")
	if k := key(); k != k1 {
		t.Error("the same bytes written again changed the key")
	}
	write("b")
	if k := key(); k == k1 {
		t.Error("new contents did not change the key")
	}
	tg.Cmd = "serve --other"
	if k := key(); k == k1 {
		t.Error("a new command did not change the key")
	}
}

func TestCommandInheritsSharedValues(t *testing.T) {
	ws := testWorkspace(t, map[string]string{"BUILD": `
rule(name = "far", cmd = "echo PORT=8080 >> $PEX_SHARED; echo HOST=local >> $PEX_SHARED")
rule(name = "near", deps = [":far"], cmd = "echo PORT=8081 >> $PEX_SHARED")
rule(name = "serve", deps = [":near"], cmd = "echo $HOST:$PORT")
`}, nil)
	if sum, err := ws.Build(t.Context(), Request{Patterns: []string{"//:near"}}); err != nil || sum.Failed {
		t.Fatalf("build: %v %+v", err, sum)
	}
	g, err := ws.Graph(t.Context(), nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	serve, _ := g.Lookup(label("serve"))
	out, err := Command(ProcessOptions{Root: ws.Root, Graph: g, Target: serve, Workspace: ws}).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "local:8081" {
		t.Errorf("got %q, want local:8081 (the nearer dependency wins)", got)
	}
}

func zombie(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && strings.HasPrefix(s[i+1:], " Z")
}
