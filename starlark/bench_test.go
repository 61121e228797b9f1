package starlark

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// BenchmarkLoad loads a workspace of 1000 packages of 10 rules each: every
// package loads a shared macro file, globs its sources and depends on the
// previous package.
func BenchmarkLoad(b *testing.B) {
	files := map[string]string{
		"pex.star": `group(name = "link", jobs = 1)` + "\n" + `config("opt", default = "-O2")`,
		"tools/defs.star": `
def cc(name, src, deps = []):
    return rule(
        name = name,
        cmd = "cc %s -c %s -o %s.o" % (config("opt"), src, name),
        srcs = [src],
        outs = [name + ".o"],
        deps = deps,
    )
`,
	}
	for i := range 1000 {
		pkg := fmt.Sprintf("m%02d/p%04d", i%50, i)
		var sb strings.Builder
		sb.WriteString(`load("//tools:defs.star", "cc")` + "\n")
		sb.WriteString(`srcs = glob(["*.c"], exclude = ["r9.c"])` + "\n")
		for j := range 9 {
			fmt.Fprintf(&sb, "cc(\"r%d\", srcs[%d])\n", j, j)
			files[fmt.Sprintf("%s/r%d.c", pkg, j)] = ""
		}
		dep := ""
		if i > 0 {
			dep = fmt.Sprintf(`"//m%02d/p%04d:link"`, (i-1)%50, i-1)
		}
		fmt.Fprintf(&sb, "rule(name = \"link\", cmd = \"ld -o app *.o\", srcs = [%s], outs = [\"app\"], group = \"link\", deps = [%s])\n",
			`":r0.o", ":r1.o"`, dep)
		files[pkg+"/BUILD"] = sb.String()
	}
	root := writeWorkspace(b, files)
	b.ResetTimer()
	for b.Loop() {
		g, err := Load(context.Background(), Options{Root: root})
		if err != nil {
			b.Fatal(err)
		}
		if len(g.Targets) != 10000 {
			b.Fatalf("%d targets, want 10000", len(g.Targets))
		}
	}
}
