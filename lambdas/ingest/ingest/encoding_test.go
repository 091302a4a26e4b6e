package ingest

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
)

func TestContentEncoding(t *testing.T) {
	tests := []struct {
		values []string
		want   string
		ok     bool
	}{
		{nil, "", true},
		{[]string{""}, "", true},
		{[]string{"identity"}, "", true},
		{[]string{"gzip"}, "gzip", true},
		{[]string{"GZip"}, "gzip", true},
		{[]string{"x-gzip"}, "gzip", true},
		{[]string{" gzip , identity"}, "gzip", true},
		{[]string{"identity", "gzip"}, "gzip", true},
		{[]string{"gzip", "gzip"}, "", false},
		{[]string{"gzip, gzip"}, "", false},
		{[]string{"br"}, "", false},
		{[]string{"deflate"}, "", false},
		{[]string{"gzip;q=1"}, "", false},
		{[]string{"compress"}, "", false},
	}
	for _, tt := range tests {
		h := http.Header{}
		for _, v := range tt.values {
			h.Add("Content-Encoding", v)
		}
		got, ok := contentEncoding(h)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Content-Encoding %q: got %q, %v, want %q, %v", tt.values, got, ok, tt.want, tt.ok)
		}
	}
}

func TestGunzip(t *testing.T) {
	const limit = 1000
	z := gzipBytes(strings.Repeat("a", 600))
	flip := bytes.Clone(z)
	flip[len(flip)-8] ^= 1 // the CRC-32
	tests := []struct {
		name string
		in   []byte
		want string // decompressed; "" with err set
		err  error
	}{
		{"small", gzipBytes("hello"), "hello", nil},
		{"empty content", gzipBytes(""), "", nil},
		{"exactly the limit", gzipBytes(strings.Repeat("b", limit)), strings.Repeat("b", limit), nil},
		{"one byte over", gzipBytes(strings.Repeat("b", limit+1)), "", errDecodedTooLarge},
		{"two members", append(gzipBytes("ab"), gzipBytes("cd")...), "abcd", nil},
		{"two members over the limit together", append(bytes.Clone(z), z...), "", errDecodedTooLarge},
		{"not gzip", []byte(`{"records":[]}`), "", errBadGzip},
		{"no bytes", nil, "", errBadGzip},
		{"truncated", z[:len(z)-4], "", errBadGzip},
		{"header only", z[:10], "", errBadGzip},
		{"checksum", flip, "", errBadGzip},
		{"trailing garbage", append(bytes.Clone(z), "xyz"...), "", errBadGzip},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := gunzip(tt.in, limit)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if string(got) != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if cap(got) > limit+1 {
				t.Errorf("output capacity %d, want at most %d", cap(got), limit+1)
			}
		})
	}
}

// bomb is a gzip body of about 1 MB that decompresses to 1 GiB: one member
// of 1 MiB of zeros, repeated.
func bomb() []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(make([]byte, 1<<20))
	_ = zw.Close()
	member := buf.Bytes()
	return bytes.Repeat(member, MaxBody/len(member))
}

// TestGunzipBombAllocation: a decompression bomb is refused after at most
// MaxDecodedBody+1 bytes of output were held, whatever it would expand to.
func TestGunzipBombAllocation(t *testing.T) {
	b := bomb()
	if len(b) > MaxBody {
		t.Fatalf("bomb of %d bytes, want at most MaxBody", len(b))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	out, err := gunzip(b, MaxDecodedBody)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, errDecodedTooLarge) || out != nil {
		t.Fatalf("got %d bytes, %v, want errDecodedTooLarge", len(out), err)
	}
	// The output buffer plus the inflater's state (window, tables): well
	// under twice the cap, and nowhere near the 1 GiB the bomb holds.
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(MaxDecodedBody+1+256<<10); got > limit {
		t.Errorf("allocated %d bytes decompressing a bomb, want at most %d", got, limit)
	}
}

// TestGunzipBombThroughHandler: the bomb gets 413 naming the cap, and
// nothing is written.
func TestGunzipBombThroughHandler(t *testing.T) {
	k := &kinesisFake{}
	sp := &spillFake{}
	r := post(TypeNDJSON, bearerKey, "")
	b := bomb()
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
	r.Header.Set("Content-Encoding", "gzip")
	res := serve(t, newHandler(t, testConfig(), k, sp, nil, nil), r)
	if res.status != http.StatusRequestEntityTooLarge || res.body.Limit != MaxDecodedBody || k.calls != 0 || len(sp.objs) != 0 {
		t.Errorf("got %d %s (kinesis calls %d, spill objects %d), want 413 with limit %d and nothing written",
			res.status, res.raw, k.calls, len(sp.objs), MaxDecodedBody)
	}
}

// FuzzGunzip: gunzip agrees with compress/gzip read through a limit, never
// returns more than the limit, and never panics.
func FuzzGunzip(f *testing.F) {
	// More seeds: testdata/fuzz/FuzzGunzip.
	f.Add(gzipBytes(`{"records":[{"data":1}]}`))
	f.Add([]byte("not gzip"))
	f.Fuzz(func(t *testing.T, in []byte) {
		const limit = 4096
		got, err := gunzip(in, limit)
		if cap(got) > limit+1 {
			t.Fatalf("output capacity %d, want at most %d", cap(got), limit+1)
		}
		var want []byte
		var wantErr error
		zr, rerr := gzip.NewReader(bytes.NewReader(in))
		if rerr == nil {
			want, rerr = io.ReadAll(io.LimitReader(zr, limit+1))
		}
		switch {
		case len(want) > limit:
			wantErr = errDecodedTooLarge
		case rerr != nil:
			wantErr = errBadGzip
		}
		if !errors.Is(err, wantErr) || (wantErr == nil && !bytes.Equal(got, want)) {
			t.Fatalf("got %q, %v, want %q, %v", got, err, want, wantErr)
		}
		if err != nil && got != nil {
			t.Fatalf("got %d bytes with error %v, want none", len(got), err)
		}
	})
}
