// Action keys: a rule's key is a BLAKE3 digest over framed fields, computed
// in two levels so that the per-part digests can be kept and compared later
// to say why a rule runs again.

package cache

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/zeebo/blake3"
)

// FormatVersion is the version of every format in this package (key
// framing, records) and is written into the build database. Changing any
// of them means bumping it, which changes every key, so old entries are
// simply never found again.
const FormatVersion = 3

// Field tags. Each framed field is tag byte, uvarint length, bytes.
const (
	tagVersion = 'v'
	tagCommand = 'c'
	tagEnv     = 'e'
	tagInputs  = 'i'
	tagTools   = 't'
	tagDeps    = 'd'
	tagShared  = 's'
	tagOutputs = 'o'
	tagField   = 'f'
	tagName    = 'n'
	tagDigest  = 'h'
)

// Item pairs a name (a path, an environment variable, a dependency, a
// shared key) with a digest (of the file, of the value, of the outputs).
type Item struct {
	Name   string
	Digest Digest
}

// Parts holds the digest of each part of an action key, and of each item in
// the parts made of items, so that Diff can say what changed between two
// builds. A key is a function of its Parts alone: see Parts.Key.
type Parts struct {
	Command Digest   // digest of the framed command or action fields
	Env     []Item   // variable name -> digest of its value, sorted by name
	Inputs  []Item   // source path -> content digest, in rule order
	Tools   []Item   // tool path -> content digest, in rule order
	Deps    []Item   // dependency name -> digest of its outputs, sorted by name
	Shared  []Item   // shared key -> digest of its value, sorted by key
	Outputs []string // declared output paths, in rule order
}

// frames accumulates framed fields in memory, to be hashed at once: keys
// are small, and one Sum256 of a buffer costs far less than a Hasher. A
// field is tag byte, uvarint(len(data)), data: framing makes a list of
// fields decodable, so distinct lists never hash alike (["ab", "c"] and
// ["a", "bc"] frame differently).
type frames struct{ b []byte }

func (f *frames) add(tag byte, data []byte) {
	f.b = append(f.b, tag)
	f.b = binary.AppendUvarint(f.b, uint64(len(data)))
	f.b = append(f.b, data...)
}

func (f *frames) addString(tag byte, s string) {
	f.b = append(f.b, tag)
	f.b = binary.AppendUvarint(f.b, uint64(len(s)))
	f.b = append(f.b, s...)
}

func (f *frames) sum() Digest { return blake3.Sum256(f.b) }

// itemsDigest frames each item as a name field then a digest field.
func itemsDigest(items []Item) Digest {
	var buf [512]byte
	f := frames{b: buf[:0]}
	for _, it := range items {
		f.addString(tagName, it.Name)
		f.add(tagDigest, it.Digest[:])
	}
	return f.sum()
}

func namesDigest(names []string) Digest {
	var buf [256]byte
	f := frames{b: buf[:0]}
	for _, n := range names {
		f.addString(tagName, n)
	}
	return f.sum()
}

// Key returns the action key that p describes: BLAKE3 over the framed
// format version followed by one framed digest per part, in a fixed order.
func (p *Parts) Key() Digest {
	var buf [320]byte
	f := frames{b: buf[:0]}
	var v [binary.MaxVarintLen64]byte
	f.add(tagVersion, v[:binary.PutUvarint(v[:], FormatVersion)])
	parts := [...]struct {
		tag byte
		d   Digest
	}{
		{tagCommand, p.Command},
		{tagEnv, itemsDigest(p.Env)},
		{tagInputs, itemsDigest(p.Inputs)},
		{tagTools, itemsDigest(p.Tools)},
		{tagDeps, itemsDigest(p.Deps)},
		{tagShared, itemsDigest(p.Shared)},
		{tagOutputs, namesDigest(p.Outputs)},
	}
	for _, part := range parts {
		f.add(part.tag, part.d[:])
	}
	return f.sum()
}

// KeyBuilder accumulates the fields of one action's key. The zero value is
// not ready for use: call NewKeyBuilder. A KeyBuilder is not safe for
// concurrent use.
type KeyBuilder struct {
	cmd   frames
	parts Parts
}

// NewKeyBuilder returns an empty KeyBuilder.
func NewKeyBuilder() *KeyBuilder {
	return &KeyBuilder{}
}

// Command adds a field to the command part: the shell command text, or for
// a Starlark action its function and each argument, one call per field.
func (b *KeyBuilder) Command(text string) {
	b.cmd.addString(tagField, text)
}

// Env adds an environment variable the action sees. Order does not matter:
// Sum sorts variables by name.
func (b *KeyBuilder) Env(name, value string) {
	b.parts.Env = append(b.parts.Env, Item{name, HashString(value)})
}

