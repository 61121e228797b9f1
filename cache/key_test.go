package cache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
)

// keyOf builds a key with fn.
func keyOf(fn func(b *KeyBuilder)) Digest {
	b := NewKeyBuilder()
	fn(b)
	k, _ := b.Sum()
	return k
}

func TestKeyDistinguishesFields(t *testing.T) {
	d := HashString("content")
	keys := map[string]Digest{
		"empty":          keyOf(func(b *KeyBuilder) {}),
		"cmd ab,c":       keyOf(func(b *KeyBuilder) { b.Command("ab"); b.Command("c") }),
		"cmd a,bc":       keyOf(func(b *KeyBuilder) { b.Command("a"); b.Command("bc") }),
		"cmd abc":        keyOf(func(b *KeyBuilder) { b.Command("abc") }),
		"cmd empty":      keyOf(func(b *KeyBuilder) { b.Command("") }),
		"env A=B=C":      keyOf(func(b *KeyBuilder) { b.Env("A", "B=C") }),
		"env A=B,C":      keyOf(func(b *KeyBuilder) { b.Env("A=B", "C") }),
		"input a":        keyOf(func(b *KeyBuilder) { b.Input("a", d) }),
		"tool a":         keyOf(func(b *KeyBuilder) { b.Tool("a", d) }),
		"output a":       keyOf(func(b *KeyBuilder) { b.Output("a") }),
		"shared a":       keyOf(func(b *KeyBuilder) { b.Shared("a", "content") }),
		"dep a":          keyOf(func(b *KeyBuilder) { b.Dep("a", []Item{{"x", d}}) }),
		"dep a other":    keyOf(func(b *KeyBuilder) { b.Dep("a", []Item{{"y", d}}) }),
		"inputs a,b":     keyOf(func(b *KeyBuilder) { b.Input("a", d); b.Input("b", d) }),
		"inputs b,a":     keyOf(func(b *KeyBuilder) { b.Input("b", d); b.Input("a", d) }),
		"input a other":  keyOf(func(b *KeyBuilder) { b.Input("a", HashString("other")) }),
		"input+tool":     keyOf(func(b *KeyBuilder) { b.Input("a", d); b.Tool("b", d) }),
		"two inputs a,b": keyOf(func(b *KeyBuilder) { b.Input("a", d); b.Input("b", d); b.Tool("c", d) }),
	}
	seen := map[Digest]string{}
	for name, k := range keys {
		if other, ok := seen[k]; ok {
			t.Errorf("%q and %q have the same key", name, other)
		}
		seen[k] = name
	}
}

func TestKeyIgnoresOrderOfSets(t *testing.T) {
	d := HashString("x")
	k1 := keyOf(func(b *KeyBuilder) {
		b.Env("A", "1")
		b.Env("B", "2")
		b.Shared("X", "1")
		b.Shared("Y", "2")
		b.Dep("//a", []Item{{"a.o", d}})
		b.Dep("//b", nil)
	})
	k2 := keyOf(func(b *KeyBuilder) {
		b.Dep("//b", nil)
		b.Dep("//a", []Item{{"a.o", d}})
		b.Shared("Y", "2")
		b.Shared("X", "1")
		b.Env("B", "2")
		b.Env("A", "1")
	})
	if k1 != k2 {
		t.Error("key depends on the order of env, shared values or deps")
	}
}

func TestKeyIsFunctionOfParts(t *testing.T) {
	b := NewKeyBuilder()
	b.Command("cc -c lvm.c")
	b.Env("CFLAGS", "-O2")
	b.Input("lvm.c", HashString("int x;"))
	b.Output("lvm.o")
	k, p := b.Sum()
	if p.Key() != k {
		t.Error("Parts.Key differs from the key Sum returned")
	}
	// Pinned so that an accidental change of framing is noticed: changing
	// the format must come with a new FormatVersion.
	const want = "c8404b60ff5c5859e5f61a2dcbad1b7f9936efce88bfb7d9d0861c7d4679c44a"
	if got := k.String(); got != want {
		t.Errorf("key = %s, want %s: bump FormatVersion and update this value if the framing changed on purpose", got, want)
	}
}

