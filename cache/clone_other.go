//go:build !linux && !darwin

package cache

import "os"

// cloneToTemp reports that files cannot be cloned here: they are copied.
func cloneToTemp(dir, pattern string, src *os.File) (string, bool) { return "", false }
