// This file holds the file a command's standard output and error go to: a
// file rather than a pipe, so that a process the command leaves behind
// holding it cannot keep pex waiting. On Linux it is an anonymous memory
// file (memfd_create), which costs no inode on disk; elsewhere, or where
// that is refused, a temporary file.

package builder

import "os"

// capture is where one command's output is captured.
type capture struct {
	f    *os.File
	path string // the temporary file to remove when done; "" for a memfd
}

// newCapture returns an empty capture, a temporary file at path where no
// memory file can be had.
func newCapture(path string) (*capture, error) {
	if f, err := memfd("pex-output"); err == nil {
		return &capture{f: f}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &capture{f: f, path: path}, nil
}

// Close releases the capture.
func (c *capture) Close() {
	c.f.Close()
	if c.path != "" {
		os.Remove(c.path)
	}
}
