package pack

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecode: Decode never panics, never returns more than MaxBody, and
// fails with one of its errors or returns a body that Encode writes back as
// a record decoding to the same body. Seeds: testdata/fuzz/FuzzDecode (the
// golden sample, damaged headers, bombs' beginnings, truncations).
func FuzzDecode(f *testing.F) {
	f.Add(mustEncode(f, []byte("{\"id\":\"a\"}\n")))
	f.Add([]byte(Magic + "\x01\x01"))
	buf := NewBuffer()
	f.Fuzz(func(t *testing.T, data []byte) {
		body, err := Decode(buf, data)
		if len(body) > MaxBody {
			t.Fatalf("got %d bytes, want at most %d", len(body), MaxBody)
		}
		if err != nil {
			if len(body) != 0 {
				t.Fatalf("got %d bytes with error %v, want none", len(body), err)
			}
			known := false
			for _, e := range []error{ErrNotPacked, ErrVersion, ErrCodec, ErrTooLarge, ErrCorrupt, ErrEmpty} {
				known = known || errors.Is(err, e)
			}
			if !known {
				t.Fatalf("got error %v, want one of the package's", err)
			}
			return
		}
		if len(body) == 0 {
			t.Fatal("got an empty body without error")
		}
		n := 0
		for range Lines(body) {
			n++
		}
		if n == 0 {
			t.Fatal("a body without lines")
		}
		if body[len(body)-1] != '\n' {
			body = append(bytes.Clone(body), '\n')
			if len(body) > MaxBody {
				return
			}
		}
		again, err := Encode(nil, body)
		if err != nil {
			t.Fatalf("Encode of a decoded body: %v", err)
		}
		if round, err := Decode(nil, again); err != nil || !bytes.Equal(round, body) {
			t.Fatalf("round trip: got %d bytes, %v, want %d", len(round), err, len(body))
		}
	})
}
