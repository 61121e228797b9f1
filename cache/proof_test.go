package cache

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
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
	for _, p := range []string{"sub", "missing.star", "a.txt", "sub/b.txt"} {
		files = append(files, ProofFile{Path: p, Stat: StatFile(filepath.Join(root, p))})
	}
	path = filepath.Join(root, ".pex", "proof", "x")
	p := &Proof{Request: []byte("build //..."), Env: []string{"CC"}, Payload: "rules", Evaluation: files[:2], Files: files[2:]}
	if err := WriteProof(path, p, lookup); err != nil {
		t.Fatal(err)
	}
	return root, path, lookup
}

func TestProofHoldsWhileNothingChanged(t *testing.T) {
	root, path, lookup := proofFixture(t, map[string]string{"CC": "gcc"})
	c := CheckProof(path, root, []byte("build //..."), lookup)
	if !c.Valid || !c.Holds || c.Payload != "rules" || c.Files != 4 || c.Changed != nil {
		t.Fatalf("CheckProof = %+v; want it to hold, with the payload, over 4 files", c)
	}
}

func TestProofFailsOnAnyChange(t *testing.T) {
	later := time.Now().Add(time.Minute)
	for name, tc := range map[string]struct {
		change func(root string, env map[string]string) []byte
		want   ProofCheck // Valid, EvaluationChanged and Changed
	}{
		"other request":  {func(string, map[string]string) []byte { return []byte("build //a") }, ProofCheck{}},
		"variable value": {func(_ string, env map[string]string) []byte { env["CC"] = "clang"; return nil }, ProofCheck{}},
		"variable unset": {func(_ string, env map[string]string) []byte { delete(env, "CC"); return nil }, ProofCheck{}},
		"file edited": {func(root string, _ map[string]string) []byte {
			writeFile(t, filepath.Join(root, "a.txt"), []byte("A"))
			return nil
		}, ProofCheck{Valid: true, Changed: []string{"a.txt"}}},
		"file touched": {func(root string, _ map[string]string) []byte {
			_ = os.Chtimes(filepath.Join(root, "a.txt"), later, later)
			return nil
		}, ProofCheck{Valid: true, Changed: []string{"a.txt"}}},
		"file removed": {func(root string, _ map[string]string) []byte {
			os.Remove(filepath.Join(root, "sub", "b.txt"))
			return nil
		}, ProofCheck{Valid: true, EvaluationChanged: true}}, // sub's listing changed too
		"missing appears": {func(root string, _ map[string]string) []byte {
			writeFile(t, filepath.Join(root, "missing.star"), nil)
			return nil
		}, ProofCheck{Valid: true, EvaluationChanged: true}},
		"dir gains entry": {func(root string, _ map[string]string) []byte {
			writeFile(t, filepath.Join(root, "sub", "c.txt"), nil)
			return nil
		}, ProofCheck{Valid: true, EvaluationChanged: true}},
	} {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{"CC": "gcc"}
			root, path, lookup := proofFixture(t, env)
			req := tc.change(root, env)
			if req == nil {
				req = []byte("build //...")
			}
			c := CheckProof(path, root, req, lookup)
			if c.Holds {
				t.Fatal("the proof still held")
			}
			if c.Valid != tc.want.Valid || c.EvaluationChanged != tc.want.EvaluationChanged || !slices.Equal(c.Changed, tc.want.Changed) {
				t.Errorf("CheckProof = valid %v, evaluation changed %v, changed %v; want %v, %v, %v",
					c.Valid, c.EvaluationChanged, c.Changed, tc.want.Valid, tc.want.EvaluationChanged, tc.want.Changed)
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
		if c := CheckProof(path, root, []byte("build //..."), lookup); c.Valid || c.Holds {
			t.Fatalf("a proof with byte %d flipped was taken", i)
		}
	}
	writeFile(t, path, data[:len(data)/2])
	if c := CheckProof(path, root, []byte("build //..."), lookup); c.Valid || c.Holds {
		t.Fatal("a truncated proof was taken")
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

// A file too recent for its stat to vouch for it is hashed when its stat
// holds: a change within one timestamp tick is still caught.
func TestProofVerifiesRecentFilesByDigest(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "out.txt")
	writeFile(t, p, []byte("fresh"))
	lookup := func(string) (string, bool) { return "", false }
	d, st, err := NewMemo().DigestStat(p)
	if err != nil || d != HashString("fresh") {
		t.Fatalf("DigestStat = %v, %v", d, err)
	}
	for _, tc := range []struct {
		digest Digest
		holds  bool
	}{{d, true}, {HashString("what the last build wrote"), false}} {
		path := filepath.Join(root, ".pex", "proof", "x")
		files := []ProofFile{{Path: "out.txt", Stat: st, Verify: true, Digest: tc.digest}}
		if err := WriteProof(path, &Proof{Request: []byte("r"), Files: files}, lookup); err != nil {
			t.Fatal(err)
		}
		c := CheckProof(path, root, []byte("r"), lookup)
		if c.Holds != tc.holds || (!tc.holds && !slices.Equal(c.Changed, []string{"out.txt"})) {
			t.Errorf("recorded digest of %q: check = %+v, want holds %v", "fresh", c, tc.holds)
		}
	}
}

// Once a path carried as too recent has aged, the check that finds the
// proof holding writes it again without asking for the path to be hashed:
// later checks only stat it.
func TestProofStopsVerifyingAgedFiles(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "out.txt")
	writeFile(t, p, []byte("built"))
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	lookup := func(string) (string, bool) { return "", false }
	path := filepath.Join(root, ".pex", "proof", "x")
	files := []ProofFile{{Path: "out.txt", Stat: StatFile(p), Content: true, Verify: true, Digest: HashString("built")}}
	if err := WriteProof(path, &Proof{Request: []byte("r"), Files: files}, lookup); err != nil {
		t.Fatal(err)
	}
	kind := func() byte {
		data, _ := os.ReadFile(path)
		i := bytes.Index(data, []byte("out.txt"))
		return data[i+len("out.txt")]
	}
	if kind() != entryVerify {
		t.Fatalf("entry kind %d, want entryVerify", kind())
	}
	// Its ctime is now, whatever its mtime: let time pass.
	proofClock = func() time.Time { return time.Now().Add(time.Minute) }
	defer func() { proofClock = time.Now }()
	if c := CheckProof(path, root, []byte("r"), lookup); !c.Holds {
		t.Fatalf("CheckProof = %+v, want it to hold", c)
	}
	if kind() != entryContent {
		t.Errorf("entry kind %d after aging, want entryContent (stat alone vouches)", kind())
	}
	if c := CheckProof(path, root, []byte("r"), lookup); !c.Holds {
		t.Fatalf("after aging, CheckProof = %+v, want it to hold", c)
	}
}

// A file whose stat changed but not its contents (touched, saved as it
// was) leaves the proof holding, and the proof is written again with the
// new stat.
func TestProofHoldsForTouchedFileWithSameContents(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "src.c")
	writeFile(t, p, []byte("int a;"))
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	lookup := func(string) (string, bool) { return "", false }
	path := filepath.Join(root, ".pex", "proof", "x")
	files := []ProofFile{{Path: "src.c", Stat: StatFile(p), Content: true, Digest: HashString("int a;")}}
	if err := WriteProof(path, &Proof{Request: []byte("r"), Files: files}, lookup); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	now := time.Now()
	if err := os.Chtimes(p, now, now); err != nil {
		t.Fatal(err)
	}
	if c := CheckProof(path, root, []byte("r"), lookup); !c.Holds {
		t.Fatalf("touched, same contents: CheckProof = %+v, want it to hold", c)
	}
	after, _ := os.ReadFile(path)
	if bytes.Equal(before, after) {
		t.Error("the proof was not written again with the new stat")
	}
	writeFile(t, p, []byte("int b;"))
	if c := CheckProof(path, root, []byte("r"), lookup); c.Holds || !slices.Equal(c.Changed, []string{"src.c"}) {
		t.Fatalf("edited: CheckProof = %+v, want src.c changed", c)
	}
}

