package record

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
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

// FuzzDecodeAppended: the one-pass reader of Append's form decodes exactly
// as encoding/json does whatever it accepts (the same envelope, or an error
// both ways), and accepts what Append writes.
func FuzzDecodeAppended(f *testing.F) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 123e6, time.UTC)
	base := Envelope{ID: "01HZX", Producer: "team-a", Region: "us-east-1", ReceivedAt: at, PartitionKey: "01HZX",
		Encoding: EncodingJSON, Data: json.RawMessage(`{"n":-1.5e+3,"s":"a \"b\" \u00e9","l":[true,false,null,{},[]],"e":""}`)}
	f.Add(base.Append(nil))
	c := base
	c.Canary, c.Producer, c.PartitionKey = true, "", "key"
	f.Add(c.Append(nil))
	b64 := base
	b64.SetBase64([]byte{0, 1, 0xff})
	f.Add(b64.Append(nil))
	f.Add([]byte(`{"id":"a","region":"r","receivedAt":"2024-02-30T07:08:09.123Z","partitionKey":"a","encoding":"json","data":1}`))
	f.Add([]byte(`{"id":"a","region":"r","receivedAt":"2024-02-29T23:59:60.123Z","partitionKey":"a","encoding":"json","data":[01]}`))
	f.Add([]byte(`{"id":"a","region":"r","receivedAt":"0000-01-01T00:00:00.000Z","partitionKey":"a","encoding":"json","data":"\ud800"}`))
	f.Add([]byte("{\"id\":\"\xff\",\"region\":\"r\",\"receivedAt\":\"2024-05-06T07:08:09.123Z\",\"partitionKey\":\"a\",\"encoding\":\"json\",\"data\":null}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ok := decodeAppended(b)
		if !ok {
			return
		}
		ferr := fast.validate(false)
		slow, serr := decodeJSON(b)
		switch {
		case (ferr == nil) != (serr == nil):
			t.Fatalf("%q: one-pass error %v, encoding/json error %v", b, ferr, serr)
		case ferr == nil && !reflect.DeepEqual(fast, slow):
			t.Fatalf("%q: one-pass %#v, encoding/json %#v", b, fast, slow)
		}
	})
}

// TestDecodeAppendedTakesAppend: what Append writes takes the one-pass path
// (else the processor's speed would silently fall back to encoding/json's).
func TestDecodeAppendedTakesAppend(t *testing.T) {
	at := time.Date(2024, 2, 29, 23, 59, 59, 999e6, time.UTC)
	for name, e := range map[string]Envelope{
		"json":      {ID: "01HZX", Producer: "team-a", Region: "us-east-1", ReceivedAt: at, PartitionKey: "01HZX", Encoding: EncodingJSON, Data: json.RawMessage(`{"a":[1,2.5e-3,"x\\ny é"],"b":{}}`)},
		"base64":    {ID: "order-1", Region: "eu-west-1", ReceivedAt: at, PartitionKey: "customer-7", Encoding: EncodingBase64, Data: json.RawMessage(`"AAE="`)},
		"canary":    {ID: "c", Region: "r", ReceivedAt: at, PartitionKey: "c", Encoding: EncodingJSON, Data: json.RawMessage(`{"probe":"health"}`), Canary: true},
		"zero":      {ID: "z", Region: "r", PartitionKey: "z", Encoding: EncodingJSON, Data: json.RawMessage(`0`)},
		"non-ascii": {ID: "zoë", Producer: "équipe", Region: "r", ReceivedAt: at, PartitionKey: "ключ", Encoding: EncodingJSON, Data: json.RawMessage(`"ü"`)},
	} {
		line := e.Append(nil)
		got, ok := decodeAppended(line)
		if !ok {
			t.Errorf("%s: %s not read in one pass", name, line)
			continue
		}
		if !reflect.DeepEqual(got, e) {
			t.Errorf("%s: got %#v, want %#v", name, got, e)
		}
	}
}
