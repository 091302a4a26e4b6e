package albhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

// Lambda's runtime calls Invoke when given a Func.
var _ lambda.Handler = Func(nil)

// runtimeDecode is how aws-lambda-go decodes the event for a handler that
// takes an events.ALBTargetGroupRequest.
func runtimeDecode(p []byte) (events.ALBTargetGroupRequest, error) {
	var ev events.ALBTargetGroupRequest
	err := json.NewDecoder(bytes.NewBuffer(p)).Decode(&ev)
	return ev, err
}

// checkDecode fails unless decodeEvent gives the runtime's result for p.
func checkDecode(t *testing.T, p []byte) {
	t.Helper()
	got, gotErr := decodeEvent(p)
	want, wantErr := runtimeDecode(p)
	switch {
	case (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error():
		t.Fatalf("decodeEvent(%.200q): got error %v, want %v", p, gotErr, wantErr)
	case gotErr == nil && !reflect.DeepEqual(got, want):
		t.Fatalf("decodeEvent(%.200q):\ngot  %+v\nwant %+v", p, got, want)
	}
}

// decodeCases are payloads around the fast path's edges. Each must decode
// as the runtime decodes it; fast says whether fastDecode takes it (the
// body's string then unquoted by unquote, or by encoding/json when unquote
// declines: \u escapes, invalid UTF-8).
var decodeCases = []struct {
	name    string
	payload string
	fast    bool
}{
	{"plain", `{"httpMethod":"POST","path":"/v1/records","headers":{"a":"b"},"isBase64Encoded":false,"body":"{\"records\":[]}"}`, true},
	{"body first", `{"body":"x","path":"/"}`, true},
	{"spaces", " \n{ \"body\" :\t\"x\" , \"path\" : \"/\" }\n", true},
	{"all escapes", `{"body":"\" \\ \/ \b \f \n \r \t end"}`, true},
	{"unicode text", `{"body":"héllo 日本 😀"}`, true},
	{"u escape", `{"body":"caf\u00e9 \ud83d\ude00"}`, true},
	{"lone surrogate escape", `{"body":"\ud800x"}`, true},
	{"invalid utf-8", "{\"body\":\"a\xffb\"}", true},
	{"invalid utf-8 after 8 bytes", "{\"body\":\"abcdefghij\xc3\"}", true},
	{"control character", "{\"body\":\"a\x01b\"}", false},
	{"bad escape", `{"body":"a\qb"}`, false},
	{"empty body", `{"body":""}`, true},
	{"null body", `{"body":null}`, false},
	{"number body", `{"body":5}`, false},
	{"no body", `{"path":"/"}`, false},
	{"two bodies", `{"body":"a","body":"b"}`, false},
	{"Body", `{"Body":"a"}`, false},
	{"body and BODY", `{"body":"a","BODY":"b"}`, false},
	{"escaped key", `{"b\u006fdy":"a"}`, false},
	{"non-ascii key", `{"bodſ":"a","body":"b"}`, false},
	{"kelvin key", `{"path":"/","\u212a":"x","body":"b"}`, false},
	{"nested body", `{"headers":{"body":"x"},"path":"/a"}`, false},
	{"nested body and body", `{"headers":{"body":"x"},"body":"y"}`, true},
	{"array value", `{"m":[1,{"body":"n"},"]"],"body":"y"}`, true},
	{"string with braces", `{"path":"}{\"","body":"y"}`, true},
	{"trailing data", `{"body":"y"} garbage`, true},
	{"trailing comma", `{"body":"y",}`, false},
	{"missing colon", `{"body" "y"}`, false},
	{"unterminated", `{"body":"y"`, false},
	{"unterminated string", `{"body":"y`, false},
	{"wrong type elsewhere", `{"body":"y","path":5}`, false},
	{"unknown field", `{"body":"y","extra":{"a":[1,2,{}]}}`, true},
	{"not an object", `["body","y"]`, false},
	{"null", `null`, false},
	{"empty", ``, false},
	{"whitespace", `   `, false},
	{"literal value", `{"isBase64Encoded":true,"body":"eyJhIjoxfQ=="}`, true},
	{"bad literal", `{"isBase64Encoded":tru,"body":"x"}`, false},
	{"value missing", `{"path":,"body":"x"}`, false},
	{"close in value", `{"path":}`, false},
	{"long", `{"body":"` + strings.Repeat(`ab\"cd\\`, 1000) + strings.Repeat("é", 100) + `"}`, true},
}

func TestDecodeEvent(t *testing.T) {
	for _, tt := range decodeCases {
		t.Run(tt.name, func(t *testing.T) {
			checkDecode(t, []byte(tt.payload))
			if _, ok := fastDecode([]byte(tt.payload)); ok != tt.fast {
				t.Errorf("fast path: got %v, want %v", ok, tt.fast)
			}
		})
	}
	for _, f := range []string{"alb-event.json", "alb-event-multi.json"} {
		t.Run(f, func(t *testing.T) {
			p, err := os.ReadFile("testdata/" + f)
			if err != nil {
				t.Fatal(err)
			}
			checkDecode(t, p)
			if _, ok := fastDecode(p); !ok {
				t.Errorf("fast path: got false, want true for an event as ALB sends it")
			}
		})
	}
}

// FuzzDecodeEvent checks decodeEvent against the runtime's decoding: the
// same event or the same error, for any payload.
func FuzzDecodeEvent(f *testing.F) {
	for _, tt := range decodeCases {
		f.Add([]byte(tt.payload))
	}
	for _, name := range []string{"alb-event.json", "alb-event-multi.json"} {
		p, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		checkDecode(t, p)
	})
}

