package builder

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/pex-build/pex/graph"
)

func TestParseDirect(t *testing.T) {
	vars := map[string]string{
		"SRCS": "a.c  b.c\tc.c", "OUT": "x.o", "OUTS": "x.o x.d", "NAME": "x", "PKG": "", "ROOT": "/w",
		"PEX_REPORT": "/w/.pex/tmp/1.report", "PEX_SHARED": "/w/.pex/tmp/1.shared",
		"CC": "gcc", // a rule's env: not pex's own
	}
	tests := []struct {
		cmd    string
		argv   []string // nil: falls back to sh
		stdout string
	}{
		{cmd: "cat $SRCS > $OUT", argv: []string{"cat", "a.c", "b.c", "c.c"}, stdout: "x.o"},
		{cmd: "cat $SRCS >$OUT", argv: []string{"cat", "a.c", "b.c", "c.c"}, stdout: "x.o"},
		{cmd: "  cc\t-o $OUT -c $SRCS  ", argv: []string{"cc", "-o", "x.o", "-c", "a.c", "b.c", "c.c"}},
		{cmd: "gcc -MD -MF ${OUT}.d -o ${OUT} $SRCS", argv: []string{"gcc", "-MD", "-MF", "x.o.d", "-o", "x.o", "a.c", "b.c", "c.c"}},
		{cmd: "tool --in=a$SRCS.x", argv: []string{"tool", "--in=aa.c", "b.c", "c.c.x"}},
		{cmd: "tool $OUTS", argv: []string{"tool", "x.o", "x.d"}},
		{cmd: "tool x$PKG y", argv: []string{"tool", "x", "y"}},
		{cmd: "tool $PKG y", argv: []string{"tool", "y"}},
		{cmd: "$PKG tool", argv: []string{"tool"}},
		{cmd: "./gen.py -v %d @f +x a,b c:d", argv: []string{"./gen.py", "-v", "%d", "@f", "+x", "a,b", "c:d"}},
		{cmd: "go run ./cmd/x -out=$ROOT/y", argv: []string{"go", "run", "./cmd/x", "-out=/w/y"}},
		{cmd: "touch $PEX_REPORT", argv: []string{"touch", "/w/.pex/tmp/1.report"}},

		// Shell syntax, quoting and expansions pex does not do.
		{cmd: "cat a | wc"},
		{cmd: "cat a; cat b"},
		{cmd: "cat a && cat b"},
		{cmd: "cat a\ncat b"},
		{cmd: `cat "a b"`},
		{cmd: "cat 'a'"},
		{cmd: `cat a\ b`},
		{cmd: "cat *.c"},
		{cmd: "cat a?"},
		{cmd: "cat [ab]"},
		{cmd: "cat ~/a"},
		{cmd: "cat $(ls)"},
		{cmd: "cat `ls`"},
		{cmd: "cat a # comment"},
		{cmd: "cat a &"},
		{cmd: "cat < a"},
		{cmd: "cat a >> b"},
		{cmd: "cat a 2> b"},
		{cmd: "cat a > b > c"},
		{cmd: "cat a > b c"},
		{cmd: "cat a >"},
		{cmd: "> b"},
		{cmd: "cat {a,b}"},
		{cmd: "cat $CC"},
		{cmd: "cat $HOME"},
		{cmd: "cat $1"},
		{cmd: "cat $@"},
		{cmd: "cat $$"},
		{cmd: "cat ${OUT:-y}"},
		{cmd: "cat ${OUT"},
		{cmd: "cat $"},
		{cmd: "cat $SRCS_x"}, // another variable, unset for pex
		{cmd: "CC=gcc make"},
		{cmd: ""},
		{cmd: "  "},
		// A redirection target that sh would split differently.
		{cmd: "cat a > $SRCS"},
		{cmd: "cat a > $PKG"},

		// Reserved words and builtins: sh would not look them up in PATH.
		{cmd: "echo $SRCS"},
		{cmd: "printf x"},
		{cmd: "test -f $OUT"},
		{cmd: "[ -f x ]"},
		{cmd: "true"},
		{cmd: "false"},
		{cmd: "cd sub"},
		{cmd: "exec cat a"},
		{cmd: "command cat a"},
		{cmd: "export X"},
		{cmd: "kill 1"},
		{cmd: "pwd"},
		{cmd: "read x"},
		{cmd: "type cat"},
		{cmd: "ulimit -n"},
		{cmd: ". ./env.sh"},
		{cmd: ": nothing"},
		{cmd: "if"},
		{cmd: "time cat a"},
		{cmd: "source x"},
	}
	for _, tc := range tests {
		d, ok := parseDirect(tc.cmd, vars)
		switch {
		case tc.argv == nil && ok:
			t.Errorf("%q: runs directly as %q > %q, want sh", tc.cmd, d.argv, d.stdout)
		case tc.argv != nil && !ok:
			t.Errorf("%q: falls back to sh, want %q > %q", tc.cmd, tc.argv, tc.stdout)
		case ok && (!slices.Equal(d.argv, tc.argv) || d.stdout != tc.stdout):
			t.Errorf("%q: runs %q > %q, want %q > %q", tc.cmd, d.argv, d.stdout, tc.argv, tc.stdout)
		}
	}
}

