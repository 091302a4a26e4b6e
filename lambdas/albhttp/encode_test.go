package albhttp

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// runtimeEncode is how aws-lambda-go encodes a handler's response.
func runtimeEncode(t testing.TB, resp events.ALBTargetGroupResponse) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(resp); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// The fields appendResponse writes, with their JSON names: a new field in
// aws-lambda-go's type must be added there too.
func TestResponseFields(t *testing.T) {
	want := []string{"StatusCode statusCode", "StatusDescription statusDescription", "Headers headers",
		"MultiValueHeaders multiValueHeaders", "Body body,omitempty", "IsBase64Encoded isBase64Encoded"}
	var got []string
	typ := reflect.TypeFor[events.ALBTargetGroupResponse]()
	for i := range typ.NumField() {
		got = append(got, typ.Field(i).Name+" "+typ.Field(i).Tag.Get("json"))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events.ALBTargetGroupResponse fields: got %q, want %q", got, want)
	}
}

func TestAppendResponse(t *testing.T) {
	strs := []string{"", "plain", `"quoted" \ back\slash`, "ctl \x00\x01\b\f\n\r\t\x1f\x7f end", "<html>&amp;</html>",
		"é日本😀", "bad \xff\xfe utf-8 \xe6\x97", "\u2028\u2029", "12345678\"12345678\\", strings.Repeat(`{"id":"01KDZ8QF3E"},`, 50)}
	tests := []events.ALBTargetGroupResponse{
		{},
		{StatusCode: 202, StatusDescription: "202 Accepted", Headers: map[string]string{}, Body: `{"accepted":1}`},
		{StatusCode: -1, Headers: map[string]string{"b": "2", "a": "1", "Content-Type": "application/json", "": ""}},
		{StatusCode: 503, MultiValueHeaders: map[string][]string{"Set-Cookie": {"a=1", "b=2"}, "Empty": {}, "Nil": nil}, IsBase64Encoded: true, Body: "AAH/"},
	}
	for _, s := range strs {
		tests = append(tests, events.ALBTargetGroupResponse{StatusCode: 200, StatusDescription: s, Headers: map[string]string{s: s, "k" + s: s}, Body: s},
			events.ALBTargetGroupResponse{StatusDescription: s, MultiValueHeaders: map[string][]string{s: {s, s}}, Body: s})
	}
	for _, resp := range tests {
		if got, want := appendResponse(nil, resp), runtimeEncode(t, resp); !bytes.Equal(got, want) {
			t.Errorf("appendResponse(%+v):\ngot  %s\nwant %s", resp, got, want)
		}
	}
	// Pseudo-random bodies of the bytes that matter, at every offset of
	// the eight-byte words.
	const alphabet = "ab\"\\\x00\x1f\x7f\x80\xbf\xc3\xa9\xe2\x80\xa8\xff<&"
	rng := rand.New(rand.NewPCG(5, 6))
	for range 20000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		resp := events.ALBTargetGroupResponse{Body: string(b)}
		if got, want := appendResponse(nil, resp), runtimeEncode(t, resp); !bytes.Equal(got, want) {
			t.Fatalf("appendResponse(body %q):\ngot  %s\nwant %s", b, got, want)
		}
	}
}

// FuzzAppendResponse checks appendResponse against encoding/json.
func FuzzAppendResponse(f *testing.F) {
	f.Add(202, "202 Accepted", "Content-Type", "application/json", `{"ids":["a","b"]}`, false, false)
	f.Add(200, "\x00", "\u2028", "\xff", "12345678\"1234567\\", true, true)
	f.Fuzz(func(t *testing.T, status int, desc, key, value, body string, multi, b64 bool) {
		resp := events.ALBTargetGroupResponse{StatusCode: status, StatusDescription: desc, Body: body, IsBase64Encoded: b64}
		if multi {
			resp.MultiValueHeaders = map[string][]string{key: {value, body}, value: nil}
		} else {
			resp.Headers = map[string]string{key: value, desc: body}
		}
		if got, want := appendResponse(nil, resp), runtimeEncode(t, resp); !bytes.Equal(got, want) {
			t.Fatalf("appendResponse(%+v):\ngot  %s\nwant %s", resp, got, want)
		}
	})
}
