package cache

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// proofFixture writes a workspace with two files and a proof of them.
func proofFixture(t *testing.T, env map[string]string) (root, path string, lookup func(string) (string, bool)) {
	t.Helper()
	root = t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), []byte("a"))
	writeFile(t, filepath.Join(root, "sub", "b.txt"), []byte("b"))
	// Aged, so that an edit within one timestamp tick still moves mtime.
	old := time.Now().Add(-time.Hour)
	for _, p := range []string{"a.txt", "sub/b.txt", "sub"} {
		if err := os.Chtimes(filepath.Join(root, p), old, old); err != nil {
			t.Fatal(err)
		}
	}
	lookup = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	var files []ProofFile
	for _, p := range []string{"a.txt", "sub/b.txt", "sub", "missing.star"} {
		files = append(files, ProofFile{Path: p, Stat: StatFile(filepath.Join(root, p))})
	}
	path = filepath.Join(root, ".pex", "proof", "x")
	p := &Proof{Request: []byte("build //..."), Env: []string{"CC"}, Payload: []byte("rules"), Files: files}
	if err := WriteProof(path, p, lookup); err != nil {
		t.Fatal(err)
	}
	return root, path, lookup
}

func TestProofHoldsWhileNothingChanged(t *testing.T) {
	root, path, lookup := proofFixture(t, map[string]string{"CC": "gcc"})
	payload, n, ok := CheckProof(path, root, []byte("build //..."), lookup)
	if !ok || string(payload) != "rules" || n != 4 {
		t.Fatalf("CheckProof = %q, %d, %v; want the payload of 4 files", payload, n, ok)
	}
}

func TestProofFailsOnAnyChange(t *testing.T) {
	later := time.Now().Add(time.Minute)
	for name, change := range map[string]func(root string, env map[string]string) []byte{
		"other request":  func(string, map[string]string) []byte { return []byte("build //a") },
		"variable value": func(_ string, env map[string]string) []byte { env["CC"] = "clang"; return nil },
		"variable unset": func(_ string, env map[string]string) []byte { delete(env, "CC"); return nil },
		"file edited": func(root string, _ map[string]string) []byte {
			writeFile(t, filepath.Join(root, "a.txt"), []byte("A"))
			return nil
		},
		"file touched": func(root string, _ map[string]string) []byte {
			_ = os.Chtimes(filepath.Join(root, "a.txt"), later, later)
			return nil
		},
		"file removed": func(root string, _ map[string]string) []byte {
			os.Remove(filepath.Join(root, "sub", "b.txt"))
			return nil
		},
		"missing appears": func(root string, _ map[string]string) []byte {
			writeFile(t, filepath.Join(root, "missing.star"), nil)
			return nil
		},
		"dir gains entry": func(root string, _ map[string]string) []byte {
			writeFile(t, filepath.Join(root, "sub", "c.txt"), nil)
			return nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{"CC": "gcc"}
			root, path, lookup := proofFixture(t, env)
			req := change(root, env)
			if req == nil {
				req = []byte("build //...")
			}
			if _, _, ok := CheckProof(path, root, req, lookup); ok {
				t.Error("the proof still held")
			}
		})
	}
}

func TestDamagedProofDoesNotHold(t *testing.T) {
	root, path, lookup := proofFixture(t, map[string]string{"CC": "gcc"})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		bad := append([]byte(nil), data...)
		bad[i] ^= 0x40
		writeFile(t, path, bad)
		if _, _, ok := CheckProof(path, root, []byte("build //..."), lookup); ok {
			t.Fatalf("a proof with byte %d flipped held", i)
		}
	}
	writeFile(t, path, data[:len(data)/2])
	if _, _, ok := CheckProof(path, root, []byte("build //..."), lookup); ok {
		t.Fatal("a truncated proof held")
	}
}

func TestRecentStatCannotVouch(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "a.txt")
	writeFile(t, p, []byte("a"))
	if !StatFile(p).Recent(time.Now()) {
		t.Error("a file written just now is not recent")
	}
	if StatFile(p).Recent(time.Now().Add(time.Hour)) {
		t.Error("a file written an hour ago is recent")
	}
	if StatFile(filepath.Join(root, "missing")).Recent(time.Now()) {
		t.Error("a missing file is recent")
	}
}
