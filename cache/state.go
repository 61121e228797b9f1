// Per-workspace state: for each rule, the key it last ran or was restored
// under and what that produced; the stat memo; the last build's totals.
// It is one append-only log of checksummed frames in <root>/.pex/state,
// read whole at start and appended to when the builder flushes, then
// rewritten compactly once superseded frames outnumber live ones. The
// format is described in the package documentation.

package cache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// StateDirName is the name of the state directory at the workspace root.
const StateDirName = ".pex"

// stateFileName is the name of the state file in the state directory.
const stateFileName = "state"

// stateMagic opens the state file; FormatVersion follows it.
const stateMagic = "pexstate"

const stateHeaderLen = len(stateMagic) + 4

// Frame kinds in the state file.
const (
	kindRule        = 'R'
	kindRuleRemoved = 'r'
	kindMemo        = 'M'
	kindMemoRemoved = 'm'
	kindLastBuild   = 'B'
)

// StateDir returns the state directory of the workspace at root.
func StateDir(root string) string {
	return filepath.Join(root, StateDirName)
}

// Entry is what the state remembers of one rule: the key it last ran or
// was restored under, and the record of that run.
type Entry struct {
	Key    Digest
	Record Record
}

// BuildStats are the totals of one build, for `pex cache stats`.
type BuildStats struct {
	Start    time.Time
	Duration time.Duration
	Hits     int // up to date: nothing done
	Restored int // outputs copied from the local store
	Remote   int // outputs fetched from a remote cache
	Misses   int // the action ran
	Failed   int // the action failed or timed out
	Skipped  int // never ran: a dependency failed
}

// ruleSlot is one rule's entry, kept encoded until asked for: loading
// 100k rules decodes only their ids and keys.
type ruleSlot struct {
	key  Digest
	body []byte // the record body (see Record), aliasing the file buffer when loaded
}

// State is a workspace's state. Methods are safe for concurrent use;
// Flush must be called by the process holding the workspace Lock.
type State struct {
	path string
	memo *Memo

	mu         sync.Mutex
	rules      map[string]ruleSlot
	dirtyRules map[string]bool // set or removed since the last flush
	last       BuildStats
	hasLast    bool
	lastDirty  bool

	// What is known of the file on disk.
	fileEnd     int64  // bytes up to the end of the last good frame
	fileSize    int64  // its size when loaded or last written
	fileInode   uint64 // its inode: another file there means rewrite
	fileFrames  int    // frames in it, live or superseded
	needRewrite bool   // missing, bad header or a failed append: rewrite it whole
	// partial: only some rules were loaded, and no memo entries (see
	// LoadStateFor); the file is only ever appended to.
	partial bool
}

// LoadState reads the state in dir (normally StateDir(root)) with one read
// of one file. A missing, foreign or damaged file, or a damaged frame and
// everything after it, is ignored: what it described is rebuilt. Only an
// error reading an existing file is returned.
func LoadState(dir string) (*State, error) {
	s := &State{
		path:       filepath.Join(dir, stateFileName),
		memo:       NewMemo(),
		rules:      make(map[string]ruleSlot),
		dirtyRules: make(map[string]bool),
	}
	data, inode, err := readFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		s.needRewrite = true
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load state: %w", err)
	}
	s.fileInode, s.fileSize = inode, int64(len(data))
	if len(data) < stateHeaderLen || string(data[:len(stateMagic)]) != stateMagic ||
		binary.LittleEndian.Uint32(data[len(stateMagic):]) != FormatVersion {
		s.needRewrite = true
		return s, nil
	}
	s.fileEnd = int64(stateHeaderLen + s.applyFrames(data[stateHeaderLen:]))
	return s, nil
}

// LoadStateFor reads from the state in dir only the entries of the rules
// in ids, the last build's totals and none of the memo: what a build that
// touches a few rules needs (see StaleProof), for a fraction of the
// allocations. Flush only appends to it. It returns ok false, to load the
// whole state instead, when the file is missing, foreign or damaged.
func LoadStateFor(dir string, ids map[string]bool) (s *State, ok bool, err error) {
	s = &State{
		path:       filepath.Join(dir, stateFileName),
		memo:       NewMemo(),
		rules:      make(map[string]ruleSlot, len(ids)),
		dirtyRules: make(map[string]bool),
		partial:    true,
	}
	// Mapped, not read: only the few frames wanted are copied out.
	data, fi, release, err := mapFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("load state: %w", err)
	}
	defer release()
	s.fileInode, s.fileSize = statOf(fi).inode, int64(len(data))
	if len(data) < stateHeaderLen || string(data[:len(stateMagic)]) != stateMagic ||
		binary.LittleEndian.Uint32(data[len(stateMagic):]) != FormatVersion {
		return nil, false, nil
	}
	frames := data[stateHeaderLen:]
	good, _, _ := checkFrames(frames)
	if good != len(frames) {
		return nil, false, nil // damaged: a full load sets it right
	}
	for off := 0; off < good; {
		n := int(binary.LittleEndian.Uint32(frames[off:]))
		p := frames[off+8 : off+8+n]
		off += 8 + n
		s.fileFrames++
		d := decoder{b: p[1:]}
		switch p[0] {
		case kindRule, kindRuleRemoved:
			id := d.bytes(d.uvarint())
			if !ids[string(id)] {
				continue
			}
		case kindLastBuild:
		default:
			continue
		}
		if s.applyFrame(p) != nil {
			return nil, false, nil
		}
	}
	for id, slot := range s.rules {
		s.rules[id] = ruleSlot{slot.key, bytes.Clone(slot.body)}
	}
	s.fileEnd = int64(stateHeaderLen + good)
	return s, true, nil
}

