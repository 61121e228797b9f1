// This file checks, once a command has exited, that the files it read are
// the ones its key was computed from. A file saved while the command ran
// (an editor, a formatter on save, a git checkout during the build) would
// otherwise have the command's result recorded under the key of the old
// contents, and restored as up to date once the old contents came back.
// When one of them changed, nothing is recorded, neither in the database nor
// in the store: the rule ends with the status its command earned, its
// event carries a note saying which file changed, and it runs again next
// time.

package builder

import (
	"fmt"
	"path/filepath"

	"github.com/pex-build/pex/cache"
	"github.com/pex-build/pex/graph"
	"github.com/pex-build/pex/internal/db"
)

// changedWhileRunning returns a note naming the declared inputs and tools
// of t (reads, as its key hashed them) that are no longer those files, or
// "" when all still are. A stat tells, and a hash when the stat moved.
func (b *builder) changedWhileRunning(t *graph.Target, reads []read) string {
	var changed []string
	what := ""
	for _, r := range reads {
		w := b.memo.Since(abs(b.root, r.path), r.digest, r.seen)
		if w == "" {
			continue
		}
		b.keys.forgetSource(r.path) // later rules hash it again
		if what == "" {
			what = w
		}
		changed = append(changed, r.path)
	}
	return changedNote(t, what, changed)
}

// knownInputs returns what was known, before t's (rule r's) command
// started, of the inputs its depfile named when it last ran: their
// digests and what they were computed from.
func (b *builder) knownInputs(t *graph.Target, r db.RuleID) map[string]read {
	if t.Depfile == "" {
		return nil
	}
	row, ok := b.row(r)
	if !ok {
		return nil
	}
	known := make(map[string]read, len(row.Discovered))
	for _, it := range row.Discovered {
		p := b.path(it.File)
		if r, err := b.keys.source(p); err == nil {
			known[p] = r
		}
	}
	return known
}

// discoveredInputs returns the inputs t's depfile names with the digests
// they had when its command started (at started, as the file clock told
// it, after seq rules had settled), or a note naming those that may have
// changed while it ran. What an input was
// then is known from the key (reads), from what its last run's depfile
// named (known, hashed before it started), or from a rule that settled
// before it started; an input none of these knew counts as unchanged only
// if its ctime is earlier than the start. An input listed but gone is not
// recorded: it cannot match later either.
func (b *builder) discoveredInputs(t *graph.Target, reads []read, known map[string]read, started int64, seq int) ([]cache.Item, string, error) {
	paths, err := b.depfileInputs(t)
	if err != nil {
		return nil, "", err
	}
	for _, r := range reads {
		if _, ok := known[r.path]; !ok {
			if known == nil {
				known = map[string]read{}
			}
			known[r.path] = r
		}
	}
	items := make([]cache.Item, 0, len(paths))
	var changed []string
	what := ""
	for _, p := range paths {
		ap := abs(b.root, p)
		d, w := cache.Digest{}, ""
		if r, ok := known[p]; ok {
			d, w = r.digest, b.memo.Since(ap, r.digest, r.seen)
		} else if o, ok := b.keys.output(p); ok && o.seq <= seq {
			d = o.digest
			if now, err := b.memo.Digest(ap); err != nil || now != d {
				w = "changed"
			}
		} else {
			var err error
			if d, err = b.memo.Digest(ap); err != nil {
				continue // listed but gone (a generated file removed since)
			}
			if cache.ChangedSince(ap, started) {
				w = "changed"
			}
		}
		if w == "" {
			items = append(items, cache.Item{Name: p, Digest: d})
			continue
		}
		if what == "" {
			what = w
		}
		changed = append(changed, p)
	}
	return items, changedNote(t, what, changed), nil
}

// changedNote says that the files paths (of t) changed, as what says, while
// t ran; "" for no files.
func changedNote(t *graph.Target, what string, paths []string) string {
	if len(paths) == 0 {
		return ""
	}
	name := paths[0]
	if !filepath.IsAbs(name) {
		name = relTo(t.Label.Pkg, name)
	}
	if what == "removed" {
		what = "was removed"
	}
	if len(paths) > 1 {
		name += fmt.Sprintf(" (and %d more)", len(paths)-1)
	}
	return fmt.Sprintf("%s %s while %s ran", name, what, t.Label)
}
