package cache

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	b := make([]byte, n)
	_, _ = r.Read(b)
	return b
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDigestKnownValues(t *testing.T) {
	// Values from the BLAKE3 reference implementation (b3sum).
	tests := []struct{ in, want string }{
		{"", "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"},
		{"abc", "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"},
	}
	for _, tt := range tests {
		if got := HashBytes([]byte(tt.in)).String(); got != tt.want {
			t.Errorf("HashBytes(%q) = %s, want %s", tt.in, got, tt.want)
		}
		if got := HashString(tt.in).String(); got != tt.want {
			t.Errorf("HashString(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestParseDigest(t *testing.T) {
	d := HashString("x")
	got, err := ParseDigest(d.String())
	if err != nil || got != d {
		t.Fatalf("ParseDigest(String()) = %v, %v; want %v", got, err, d)
	}
	for _, bad := range []string{"", "abc", strings.Repeat("g", 64), d.String() + "00"} {
		if _, err := ParseDigest(bad); err == nil {
			t.Errorf("ParseDigest(%q) succeeded, want error", bad)
		}
	}
	if !(Digest{}).IsZero() || d.IsZero() {
		t.Error("IsZero is wrong")
	}
}

func TestHashFileMatchesHashBytes(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{0, 1, 1023, 1024, 8192, 8193, hashBufSize - 1, hashBufSize, hashBufSize + 1, 3*hashBufSize + 17} {
		data := randomBytes(n, uint64(n))
		path := filepath.Join(dir, "f")
		writeFile(t, path, data)
		d, size, err := HashFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if size != int64(n) || d != HashBytes(data) {
			t.Errorf("HashFile(%d bytes) = %v, %d; want %v, %d", n, d, size, HashBytes(data), n)
		}
		var buf bytes.Buffer
		d2, size2, err := copyHashing(&buf, bytes.NewReader(data))
		if err != nil || d2 != d || size2 != int64(n) || !bytes.Equal(buf.Bytes(), data) {
			t.Errorf("copyHashing(%d bytes) = %v, %d, %v", n, d2, size2, err)
		}
	}
	if _, _, err := HashFile(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Errorf("HashFile(missing) error = %v, want not-exist", err)
	}
}

// BenchmarkHashFile hashes a 256 MiB file; compare its MB/s with
// `b3sum --num-threads 1` on the same machine.
func BenchmarkHashFile(b *testing.B) {
	const size = 256 << 20
	path := filepath.Join(b.TempDir(), "big")
	writeFile(b, path, randomBytes(size, 1))
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := HashFile(path); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBLAKE3InMemory is the ceiling for BenchmarkHashFile: the same
// hasher over bytes already in memory.
func BenchmarkBLAKE3InMemory(b *testing.B) {
	data := randomBytes(64<<20, 2)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		HashBytes(data)
	}
}
