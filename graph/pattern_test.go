package graph

import (
	"slices"
	"testing"
)

func TestParsePattern(t *testing.T) {
	tests := []struct {
		s, cwd   string
		want     Pattern
		str      string
		explicit bool
	}{
		{"//...", "lib", Pattern{Recursive: true}, "//...", false},
		{"//...:all", "", Pattern{Recursive: true}, "//...", false},
		{"//lib/...", "", Pattern{Pkg: "lib", Recursive: true}, "//lib/...", false},
		{"//lib/...:all", "", Pattern{Pkg: "lib", Recursive: true}, "//lib/...", false},
		{"//lib:all", "", Pattern{Pkg: "lib"}, "//lib:all", false},
		{"//:all", "lib", Pattern{}, "//:all", false},
		{"//lib:net", "", Pattern{Pkg: "lib", Name: "net"}, "//lib:net", true},
		{"//lib/net", "", Pattern{Pkg: "lib/net", Name: "net"}, "//lib/net:net", true},
		{"//:fmt", "lib", Pattern{Name: "fmt"}, "//:fmt", true},
		{"//lib:sub/gen.h", "", Pattern{Pkg: "lib", Name: "sub/gen.h"}, "//lib:sub/gen.h", true},
		{":net", "lib", Pattern{Pkg: "lib", Name: "net"}, "//lib:net", true},
		{":net", "", Pattern{Name: "net"}, "//:net", true},
		{"net", "lib", Pattern{Pkg: "lib", Name: "net"}, "//lib:net", true},
		{"all", "lib", Pattern{Pkg: "lib"}, "//lib:all", false},
		{":all", "lib", Pattern{Pkg: "lib"}, "//lib:all", false},
		{"...", "lib", Pattern{Pkg: "lib", Recursive: true}, "//lib/...", false},
		{"...", "", Pattern{Recursive: true}, "//...", false},
		{"sub/...", "lib", Pattern{Pkg: "lib/sub", Recursive: true}, "//lib/sub/...", false},
		{"sub/dir:name", "lib", Pattern{Pkg: "lib/sub/dir", Name: "name"}, "//lib/sub/dir:name", true},
		{"sub/dir:all", "lib", Pattern{Pkg: "lib/sub/dir"}, "//lib/sub/dir:all", false},
		{"sub/dir", "lib", Pattern{Pkg: "lib/sub/dir", Name: "dir"}, "//lib/sub/dir:dir", true},
		{"net/", "lib", Pattern{Pkg: "lib/net", Name: "net"}, "//lib/net:net", true},
		{"./net", "lib", Pattern{Pkg: "lib/net", Name: "net"}, "//lib/net:net", true},
		{".", "lib/net", Pattern{Pkg: "lib/net", Name: "net"}, "//lib/net:net", true},
		{"..", "lib/net", Pattern{Pkg: "lib", Name: "lib"}, "//lib:lib", true},
		{"../app/...", "lib", Pattern{Pkg: "app", Recursive: true}, "//app/...", false},
		{"../...", "lib", Pattern{Recursive: true}, "//...", false},
		{"..:x", "lib", Pattern{Name: "x"}, "//:x", true},
		{".hidden/...", "", Pattern{Pkg: ".hidden", Recursive: true}, "//.hidden/...", false},
	}
	for _, tt := range tests {
		got, err := ParsePattern(tt.s, tt.cwd)
		if err != nil {
			t.Errorf("ParsePattern(%q, %q): %v", tt.s, tt.cwd, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParsePattern(%q, %q) = %#v, want %#v", tt.s, tt.cwd, got, tt.want)
		}
		if s := got.String(); s != tt.str {
			t.Errorf("ParsePattern(%q, %q).String() = %q, want %q", tt.s, tt.cwd, s, tt.str)
		}
		if e := got.Explicit(); e != tt.explicit {
			t.Errorf("ParsePattern(%q, %q).Explicit() = %v, want %v", tt.s, tt.cwd, e, tt.explicit)
		}
	}
}

func TestParsePatternErrors(t *testing.T) {
	tests := []struct{ s, cwd, want string }{
		{"", "", `invalid pattern "": empty pattern`},
		{"//", "", `invalid pattern "//": missing target name`},
		{".", "", `invalid pattern ".": missing target name`},
		{"//lib:", "", `invalid pattern "//lib:": missing target name`},
		{"/lib/...", "", `invalid pattern "/lib/...": absolute path; a pattern starts with "//" or is relative to the current package`},
		{"//lib:a:b", "", `invalid pattern "//lib:a:b": more than one colon`},
		{"//lib/", "", `invalid pattern "//lib/": trailing slash`},
		{"//lib//x:y", "", `invalid pattern "//lib//x:y": double slash`},
		{"//../x", "", `invalid pattern "//../x": ".." segment`},
		{"//lib/.../x", "", `invalid pattern "//lib/.../x": "..." must be the last path segment`},
		{"lib/.../x:y", "", `invalid pattern "lib/.../x:y": "..." must be the last path segment`},
		{"//lib/...:x", "", `invalid pattern "//lib/...:x": "..." cannot be combined with a target name`},
		{"//lib:...", "", `invalid pattern "//lib:...": "..." segment in target name`},
		{"//lib:../x", "", `invalid pattern "//lib:../x": ".." segment in target name`},
		{"../x", "", `invalid pattern "../x": outside the workspace`},
		{"../../...", "lib", `invalid pattern "../../...": outside the workspace`},
		{`lib\x`, "", `invalid pattern "lib\\x": backslash (use "/")`},
		{"x\ty", "", `invalid pattern "x\ty": control character`},
		{"x", "lib/", `invalid current package "lib/": trailing slash`},
		{"x", "a:b", `invalid current package "a:b": colon`},
	}
	for _, tt := range tests {
		_, err := ParsePattern(tt.s, tt.cwd)
		if err == nil {
			t.Errorf("ParsePattern(%q, %q): no error, want %s", tt.s, tt.cwd, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ParsePattern(%q, %q) error:\n got %s\nwant %s", tt.s, tt.cwd, err, tt.want)
		}
	}
}

func TestPatternMatch(t *testing.T) {
	labels := []Label{
		{"", "fmt"}, {"lib", "lib"}, {"lib", "util"}, {"lib/net", "net"},
		{"lib-x", "y"}, {"library", "z"}, {"app", "app"},
	}
	tests := []struct {
		pattern string
		want    []string
	}{
		{"//...", []string{"//:fmt", "//lib:lib", "//lib:util", "//lib/net:net", "//lib-x:y", "//library:z", "//app:app"}},
		{"//lib/...", []string{"//lib:lib", "//lib:util", "//lib/net:net"}},
		{"//lib:all", []string{"//lib:lib", "//lib:util"}},
		{"//:all", []string{"//:fmt"}},
		{"//lib", []string{"//lib:lib"}},
		{"//lib:util", []string{"//lib:util"}},
		{"//lib/net/...", []string{"//lib/net:net"}},
		{"//li/...", nil},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.pattern, "")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range labels {
			if p.Match(l) {
				got = append(got, l.String())
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s matches %q, want %q", tt.pattern, got, tt.want)
		}
	}
}

func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{
		"//...", "//lib/...", "//lib:all", "//lib:x", "//lib", ":x", "x", "all",
		"...", "sub/...", "sub/dir:x", "sub/dir", "../x:y", "//lib/...:all",
		"//lib/.../x", "//", ".", "a//b", "/x", `a\b`,
	} {
		f.Add(s, "lib")
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, s, cwd string) {
		p, err := ParsePattern(s, cwd)
		if err != nil {
			return
		}
		again, err := ParsePattern(p.String(), "other")
		if err != nil {
			t.Fatalf("ParsePattern(%q, %q) = %#v, whose String %q does not parse: %v", s, cwd, p, p.String(), err)
		}
		if again != p {
			t.Fatalf("ParsePattern(%q, %q) = %#v, but its String %q parses to %#v", s, cwd, p, p.String(), again)
		}
		if l, ok := p.Label(); ok {
			if reason := checkLabel(l); reason != "" {
				t.Fatalf("ParsePattern(%q, %q) names invalid label %#v: %s", s, cwd, l, reason)
			}
			if !p.Match(l) {
				t.Fatalf("ParsePattern(%q, %q) does not match its own label", s, cwd)
			}
		}
	})
}
