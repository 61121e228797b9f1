package watch

import (
	"path/filepath"
	"strings"
)

// IsEditorTemp reports whether path names a file that editors create
// beside the ones they edit: swap, backup, lock and autosave files, and
// the temporary files of atomic saves. Use it in Options.Ignore; the
// saved file itself is still reported, because an atomic save's rename
// shows up as Create on the target's name.
//
// It recognises vim (.name.swp and the like, name~, 4913), Emacs
// (#name#, .#name), Kate (name.kate-swp), gedit (.goutputstream-*) and
// JetBrains IDEs (name___jb_tmp___, name___jb_old___).
func IsEditorTemp(path string) bool {
	base := filepath.Base(path)
	switch {
	case base == "4913", // vim's probe for a writable directory
		strings.HasSuffix(base, "~"),
		strings.HasPrefix(base, ".#"),
		len(base) > 1 && strings.HasPrefix(base, "#") && strings.HasSuffix(base, "#"),
		strings.HasPrefix(base, ".goutputstream-"),
		strings.HasSuffix(base, ".kate-swp"),
		strings.HasSuffix(base, "___jb_tmp___"),
		strings.HasSuffix(base, "___jb_old___"):
		return true
	}
	for _, ext := range []string{".swp", ".swo", ".swn", ".swx", ".swpx"} {
		if strings.HasPrefix(base, ".") && strings.HasSuffix(base, ext) {
			return true
		}
	}
	return false
}
