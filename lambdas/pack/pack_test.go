package pack

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/twinstream/twinstream/lambdas/pack/sample"
	"github.com/twinstream/twinstream/lambdas/record"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.*")

// goldenLines are the envelopes of the golden sample: realistic orders,
// a binary record, one with a partition key of its own, one without a
// producer (as written before producers were recorded).
func goldenLines(t *testing.T) []byte {
	t.Helper()
	at := time.Date(2026, 12, 1, 10, 15, 4, 123e6, time.UTC)
	envs := sample.Envelopes(10, 1, at)
	envs[3].SetBase64([]byte{0, 1, 2, 0xfe, 0xff})
	envs[5].PartitionKey = "customer-c-004211"
	envs[7].Producer = ""
	var body []byte
	for i := range envs {
		if err := envs[i].Validate(); err != nil {
			t.Fatalf("sample envelope %d: %v", i, err)
		}
		body = append(envs[i].Append(body), '\n')
	}
	return body
}

// TestGolden: the stored sample (testdata/golden.packed) decodes to the
// envelopes stored beside it (testdata/golden.ndjson), byte for byte, and
// each line is a valid envelope. The sample is never rewritten by a code
// change without -update: a reader that stops reading it breaks the format.
func TestGolden(t *testing.T) {
	packedPath, linesPath := filepath.Join("testdata", "golden.packed"), filepath.Join("testdata", "golden.ndjson")
	if *update {
		body := goldenLines(t)
		packed, err := Encode(nil, body)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(packedPath, packed, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(linesPath, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	packed, err := os.ReadFile(packedPath)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(linesPath)
	if err != nil {
		t.Fatal(err)
	}
	if got := packed[:HeaderLen]; string(got) != "\x00TSP\x01\x01" {
		t.Errorf("header: got %q, want %q", got, "\x00TSP\x01\x01")
	}
	body, err := Decode(nil, packed)
	if err != nil {
		t.Fatalf("decode golden: %v", err)
	}
	if !bytes.Equal(body, want) {
		t.Fatalf("golden body: got\n%s\nwant\n%s", body, want)
	}
	n := 0
	for l := range Lines(body) {
		if _, err := record.Decode(l); err != nil {
			t.Errorf("line %d: %v", n+1, err)
		}
		n++
	}
	if n != 10 {
		t.Errorf("got %d envelopes, want 10", n)
	}
	// The writer of today reads back what it writes, with the same header.
	again, err := Encode(nil, want)
	if err != nil {
		t.Fatal(err)
	}
	if round, err := Decode(nil, again); err != nil || !bytes.Equal(round, want) || !bytes.Equal(again[:HeaderLen], packed[:HeaderLen]) {
		t.Errorf("Encode then Decode: got %q, %v, want the golden body and header", round, err)
	}
	if len(packed) >= len(want)/2 {
		t.Errorf("golden packed: %d bytes for %d of envelopes, want less than half", len(packed), len(want))
	}
}

// TestPlainIsNotPacked: no JSON text starts with the magic (JSON starts
// with whitespace or a value, never 0x00), and an envelope starts with '{'.
func TestPlainIsNotPacked(t *testing.T) {
	env := sample.Envelopes(1, 2, time.Now())[0]
	for _, data := range [][]byte{env.Append(nil), []byte(" {}"), []byte("\x00TS"), nil, []byte("\x00TSQ\x01\x01")} {
		if IsPacked(data) {
			t.Errorf("IsPacked(%q): got true, want false", data)
		}
	}
	if json.Valid([]byte(Magic + "{}")) {
		t.Error("JSON starting with the magic is valid; want it invalid")
	}
	if u, err := Unpack(env.Append(nil)); err != nil || len(u) != 1 || !bytes.Equal(u[0], env.Append(nil)) {
		t.Errorf("Unpack(plain): got %q, %v, want the envelope itself", u, err)
	}
}

func zstdOf(t *testing.T, b []byte) []byte {
	t.Helper()
	e, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	return e.EncodeAll(b, nil)
}

// TestDecodeErrors: every unreadable record gives its error, no body, and no
// panic.
func TestDecodeErrors(t *testing.T) {
	good, err := Encode(nil, []byte("{\"a\":1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)-1] ^= 0xff // the frame's checksum
	for _, tt := range []struct {
		name string
		data []byte
		want error
	}{
		{"plain", []byte(`{"id":"a"}`), ErrNotPacked},
		{"magic only", []byte(Magic), ErrCorrupt},
		{"no codec", []byte(Magic + "\x01"), ErrCorrupt},
		{"version 0", []byte(Magic + "\x00\x01" + string(good[HeaderLen:])), ErrVersion},
		{"version 2", []byte(Magic + "\x02\x01" + string(good[HeaderLen:])), ErrVersion},
		{"codec gzip", []byte(Magic + "\x01\x02" + string(good[HeaderLen:])), ErrCodec},
		{"codec 0", []byte(Magic + "\x01\x00" + string(good[HeaderLen:])), ErrCodec},
		{"no body", []byte(Magic + "\x01\x01"), ErrEmpty},
		{"empty frame", append([]byte(Magic+"\x01\x01"), zstdOf(t, nil)...), ErrEmpty},
		{"not zstd", []byte(Magic + "\x01\x01{\"id\":\"a\"}\n"), ErrCorrupt},
		{"truncated", good[:len(good)-3], ErrCorrupt},
		{"checksum", flipped, ErrCorrupt},
		{"too large", append([]byte(Magic+"\x01\x01"), zstdOf(t, make([]byte, MaxBody+1))...), ErrTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body, err := Decode(nil, tt.data)
			if !errors.Is(err, tt.want) || len(body) != 0 {
				t.Errorf("got %d bytes, %v, want none and %v", len(body), err, tt.want)
			}
			if u, err := Unpack(tt.data); tt.want != ErrNotPacked && (!errors.Is(err, tt.want) || u != nil) {
				t.Errorf("Unpack: got %q, %v, want nil, %v", u, err, tt.want)
			}
		})
	}
	// At the limit exactly, a body is read.
	body := append(bytes.Repeat([]byte("x"), MaxBody-1), '\n')
	packed, err := Encode(nil, body)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Decode(NewBuffer(), packed); err != nil || !bytes.Equal(got, body) {
		t.Errorf("body of MaxBody: got %d bytes, %v, want %d, nil", len(got), err, len(body))
	}
}

// bombs are small records that expand far beyond MaxBody: with the content
// size in the frame header, without it (streamed), and as many frames.
func bombs(t *testing.T) map[string][]byte {
	t.Helper()
	zeros := make([]byte, 256<<20)
	one, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	stream := func(b []byte) []byte {
		var buf bytes.Buffer
		w, err := zstd.NewWriter(&buf, zstd.WithWindowSize(MaxBody))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	frames := func(f []byte, n int) []byte {
		var out []byte
		for range n {
			out = append(out, f...)
		}
		return out
	}
	hdr := []byte(Magic + "\x01\x01")
	return map[string][]byte{
		"content size":      append(slices.Clone(hdr), one.EncodeAll(zeros, nil)...),
		"streamed":          append(slices.Clone(hdr), stream(zeros)...),
		"frames":            append(slices.Clone(hdr), frames(one.EncodeAll(zeros[:900<<10], nil), 300)...),
		"streamed frames":   append(slices.Clone(hdr), frames(stream(zeros[:900<<10]), 300)...),
		"small frames, all": append(slices.Clone(hdr), frames(one.EncodeAll(zeros[:64<<10], nil), 4000)...),
	}
}

// TestDecodeBombAllocation: a packed record expanding to gigabytes fails with
// ErrTooLarge having held at most MaxBody plus a block of output, whatever
// its frames say.
func TestDecodeBombAllocation(t *testing.T) {
	buf := NewBuffer()
	if _, err := Decode(buf, mustEncode(t, []byte("{}\n"))); err != nil { // the decoder's own state, once
		t.Fatal(err)
	}
	for name, b := range bombs(t) {
		t.Run(name, func(t *testing.T) {
			if len(b) > 1<<20 {
				t.Fatalf("bomb of %d bytes, want one that fits a Kinesis record", len(b))
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			body, err := Decode(buf, b)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrTooLarge) || len(body) != 0 {
				t.Fatalf("got %d bytes, %v, want ErrTooLarge", len(body), err)
			}
			t.Logf("allocated %d bytes", after.TotalAlloc-before.TotalAlloc)
			if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(2*MaxBody); got > limit {
				t.Errorf("allocated %d bytes decoding a bomb, want at most %d", got, limit)
			}
		})
	}
}

func mustEncode(t testing.TB, body []byte) []byte {
	t.Helper()
	b, err := Encode(nil, body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEncodeRefuses: Encode never writes what a reader would refuse.
func TestEncodeRefuses(t *testing.T) {
	for _, tt := range []struct {
		name string
		body []byte
		want error
	}{
		{"empty", nil, ErrEmpty},
		{"no final newline", []byte(`{"a":1}`), ErrCorrupt},
		{"too large", append(make([]byte, MaxBody), '\n'), ErrTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if out, err := Encode([]byte("keep"), tt.body); !errors.Is(err, tt.want) || string(out) != "keep" {
				t.Errorf("got %q, %v, want dst unchanged and %v", out, err, tt.want)
			}
		})
	}
}

func TestLines(t *testing.T) {
	for _, tt := range []struct {
		body string
		want []string
	}{
		{"", nil},
		{"a\n", []string{"a"}},
		{"a\nb\n", []string{"a", "b"}},
		{"a\nb", []string{"a", "b"}},
		{"a\n\nb\n", []string{"a", "", "b"}},
		{"\n", []string{""}},
	} {
		var got []string
		for l := range Lines([]byte(tt.body)) {
			got = append(got, string(l))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Lines(%q): got %q, want %q", tt.body, got, tt.want)
		}
	}
	// Stopping early stops.
	n := 0
	for range Lines([]byte("a\nb\nc\n")) {
		n++
		break
	}
	if n != 1 {
		t.Errorf("got %d lines after break, want 1", n)
	}
}

// TestUnpackPacked: Unpack gives the lines, in order.
func TestUnpackPacked(t *testing.T) {
	body := []byte("{\"a\":1}\n{\"b\":2}\n")
	got, err := Unpack(mustEncode(t, body))
	if err != nil || len(got) != 2 || string(got[0]) != `{"a":1}` || string(got[1]) != `{"b":2}` {
		t.Fatalf("got %q, %v, want the two lines", got, err)
	}
}

// TestConcurrent: Encode, Decode and Unpack are safe for concurrent use
// (run with -race), each call getting its own body back.
func TestConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			buf := NewBuffer()
			for i := range 50 {
				body := fmt.Appendf(nil, "{\"g\":%d,\"i\":%d,\"pad\":%q}\n", g, i, strings.Repeat("x", 100*i))
				packed, err := Encode(nil, body)
				if err != nil {
					t.Error(err)
					return
				}
				got, err := Decode(buf, packed)
				if err != nil || !bytes.Equal(got, body) {
					t.Errorf("goroutine %d, %d: got %q, %v", g, i, got, err)
					return
				}
				if u, err := Unpack(packed); err != nil || len(u) != 1 || !bytes.Equal(append(u[0], '\n'), body) {
					t.Errorf("goroutine %d, %d: Unpack got %q, %v", g, i, u, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
