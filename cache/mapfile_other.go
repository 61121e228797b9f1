//go:build !unix

package cache

import "os"

// readProofFile reads the proof at path.
func readProofFile(path string) (data []byte, release func(), err error) {
	data, err = os.ReadFile(path)
	return data, func() {}, err
}
