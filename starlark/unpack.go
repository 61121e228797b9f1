// This file holds argument types for starlark.UnpackArgs that convert
// Starlark values into plain Go data, so that builtins report argument
// errors in the uniform "fn: for parameter p: ..." form.

package starlark

import (
	"fmt"

	sl "go.starlark.net/starlark"
)

// stringList unpacks a list or tuple of strings.
type stringList []string

func (s *stringList) Unpack(v sl.Value) error {
	var seq sl.Indexable
	switch v := v.(type) {
	case *sl.List:
		seq = v
	case sl.Tuple:
		seq = v
	default:
		return fmt.Errorf("got %s, want list of strings", v.Type())
	}
	out := make([]string, seq.Len())
	for i := range out {
		x := seq.Index(i)
		str, ok := sl.AsString(x)
		if !ok {
			return fmt.Errorf("element %d is %s, want string", i, x.Type())
		}
		out[i] = str
	}
	*s = out
	return nil
}

// stringDict unpacks a dict whose keys and values are strings.
type stringDict map[string]string

func (d *stringDict) Unpack(v sl.Value) error {
	return unpackDict(v, "dict of strings", func(k string, x sl.Value) error {
		str, ok := sl.AsString(x)
		if !ok {
			return fmt.Errorf("value of %q is %s, want string", k, x.Type())
		}
		if *d == nil {
			*d = stringDict{}
		}
		(*d)[k] = str
		return nil
	})
}

// canonicalDict unpacks a dict with string keys, keeping each value as
// its canonical text (see Canonical).
type canonicalDict map[string]string

func (d *canonicalDict) Unpack(v sl.Value) error {
	return unpackDict(v, "dict", func(k string, x sl.Value) error {
		text, err := Canonical(x)
		if err != nil {
			return fmt.Errorf("value of %q: %v", k, err)
		}
		if *d == nil {
			*d = canonicalDict{}
		}
		(*d)[k] = text
		return nil
	})
}

func unpackDict(v sl.Value, want string, add func(k string, x sl.Value) error) error {
	dict, ok := v.(*sl.Dict)
	if !ok {
		return fmt.Errorf("got %s, want %s", v.Type(), want)
	}
	for _, item := range dict.Items() {
		k, ok := sl.AsString(item[0])
		if !ok {
			return fmt.Errorf("key %s is %s, want string", item[0], item[0].Type())
		}
		if err := add(k, item[1]); err != nil {
			return err
		}
	}
	return nil
}
