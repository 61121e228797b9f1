package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pex-build/pex/internal/builder"
)

func (a *app) cacheCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "cache",
		Short: "Inspect or trim the content-addressed store",
	}
	c.AddCommand(a.cacheStatsCommand(), a.cacheGCCommand())
	return c
}

func (a *app) cacheStatsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "Print the store's size and entries, and the hit rate of the last build",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var ws *builder.Workspace
			if dir, err := a.workDir(); err == nil {
				ws, _ = builder.Open(dir, builder.OpenOptions{}) // outside a workspace: the store is all there is
			}
			st, err := builder.StoreStats(ws)
			if err != nil {
				return failed(exitFailed, "%v", err)
			}
			fmt.Fprintf(a.stdout, "store:      %s\n", st.Dir)
			fmt.Fprintf(a.stdout, "entries:    %d blobs, %d records\n", st.Blobs, st.Records)
			fmt.Fprintf(a.stdout, "size:       %s\n", humanBytes(st.Bytes))
			if ws == nil {
				return nil
			}
			if st.LastStart.IsZero() {
				fmt.Fprintln(a.stdout, "last build: none recorded in this workspace")
				return nil
			}
			done := st.Hits + st.Restored + st.Remote + st.Runs
			rate := 0.0
			if done > 0 {
				rate = 100 * float64(st.Hits+st.Restored+st.Remote) / float64(done)
			}
			fmt.Fprintf(a.stdout, "last build: %s, %d rules: %d hit, %d restored, %d ran, %d failed, %d skipped (hit rate %.0f%%)\n",
				st.LastStart.Format("2006-01-02 15:04:05"), done+st.Failed+st.Skipped,
				st.Hits, st.Restored, st.Runs, st.Failed, st.Skipped, rate)
			return nil
		},
	}
}

func (a *app) cacheGCCommand() *cobra.Command {
	var maxSize string
	c := &cobra.Command{
		Use:   "gc",
		Short: "Trim the store to a size, least recently used first",
		Long: `Remove the least recently used blobs and records until the store is no
larger than --max-size. Safe while builds run: a build that loses a blob it
wanted rebuilds instead of restoring.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			limit, err := parseSize(maxSize)
			if err != nil {
				return failed(exitUsage, "--max-size %q: %v", maxSize, err)
			}
			st, err := builder.GC(limit)
			if err != nil {
				return failed(exitFailed, "%v", err)
			}
			fmt.Fprintf(a.stdout, "store now %s: %d blobs, %d records\n", humanBytes(st.Bytes), st.Blobs, st.Records)
			return nil
		},
	}
	c.Flags().StringVar(&maxSize, "max-size", "5G", "largest size to keep, such as 500M or 5G")
	return c
}

// parseSize parses 1234, 500K, 500M, 5G, 1T (powers of 1024; a trailing B
// or iB is allowed).
func parseSize(s string) (int64, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "B"), "I")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("want a size such as 500M or 5G")
	}
	return int64(v * float64(mult)), nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
