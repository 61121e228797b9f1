// Digests: the BLAKE3-256 content hash that names every blob, key and
// record in the cache, and the fast file hasher behind it.

package cache

import (
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/zeebo/blake3"
)

// Digest is a BLAKE3-256 hash: of a file's contents, of an action key's
// fields, or of a record.
type Digest [32]byte

// String returns d as 64 lower-case hexadecimal digits.
func (d Digest) String() string {
	return hex.EncodeToString(d[:])
}

// IsZero reports whether d is the zero Digest, which no content hashes to in
// practice and which pex uses to mean "no digest".
func (d Digest) IsZero() bool {
	return d == Digest{}
}

// ParseDigest parses the 64 hexadecimal digits that String produces.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	if len(s) != 2*len(d) {
		return d, fmt.Errorf("bad digest %q: want %d hex digits, have %d", s, 2*len(d), len(s))
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return Digest{}, fmt.Errorf("bad digest %q: %v", s, err)
	}
	return d, nil
}

// HashBytes returns the digest of b.
func HashBytes(b []byte) Digest {
	return blake3.Sum256(b)
}

// HashString returns the digest of s, the same as HashBytes([]byte(s)).
func HashString(s string) Digest {
	if len(s) <= 1024 {
		var buf [1024]byte
		return blake3.Sum256(append(buf[:0], s...))
	}
	return blake3.Sum256([]byte(s))
}

// hashBufSize is the read size of HashFile: large enough that syscalls are
// a small fraction of the time, small enough to stay in L2 cache, and a
// multiple of the 8 KiB blocks that the SIMD hasher consumes directly.
const hashBufSize = 128 << 10

// hashState is a pooled hasher with its read buffer, so that hashing many
// files allocates nothing per file.
type hashState struct {
	h   *blake3.Hasher
	buf []byte
}

var hashPool = sync.Pool{New: func() any {
	return &hashState{h: blake3.New(), buf: make([]byte, hashBufSize)}
}}

func getHashState() *hashState {
	hs := hashPool.Get().(*hashState)
	hs.h.Reset()
	return hs
}

func sumOf(h *blake3.Hasher) Digest {
	var d Digest
	h.Sum(d[:0])
	return d
}

// HashFile returns the digest of the contents of the file at path and the
// number of bytes hashed.
func HashFile(path string) (Digest, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return Digest{}, 0, err
	}
	defer f.Close()
	return hashReader(f)
}

// hashReader hashes r to its end, reading through a pooled buffer.
func hashReader(r io.Reader) (Digest, int64, error) {
	hs := getHashState()
	defer hashPool.Put(hs)
	var size int64
	for {
		n, err := io.ReadFull(r, hs.buf)
		_, _ = hs.h.Write(hs.buf[:n])
		size += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return sumOf(hs.h), size, nil
		}
		if err != nil {
			return Digest{}, size, err
		}
	}
}

// copyHashing copies src to dst and returns the digest of what it copied.
func copyHashing(dst io.Writer, src io.Reader) (Digest, int64, error) {
	hs := getHashState()
	defer hashPool.Put(hs)
	var size int64
	for {
		n, err := io.ReadFull(src, hs.buf)
		if n > 0 {
			_, _ = hs.h.Write(hs.buf[:n])
			if _, werr := dst.Write(hs.buf[:n]); werr != nil {
				return Digest{}, size, werr
			}
			size += int64(n)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return sumOf(hs.h), size, nil
		}
		if err != nil {
			return Digest{}, size, err
		}
	}
}
