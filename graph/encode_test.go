package graph

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestEncodeRoundTrip(t *testing.T) {
	g := New()
	g.AddPackage("")
	g.AddPackage("empty")
	if err := g.AddGroup(Group{Name: "it", Jobs: 2, Priority: -1, Pos: Pos{File: "pex.star", Line: 1, Col: 6}}); err != nil {
		t.Fatal(err)
	}
	full := &Target{
		Label: Label{Pkg: "lib", Name: "x"}, Pos: Pos{File: "lib/BUILD", Line: 3, Col: 5},
		Cmd: "cc $SRCS", Srcs: []string{"a.c", "//gen:h.h"}, Outs: []string{"x.o"},
		Deps: []Label{{Pkg: "gen", Name: "h"}}, Requires: []string{"db"}, Provides: []string{"x"},
		Claims: []string{"port"}, Uses: []string{"data"}, Priority: -3, Group: "it",
		Timeout: 90 * time.Second, Env: map[string]string{"A": "1", "B": ""},
		EnvPassthrough: []string{"HOME2"}, Tools: []string{"/usr/bin/cc"},
		Kwargs: map[string]string{"k": "[1, 2]"}, Tags: []string{"test"}, Cache: true, Depfile: "x.d",
	}
	for _, tg := range []*Target{{Label: Label{Pkg: "gen", Name: "h"}, Outs: []string{"h.h"}}, full} {
		if err := g.Add(tg); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Decode(g.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Packages(), g.Packages()) || !reflect.DeepEqual(got.Groups, g.Groups) {
		t.Errorf("packages or groups differ: %v %v", got.Packages(), got.Groups)
	}
	if len(got.Targets) != 2 || !reflect.DeepEqual(got.Targets[1], full) {
		t.Errorf("target differs:\n got %+v\nwant %+v", got.Targets[1], full)
	}
	if _, ok := got.Lookup(Label{Pkg: "lib", Name: "x"}); !ok {
		t.Error("decoded graph does not index its targets")
	}
}

func TestDecodeRejectsDamage(t *testing.T) {
	g := New()
	if err := g.Add(&Target{Label: Label{Pkg: "p", Name: "n"}, Cmd: "true"}); err != nil {
		t.Fatal(err)
	}
	data := g.Encode()
	for _, bad := range [][]byte{nil, []byte("pexg"), data[:len(data)-1], append(append([]byte{}, data...), 0)} {
		if _, err := Decode(bad); err == nil {
			t.Errorf("Decode(%q) succeeded", bad)
		}
	}
}

func FuzzDecode(f *testing.F) {
	g := New()
	_ = g.Add(&Target{Label: Label{Pkg: "p", Name: "n"}, Cmd: "true", Env: map[string]string{"a": "b"}})
	f.Add(g.Encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Decode(data)
		if err != nil {
			return
		}
		again, err := Decode(got.Encode())
		if err != nil || len(again.Targets) != len(got.Targets) {
			t.Fatalf("re-encoding a decoded graph: %v", err)
		}
	})
}

func TestTargetRoundTrip(t *testing.T) {
	want := &Target{Label: Label{Pkg: "lib", Name: "gen"}, Pos: Pos{File: "lib/BUILD", Line: 3, Col: 1},
		Cmd: "gen > $OUT", Srcs: []string{"a.in", "//x:y"}, Outs: []string{"gen.h"},
		Deps: []Label{{Pkg: "x", Name: "y"}}, Requires: []string{"db"}, Provides: []string{"gen"},
		Claims: []string{"port"}, Uses: []string{"net"}, Priority: -2, Group: "slow", Timeout: 3e9,
		Env: map[string]string{"A": "1"}, EnvPassthrough: []string{"HOME"}, Tools: []string{"/usr/bin/cc"},
		Kwargs: map[string]string{"k": "v"}, Tags: []string{"manual"}, Cache: true, Depfile: "$OUT.d"}
	data := AppendTarget([]byte("prefix"), want)
	if string(data[:6]) != "prefix" {
		t.Fatalf("AppendTarget overwrote what it appends to: %q", data[:6])
	}
	got, err := DecodeTarget(data[6:])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
	for _, bad := range [][]byte{nil, data[6 : len(data)-1], append(slices.Clone(data[6:]), 0)} {
		if _, err := DecodeTarget(bad); err == nil {
			t.Errorf("DecodeTarget(%q) succeeded", bad)
		}
	}
}
