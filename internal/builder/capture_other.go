//go:build !linux

package builder

import (
	"errors"
	"os"
)

// memfd reports that anonymous memory files are a Linux feature.
func memfd(string) (*os.File, error) {
	return nil, errors.ErrUnsupported
}