// A valid proof of which only rule files changed is kept for the build
// that follows: with the changed files' entries set again, it holds, and
// keeps its rules section.
func TestStaleProofPatched(t *testing.T) {
	root, path, lookup := proofFixture(t, map[string]string{"CC": "gcc"})
	p := &Proof{Request: []byte("build //..."), Env: []string{"CC"}, Payload: "rules", Rules: []byte("section"),
		Evaluation: []ProofFile{{Path: "sub", Stat: StatFile(filepath.Join(root, "sub"))}},
		Files: []ProofFile{{Path: "a.txt", Stat: StatFile(filepath.Join(root, "a.txt"))},
			{Path: "sub/b.txt", Stat: StatFile(filepath.Join(root, "sub/b.txt"))}}}
	if err := WriteProof(path, p, lookup); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "sub", "b.txt"), []byte("b2"))
	c := CheckProof(path, root, []byte("build //..."), lookup)
	defer c.Close()
	s := c.Stale
	if !c.Valid || c.Holds || s == nil || !slices.Equal(s.Changed(), []int{1}) || s.Path(1) != "sub/b.txt" {
		t.Fatalf("check = %+v; want valid, stale, file 1 (sub/b.txt) changed", c)
	}
	if string(s.Rules()) != "section" || s.Len() != 2 || s.Evaluation("sub") != 0 || s.Evaluation("a.txt") != -1 {
		t.Fatalf("stale proof: rules %q, %d files, evaluation of sub %d", s.Rules(), s.Len(), s.Evaluation("sub"))
	}
	// The written file moved its directory's times, with the same names.
	sub := filepath.Join(root, "sub")
	st := StatFile(sub)
	d, err := ContentDigest(sub, st)
	if err != nil {
		t.Fatal(err)
	}
	s.SetEvaluation(0, ProofFile{Stat: st, Content: true, Verify: true, Digest: d})
	b := filepath.Join(root, "sub", "b.txt")
	bd, _, err := HashFile(b)
	if err != nil {
		t.Fatal(err)
	}
	s.Set(1, ProofFile{Stat: StatFile(b), Content: true, Verify: true, Digest: bd})
	if err := s.Write("rules2", lookup); err != nil {
		t.Fatal(err)
	}
	c.Close()
	again := CheckProof(path, root, []byte("build //..."), lookup)
	if !again.Holds || again.Payload != "rules2" {
		t.Fatalf("patched proof: %+v; want it to hold with the new payload", again)
	}
	// A change to an evaluation path is no stale proof: the rules may differ.
	writeFile(t, filepath.Join(root, "sub", "new.txt"), []byte("n"))
	c = CheckProof(path, root, []byte("build //..."), lookup)
	if !c.Valid || !c.EvaluationChanged || c.Stale != nil {
		t.Fatalf("after a new file in an evaluation directory: %+v; want evaluation changed, no stale proof", c)
	}
}

