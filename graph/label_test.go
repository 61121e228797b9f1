package graph

import (
	"testing"
)

func TestParseLabel(t *testing.T) {
	tests := []struct {
		s, pkg string
		want   Label
	}{
		{"//lib/net:client", "app", Label{"lib/net", "client"}},
		{"//lib/net", "", Label{"lib/net", "net"}},
		{"//lib", "x", Label{"lib", "lib"}},
		{"//:fmt", "lib", Label{"", "fmt"}},
		{":client", "lib/net", Label{"lib/net", "client"}},
		{":client", "", Label{"", "client"}},
		{"client", "lib", Label{"lib", "client"}},
		{"gen.h", "", Label{"", "gen.h"}},
		{"//lib:sub/gen.h", "", Label{"lib", "sub/gen.h"}},
		{":sub/dir/gen.h", "lib", Label{"lib", "sub/dir/gen.h"}},
		{"//a/b/c:d-e_f.g+h", "", Label{"a/b/c", "d-e_f.g+h"}},
		{"//lib:my file.txt", "", Label{"lib", "my file.txt"}},
		{"//lib:..x", "", Label{"lib", "..x"}},
		{"//lib:.hidden", "", Label{"lib", ".hidden"}},
		{"//ünï:cödé", "", Label{"ünï", "cödé"}},
	}
	for _, tt := range tests {
		got, err := ParseLabel(tt.s, tt.pkg)
		if err != nil {
			t.Errorf("ParseLabel(%q, %q): %v", tt.s, tt.pkg, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseLabel(%q, %q) = %#v, want %#v", tt.s, tt.pkg, got, tt.want)
		}
	}
}

func TestParseLabelErrors(t *testing.T) {
	tests := []struct{ s, pkg, want string }{
		{"", "", `invalid label "": empty label`},
		{"//", "", `invalid label "//": missing target name`},
		{":", "lib", `invalid label ":": missing target name`},
		{"//lib:", "", `invalid label "//lib:": missing target name`},
		{"/lib:x", "", `invalid label "/lib:x": absolute path; a label starts with "//" or ":"`},
		{"/etc/passwd", "", `invalid label "/etc/passwd": absolute path; a label starts with "//" or ":"`},
		{"lib/net", "", `invalid label "lib/net": a label with "/" or ":" starts with "//" or ":"`},
		{"lib:net", "", `invalid label "lib:net": a label with "/" or ":" starts with "//" or ":"`},
		{"//lib:a:b", "", `invalid label "//lib:a:b": more than one colon`},
		{":a:b", "", `invalid label ":a:b": more than one colon`},
		{"//lib//net:x", "", `invalid label "//lib//net:x": double slash in package path`},
		{"///lib:x", "", `invalid label "///lib:x": leading slash in package path`},
		{"//lib/:x", "", `invalid label "//lib/:x": trailing slash in package path`},
		{"//lib/", "", `invalid label "//lib/": trailing slash in package path`},
		{"//lib:sub/", "", `invalid label "//lib:sub/": trailing slash in target name`},
		{"//lib:/x", "", `invalid label "//lib:/x": leading slash in target name`},
		{"//lib:a//b", "", `invalid label "//lib:a//b": double slash in target name`},
		{"//lib/../x:y", "", `invalid label "//lib/../x:y": ".." segment in package path`},
		{"//lib:../x", "", `invalid label "//lib:../x": ".." segment in target name`},
		{"//./lib:x", "", `invalid label "//./lib:x": "." segment in package path`},
		{":.", "lib", `invalid label ":.": "." segment in target name`},
		{"..", "lib", `invalid label "..": ".." segment in target name`},
		{"//lib/...", "", `invalid label "//lib/...": "..." is a pattern, not a label`},
		{"//lib:...", "", `invalid label "//lib:...": "..." is a pattern, not a label`},
		{`//lib\net:x`, "", `invalid label "//lib\\net:x": backslash (use "/")`},
		{"//lib:a\nb", "", `invalid label "//lib:a\nb": control character`},
		{":x", "a//b", `invalid package "a//b": double slash`},
		{"x", "/abs", `invalid package "/abs": leading slash`},
		{"x", ":", `invalid package ":": colon`},
	}
	for _, tt := range tests {
		_, err := ParseLabel(tt.s, tt.pkg)
		if err == nil {
			t.Errorf("ParseLabel(%q, %q): no error, want %s", tt.s, tt.pkg, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ParseLabel(%q, %q) error:\n got %s\nwant %s", tt.s, tt.pkg, err, tt.want)
		}
	}
}

func TestLabelString(t *testing.T) {
	tests := []struct {
		l         Label
		str, file string
	}{
		{Label{"lib/net", "client"}, "//lib/net:client", "lib/net/client"},
		{Label{"", "fmt"}, "//:fmt", "fmt"},
		{Label{"lib", "sub/gen.h"}, "//lib:sub/gen.h", "lib/sub/gen.h"},
	}
	for _, tt := range tests {
		if got := tt.l.String(); got != tt.str {
			t.Errorf("%#v.String() = %q, want %q", tt.l, got, tt.str)
		}
		if got := tt.l.Path(); got != tt.file {
			t.Errorf("%#v.Path() = %q, want %q", tt.l, got, tt.file)
		}
	}
}

func FuzzParseLabel(f *testing.F) {
	for _, s := range []string{
		"//lib/net:client", "//lib", "//:x", ":x", "x", "//lib:sub/gen.h",
		"//", ":", "//a//b:c", "//a:b:c", "//a/..:b", "/x", "a/b", `a\b`,
		"//lib/...", "//a:\x00", ":ü",
	} {
		f.Add(s, "lib")
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, s, pkg string) {
		l, err := ParseLabel(s, pkg)
		if err != nil {
			return
		}
		if reason := checkLabel(l); reason != "" {
			t.Fatalf("ParseLabel(%q, %q) = %#v, which is invalid: %s", s, pkg, l, reason)
		}
		again, err := ParseLabel(l.String(), "other")
		if err != nil {
			t.Fatalf("ParseLabel(%q, %q) = %#v, whose String %q does not parse: %v", s, pkg, l, l.String(), err)
		}
		if again != l {
			t.Fatalf("ParseLabel(%q, %q) = %#v, but its String %q parses to %#v", s, pkg, l, l.String(), again)
		}
	})
}