// readFile reads the whole file at path with one read, and returns its
// inode as well.
func readFile(path string) ([]byte, uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	data := make([]byte, fi.Size())
	n, err := io.ReadFull(f, data)
	if err == io.ErrUnexpectedEOF {
		err = nil // shrank meanwhile: the tail is damaged anyway
	}
	return data[:n], statOf(fi).inode, err
}

// applyFrames applies the frames at the start of data and returns the
// length of the good prefix: it stops at the first frame that is truncated,
// fails its checksum or does not decode. A first pass checks the frames
// and counts them by kind, so that the maps are allocated once.
func (s *State) applyFrames(data []byte) int {
	good, rules, memos := checkFrames(data)
	s.rules = make(map[string]ruleSlot, rules)
	s.memo.entries = make(map[string]memoEntry, memos)
	off := 0
	for off < good {
		n := int(binary.LittleEndian.Uint32(data[off:]))
		if s.applyFrame(data[off+8:off+8+n]) != nil {
			break
		}
		off += 8 + n
		s.fileFrames++
	}
	return off
}

// checkFrames returns the length of the prefix of data made of whole
// frames whose checksums match, and how many rule and memo frames it holds.
func checkFrames(data []byte) (good, rules, memos int) {
	for len(data)-good >= 8 {
		n := binary.LittleEndian.Uint32(data[good:])
		sum := binary.LittleEndian.Uint32(data[good+4:])
		if uint64(n) > uint64(len(data)-good-8) || n == 0 {
			break
		}
		payload := data[good+8 : good+8+int(n)]
		if checksum(payload) != sum {
			break
		}
		switch payload[0] {
		case kindRule:
			rules++
		case kindMemo:
			memos++
		}
		good += 8 + int(n)
	}
	return good, rules, memos
}

// applyFrame applies one frame payload: kind byte, then its fields.
func (s *State) applyFrame(p []byte) error {
	if len(p) == 0 {
		return ErrCorrupt
	}
	d := decoder{b: p[1:]}
	switch p[0] {
	case kindRule:
		id, key := d.str(), d.digest()
		if d.err == nil {
			s.rules[id] = ruleSlot{key, d.b}
			d.b = nil
		}
	case kindRuleRemoved:
		delete(s.rules, d.str())
	case kindMemo:
		path, e := d.str(), decodeMemoEntry(&d)
		if d.err == nil {
			s.memo.load(path, e)
		}
	case kindMemoRemoved:
		s.memo.unload(d.str())
	case kindLastBuild:
		s.last, s.hasLast = decodeBuildStats(&d), true
	default:
		return ErrCorrupt
	}
	return d.done()
}

// Memo returns the workspace's stat memo, loaded with the state and saved
// by Flush.
func (s *State) Memo() *Memo {
	return s.memo
}

// Len returns the number of rules the state has an entry for.
func (s *State) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rules)
}

// IDs returns the ids of the rules the state has an entry for, sorted.
func (s *State) IDs() []string {
	s.mu.Lock()
	ids := make([]string, 0, len(s.rules))
	for id := range s.rules {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	slices.Sort(ids)
	return ids
}

// Key returns the key rule id last ran under, without decoding its record.
func (s *State) Key(id string) (Digest, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	slot, ok := s.rules[id]
	return slot.key, ok
}

// Get returns the entry of rule id. An entry that does not decode is
// reported as absent. The caller owns the returned Entry.
func (s *State) Get(id string) (Entry, bool) { return s.entry(id, true) }

// Outcome is Get without the record's Parts, which only explaining a
// rebuild needs: cheaper, for the up-to-date check of every rule.
func (s *State) Outcome(id string) (Entry, bool) { return s.entry(id, false) }

func (s *State) entry(id string, parts bool) (Entry, bool) {
	s.mu.Lock()
	slot, ok := s.rules[id]
	s.mu.Unlock()
	if !ok {
		return Entry{}, false
	}
	e := Entry{Key: slot.key}
	d := decoder{b: slot.body}
	if parts {
		e.Record.decodeBody(&d)
		if d.done() != nil {
			return Entry{}, false
		}
	} else if e.Record.decodeOutcome(&d); d.err != nil {
		return Entry{}, false
	}
	return e, true
}

// Set records e as rule id's entry. It is written by the next Flush.
func (s *State) Set(id string, e Entry) {
	var enc encoder
	e.Record.encodeBody(&enc)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules[id] = ruleSlot{e.Key, enc.b}
	s.dirtyRules[id] = true
}

// Delete forgets rule id (a rule that no longer exists), as of the next
// Flush.
func (s *State) Delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.rules[id]; ok {
		delete(s.rules, id)
		s.dirtyRules[id] = true
	}
}

// LastBuild returns the totals of the last build that set them.
func (s *State) LastBuild() (BuildStats, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.hasLast
}

// SetLastBuild records the totals of this build, as of the next Flush.
func (s *State) SetLastBuild(b BuildStats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last, s.hasLast, s.lastDirty = b, true, true
}
