//go:build !unix

package cache

import "os"

// MapFile reads the file at path, and returns its FileInfo.
func MapFile(path string) (data []byte, fi os.FileInfo, release func(), err error) {
	if fi, err = os.Stat(path); err != nil {
		return nil, nil, nil, err
	}
	data, err = os.ReadFile(path)
	return data, fi, func() {}, err
}
