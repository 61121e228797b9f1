// Stats: the one description of a path that pex compares to tell whether
// it changed, taken by a stat(2) that allocates nothing.

package cache

import (
	"fmt"
	"time"
)

// Kind is what a path is.
type Kind uint8

// The kinds of path.
const (
	Missing Kind = iota // nothing there, or it cannot be statted
	File                // a regular file
	Dir                 // a directory
	Link                // a symbolic link (only from Lstat)
	Other               // a device, socket or pipe
)

// Stat is what pex compares of a path: its kind, size, modification and
// change times (nanoseconds since the Unix epoch) and inode. Any change of
// the contents sets the ctime to the current time, so a Stat that equals
// one taken earlier, and was not taken too soon after the path last
// changed (see Recent), stands for the same contents. The zero Stat is a
// missing path.
type Stat struct {
	Kind  Kind
	Size  int64
	Mtime int64
	Ctime int64
	Inode uint64
}

// Exists reports whether something was there.
func (s Stat) Exists() bool { return s.Kind != Missing }

// Recent reports whether the path changed less than RacyMargin before
// now: a change within one tick of the file system's clock after this
// stat could leave it equal, so it cannot vouch for what the path holds.
func (s Stat) Recent(now time.Time) bool {
	limit := now.Add(-RacyMargin).UnixNano()
	return s.Mtime >= limit || s.Ctime >= limit
}

// String shows the stat.
func (s Stat) String() string {
	if !s.Exists() {
		return "missing"
	}
	return fmt.Sprintf("kind %d size %d mtime %d ctime %d inode %d", s.Kind, s.Size, s.Mtime, s.Ctime, s.Inode)
}

// StatPath stats path, following symbolic links.
func StatPath(path string) Stat { return statPath(path, true) }

// LstatPath stats path itself: a symbolic link is a Link.
func LstatPath(path string) Stat { return statPath(path, false) }
