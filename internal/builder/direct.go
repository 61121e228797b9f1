// This file decides whether a rule's command can run without /bin/sh, as
// GNU make does for recipes without shell metacharacters: starting the
// shell is most of the cost of a small command. A command runs directly
// only when doing so is provably what sh would do: plain words, references
// to the variables pex itself sets, and at most one final "> file". Any
// doubt falls back to sh, which then also gives the user its own error
// messages.

package builder

import (
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// direct is a command that needs no shell: the words of its argv and the
// file its standard output is redirected to ("" for none), both expanded.
type direct struct {
	argv   []string
	stdout string
}

// ownVars are the variables pex sets for every command, whose values it
// knows; only they may be referenced by a command run without sh. Other
// names could be ones sh gives a meaning of its own (PWD, IFS, PPID...).
var ownVars = map[string]bool{
	"SRCS": true, "OUTS": true, "OUT": true, "PKG": true, "ROOT": true,
	"NAME": true, "PEX_REPORT": true, "PEX_SHARED": true, "PEX_DYNAMIC": true,
}

// shellWords are the names sh would not look up in PATH as the first word
// of a command: its reserved words and the builtins of dash (Debian's
// /bin/sh), POSIX and bash (which is /bin/sh elsewhere).
var shellWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`
		! { } case do done elif else esac fi for if in then until while [[ ]] function select time coproc
		. : [ alias bg break cd chdir command continue echo eval exec exit export false fc fg getopts
		hash jobs kill local printf pwd read readonly return set shift test times trap true type
		ulimit umask unalias unset wait
		bind builtin caller compgen complete compopt declare dirs disown enable help history let
		logout mapfile popd pushd readarray shopt source suspend typeset`) {
		m[w] = true
	}
	return m
}()

// shellVars are variables that dash, given them in its environment,
// passes on to its child with another value: a command given any of them
// runs with sh.
var shellVars = []string{"PWD", "IFS", "OPTIND", "PPID"}

// startDirect starts the command without a shell when it is plain enough
// (see parseDirect), in dir with the environment vars and its output going
// to out, and returns it; or nil when it must run with sh. The program
// gets what dash would give it: the same argv, environment plus PWD (the
// physical directory), stdin, stdout redirected, process group. Whatever
// fails here (no such program, a redirection that cannot be opened, a
// file exec refuses) is left to sh, which reports it in its own words or,
// for a script without #!, runs it.
func (c *command) startDirect(dir string, vars map[string]string, out *os.File) *osexec.Cmd {
	d, ok := parseDirect(c.t.Cmd, vars)
	if !ok {
		return nil
	}
	for _, k := range shellVars {
		if _, set := vars[k]; set {
			return nil
		}
	}
	for k := range vars {
		if !validEnvName(k) {
			return nil // dash drops these
		}
	}
	path, ok := vars["PATH"]
	if !ok {
		return nil // dash would search its default path
	}
	prog, ok := lookPath(d.argv[0], path, dir)
	if !ok {
		return nil
	}
	pwd, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil
	}
	cmd := &osexec.Cmd{Path: prog, Args: d.argv, Dir: dir, Env: append(environ(vars), "PWD="+pwd),
		Stdin: devNull(), Stdout: out, Stderr: out}
	if d.stdout != "" {
		f, err := os.OpenFile(abs(dir, d.stdout), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666)
		if err != nil {
			return nil
		}
		defer f.Close()
		cmd.Stdout = f
	}
	if c.procs.Start(cmd) != nil {
		return nil
	}
	return cmd
}

