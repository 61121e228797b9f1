//go:build !(linux && (amd64 || arm64))

package cache

// statProof stats path, which ends in a NUL byte, following symbolic
// links.
func statProof(path []byte) FileStat {
	return StatFile(string(path[:len(path)-1]))
}