// TestInvoke: Func.Invoke answers with the bytes and errors the runtime's
// reflection path gives for the same function.
func TestInvoke(t *testing.T) {
	fail := errors.New("handler failed")
	fn := func(_ context.Context, ev events.ALBTargetGroupRequest) (events.ALBTargetGroupResponse, error) {
		if ev.Path == "/fail" {
			return events.ALBTargetGroupResponse{}, fail
		}
		return events.ALBTargetGroupResponse{StatusCode: 200, StatusDescription: "200 OK",
			Headers: map[string]string{"Content-Type": "application/json", "X-Z": "<&>"},
			Body:    `{"path":"` + ev.Path + `","body":` + string(mustJSON(t, ev.Body)) + `,"html":"<a href=\"x\">&</a>","sep":"\u2028"}`}, nil
	}
	runtime := lambda.NewHandler(fn) // a plain function: the reflection path
	fast := Func(fn)
	var payloads []string
	for _, tt := range decodeCases {
		payloads = append(payloads, tt.payload)
	}
	payloads = append(payloads, `{"path":"/fail","body":"x"}`)
	for _, p := range payloads {
		want, wantErr := runtime.Invoke(context.Background(), []byte(p))
		want = bytes.Clone(want) // the runtime's buffer goes back to its pool
		got, gotErr := fast.Invoke(context.Background(), []byte(p))
		if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
			t.Errorf("Invoke(%.80q): got error %v, want %v", p, gotErr, wantErr)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("Invoke(%.80q):\ngot  %s\nwant %s", p, got, want)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUnquote puts each kind of byte at each place of the first words,
// where unquote switches between eight bytes at a time and one at a time:
// whatever it decodes must be what encoding/json decodes.
func TestUnquote(t *testing.T) {
	specials := []string{`\"`, `\\`, `\/`, `\n`, `\u0041`, "\x01", "\x1f", "\x7f", "\x80", "\xff", "é", "日", "😀", "\xe6\x97", " ", "~", "!", "#"}
	for _, sp := range specials {
		for pos := 0; pos <= 17; pos++ {
			for _, tail := range []int{0, 1, 7, 8, 9} {
				q := []byte(`"` + strings.Repeat("a", pos) + sp + strings.Repeat("b", tail) + `"`)
				var want string
				wantErr := json.Unmarshal(q, &want)
				got, ok := unquote(q)
				switch {
				case ok && wantErr != nil:
					t.Errorf("unquote(%q) = %q, want it declined (encoding/json: %v)", q, got, wantErr)
				case ok && got != want:
					t.Errorf("unquote(%q) = %q, want %q", q, got, want)
				case !ok && wantErr == nil && !strings.Contains(sp, `\u`) && utf8.ValidString(sp):
					t.Errorf("unquote(%q) declined, want %q", q, want)
				}
			}
		}
	}
}

// TestDecodeEventMutations decodes fixed pseudo-random edits of events
// (bytes replaced, inserted, removed, with JSON's own bytes more likely)
// and checks each against the runtime's decoding, as FuzzDecodeEvent does
// without a fuzzing run.
func TestDecodeEventMutations(t *testing.T) {
	var bases [][]byte
	for _, name := range []string{"alb-event.json", "alb-event-multi.json"} {
		p, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		bases = append(bases, p)
	}
	for _, tt := range decodeCases {
		bases = append(bases, []byte(tt.payload))
	}
	const alphabet = "{}[]\":,\\ \t\n0123456789-+.eEtrufalsnbody/\x00\x1f\x7f\xc3\xa9\xff"
	rng := rand.New(rand.NewPCG(1, 2))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for range n {
		p := bytes.Clone(bases[rng.IntN(len(bases))])
		for range 1 + rng.IntN(4) {
			i := rng.IntN(len(p) + 1)
			c := alphabet[rng.IntN(len(alphabet))]
			switch op := rng.IntN(3); {
			case op == 0 && i < len(p):
				p[i] = c
			case op == 1:
				p = append(p[:i], append([]byte{c}, p[i:]...)...)
			case i < len(p):
				p = append(p[:i], p[i+1:]...)
			}
		}
		checkDecode(t, p)
	}
}