func TestDiff(t *testing.T) {
	d1, d2 := HashString("1"), HashString("2")
	base := func(b *KeyBuilder) {
		b.Command("cc -c lvm.c")
		b.Env("CFLAGS", "-O2")
		b.Input("lvm.c", d1)
		b.Input("lvm.h", d1)
		b.Tool("cc", d1)
		b.Dep("//lib:x", []Item{{"lib/x.a", d1}})
		b.Shared("VERSION", "1")
		b.Output("lvm.o")
	}
	parts := func(fn func(b *KeyBuilder)) Parts {
		b := NewKeyBuilder()
		base(b)
		fn(b)
		_, p := b.Sum()
		return p
	}
	old := parts(func(*KeyBuilder) {})
	tests := []struct {
		name string
		edit func(p *Parts)
		want []string
	}{
		{"same", func(p *Parts) {}, nil},
		{"command", func(p *Parts) { p.Command = d2 }, []string{"command changed"}},
		{"src", func(p *Parts) { p.Inputs[0].Digest = d2 }, []string{"srcs changed: lvm.c"}},
		{"src added", func(p *Parts) { p.Inputs = append(p.Inputs, Item{"new.c", d1}) }, []string{"srcs added: new.c"}},
		{"src removed", func(p *Parts) { p.Inputs = p.Inputs[:1] }, []string{"srcs removed: lvm.h"}},
		{"srcs reordered", func(p *Parts) { p.Inputs[0], p.Inputs[1] = p.Inputs[1], p.Inputs[0] }, []string{"srcs reordered"}},
		{"env", func(p *Parts) { p.Env[0].Digest = d2 }, []string{"env changed: CFLAGS"}},
		{"tool", func(p *Parts) { p.Tools[0].Digest = d2 }, []string{"tools changed: cc"}},
		{"dep", func(p *Parts) { p.Deps[0].Digest = d2 }, []string{"dependency outputs changed: //lib:x"}},
		{"dep removed", func(p *Parts) { p.Deps = nil }, []string{"dependencies removed: //lib:x"}},
		{"shared", func(p *Parts) { p.Shared[0].Digest = d2 }, []string{"shared values changed: VERSION"}},
		{"outputs", func(p *Parts) { p.Outputs = []string{"lvm2.o"} }, []string{"outputs added: lvm2.o", "outputs removed: lvm.o"}},
		{"two", func(p *Parts) { p.Command = d2; p.Inputs[1].Digest = d2 }, []string{"command changed", "srcs changed: lvm.h"}},
		{"many", func(p *Parts) {
			for _, n := range strings.Fields("a b c d e f g") {
				p.Inputs = append(p.Inputs, Item{n + ".c", d1})
			}
		}, []string{"srcs added: a.c, b.c, c.c, d.c, e.c and 2 more"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			new := parts(func(*KeyBuilder) {})
			tt.edit(&new)
			if got := Diff(old, new); !slices.Equal(got, tt.want) {
				t.Errorf("Diff = %q, want %q", got, tt.want)
			}
			if (tt.want == nil) != (old.Key() == new.Key()) {
				t.Errorf("Diff says %q but keys equal = %v", tt.want, old.Key() == new.Key())
			}
		})
	}
	if got := Diff(Parts{}, old); len(got) == 0 {
		t.Error("Diff(empty, parts) is empty")
	}
}

// encodeFields frames fields the way the command part does.
func encodeFields(fields []string) []byte {
	var f frames
	for _, field := range fields {
		f.addString(tagField, field)
	}
	return f.b
}

// decodeFields inverts encodeFields; that it exists proves framing is
// unambiguous.
func decodeFields(b []byte) ([]string, error) {
	var fields []string
	for len(b) > 0 {
		if b[0] != tagField {
			return nil, errors.New("bad tag")
		}
		n, k := binary.Uvarint(b[1:])
		if k <= 0 || n > uint64(len(b)-1-k) {
			return nil, errors.New("bad length")
		}
		b = b[1+k:]
		fields = append(fields, string(b[:n]))
		b = b[n:]
	}
	return fields, nil
}

// FuzzFraming checks that field lists round-trip through framing and that
// distinct lists never produce the same bytes or the same key. Fields are
// the input strings split at 0xff bytes.
func FuzzFraming(f *testing.F) {
	f.Add("ab\xffc", "a\xffbc")
	f.Add("", "\xff")
	f.Add("a\xff", "a")
	f.Add("\x01a", "\x01\xff")
	f.Fuzz(func(t *testing.T, a, b string) {
		la, lb := strings.Split(a, "\xff"), strings.Split(b, "\xff")
		ea, eb := encodeFields(la), encodeFields(lb)
		back, err := decodeFields(ea)
		if err != nil || !slices.Equal(back, la) {
			t.Fatalf("round trip of %q = %q, %v", la, back, err)
		}
		if slices.Equal(la, lb) {
			return
		}
		if bytes.Equal(ea, eb) {
			t.Fatalf("%q and %q frame alike", la, lb)
		}
		ka := keyOf(func(k *KeyBuilder) {
			for _, s := range la {
				k.Command(s)
				k.Input(s, Digest{})
			}
		})
		kb := keyOf(func(k *KeyBuilder) {
			for _, s := range lb {
				k.Command(s)
				k.Input(s, Digest{})
			}
		})
		if ka == kb {
			t.Fatalf("%q and %q have the same key", la, lb)
		}
	})
}
