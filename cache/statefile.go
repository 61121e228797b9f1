// Writing the state file: appending the frames that changed since the last
// flush, or rewriting the whole file through a temporary file when it is
// new, damaged, replaced, or mostly superseded frames.

package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// compactSlack lets a small log carry some superseded frames before it is
// rewritten.
const compactSlack = 1024

// errStateReplaced means the state file is not the one this State loaded.
var errStateReplaced = errors.New("state file replaced")

// Flush writes what changed since the last Flush: set and deleted rules,
// memo entries, the last build's totals. It appends them as checksummed
// frames and syncs the file; a kill at any moment leaves at worst a
// damaged last frame, which the next load ignores. When the file is
// missing, damaged, replaced, or holds more superseded frames than live
// ones, Flush instead writes a new file beside it, syncs it and renames
// it over the old one. Call Flush at the end of a build, and in between to
// keep the progress of a long one.
func (s *State) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	live := len(s.rules) + s.memo.Len() + 1
	if !s.partial && (s.needRewrite || s.fileFrames > 2*live+compactSlack) {
		return s.rewrite()
	}
	buf, frames := s.appendDirty(nil)
	if frames == 0 {
		return nil
	}
	err := s.appendToFile(buf)
	if errors.Is(err, errStateReplaced) && !s.partial {
		return s.rewrite()
	}
	if err != nil {
		s.needRewrite = true // what was drained is written next time
		return fmt.Errorf("save state: %w", err)
	}
	s.fileFrames += frames
	return nil
}

// appendDirty appends a frame for each change since the last flush and
// forgets the changes.
func (s *State) appendDirty(b []byte) ([]byte, int) {
	frames := 0
	for id := range s.dirtyRules {
		if slot, ok := s.rules[id]; ok {
			b = appendRuleFrame(b, id, slot)
		} else {
			b = appendFrame(b, kindRuleRemoved, func(e *encoder) { e.str(id) })
		}
		frames++
	}
	clear(s.dirtyRules)
	set, removed := s.memo.takeDirty()
	for path, me := range set {
		b = appendMemoFrame(b, path, me)
	}
	for _, path := range removed {
		b = appendFrame(b, kindMemoRemoved, func(e *encoder) { e.str(path) })
	}
	frames += len(set) + len(removed)
	if s.lastDirty {
		b = appendLastBuildFrame(b, s.last)
		s.lastDirty = false
		frames++
	}
	return b, frames
}

// appendToFile writes buf after the last good frame of the file this State
// loaded, cutting off any damaged tail first, and syncs it.
func (s *State) appendToFile(buf []byte) error {
	f, err := os.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil {
		return errStateReplaced
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if statOf(fi).inode != s.fileInode || fi.Size() != s.fileSize {
		return errStateReplaced
	}
	if fi.Size() > s.fileEnd {
		if err := f.Truncate(s.fileEnd); err != nil {
			return err
		}
	}
	if _, err := f.WriteAt(buf, s.fileEnd); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	s.fileEnd += int64(len(buf))
	s.fileSize = s.fileEnd
	return nil
}

// rewrite writes the whole state to a new file, syncs it, and renames it
// over the old one.
func (s *State) rewrite() error {
	b := append([]byte(stateMagic), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(b[len(stateMagic):], FormatVersion)
	frames := 0
	for id, slot := range s.rules {
		b = appendRuleFrame(b, id, slot)
		frames++
	}
	for path, me := range s.memo.snapshot() {
		b = appendMemoFrame(b, path, me)
		frames++
	}
	if s.hasLast {
		b = appendLastBuildFrame(b, s.last)
		frames++
	}
	inode, err := writeFileAtomic(s.path, b)
	if err != nil {
		s.needRewrite = true
		return fmt.Errorf("save state: %w", err)
	}
	clear(s.dirtyRules)
	s.lastDirty = false
	s.needRewrite = false
	s.fileEnd, s.fileSize, s.fileInode, s.fileFrames = int64(len(b)), int64(len(b)), inode, frames
	return nil
}

// writeFileAtomic writes data to a synced temporary file beside path,
// renames it to path, syncs the directory, and returns the file's inode.
func writeFileAtomic(path string, data []byte) (uint64, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	var inode uint64
	if fi, serr := tmp.Stat(); err == nil && serr == nil {
		inode = statOf(fi).inode
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return 0, err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the rename durable; best effort
		d.Close()
	}
	return inode, nil
}

// appendFrame appends a frame: uint32 payload length, uint32 CRC-32C of
// the payload (both little-endian), then the payload: kind byte and what
// fill encodes.
func appendFrame(b []byte, kind byte, fill func(e *encoder)) []byte {
	start := len(b)
	e := encoder{b: append(b, 0, 0, 0, 0, 0, 0, 0, 0, kind)}
	fill(&e)
	payload := e.b[start+8:]
	binary.LittleEndian.PutUint32(e.b[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(e.b[start+4:], checksum(payload))
	return e.b
}

func appendRuleFrame(b []byte, id string, slot ruleSlot) []byte {
	return appendFrame(b, kindRule, func(e *encoder) {
		e.str(id)
		e.digest(slot.key)
		e.b = append(e.b, slot.body...)
	})
}

func appendMemoFrame(b []byte, path string, me memoEntry) []byte {
	return appendFrame(b, kindMemo, func(e *encoder) {
		e.str(path)
		e.varint(me.stat.size)
		e.varint(me.stat.mtime)
		e.uvarint(me.stat.inode)
		e.varint(me.stat.ctime)
		e.digest(me.digest)
	})
}

func decodeMemoEntry(d *decoder) memoEntry {
	var me memoEntry
	me.stat.size = d.varint()
	me.stat.mtime = d.varint()
	me.stat.inode = d.uvarint()
	me.stat.ctime = d.varint()
	me.digest = d.digest()
	return me
}

func appendLastBuildFrame(b []byte, st BuildStats) []byte {
	return appendFrame(b, kindLastBuild, func(e *encoder) {
		var start int64
		if !st.Start.IsZero() {
			start = st.Start.UnixNano()
		}
		e.varint(start)
		e.varint(int64(st.Duration))
		for _, n := range []int{st.Hits, st.Restored, st.Remote, st.Misses, st.Failed, st.Skipped} {
			e.uvarint(uint64(n))
		}
	})
}

func decodeBuildStats(d *decoder) BuildStats {
	var st BuildStats
	if ns := d.varint(); ns != 0 {
		st.Start = time.Unix(0, ns)
	}
	st.Duration = time.Duration(d.varint())
	for _, n := range []*int{&st.Hits, &st.Restored, &st.Remote, &st.Misses, &st.Failed, &st.Skipped} {
		*n = int(d.uvarint())
	}
	return st
}
