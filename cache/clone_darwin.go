package cache

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// cloneToTemp makes a new file in dir that is an APFS clone of src, named
// after pattern as os.CreateTemp does, and returns its name; false,
// leaving nothing behind, where the file system cannot.
func cloneToTemp(dir, pattern string, src *os.File) (string, bool) {
	prefix, suffix, _ := strings.Cut(pattern, "*")
	name := filepath.Join(dir, fmt.Sprintf("%s%d%s", prefix, rand.Uint64(), suffix))
	if err := unix.Clonefile(src.Name(), name, unix.CLONE_NOFOLLOW); err != nil {
		return "", false
	}
	return name, true
}
