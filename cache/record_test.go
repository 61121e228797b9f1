package cache

import (
	"errors"
	"io/fs"
	"reflect"
	"testing"
	"time"
)

func sampleRecord() *Record {
	d1, d2 := HashString("1"), HashString("2")
	b := NewKeyBuilder()
	b.Command("cc -c lvm.c -o lvm.o")
	b.Env("CFLAGS", "-O2")
	b.Input("lvm.c", d1)
	b.Tool("/usr/bin/cc", d2)
	b.Dep("//lib:x", []Item{{"lib/x.h", d1}})
	b.Shared("VERSION", "1.2")
	b.Output("lvm.o")
	_, parts := b.Sum()
	return &Record{
		Outputs: []Output{{"lvm.o", d1, 0o755, ""}, {"lvm.map", d2, 0o644, ""},
			{"liblvm.so", LinkDigest("liblvm.so.1"), fs.ModeSymlink | 0o777, "liblvm.so.1"}},
		Status:     "warn",
		Findings:   []string{"lvm.c:3: unused variable", ""},
		Shared:     []Pair{{"B", "2"}, {"A", "1=2"}},
		Parts:      parts,
		Discovered: []Item{{"lvm.h", d2}},
		Created:    time.Unix(1700000000, 123456789),
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, rec := range []*Record{sampleRecord(), {}} {
		data, err := rec.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got Record
		if err := got.UnmarshalBinary(data); err != nil {
			t.Fatal(err)
		}
		if !got.Created.Equal(rec.Created) {
			t.Errorf("Created = %v, want %v", got.Created, rec.Created)
		}
		got.Created = rec.Created
		if !reflect.DeepEqual(&got, rec) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, *rec)
		}
	}
}

// TestRecordDamage checks that no truncation and no single changed byte of
// an encoded record is ever accepted.
func TestRecordDamage(t *testing.T) {
	data, _ := sampleRecord().MarshalBinary()
	for n := range len(data) {
		var r Record
		if err := r.UnmarshalBinary(data[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d bytes: err = %v, want ErrCorrupt", n, err)
		}
	}
	for i := range data {
		bad := append([]byte(nil), data...)
		bad[i] ^= 0x5a
		var r Record
		if err := r.UnmarshalBinary(bad); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("byte %d changed: err = %v, want ErrCorrupt", i, err)
		}
	}
}

func TestStaleInputs(t *testing.T) {
	rec := &Record{Discovered: []Item{{"a.h", HashString("a")}, {"b.h", HashString("b")}, {"gone.h", HashString("g")}}}
	current := func(path string) (Digest, error) {
		switch path {
		case "a.h":
			return HashString("a"), nil
		case "b.h":
			return HashString("B"), nil
		}
		return Digest{}, errors.New("no such file")
	}
	got := rec.StaleInputs(current)
	if want := []string{"b.h", "gone.h"}; !reflect.DeepEqual(got, want) {
		t.Errorf("StaleInputs = %q, want %q", got, want)
	}
	if rec.matches(current) {
		t.Error("matches = true with stale inputs")
	}
}

// FuzzUnmarshalRecord checks that decoding never panics or allocates
// without bound, and that what decodes re-encodes to the same record.
func FuzzUnmarshalRecord(f *testing.F) {
	data, _ := sampleRecord().MarshalBinary()
	f.Add(data)
	empty, _ := (&Record{}).MarshalBinary()
	f.Add(empty)
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Record
		if r.UnmarshalBinary(data) != nil {
			// Also try the body decoder alone, which sees no checksum.
			d := Decoder{b: data}
			var r2 Record
			r2.decodeBody(&d)
			return
		}
		again, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var r2 Record
		if err := r2.UnmarshalBinary(again); err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("re-encoding changed the record: %v", err)
		}
	})
}
