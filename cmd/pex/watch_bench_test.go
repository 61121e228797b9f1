package main

import (
	"bytes"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// BenchmarkWatchLatency measures what a user waits for in pex watch: the
// time from saving an input to the start of the command that rebuilds it,
// with the default debounce (100 ms), through the real pex binary (this
// test binary, re-executed as pex), inotify and the cache. The rule's
// first act is to copy its input to a file that the benchmark polls every
// millisecond. Read p50-ms, p90-ms and max-ms: ns/op also counts a 50 ms
// pause after each save. Run it with a fixed count, such as
// -benchtime=30x.
func BenchmarkWatchLatency(b *testing.B) {
	root := b.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o666); err != nil {
			b.Fatal(err)
		}
	}
	write("pex.star", "")
	write("BUILD", `rule(name = "copy", srcs = ["in.txt"], outs = ["out.txt"], cmd = "cat in.txt > started.txt; cp in.txt $OUT")`+"\n")
	write("in.txt", "0")
	pex, err := osexec.LookPath("pex") // set up by testscript.Main in TestMain
	if err != nil {
		b.Skip("pex is not in $PATH")
	}
	cmd := osexec.Command(pex, "watch", "-C", root)
	cmd.Env = append(os.Environ(), "PEX_CACHE_DIR="+filepath.Join(root, ".cache"))
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
	}()
	waitFor := func(want string) time.Time {
		deadline := time.Now().Add(30 * time.Second)
		for {
			if got, _ := os.ReadFile(filepath.Join(root, "started.txt")); bytes.Equal(got, []byte(want)) {
				return time.Now()
			}
			if time.Now().After(deadline) {
				b.Fatalf("the rule did not start with %q within 30s", want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitFor("0")
	time.Sleep(300 * time.Millisecond) // let the first build's own events settle
	var lat []time.Duration
	i := 0
	for b.Loop() {
		i++
		want := fmt.Sprint(i)
		start := time.Now()
		write("in.txt", want)
		lat = append(lat, waitFor(want).Sub(start))
		time.Sleep(50 * time.Millisecond) // the build finishes: no cancellation
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*9/10]), "p90-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
}
