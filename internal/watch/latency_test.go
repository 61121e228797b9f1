package watch

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// BenchmarkWriteToBatch measures what a user waits for: the time from
// writing a watched file to receiving the batch that names it, with the
// default Debounce (100ms) on the real file system. ns/op is the mean;
// p50-ms, p90-ms and max-ms are reported too. Run it with a fixed count,
// such as -benchtime=50x: each iteration takes at least the debounce.
func BenchmarkWriteToBatch(b *testing.B) {
	dir := b.TempDir()
	f := filepath.Join(dir, "handler.go")
	src, err := NewFS(FSOptions{})
	if err != nil {
		b.Fatal(err)
	}
	w := New(src, Options{})
	defer w.Close()
	if err := w.SetDirs([]string{dir}); err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	i := 0
	for b.Loop() {
		start := time.Now()
		mustWriteB(b, f, fmt.Sprintf("package handler // %d", i))
		for batch := range w.Batches() {
			if slices.Contains(batch.Paths, f) {
				break
			}
		}
		lat = append(lat, time.Since(start))
		i++
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*9/10]), "p90-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
}