// parseDirect returns the command cmd as a direct one, given the values of
// pex's own variables, or ok false when it needs sh.
func parseDirect(cmd string, vars map[string]string) (d direct, ok bool) {
	words := strings.FieldsFunc(cmd, func(r rune) bool { return r == ' ' || r == '\t' })
	if len(words) == 0 || strings.ContainsAny(cmd, "\n\r") {
		return direct{}, false
	}
	// One final redirection: "> word" or ">word".
	last := words[len(words)-1]
	switch {
	case last == ">" && len(words) > 1:
		return direct{}, false // "cmd >" is a syntax error: let sh say so
	case len(words) > 2 && words[len(words)-2] == ">":
		d.stdout, words = last, words[:len(words)-2]
	case strings.HasPrefix(last, ">") && len(words) > 1:
		d.stdout, words = last[1:], words[:len(words)-1]
	}
	if d.stdout != "" {
		// No field splitting here; dash and bash disagree on values with
		// spaces (bash: "ambiguous redirect"), so those go to sh.
		fields, ok := expandWord(d.stdout, vars, false)
		if !ok || len(fields) != 1 {
			return direct{}, false
		}
		d.stdout = fields[0]
	}
	for i, w := range words {
		if i == 0 && strings.Contains(w, "=") {
			return direct{}, false // an assignment, or a name sh may read as one
		}
		fields, ok := expandWord(w, vars, true)
		if !ok {
			return direct{}, false
		}
		d.argv = append(d.argv, fields...)
	}
	if len(d.argv) == 0 || shellWords[d.argv[0]] || strings.Contains(d.argv[0], "=") {
		return direct{}, false
	}
	return d, true
}

// expandWord expands the unquoted word w as sh would: literal characters
// from a safe set, and $NAME or ${NAME} for pex's own variables, whose
// values are split into fields on spaces, tabs and newlines (unless split
// is false: then such a value is not ok). ok is false for anything else,
// and for values sh would also glob.
func expandWord(w string, vars map[string]string, split bool) (fields []string, ok bool) {
	var cur strings.Builder
	started := false
	for i := 0; i < len(w); {
		c := w[i]
		if c != '$' {
			if !safeChar(c) {
				return nil, false
			}
			cur.WriteByte(c)
			started = true
			i++
			continue
		}
		name, n := varName(w[i+1:])
		if name == "" || !ownVars[name] {
			return nil, false
		}
		i += 1 + n
		v := vars[name]
		if strings.ContainsAny(v, "*?[\\") {
			return nil, false
		}
		for j := 0; j < len(v); j++ {
			if v[j] == ' ' || v[j] == '\t' || v[j] == '\n' {
				if !split {
					return nil, false
				}
				if started {
					fields = append(fields, cur.String())
					cur.Reset()
					started = false
				}
				continue
			}
			cur.WriteByte(v[j])
			started = true
		}
	}
	if started {
		fields = append(fields, cur.String())
	}
	return fields, true
}

// varName reads a variable name after a '$': NAME (as long as sh reads it)
// or {NAME}. It returns the name and how many bytes it took, or "".
func varName(s string) (string, int) {
	braced := strings.HasPrefix(s, "{")
	if braced {
		s = s[1:]
	}
	n := 0
	for n < len(s) && (s[n] == '_' || s[n] >= 'A' && s[n] <= 'Z' || s[n] >= 'a' && s[n] <= 'z' || n > 0 && s[n] >= '0' && s[n] <= '9') {
		n++
	}
	if n == 0 {
		return "", 0
	}
	if !braced {
		return s[:n], n
	}
	if n == len(s) || s[n] != '}' {
		return "", 0 // ${NAME:-x} and the like
	}
	return s[:n], n + 2
}

// safeChar reports whether sh gives the byte c no meaning in a word.
func safeChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_./=:,+%@", c) >= 0
}

// lookPath finds the program name as sh would with the command's PATH,
// from the command's directory dir: a name with a slash as it is, else
// the first executable regular file in a PATH entry (an empty entry being
// dir itself). The result is absolute.
func lookPath(name, path, dir string) (string, bool) {
	if strings.Contains(name, "/") {
		return executable(abs(dir, name))
	}
	for _, entry := range filepath.SplitList(path) {
		if p, ok := executable(abs(dir, filepath.Join(entry, name))); ok {
			return p, true
		}
	}
	return "", false
}

func abs(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// executable returns p if it is a regular file this process may execute.
func executable(p string) (string, bool) {
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() || syscall.Access(p, 1 /* X_OK */) != nil {
		return "", false
	}
	return p, true
}