// The rules section has a checksum of its own, which only the readers of
// the section check: damage there leaves the proof answering, and a stale
// proof with no section to rebuild from.
func TestDamagedRulesSection(t *testing.T) {
	root, path, lookup := proofFixture(t, map[string]string{"CC": "gcc"})
	p := &Proof{Request: []byte("build //..."), Env: []string{"CC"}, Payload: "rules", Rules: []byte("section"),
		Files: []ProofFile{{Path: "a.txt", Stat: StatFile(filepath.Join(root, "a.txt"))}}}
	if err := WriteProof(path, p, lookup); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte("section"))
	data[i] = 'S'
	writeFile(t, path, data)
	if c := CheckProof(path, root, []byte("build //..."), lookup); !c.Holds {
		t.Fatalf("a proof with a damaged rules section: %+v; want it to hold", c)
	}
	writeFile(t, filepath.Join(root, "a.txt"), []byte("a2"))
	c := CheckProof(path, root, []byte("build //..."), lookup)
	defer c.Close()
	if c.Stale == nil || c.Stale.Rules() != nil {
		t.Fatalf("stale proof with a damaged rules section: %+v; want one without a section", c.Stale)
	}
	// Damage anywhere else is no proof.
	data[i] = 's'
	data[len(proofMagic)+2] ^= 1
	writeFile(t, path, data)
	if c := CheckProof(path, root, []byte("build //..."), lookup); c.Valid {
		t.Fatal("a proof damaged outside its rules section is valid")
	}
}
