package graph

import "testing"

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"net", "net", 0},
		{"nett", "net", 1},
		{"net", "Net", 0},
		{"lnit", "lint", 1},
		{"kitten", "sitting", 3},
		{"abc", "", 3},
		{"", "abc", 3},
		{"ca", "abc", 3},
	}
	var m matcher
	for _, tt := range tests {
		if got := m.distance(tt.a, []byte(tt.b), 100); got != tt.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := m.distance(tt.a, []byte(tt.b), tt.want); got != tt.want {
			t.Errorf("distance(%q, %q) with limit %d = %d", tt.a, tt.b, tt.want, got)
		}
	}
}

func TestNearestRule(t *testing.T) {
	g := build(t,
		rule("//lib:net", 1), rule("//lib:log", 2), rule("//lib/http:http", 3),
		rule("//app:app", 4), rule("//tools/gen:gen", 5), rule("//other/gen:gen", 6),
	)
	tests := []struct{ l, want string }{
		{"//lib:nett", "//lib:net"},
		{"//lib:NET", "//lib:net"},
		{"//lib:lgo", "//lib:log"},
		{"//lib:htp", ""},
		{"//lib:http", "//lib/http:http"},
		{"//gen:gen", "//tools/gen:gen"},
		{"//tool/gen:gen", "//tools/gen:gen"},
		{"//ap:ap", ""}, // two edits in five
		{"//x:y", ""},
	}
	for _, tt := range tests {
		l, err := ParseLabel(tt.l, "")
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if r := g.nearestRule(l); r != nil {
			got = r.Label.String()
		}
		if got != tt.want {
			t.Errorf("nearestRule(%s) = %q, want %q", tt.l, got, tt.want)
		}
	}
}

func TestNearest(t *testing.T) {
	names := []string{"lint", "deploy", "test", "tests"}
	for x, want := range map[string]string{
		"lnit": "lint", "deplyo": "deploy", "tset": "test", "testss": "tests",
		"build": "", "": "", "l": "",
	} {
		if got := nearest(x, names); got != want {
			t.Errorf("nearest(%q) = %q, want %q", x, got, want)
		}
	}
}
