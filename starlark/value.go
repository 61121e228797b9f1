// This file holds the canonical text of Starlark values: how kwargs and
// shared values enter cache keys and records, and how they come back.

package starlark

import (
	"fmt"
	"math"
	"slices"
	"strings"

	sl "go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"
)

// Canonical returns the canonical Starlark text of v: equal values have
// equal text whatever the order their dicts were built in, and the text
// evaluates back to an equal value. Only plain data can be encoded: None,
// bools, ints, finite floats, strings, and lists, tuples, dicts and
// structs of them.
func Canonical(v sl.Value) (string, error) {
	var b strings.Builder
	if err := canonical(&b, v, 0); err != nil {
		return "", err
	}
	return b.String(), nil
}

const maxDepth = 100

func canonical(b *strings.Builder, v sl.Value, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("a value nested more than %d deep cannot be encoded", maxDepth)
	}
	switch v := v.(type) {
	case sl.NoneType, sl.Bool, sl.Int, sl.String:
		b.WriteString(v.String())
	case sl.Float:
		if math.IsInf(float64(v), 0) || math.IsNaN(float64(v)) {
			return fmt.Errorf("the float %s cannot be encoded", v)
		}
		b.WriteString(v.String())
	case *sl.List:
		return canonicalSeq(b, "[", "]", v, depth)
	case sl.Tuple:
		close := ")"
		if v.Len() == 1 {
			close = ",)" // (x) is x itself
		}
		return canonicalSeq(b, "(", close, v, depth)
	case *sl.Dict:
		items := make([][2]string, 0, v.Len())
		for _, kv := range v.Items() {
			k, err := Canonical(kv[0])
			if err != nil {
				return err
			}
			var vb strings.Builder
			if err := canonical(&vb, kv[1], depth+1); err != nil {
				return err
			}
			items = append(items, [2]string{k, vb.String()})
		}
		slices.SortFunc(items, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
		b.WriteString("{")
		for i, kv := range items {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(kv[0] + ": " + kv[1])
		}
		b.WriteString("}")
	case *starlarkstruct.Struct:
		if v.Constructor() != starlarkstruct.Default { // struct(...) makes these
			return fmt.Errorf("a %s cannot be encoded", v.Type())
		}
		b.WriteString("struct(")
		for i, name := range v.AttrNames() { // sorted
			if i > 0 {
				b.WriteString(", ")
			}
			x, _ := v.Attr(name)
			b.WriteString(name + " = ")
			if err := canonical(b, x, depth+1); err != nil {
				return err
			}
		}
		b.WriteString(")")
	default:
		return fmt.Errorf("a %s cannot be encoded: only None, bools, ints, floats, strings, and lists, tuples, dicts and structs of them can", v.Type())
	}
	return nil
}

func canonicalSeq(b *strings.Builder, open, close string, seq sl.Indexable, depth int) error {
	b.WriteString(open)
	for i := range seq.Len() {
		if i > 0 {
			b.WriteString(", ")
		}
		if err := canonical(b, seq.Index(i), depth+1); err != nil {
			return err
		}
	}
	b.WriteString(close)
	return nil
}

// valueEnv is what canonical text may name besides literals.
var valueEnv = sl.StringDict{"struct": sl.NewBuiltin("struct", starlarkstruct.Make)}

// parseValue evaluates canonical text back into a frozen value.
func parseValue(text string) (sl.Value, error) {
	th := &sl.Thread{Name: "value"}
	v, err := sl.EvalOptions(&syntax.FileOptions{}, th, "<value>", text, valueEnv)
	if err != nil {
		return nil, fmt.Errorf("cannot decode the value %q: %v", text, err)
	}
	v.Freeze()
	return v, nil
}

// A Value is a shared value that is not a string: an action wrote it to
// ctx.shared. Rules pass it on as it is; a cmd rule, which receives
// shared values as environment variables, cannot take it.
type Value struct {
	// Text is its canonical text, for keys and records.
	Text string
	// From is the label of the rule that wrote it.
	From string
	// Type is its Starlark type ("list", "int", ...).
	Type string
	v    sl.Value
}

// ParseValue returns the value whose canonical text is text, as the rule
// labelled from wrote it: a shared value replayed from a record.
func ParseValue(text, from string) (*Value, error) {
	v, err := parseValue(text)
	if err != nil {
		return nil, err
	}
	return &Value{Text: text, From: from, Type: v.Type(), v: v}, nil
}
