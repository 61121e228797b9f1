// Command gen writes a synthetic workspace for comparing pex with ninja and
// make on the same build graph.
//
// The workspace holds P packages (p0000, p0001, ...) of R rules each. Every
// rule concatenates a few sources of its own package and a few outputs of
// rules in earlier packages into its one output:
//
//	cat $SRCS > $OUT
//
// The graph is written three times, at the workspace root and over the same
// source files: as pex.star plus one BUILD file per package (cross-package
// inputs by label), as build.ninja, and as a non-recursive Makefile. The
// commands only concatenate file contents, and no content embeds a path
// relative to where a tool runs, so the three tools write byte-identical
// outputs.
//
// The shape, deterministic for a given -seed:
//
//   - package p has R private sources src_0.txt ... src_{R-1}.txt and S shared
//     ones src_R.txt ... src_{R+S-1}.txt;
//   - rule K of package p is named rK (r0000, r0001, ...) and writes rK.out;
//     it reads src_K.txt, which no other rule reads, then S-1 of the shared
//     sources;
//   - rule K has level K mod 4. A rule of level l > 0 also reads the outputs of
//     D distinct rules of level l-1 in packages before p, picked uniformly.
//     Bounding the depth keeps the outputs small (a few KiB) however large
//     the workspace, while the dependencies cross the whole tree.
//
// gen also writes bench.env, a shell fragment naming a leaf source for the
// incremental scenarios of bench/run.sh: the private source of a level-0 rule
// in the middle of the workspace that other rules depend on.
//
// Usage:
//
//	go run ./bench/gen -packages 100 -rules 10 -out /tmp/ws
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	var opts Options
	flag.IntVar(&opts.Packages, "packages", 100, "number of packages")
	flag.IntVar(&opts.Rules, "rules", 10, "rules per package")
	flag.IntVar(&opts.Srcs, "srcs", 3, "sources of its own package each rule reads")
	flag.IntVar(&opts.Deps, "deps", 2, "outputs of earlier packages each rule of level > 0 reads")
	flag.Uint64Var(&opts.Seed, "seed", 1, "seed of the pseudo-random choices")
	out := flag.String("out", "", "directory to write the workspace into (created; must be empty or missing)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: gen -out DIR [-packages P] [-rules R] [-srcs S] [-deps D] [-seed N]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := opts.validate(); err != nil {
		fmt.Fprintf(os.Stderr, "gen: %v\n", err)
		os.Exit(2)
	}
	g := NewGraph(opts)
	if err := Write(g, *out); err != nil {
		fmt.Fprintf(os.Stderr, "gen: %v\n", err)
		os.Exit(1)
	}
}
