// Package testrecord keeps, for each pex test request, which of its tests
// did not pass the last time it ran, so that pex test --failed can run
// only those, in another process, after a reboot.
//
// A request is the directory pex test was started in, relative to the
// workspace root, and its patterns as given: the record of one lives in
// the workspace's .pex/tests/, in a file named after the digest of both.
// The file is three lines:
//
//	pex test record 1
//	{"cwd":"lib","patterns":["..."],"total":3,"failed":["//lib:broken"]}
//	blake3 <64 hex digits: the digest of the second line>
//
// It is written to a temporary file, synced and renamed into place, so
// that a reader never sees part of one. A file that does not parse, whose
// digest does not match, or that names another request is damaged: Read
// says so, and the caller treats the record as absent.
package testrecord

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/pex-build/pex/cache"
)

const header = "pex test record 1"

// ErrDamaged is wrapped by Read's error for a record that is there but
// cannot be trusted.
var ErrDamaged = errors.New("damaged test record")

// Record is what the last pex test of a request found.
type Record struct {
	Cwd      string   `json:"cwd"`      // the directory, relative to the workspace root ("" at the root)
	Patterns []string `json:"patterns"` // as given; none means the default
	Total    int      `json:"total"`    // the tests the request selected
	// Failed are the labels of the tests that did not pass: failed, timed
	// out, or skipped because what they need failed (or never reported).
	Failed []string `json:"failed"`
}

// Passed is how many of the tests of the last run passed.
func (r *Record) Passed() int { return r.Total - len(r.Failed) }

// Path is the file that holds the record of the request (cwd, patterns)
// in dir (a workspace's .pex/tests).
func Path(dir, cwd string, patterns []string) string {
	return filepath.Join(dir, cache.HashString(key(cwd, patterns)).String())
}

// key spells a request unambiguously: quoted directory, quoted patterns.
func key(cwd string, patterns []string) string {
	var b strings.Builder
	b.WriteString(strconv.Quote(cwd))
	for _, p := range patterns {
		b.WriteByte(' ')
		b.WriteString(strconv.Quote(p))
	}
	return b.String()
}

// Read returns the record of the request (cwd, patterns) in dir: nil and
// no error when there is none; nil and an error when it cannot be read or
// is damaged (the error then wraps ErrDamaged).
func Read(dir, cwd string, patterns []string) (*Record, error) {
	path := Path(dir, cwd, patterns)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r, err := parse(b)
	if err == nil && (r.Cwd != cwd || !slices.Equal(r.Patterns, patterns)) {
		err = fmt.Errorf("it is the record of %q in %q", r.Patterns, r.Cwd)
	}
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrDamaged, path, err)
	}
	return r, nil
}

func parse(b []byte) (*Record, error) {
	lines := strings.Split(string(b), "\n")
	if len(lines) != 4 || lines[3] != "" {
		return nil, fmt.Errorf("want 3 lines, have %d", strings.Count(string(b), "\n"))
	}
	if lines[0] != header {
		return nil, fmt.Errorf("first line %q, want %q", lines[0], header)
	}
	sum, ok := strings.CutPrefix(lines[2], "blake3 ")
	if !ok {
		return nil, fmt.Errorf("no digest")
	}
	d, err := cache.ParseDigest(sum)
	if err != nil {
		return nil, err
	}
	if cache.HashString(lines[1]) != d {
		return nil, fmt.Errorf("the digest does not match")
	}
	var r Record
	dec := json.NewDecoder(strings.NewReader(lines[1]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, err
	}
	if r.Total < len(r.Failed) {
		return nil, fmt.Errorf("%d failed tests of %d", len(r.Failed), r.Total)
	}
	for _, l := range r.Failed {
		if !strings.HasPrefix(l, "//") {
			return nil, fmt.Errorf("%q is not a label", l)
		}
	}
	return &r, nil
}

// Write replaces the record of r's request in dir, creating dir if
// needed. The file is synced before it replaces the old one: a record
// written survives a power cut.
func (r *Record) Write(dir string) error {
	out := *r
	if out.Patterns == nil {
		out.Patterns = []string{}
	}
	if out.Failed == nil {
		out.Failed = []string{}
	}
	body, err := json.Marshal(out)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n%s\nblake3 %s\n", header, body, cache.HashBytes(body))
	return cache.WriteFile(Path(dir, r.Cwd, r.Patterns), 0o666, true, func(f *os.File) error {
		_, err := f.Write(b.Bytes())
		return err
	})
}

// Without returns r with the labels in passed removed from its failed
// tests: those a pex test --failed found passing. The labels in gone
// (tests that no longer exist) are removed from the total as well.
func (r *Record) Without(passed, gone []string) *Record {
	out := &Record{Cwd: r.Cwd, Patterns: r.Patterns, Total: r.Total}
	for _, l := range r.Failed {
		switch {
		case slices.Contains(gone, l):
			out.Total--
		case slices.Contains(passed, l):
		default:
			out.Failed = append(out.Failed, l)
		}
	}
	return out
}