// Input adds a source file and the digest of its contents, in rule order.
func (b *KeyBuilder) Input(path string, d Digest) {
	b.parts.Inputs = append(b.parts.Inputs, Item{path, d})
}

// Tool adds a tool file and the digest of its contents, in rule order.
func (b *KeyBuilder) Tool(path string, d Digest) {
	b.parts.Tools = append(b.parts.Tools, Item{path, d})
}

// Dep adds a dependency, under the name the caller will want to see in Diff
// (a label), with the paths and digests of its outputs in its own order.
// Only output digests count, not the dependency's key: that gives early
// cutoff. Order of Dep calls does not matter: Sum sorts them by name.
func (b *KeyBuilder) Dep(name string, outputs []Item) {
	b.parts.Deps = append(b.parts.Deps, Item{name, itemsDigest(outputs)})
}

// Shared adds a shared value the action receives from its dependencies.
// Order does not matter: Sum sorts them by key.
func (b *KeyBuilder) Shared(key, value string) {
	b.parts.Shared = append(b.parts.Shared, Item{key, HashString(value)})
}

// Output adds a declared output path, in rule order.
func (b *KeyBuilder) Output(path string) {
	b.parts.Outputs = append(b.parts.Outputs, path)
}

// Sum returns the key and the Parts it was computed from. The builder may
// be used further; later calls add to what Sum saw.
func (b *KeyBuilder) Sum() (Digest, Parts) {
	p := Parts{
		Command: b.cmd.sum(),
		Env:     sortedItems(b.parts.Env),
		Inputs:  slices.Clone(b.parts.Inputs),
		Tools:   slices.Clone(b.parts.Tools),
		Deps:    sortedItems(b.parts.Deps),
		Shared:  sortedItems(b.parts.Shared),
		Outputs: slices.Clone(b.parts.Outputs),
	}
	return p.Key(), p
}

func sortedItems(items []Item) []Item {
	s := slices.Clone(items)
	slices.SortStableFunc(s, func(a, b Item) int { return strings.Compare(a.Name, b.Name) })
	return s
}

// maxNamesInReason bounds how many names one reason lists.
const maxNamesInReason = 5

// Diff returns, in a fixed order, human-readable reasons why new differs
// from old, such as "command changed", "srcs changed: lvm.c", "env changed:
// CFLAGS" or "dependency outputs changed: //lib:x". It returns nil when the
// parts are the same.
func Diff(old, new Parts) []string {
	var reasons []string
	if old.Command != new.Command {
		reasons = append(reasons, "command changed")
	}
	reasons = append(reasons, diffItems("env", "env", old.Env, new.Env)...)
	reasons = append(reasons, diffItems("srcs", "srcs", old.Inputs, new.Inputs)...)
	reasons = append(reasons, diffItems("tools", "tools", old.Tools, new.Tools)...)
	reasons = append(reasons, diffItems("dependency outputs", "dependencies", old.Deps, new.Deps)...)
	reasons = append(reasons, diffItems("shared values", "shared values", old.Shared, new.Shared)...)
	reasons = append(reasons, diffItems("outputs", "outputs", namesOnly(old.Outputs), namesOnly(new.Outputs))...)
	return reasons
}

func namesOnly(names []string) []Item {
	items := make([]Item, len(names))
	for i, n := range names {
		items[i].Name = n
	}
	return items
}

// diffItems compares two item lists by name. what names the part in
// "changed" reasons, set in "added"/"removed" ones.
func diffItems(what, set string, old, new []Item) []string {
	before := make(map[string]Digest, len(old))
	for _, it := range old {
		before[it.Name] = it.Digest
	}
	seen := make(map[string]bool, len(new))
	var changed, added, removed []string
	for _, it := range new {
		if seen[it.Name] {
			continue
		}
		seen[it.Name] = true
		d, ok := before[it.Name]
		switch {
		case !ok:
			added = append(added, it.Name)
		case d != it.Digest:
			changed = append(changed, it.Name)
		}
	}
	for _, it := range old {
		if !seen[it.Name] {
			seen[it.Name] = true
			removed = append(removed, it.Name)
		}
	}
	var reasons []string
	reasons = appendReason(reasons, what+" changed", changed)
	reasons = appendReason(reasons, set+" added", added)
	reasons = appendReason(reasons, set+" removed", removed)
	if reasons == nil && !slices.Equal(old, new) {
		reasons = append(reasons, what+" reordered")
	}
	return reasons
}

func appendReason(reasons []string, prefix string, names []string) []string {
	if len(names) == 0 {
		return reasons
	}
	shown := names[:min(len(names), maxNamesInReason)]
	r := prefix + ": " + strings.Join(shown, ", ")
	if more := len(names) - len(shown); more > 0 {
		r += fmt.Sprintf(" and %d more", more)
	}
	return append(reasons, r)
}
