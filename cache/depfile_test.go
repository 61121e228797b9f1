package cache

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseDepfile(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"empty", "", nil},
		{"blank lines", "\n\n  \n", nil},
		{"simple", "out.o: a.c b.h\n", []string{"a.c", "b.h"}},
		{"no final newline", "out.o: a.c b.h", []string{"a.c", "b.h"}},
		{"space before colon", "out.o : a.c", []string{"a.c"}},
		{"no space after colon", "out.o:a.c b.h", []string{"a.c", "b.h"}},
		{"double colon", "out.o:: a.c", []string{"a.c"}},
		{"continuation", "out.o: a.c \\\n b.h \\\n  c.h\n", []string{"a.c", "b.h", "c.h"}},
		{"continuation without space", "out.o: a.c\\\nb.h", []string{"a.c", "b.h"}},
		{"crlf", "out.o: a.c \\\r\n b.h\r\nb.h:\r\n", []string{"a.c", "b.h"}},
		{"tabs", "out.o:\ta.c\t\tb.h", []string{"a.c", "b.h"}},
		{"escaped space", `out.o: my\ file.c`, []string{"my file.c"}},
		{"escaped tab", "out.o: my\\\tfile.c", []string{"my\tfile.c"}},
		{"dollar", "out.o: a$$b.c $x", []string{"a$b.c", "$x"}},
		{"hash", `out.o: a\#b.c`, []string{"a#b.c"}},
		{"backslash hash", `out.o: a\\#b.c`, []string{`a\#b.c`}},
		{"comment", "# generated\nout.o: a.c # b.c\n", []string{"a.c"}},
		{"literal backslash", `out.o: a\b.c c\`, []string{`a\b.c`, `c`}},
		{"2N+1 backslashes and space", `out.o: a\\\ b.c`, []string{`a\ b.c`}},
		{"2N backslashes and space", `out.o: a\\ b.c`, []string{`a\`, `b.c`}},
		{"2N backslashes at end of line", "out.o: a\\\\\nb.c:", []string{`a\`}},
		{"colon in prerequisite", "out.o: a:b.c", []string{"a:b.c"}},
		{"multiple targets", "a.o b.o: a.c\n", []string{"a.c"}},
		{"multiple rules", "a.o: a.c x.h\nb.o: b.c x.h\n", []string{"a.c", "x.h", "b.c"}},
		{"phony rules of -MP", "a.o: a.c x.h y.h\nx.h:\ny.h:\n", []string{"a.c", "x.h", "y.h"}},
		{"duplicates", "a.o: x.h a.c x.h", []string{"x.h", "a.c"}},
		{"target continued", "a.o \\\n b.o: a.c", []string{"a.c"}},
		{"no targets", ": a.c", []string{"a.c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDepfile([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParseDepfile(%q): %v", tt.in, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ParseDepfile(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseDepfileErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a.c b.h\n", "depfile:1: expected ':' after target"},
		{"out.o: a.c\nstray\n", "depfile:2: expected ':' after target"},
		{"out.o: a.c \\\n b.h\nstray", "depfile:3: expected ':' after target"},
	}
	for _, tt := range tests {
		_, err := ParseDepfile([]byte(tt.in))
		if err == nil || err.Error() != tt.want {
			t.Errorf("ParseDepfile(%q) error = %v, want %q", tt.in, err, tt.want)
		}
	}
}

// TestParseDepfileGCC parses depfiles that gcc 12 wrote for a source file
// including headers whose names hold spaces, "$", "#" and a backslash.
// Each testdata/depfile/NAME.d has NAME.want, one prerequisite a line.
func TestParseDepfileGCC(t *testing.T) {
	files, err := filepath.Glob("testdata/depfile/*.d")
	if err != nil || len(files) == 0 {
		t.Fatalf("no depfiles in testdata: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			wantData, err := os.ReadFile(strings.TrimSuffix(file, ".d") + ".want")
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Split(strings.TrimSuffix(string(wantData), "\n"), "\n")
			got, err := ParseDepfile(data)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("got  %q\nwant %q", got, want)
			}
			crlf := bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))
			if got, err := ParseDepfile(crlf); err != nil || !slices.Equal(got, want) {
				t.Errorf("with CRLF line ends: %q, %v", got, err)
			}
		})
	}
}

// escapeDepName writes name as gcc does, following GNU make's rules.
func escapeDepName(name string) string {
	var b strings.Builder
	backslashes := 0
	for _, c := range []byte(name) {
		switch c {
		case ' ', '\t':
			b.WriteString(strings.Repeat(`\`, backslashes+1))
		case '#':
			b.WriteByte('\\')
		case '$':
			b.WriteByte('$')
		}
		b.WriteByte(c)
		if c == '\\' {
			backslashes++
		} else {
			backslashes = 0
		}
	}
	b.WriteString(strings.Repeat(`\`, backslashes)) // 2N at the end mean N
	return b.String()
}

// depNames turns fuzz input into names that a depfile can hold: split at
// newlines, without NUL or CR, non-empty.
func depNames(s string) []string {
	var names []string
	for _, n := range strings.Split(s, "\n") {
		if n != "" && !strings.ContainsAny(n, "\x00\r") && strings.Trim(n, " \t") == n {
			names = append(names, n)
		}
	}
	return names
}

// FuzzParseDepfile checks that ParseDepfile never panics, and that names
// written as gcc writes them read back in order, deduplicated, whatever
// the line breaks between them.
func FuzzParseDepfile(f *testing.F) {
	for _, seed := range []string{
		"out.o: a.c b.h\n", "a\\ b\n$c#\nd\\\\", "x\\\r\ny", "out.o: a.c \\\n b.h\nb.h:\n",
		"a.o b.o:: x\\\\\\ y\\#z $$w", ":::", "\\", "\\\\\\", "a.c\na.c\n",
	} {
		f.Add(seed, uint8(0))
	}
	data, _ := os.ReadFile("testdata/depfile/gcc-md-mp.d")
	f.Add(string(data), uint8(3))
	f.Fuzz(func(t *testing.T, s string, breaks uint8) {
		_, _ = ParseDepfile([]byte(s)) // must not panic
		names := depNames(s)
		var in strings.Builder
		in.WriteString("out.o:")
		for i, n := range names {
			sep := " "
			switch {
			case breaks&(1<<(i%8)) == 0:
			case i%2 == 0:
				sep = " \\\n  "
			default:
				sep = "\\\r\n\t"
			}
			in.WriteString(sep + escapeDepName(n))
		}
		in.WriteString("\n")
		got, err := ParseDepfile([]byte(in.String()))
		if err != nil {
			t.Fatalf("ParseDepfile(%q): %v", in.String(), err)
		}
		var want []string
		for _, n := range names {
			if !slices.Contains(want, n) {
				want = append(want, n)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("ParseDepfile(%q)\n= %q\nwant %q", in.String(), got, want)
		}
	})
}