func TestParseDirectValuesShWouldGlob(t *testing.T) {
	for _, v := range []string{"*.c", "a?.c", "[ab].c", `a\b`} {
		if d, ok := parseDirect("cat $SRCS", map[string]string{"SRCS": "x.c " + v}); ok {
			t.Errorf("SRCS=%q: runs directly as %q, want sh", v, d.argv)
		}
	}
}

// TestStartDirect checks which commands start without a shell, program
// lookup and environment included.
func TestStartDirect(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	write := func(name, content string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(bin, 0o777); err != nil {
		t.Fatal(err)
	}
	write("bin/tool", "#!/bin/sh\nexit 0\n", 0o755)
	write("bin/noexec", "#!/bin/sh\n", 0o644)
	write("noshebang", "exit 0\n", 0o755)
	write("in.txt", "x\n", 0o644)
	catPath, ok := lookPath("cat", os.Getenv("PATH"), dir)
	if !ok {
		t.Skip("no cat in PATH")
	}
	pathVar := bin + ":" + filepath.Dir(catPath)
	tests := []struct {
		cmd  string
		env  map[string]string
		want string // the program started; "/bin/sh" for a fallback
	}{
		{cmd: "cat $SRCS > $OUT", want: catPath},
		{cmd: "tool a b", want: filepath.Join(bin, "tool")},
		{cmd: "./bin/tool", want: filepath.Join(bin, "tool")},
		{cmd: "bin/tool", want: filepath.Join(bin, "tool")},
		{cmd: "noexec", want: "/bin/sh"},                // not executable: sh says so
		{cmd: "no-such-program x", want: "/bin/sh"},     // sh says "not found"
		{cmd: "./noshebang", want: "/bin/sh"},           // exec refuses it, sh runs it as a script
		{cmd: "cat in.txt > no/dir/x", want: "/bin/sh"}, // sh says "cannot create"
		{cmd: "echo hi", want: "/bin/sh"},
		{cmd: "cat in.txt", env: map[string]string{"PWD": "/"}, want: "/bin/sh"},
		{cmd: "cat in.txt", env: map[string]string{"IFS": ","}, want: "/bin/sh"},
		{cmd: "cat in.txt", env: map[string]string{"A-B": "1"}, want: "/bin/sh"},
	}
	for _, tc := range tests {
		tg := &graph.Target{Label: label("r"), Outs: []string{"out.txt"}, Cmd: tc.cmd, Env: tc.env}
		c := &command{root: dir, t: tg, srcs: []string{"in.txt"}, hostEnv: func(k string) (string, bool) {
			if k == "PATH" {
				return pathVar, true
			}
			return "", false
		}}
		out, err := os.CreateTemp(t.TempDir(), "out")
		if err != nil {
			t.Fatal(err)
		}
		cmd, err := c.start(dir, c.vars(os.DevNull, os.DevNull), out)
		if err != nil {
			t.Fatalf("%q: %v", tc.cmd, err)
		}
		_ = cmd.Wait()
		out.Close()
		if cmd.Path != tc.want {
			t.Errorf("%q: started %s, want %s", tc.cmd, cmd.Path, tc.want)
		}
	}
	t.Run("no PATH", func(t *testing.T) {
		tg := &graph.Target{Label: label("r"), Cmd: "cat in.txt"}
		c := &command{root: dir, t: tg, hostEnv: func(string) (string, bool) { return "", false }}
		if parseOK := c.startDirect(dir, c.vars(os.DevNull, os.DevNull), nil); parseOK != nil {
			_ = parseOK.Wait()
			t.Error("started without sh, though sh would search its default path")
		}
	})
}
