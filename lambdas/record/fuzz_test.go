package record

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzDecode: Decode never panics, and what it accepts survives Append and
// Decode unchanged, as one line of valid JSON.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"id":"a","region":"r","receivedAt":"2024-05-06T07:08:09.123Z","partitionKey":"a","encoding":"json","data":{"x":[1,2]}}`))
	f.Add([]byte(`{"id":"order-1","producer":"team-a","region":"r","receivedAt":"2024-05-06T07:08:09.123Z","partitionKey":"p","encoding":"base64","data":"AAE="}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Decode(b)
		if err != nil {
			return
		}
		line := e.Append(nil)
		if !json.Valid(line) || !utf8.Valid(line) {
			t.Fatalf("Append gave invalid JSON or UTF-8: %q", line)
		}
		if bytes.ContainsAny(line, "\r\n") {
			t.Fatalf("Append gave a line break: %q", line)
		}
		e2, err := Decode(line)
		if err != nil {
			t.Fatalf("Decode(Append(e)): got error %v for %q, want nil", err, line)
		}
		if !reflect.DeepEqual(e2, e) {
			t.Fatalf("Decode(Append(e)): got %#v, want %#v", e2, e)
		}
	})
}

// FuzzAppendString: appendString gives valid JSON that reads back as the
// input, each invalid UTF-8 byte replaced by U+FFFD (as encoding/json does).
func FuzzAppendString(f *testing.F) {
	f.Add("plain")
	f.Fuzz(func(t *testing.T, s string) {
		out := appendString([]byte("x"), s)[1:]
		if !json.Valid(out) || !utf8.Valid(out) {
			t.Fatalf("appendString(%q): got invalid JSON or UTF-8 %q", s, out)
		}
		for i, c := range out {
			if c < 0x20 {
				t.Fatalf("appendString(%q): got raw control byte %#x at %d", s, c, i)
			}
		}
		if bytes.Contains(out, []byte("\u2028")) || bytes.Contains(out, []byte("\u2029")) {
			t.Fatalf("appendString(%q): got raw U+2028/2029 in %q", s, out)
		}
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("unmarshal %q: %v", out, err)
		}
		if want := replaceInvalid(s); got != want {
			t.Fatalf("appendString(%q) read back: got %q, want %q", s, got, want)
		}
		// Same value as encoding/json's encoder.
		want, _ := json.Marshal(s)
		var viaJSON string
		if err := json.Unmarshal(want, &viaJSON); err != nil || viaJSON != got {
			t.Fatalf("appendString(%q): got %q, encoding/json gives %q", s, got, viaJSON)
		}
	})
}

// replaceInvalid replaces each invalid UTF-8 byte (not each run, as
// strings.ToValidUTF8 does) with U+FFFD.
func replaceInvalid(s string) string {
	var b []byte
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		b = utf8.AppendRune(b, r)
		i += n
	}
	return string(b)
}
