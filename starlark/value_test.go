package starlark

import (
	"strings"
	"testing"

	sl "go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// evalExpr evaluates a Starlark expression in the dialect of pex files,
// with struct predeclared.
func evalExpr(t *testing.T, expr string) sl.Value {
	t.Helper()
	th := &sl.Thread{Name: "test"}
	v, err := sl.EvalOptions(fileOptions, th, "<expr>", expr, sl.StringDict{
		"struct": sl.NewBuiltin("struct", starlarkstruct.Make),
	})
	if err != nil {
		t.Fatalf("eval %s: %v", expr, err)
	}
	return v
}

func TestCanonical(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{`None`, `None`},
		{`True`, `True`},
		{`False`, `False`},
		{`0`, `0`},
		{`-42`, `-42`},
		{`123456789012345678901234567890`, `123456789012345678901234567890`},
		{`1.5`, `1.5`},
		{`-0.25`, `-0.25`},
		{`2.0`, `2.0`},
		{`1e100`, `1e+100`},
		{`""`, `""`},
		{`"a \"quoted\"\nline"`, `"a \"quoted\"\nline"`},
		{`"héllo"`, `"héllo"`},
		{`[]`, `[]`},
		{`[1, "a", None]`, `[1, "a", None]`},
		{`()`, `()`},
		{`(1,)`, `(1,)`},
		{`(1, 2)`, `(1, 2)`},
		{`((1,),)`, `((1,),)`},
		{`{}`, `{}`},
		{`{"b": 2, "a": 1}`, `{"a": 1, "b": 2}`},
		{`{2: "x", 1: "y"}`, `{1: "y", 2: "x"}`},
		{`{(1, 2): True}`, `{(1, 2): True}`},
		{`[{"z": [1, (2,)], "y": {"k": 3, "j": 4}}]`, `[{"y": {"j": 4, "k": 3}, "z": [1, (2,)]}]`},
		{`struct()`, `struct()`},
		{`struct(b = 1, a = [2])`, `struct(a = [2], b = 1)`},
		{`struct(s = struct(y = {"q": 1, "p": 2}, x = (None,)))`, `struct(s = struct(x = (None,), y = {"p": 2, "q": 1}))`},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			v := evalExpr(t, tc.expr)
			got, err := Canonical(v)
			if err != nil {
				t.Fatalf("Canonical: %v", err)
			}
			if got != tc.want {
				t.Errorf("Canonical(%s) = %s, want %s", tc.expr, got, tc.want)
			}
			// Round trip: the text evaluates back to an equal value, whose
			// text is the same.
			back, err := parseValue(got)
			if err != nil {
				t.Fatalf("parseValue(%s): %v", got, err)
			}
			if eq, err := sl.Equal(back, v); err != nil || !eq {
				t.Errorf("parseValue(%s) = %s, want a value equal to %s (err %v)", got, back, v, err)
			}
			if back.Type() != v.Type() {
				t.Errorf("parseValue(%s) is a %s, want %s", got, back.Type(), v.Type())
			}
			again, err := Canonical(back)
			if err != nil || again != got {
				t.Errorf("Canonical(parseValue(%s)) = %s, %v; want the same text", got, again, err)
			}
		})
	}
}

// TestCanonicalDictOrder builds equal dicts in different orders, nested at
// several depths: their text must be the same.
func TestCanonicalDictOrder(t *testing.T) {
	for _, pair := range [][2]string{
		{`{"a": 1, "b": 2}`, `{"b": 2, "a": 1}`},
		{`{"x": {"a": 1, "b": 2}, "y": [1]}`, `{"y": [1], "x": {"b": 2, "a": 1}}`},
		{`[{"a": 1, "b": 2}, ({"c": 3, "d": 4},)]`, `[{"b": 2, "a": 1}, ({"d": 4, "c": 3},)]`},
		{`struct(d = {"a": 1, "b": 2})`, `struct(d = {"b": 2, "a": 1})`},
		{`{1: "a", "1": "b"}`, `{"1": "b", 1: "a"}`},
	} {
		a, err := Canonical(evalExpr(t, pair[0]))
		if err != nil {
			t.Fatal(err)
		}
		b, err := Canonical(evalExpr(t, pair[1]))
		if err != nil {
			t.Fatal(err)
		}
		if a != b {
			t.Errorf("Canonical(%s) = %s but Canonical(%s) = %s; want equal text", pair[0], a, pair[1], b)
		}
	}
	// A dict built by assignment in another order.
	d := sl.NewDict(2)
	_ = d.SetKey(sl.String("b"), sl.MakeInt(2))
	_ = d.SetKey(sl.String("a"), sl.MakeInt(1))
	if got, err := Canonical(d); err != nil || got != `{"a": 1, "b": 2}` {
		t.Errorf("Canonical = %s, %v", got, err)
	}
}

