package reliability

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	osexec "os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	kills    = flag.Int("kills", 12, "rounds of SIGKILL at a random moment of a build")
	rounds   = flag.Int("rounds", 6, "rounds of concurrent builds, and of saves during runs")
	seed     = flag.Uint64("seed", 0, "seed of the random choices (0: from the clock)")
	pexFlag  = flag.String("pex", "", "drive this pex binary instead of building ./cmd/pex")
	pexBin   string
	testSeed uint64
)

// TestMain builds the pex binary the suite drives.
func TestMain(m *testing.M) {
	flag.Parse()
	if runtime.GOOS != "linux" {
		fmt.Println("reliability: skipped: the suite reads /proc")
		os.Exit(0)
	}
	testSeed = *seed
	if testSeed == 0 {
		testSeed = uint64(time.Now().UnixNano())
	}
	dir, err := os.MkdirTemp("", "pex-reliability-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pexBin = filepath.Join(dir, "pex")
	if *pexFlag != "" {
		pexBin = *pexFlag
	} else {
		build := osexec.Command("go", "build", "-o", pexBin, "github.com/pex-build/pex/cmd/pex")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building pex: %v\n%s", err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// pex returns a pex command in the workspace dir with its own store.
func pex(dir, store string, args ...string) *osexec.Cmd {
	cmd := osexec.Command(pexBin, append([]string{"-C", dir}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + store, "PEX_CACHE_DIR=" + store, "CI=1"}
	return cmd
}

// result is how a pex run ended.
type result struct {
	code           int
	stdout, stderr string
}

func run(cmd *osexec.Cmd) result {
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*osexec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
	}
	return result{code, out.String(), errb.String()}
}

// tally counts what the rounds found.
type tally struct {
	rounds, wrong, failed, reran, leftover, stopped, notes int
}

func (c tally) String() string {
	return fmt.Sprintf("%d rounds: %d wrong outputs, %d failed builds, %d rules rerun by a build after a complete one, "+
		"%d processes left running, %d 'stopped' messages, %d 'not cached' notes",
		c.rounds, c.wrong, c.failed, c.reran, c.leftover, c.stopped, c.notes)
}

// complete runs a build to its end and checks it: it must succeed, every
// output must be what its inputs make, and a build right after must run
// nothing. It adds what it found to c, and reports whether all was well.
func complete(t *testing.T, w *workspace, store string, c *tally, what string) bool {
	t.Helper()
	ok := true
	fail := func(format string, args ...any) {
		t.Helper()
		ok = false
		t.Errorf(format, args...)
	}
	r := run(pex(w.dir, store, "build", "-j4", "-v"))
	if r.code != 0 {
		c.failed++
		fail("%s: the build failed (exit %d):\n%s%s", what, r.code, r.stdout, r.stderr)
	}
	c.stopped += strings.Count(r.stderr, "left running by a pex that was killed")
	if wrong := w.wrongOutputs(w.expected()); len(wrong) > 0 {
		c.wrong += len(wrong)
		got, _ := os.ReadFile(filepath.Join(w.dir, wrong[0]))
		fail("%s: %d wrong outputs: %v\n%s holds:\n%swant:\n%sthe build said:\n%s%s", what, len(wrong), wrong, wrong[0], got,
			w.expected()[wrong[0]], r.stdout, r.stderr)
	}
	r = run(pex(w.dir, store, "build", "--json"))
	if n := strings.Count(r.stdout, `"cache":"miss"`) + strings.Count(r.stdout, `"cache":"restored"`); n > 0 || r.code != 0 {
		c.reran += n
		fail("%s: the build after a complete one ran or restored %d rules (exit %d)", what, n, r.code)
	}
	if left := lingering(w.dir, time.Second); len(left) > 0 {
		c.leftover += len(left)
		fail("%s: processes left running in the workspace: %v", what, left)
	}
	return ok
}

// lingering returns the processes of the workspace dir still there after
// d (a reaper takes a moment to see its pex has exited).
func lingering(dir string, d time.Duration) []string {
	deadline := time.Now().Add(d)
	for {
		left := processesIn(dir)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// edit sets a few editable files to random variants.
func edit(w *workspace, rng *rand.Rand, n int) error {
	files := w.editable()
	for range n {
		if err := w.set(files[rng.IntN(len(files))], rng.IntN(variants)); err != nil {
			return err
		}
	}
	return nil
}

func newRNG(t *testing.T) *rand.Rand {
	t.Logf("seed %d (rerun with -seed %d)", testSeed, testSeed)
	return rand.New(rand.NewPCG(testSeed, 2))
}

// setup returns the test's random source, a new workspace and a store.
func setup(t *testing.T) (*rand.Rand, *workspace, string) {
	rng := newRNG(t)
	w, err := newWorkspace(filepath.Join(t.TempDir(), "ws"), testSeed)
	if err != nil {
		t.Fatal(err)
	}
	return rng, w, t.TempDir()
}

// TestRandomKills kills pex with SIGKILL at random moments of builds of a
// workspace whose commands write their outputs in place, a third of the
// time with its reaper, as a kill of a whole process tree would; after
// each, a complete build must leave every output right. At the end, the
// workspace's outputs must equal those of a clean build in a fresh
// directory with a fresh store.
func TestRandomKills(t *testing.T) {
	rng := newRNG(t)
	dir, store := t.TempDir(), t.TempDir()
	w, err := newWorkspace(filepath.Join(dir, "ws"), testSeed)
	if err != nil {
		t.Fatal(err)
	}
	var c tally
	complete(t, w, store, &c, "first build")
	for round := range *kills {
		if err := edit(w, rng, 1+rng.IntN(4)); err != nil {
			t.Fatal(err)
		}
		cmd := pex(w.dir, store, "build", "-j4")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
		if round%3 == 2 {
			killReapers(w.dir)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		complete(t, w, store, &c, fmt.Sprintf("round %d", round))
		c.rounds++
		if t.Failed() {
			break
		}
	}
	fresh, err := newWorkspace(filepath.Join(dir, "fresh"), testSeed)
	if err != nil {
		t.Fatal(err)
	}
	for p, v := range w.files {
		if err := fresh.set(p, v); err != nil {
			t.Fatal(err)
		}
	}
	if r := run(pex(fresh.dir, t.TempDir(), "build", "-j4")); r.code != 0 {
		t.Fatalf("the clean build failed:\n%s%s", r.stdout, r.stderr)
	}
	for _, out := range slices.Sorted(maps.Keys(w.expected())) { // the generated rules' too
		a, _ := os.ReadFile(filepath.Join(w.dir, out))
		b, _ := os.ReadFile(filepath.Join(fresh.dir, out))
		if !bytes.Equal(a, b) {
			c.wrong++
			t.Errorf("%s differs from a clean build's", out)
		}
	}
	t.Logf("random kills: %v", c)
}

// TestConcurrentBuilds starts two, then three builds at once on one
// workspace: each must succeed, and the outputs be right.
func TestConcurrentBuilds(t *testing.T) {
	rng, w, store := setup(t)
	var c tally
	for round := range *rounds {
		if err := edit(w, rng, 1+rng.IntN(6)); err != nil {
			t.Fatal(err)
		}
		n := 2 + round%2
		done := make(chan result, n)
		for range n {
			go func() { done <- run(pex(w.dir, store, "build", "-j4")) }()
		}
		for range n {
			if r := <-done; r.code != 0 {
				c.failed++
				t.Errorf("round %d: one of %d concurrent builds failed (exit %d):\n%s%s", round, n, r.code, r.stdout, r.stderr)
			}
		}
		if wrong := w.wrongOutputs(w.expected()); len(wrong) > 0 {
			c.wrong += len(wrong)
			t.Errorf("round %d: %d wrong outputs after %d concurrent builds: %v", round, len(wrong), n, wrong)
		}
		c.rounds++
	}
	complete(t, w, store, &c, "last build")
	t.Logf("concurrent builds: %v", c)
}

// TestSavesDuringRuns saves a source, a tool or a header (in turn) while
// the rules reading it run, reverts it half of the time, and checks that a
// complete build then leaves every output right: what was made from the
// saved contents is never restored for others.
func TestSavesDuringRuns(t *testing.T) {
	rng, w, store := setup(t)
	var c tally
	complete(t, w, store, &c, "first build")
	kinds := []string{".txt", "tool.sh", "h.txt"}
	for round := range *rounds * 2 {
		if err := edit(w, rng, 1+rng.IntN(3)); err != nil {
			t.Fatal(err)
		}
		var pick []string
		for _, p := range w.editable() {
			if strings.HasSuffix(p, kinds[round%3]) && (round%3 != 0 || !strings.HasSuffix(p, "h.txt")) {
				pick = append(pick, p)
			}
		}
		saved := pick[rng.IntN(len(pick))]
		before := w.files[saved]
		cmd := pex(w.dir, store, "build", "-j4", "-v")
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(50+rng.IntN(700)) * time.Millisecond)
		if err := w.set(saved, (before+1+rng.IntN(variants-1))%variants); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			c.failed++
			t.Errorf("round %d: the build during which %s was saved failed: %v\n%s", round, saved, err, out.String())
		}
		c.notes += strings.Count(out.String(), "its result is not cached")
		if rng.IntN(2) == 0 {
			if err := w.set(saved, before); err != nil {
				t.Fatal(err)
			}
		}
		if !complete(t, w, store, &c, fmt.Sprintf("round %d (%s saved)", round, saved)) {
			t.Logf("round %d: the build during which %s was saved said:\n%s", round, saved, out.String())
			break
		}
		c.rounds++
	}
	t.Logf("saves during runs: %v", c)
}

// TestKilledPexLeavesNothing kills pex build, then pex watch, with SIGKILL
// while their commands and services run: 2 s later no process of theirs
// is left.
func TestKilledPexLeavesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ws")
	w := &workspace{dir: dir}
	if err := w.write("pex.star", ""); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := range 4 {
		fmt.Fprintf(&b, "rule(name = \"long%d\", cmd = \"touch started%d; sleep 30 & sleep 30; wait\")\n", i, i)
	}
	b.WriteString(`rule(name = "serve", tags = ["service"], cmd = "touch started-serve; (sleep 30 &) ; exec sleep 30")` + "\n")
	if err := w.write("BUILD", b.String()); err != nil {
		t.Fatal(err)
	}
	store := t.TempDir()
	for _, args := range [][]string{{"build", "-j4"}, {"watch", "//:serve"}} {
		for _, f := range []string{"started0", "started1", "started2", "started3", "started-serve"} {
			os.Remove(filepath.Join(dir, f))
		}
		cmd := pex(dir, store, args...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		want := []string{"started0", "started1", "started2", "started3"}
		if args[0] == "watch" {
			want = []string{"started-serve"}
		}
		deadline := time.Now().Add(20 * time.Second)
		for !allExist(dir, want) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond) // the commands start their sleeps
		before := len(processesIn(dir))
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		time.Sleep(2 * time.Second)
		if left := processesIn(dir); len(left) > 0 {
			t.Errorf("pex %s: 2s after SIGKILL, %d of its %d processes are left: %v", args[0], len(left), before, left)
		} else {
			t.Logf("pex %s: 2s after SIGKILL, none of its %d processes is left", args[0], before)
		}
	}
}

func allExist(dir string, names []string) bool {
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			return false
		}
	}
	return true
}

// processesIn returns the live processes whose working directory is in
// dir, or whose command line names it (a reaper): "pid command".
func processesIn(dir string) []string {
	entries, _ := os.ReadDir("/proc")
	var found []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if i := bytes.LastIndexByte(stat, ')'); err != nil || i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' {
			continue
		}
		cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		line := strings.ReplaceAll(string(bytes.TrimRight(cmdline, "\x00")), "\x00", " ")
		if cwd == dir || strings.HasPrefix(cwd, dir+"/") || strings.Contains(line, dir) {
			found = append(found, fmt.Sprintf("%d %s", pid, line))
		}
	}
	return found
}

// killReapers kills the reapers of the pex processes of the workspace dir.
func killReapers(dir string) {
	for _, p := range processesIn(dir) {
		if strings.Contains(p, "__pex_reaper__") {
			pid, _ := strconv.Atoi(strings.Fields(p)[0])
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