func TestCanonicalDistinct(t *testing.T) {
	// Values that differ must have different text.
	seen := map[string]string{}
	for _, expr := range []string{`1`, `1.0`, `"1"`, `[1]`, `(1,)`, `(1, 1)`, `{"1": 1}`, `{1: 1}`, `struct(a = 1)`, `True`, `None`, `""`, `[]`, `()`, `{}`} {
		text, err := Canonical(evalExpr(t, expr))
		if err != nil {
			t.Fatal(err)
		}
		if prev, ok := seen[text]; ok {
			t.Errorf("%s and %s have the same text %s", prev, expr, text)
		}
		seen[text] = expr
	}
}

func TestCanonicalErrors(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{`lambda: 1`, "a function cannot be encoded: only None, bools, ints, floats, strings, and lists, tuples, dicts and structs of them can"},
		{`len`, "a builtin_function_or_method cannot be encoded"},
		{`set([1])`, "a set cannot be encoded"},
		{`b"x"`, "a bytes cannot be encoded"},
		{`range(3)`, "a range cannot be encoded"},
		{`float("inf")`, "the float +inf cannot be encoded"},
		{`float("-inf")`, "the float -inf cannot be encoded"},
		{`float("nan")`, "the float nan cannot be encoded"},
		{`[1, [2, {"k": lambda: 1}]]`, "a function cannot be encoded"},
		{`{"k": set()}`, "a set cannot be encoded"},
		{`{(1,): 1, "x": float("nan")}`, "the float nan cannot be encoded"},
		{`struct(f = len)`, "a builtin_function_or_method cannot be encoded"},
		{`(float("inf"),)`, "the float +inf cannot be encoded"},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			text, err := Canonical(evalExpr(t, tc.expr))
			if err == nil {
				t.Fatalf("Canonical = %s, want an error", text)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			if text != "" {
				t.Errorf("text %q with the error, want none", text)
			}
		})
	}
}

func TestCanonicalDepth(t *testing.T) {
	// A list that holds itself cannot be encoded, and says why.
	l := sl.NewList(nil)
	_ = l.Append(l)
	if _, err := Canonical(l); err == nil || !strings.Contains(err.Error(), "nested more than") {
		t.Errorf("error %v, want one about nesting", err)
	}
	// Deep but finite nesting within the limit is fine.
	v := evalExpr(t, strings.Repeat("[", 50)+strings.Repeat("]", 50))
	if _, err := Canonical(v); err != nil {
		t.Errorf("50 nested lists: %v", err)
	}
}

func TestCanonicalStructKind(t *testing.T) {
	// Only plain structs are data: a struct made by another constructor
	// is not.
	s := starlarkstruct.FromStringDict(sl.String("result"), sl.StringDict{"code": sl.MakeInt(0)})
	if _, err := Canonical(s); err == nil || !strings.Contains(err.Error(), "cannot be encoded") {
		t.Errorf("error %v, want cannot be encoded", err)
	}
}

func TestParseValue(t *testing.T) {
	v, err := ParseValue(`{"b": [1, (2,)], "a": struct(x = 1.5)}`, "//lib:gen")
	if err != nil {
		t.Fatal(err)
	}
	if v.From != "//lib:gen" || v.Type != "dict" || v.Text != `{"b": [1, (2,)], "a": struct(x = 1.5)}` {
		t.Errorf("ParseValue = %+v", v)
	}
	// The value is frozen: actions that inherit it cannot change it.
	list, _, err := v.v.(*sl.Dict).Get(sl.String("b"))
	if err != nil {
		t.Fatal(err)
	}
	if err := list.(*sl.List).Append(sl.None); err == nil {
		t.Error("appending to a parsed list succeeded, want it frozen")
	}
	for _, text := range []string{`[1`, `undefined_name`, `1 +`, ``} {
		_, err := ParseValue(text, "//x:y")
		if err == nil || !strings.Contains(err.Error(), "cannot decode the value") {
			t.Errorf("ParseValue(%q) error %v, want cannot decode", text, err)
		}
	}
}
