package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// tricky holds strings that JSON encoders get wrong: escapes, control
// characters, invalid UTF-8, the JavaScript line separators, non-ASCII.
var tricky = map[string]string{
	"empty":           "",
	"plain":           "abc-123_XYZ",
	"quotes":          `say "hi"`,
	"backslashes":     `C:\path\to\`,
	"escaped quote":   `\"`,
	"controls":        "\x00\x01\x07\x1f",
	"named controls":  "\b\f\n\r\t",
	"del":             "a\x7fb",
	"html":            "<a href='x'>&amp;</a>",
	"invalid byte":    "a\xffb",
	"invalid run":     "\xfe\xff\xc0\xc1",
	"truncated rune":  "x\xe2\x82",
	"lone surrogate":  "\xed\xa0\x80",
	"overlong slash":  "\xc0\xaf",
	"line separators": "a\u2028b\u2029c",
	"unicode":         "日本語 ünïcödé 🚀",
	"replacement":     "\uFFFD",
	"max rune":        "\U0010FFFF",
	"slash":           "a/b",
	"mixed":           "\"\\\n\x00\xff\u2028🚀<",
}

// plain is Envelope without its MarshalJSON: encoding/json's own view.
type plain struct {
	ID           string          `json:"id"`
	Producer     string          `json:"producer,omitempty"`
	Region       string          `json:"region"`
	ReceivedAt   time.Time       `json:"receivedAt"`
	PartitionKey string          `json:"partitionKey"`
	Encoding     string          `json:"encoding"`
	Data         json.RawMessage `json:"data"`
	Canary       bool            `json:"canary,omitempty"`
}

var t0 = time.Date(2024, 5, 6, 7, 8, 9, 123_000_000, time.UTC)

// semantic decodes a JSON object for comparison, with receivedAt as a time
// (encoding/json writes RFC3339Nano, Append always three decimals).
func semantic(t *testing.T, b []byte) (map[string]any, time.Time) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("unmarshal %q: %v", b, err)
	}
	ts, _ := m["receivedAt"].(string)
	at, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		t.Fatalf("receivedAt %q: %v", ts, err)
	}
	delete(m, "receivedAt")
	return m, at
}

func TestAppendMatchesEncodingJSON(t *testing.T) {
	for name, s := range tricky {
		t.Run(name, func(t *testing.T) {
			e := Envelope{ID: s, Producer: s, Region: s, ReceivedAt: t0, PartitionKey: s, Encoding: s,
				Data: json.RawMessage(`{"k":"v"}`), Canary: len(s)%2 == 0}
			got := e.Append(nil)
			if !json.Valid(got) {
				t.Fatalf("Append gave invalid JSON %q", got)
			}
			if !utf8.Valid(got) {
				t.Errorf("Append gave invalid UTF-8 %q", got)
			}
			if i := bytes.IndexAny(got, "\n\r"); i >= 0 {
				t.Errorf("Append gave a line break at %d in %q", i, got)
			}
			want, err := json.Marshal(plain(e))
			if err != nil {
				t.Fatal(err)
			}
			gm, gt := semantic(t, got)
			wm, wt := semantic(t, want)
			if !reflect.DeepEqual(gm, wm) {
				t.Errorf("got %v, want %v", gm, wm)
			}
			if !gt.Equal(wt) {
				t.Errorf("receivedAt: got %v, want %v", gt, wt)
			}
		})
	}
}

func TestAppendExact(t *testing.T) {
	tests := []struct {
		name string
		e    Envelope
		want string
	}{
		{"json", Envelope{ID: "01J", Region: "eu-west-1", ReceivedAt: t0, PartitionKey: "pk",
			Encoding: EncodingJSON, Data: json.RawMessage(`{"a":1}`)},
			`{"id":"01J","region":"eu-west-1","receivedAt":"2024-05-06T07:08:09.123Z","partitionKey":"pk","encoding":"json","data":{"a":1}}`},
		{"canary", Envelope{ID: "c", Region: "r", ReceivedAt: t0, PartitionKey: "c",
			Encoding: EncodingJSON, Data: json.RawMessage(`true`), Canary: true},
			`{"id":"c","region":"r","receivedAt":"2024-05-06T07:08:09.123Z","partitionKey":"c","encoding":"json","data":true,"canary":true}`},
		{"producer", Envelope{ID: "order-1", Producer: "team-a", Region: "r", ReceivedAt: t0, PartitionKey: "order-1",
			Encoding: EncodingJSON, Data: json.RawMessage(`1`)},
			`{"id":"order-1","producer":"team-a","region":"r","receivedAt":"2024-05-06T07:08:09.123Z","partitionKey":"order-1","encoding":"json","data":1}`},
		{"zone and nanoseconds", Envelope{ID: "i", Region: "r",
			ReceivedAt:   time.Date(2024, 1, 1, 1, 0, 0, 999_999_999, time.FixedZone("x", 3600)),
			PartitionKey: "p", Encoding: EncodingJSON, Data: json.RawMessage(`1`)},
			`{"id":"i","region":"r","receivedAt":"2024-01-01T00:00:00.999Z","partitionKey":"p","encoding":"json","data":1}`},
		{"escapes", Envelope{ID: "a\"\\\n\x01\u2028", Region: "\xff", ReceivedAt: t0, PartitionKey: "<&>",
			Encoding: EncodingJSON, Data: json.RawMessage(`"x"`)},
			`{"id":"a\"\\\n\u0001\u2028","region":"\ufffd","receivedAt":"2024-05-06T07:08:09.123Z","partitionKey":"<&>","encoding":"json","data":"x"}`},
		{"data with line breaks stays one line", Envelope{ID: "i", Region: "r", ReceivedAt: t0, PartitionKey: "p",
			Encoding: EncodingJSON, Data: json.RawMessage("{\r\n \"a\": [1,\n2]\n}")},
			`{"id":"i","region":"r","receivedAt":"2024-05-06T07:08:09.123Z","partitionKey":"p","encoding":"json","data":{ "a": [1,2]}}`},
		{"empty data is null", Envelope{ID: "i", Region: "r", ReceivedAt: t0, PartitionKey: "p", Encoding: EncodingJSON},
			`{"id":"i","region":"r","receivedAt":"2024-05-06T07:08:09.123Z","partitionKey":"p","encoding":"json","data":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(tt.e.Append([]byte("prefix:")))
			if got != "prefix:"+tt.want {
				t.Errorf("got  %s\nwant prefix:%s", got, tt.want)
			}
		})
	}
}

// sameEnvelope compares envelopes field by field (times with Equal).
func sameEnvelope(t *testing.T, got, want Envelope) {
	t.Helper()
	if got.ID != want.ID || got.Producer != want.Producer || got.Region != want.Region || got.PartitionKey != want.PartitionKey ||
		got.Encoding != want.Encoding || got.Canary != want.Canary {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if !got.ReceivedAt.Equal(want.ReceivedAt) {
		t.Errorf("receivedAt: got %v, want %v", got.ReceivedAt, want.ReceivedAt)
	}
	if got.ReceivedAt.Location() != time.UTC {
		t.Errorf("receivedAt location: got %v, want UTC", got.ReceivedAt.Location())
	}
	if !bytes.Equal(got.Data, want.Data) {
		t.Errorf("data: got %s, want %s", got.Data, want.Data)
	}
}

func TestDecodeAppendRoundTrip(t *testing.T) {
	var tests []struct {
		name string
		in   Envelope
		want Envelope // what Decode(Append(in)) gives
	}
	add := func(name string, in, want Envelope) {
		tests = append(tests, struct {
			name     string
			in, want Envelope
		}{name, in, want})
	}
	base := Envelope{ID: "01HZX", Region: "us-east-1", ReceivedAt: t0, PartitionKey: "01HZX",
		Encoding: EncodingJSON, Data: json.RawMessage(`{"n":1,"s":"a b","u":"\u2028"}`)}
	add("json", base, base)
	c := base
	c.Canary = true
	add("canary", c, c)
	pr := base
	pr.Producer = "team-a"
	add("producer", pr, pr)
	b := base
	b.SetBase64([]byte{0, 1, 2, 0xff, '\n'})
	add("base64", b, b)
	for name, s := range tricky {
		if !ValidID(s) || !utf8.ValidString(s) {
			continue
		}
		e := base
		e.ID, e.Producer, e.PartitionKey, e.Region = s, s, s, s
		e.Data, _ = json.Marshal(s)
		add("tricky "+name, e, e)
	}
	// Whatever the region holds, it comes back valid UTF-8.
	r := base
	r.Region = "a\xffb"
	rw := base
	rw.Region = "a\uFFFDb"
	add("invalid region", r, rw)
	// Append truncates to milliseconds in UTC; Decode gives that form.
	ns := base
	ns.ReceivedAt = time.Date(2024, 5, 6, 9, 8, 9, 123_987_654, time.FixedZone("CEST", 2*3600))
	add("nanoseconds and zone", ns, base)
	z := base
	z.ReceivedAt = time.Time{}
	add("zero time", z, z)
	// Data whose line breaks Append drops comes back compact.
	nl := base
	nl.Data = json.RawMessage("[1,\n2,\r\n{\"a\": \"b c\"}]")
	nlw := base
	nlw.Data = json.RawMessage(`[1,2,{"a":"b c"}]`)
	add("data with line breaks", nl, nlw)

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.in.Append(nil))
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			sameEnvelope(t, got, tt.want)
		})
	}
}

func TestDecodeNormalizes(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantData string
		wantAt   time.Time
	}{
		{"pretty data", `{"id":"a","partitionKey":"a","encoding":"json","receivedAt":"2024-05-06T07:08:09.123Z","data": { "a" : [ 1 , "x y" ] } }`,
			`{"a":[1,"x y"]}`, t0},
		{"data with newlines", "{\"id\":\"a\",\"partitionKey\":\"a\",\"encoding\":\"json\",\"receivedAt\":\"2024-05-06T07:08:09.123Z\",\"data\":{\n\t\"a\":\r\n1}}",
			`{"a":1}`, t0},
		{"escaped whitespace in strings kept", `{"id":"a","partitionKey":"a","encoding":"json","receivedAt":"2024-05-06T07:08:09.123Z","data":"a\"\\ \n"}`,
			`"a\"\\ \n"`, t0},
		{"offset and nanoseconds", `{"id":"a","partitionKey":"a","encoding":"json","receivedAt":"2024-05-06T09:08:09.123999999+02:00","data":1}`,
			`1`, t0},
		{"no fraction", `{"id":"a","partitionKey":"a","encoding":"json","receivedAt":"2024-05-06T07:08:09Z","data":1}`,
			`1`, t0.Truncate(time.Second)},
		{"missing time is zero", `{"id":"a","partitionKey":"a","encoding":"json","data":1}`,
			`1`, time.Time{}},
		{"unknown fields ignored", `{"id":"a","partitionKey":"a","encoding":"json","receivedAt":"2024-05-06T07:08:09.123Z","data":1,"extra":[1]}`,
			`1`, t0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Decode([]byte(tt.in))
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if string(e.Data) != tt.wantData {
				t.Errorf("data: got %s, want %s", e.Data, tt.wantData)
			}
			if !e.ReceivedAt.Equal(tt.wantAt) || e.ReceivedAt.Location() != time.UTC {
				t.Errorf("receivedAt: got %v, want %v", e.ReceivedAt, tt.wantAt)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	const ok = `"id":"a","partitionKey":"a","receivedAt":"2024-05-06T07:08:09.123Z"`
	tests := []struct {
		name string
		in   string
		want error // nil: any error
	}{
		{"empty", ``, nil},
		{"not json", `hello`, nil},
		{"array", `[1]`, nil},
		{"truncated", `{"id":"a"`, nil},
		{"id wrong type", `{"id":1,"partitionKey":"a","encoding":"json","data":1}`, nil},
		{"bad time", `{` + `"id":"a","partitionKey":"a","receivedAt":"yesterday","encoding":"json","data":1}`, nil},
		{"two values", `{` + ok + `,"encoding":"json","data":1} {}`, nil},
		{"missing id", `{"partitionKey":"a","encoding":"json","data":1}`, ErrID},
		{"empty id", `{"id":"","partitionKey":"a","encoding":"json","data":1}`, ErrID},
		{"control in id", `{"id":"a\u0000","partitionKey":"a","encoding":"json","data":1}`, ErrID},
		{"control in producer", `{"id":"a","producer":"t\u0007","partitionKey":"a","encoding":"json","data":1}`, ErrProducer},
		{"producer wrong type", `{"id":"a","producer":7,"partitionKey":"a","encoding":"json","data":1}`, nil},
		{"missing partition key", `{"id":"a","encoding":"json","data":1}`, ErrPartitionKey},
		{"long partition key", `{"id":"a","partitionKey":"` + strings.Repeat("k", 257) + `","encoding":"json","data":1}`, ErrPartitionKey},
		{"missing encoding", `{` + ok + `,"data":1}`, ErrEncoding},
		{"unknown encoding", `{` + ok + `,"encoding":"xml","data":1}`, ErrEncoding},
		{"missing data", `{` + ok + `,"encoding":"json"}`, ErrData},
		{"invalid utf-8 in data", "{" + ok + ",\"encoding\":\"json\",\"data\":\"\xff\"}", ErrData},
		{"base64 data not a string", `{` + ok + `,"encoding":"base64","data":1}`, ErrData},
		{"base64 data not base64", `{` + ok + `,"encoding":"base64","data":"!!"}`, ErrData},
		{"base64 bad padding", `{` + ok + `,"encoding":"base64","data":"QQ="}`, ErrData},
		{"year past 9999 in UTC", `{"id":"a","partitionKey":"a","receivedAt":"9999-12-31T23:30:00-01:00","encoding":"json","data":1}`, errReceivedAt},
		{"year before 0000 in UTC", `{"id":"a","partitionKey":"a","receivedAt":"0000-01-01T00:30:00+01:00","encoding":"json","data":1}`, errReceivedAt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Decode([]byte(tt.in))
			if err == nil {
				t.Fatalf("got %+v, nil error; want an error", e)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("got error %v, want %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "decode envelope: ") {
				t.Errorf("got error %q, want it to start with %q", err, "decode envelope: ")
			}
			if !reflect.DeepEqual(e, Envelope{}) {
				t.Errorf("got envelope %+v with the error, want the zero envelope", e)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	valid := Envelope{ID: "id", Region: "r", ReceivedAt: t0, PartitionKey: "pk",
		Encoding: EncodingJSON, Data: json.RawMessage(`{"a":1}`)}
	tests := []struct {
		name   string
		change func(*Envelope)
		want   error
	}{
		{"valid", func(*Envelope) {}, nil},
		{"empty region allowed", func(e *Envelope) { e.Region = "" }, nil},
		{"zero time allowed", func(e *Envelope) { e.ReceivedAt = time.Time{} }, nil},
		{"year 9999", func(e *Envelope) { e.ReceivedAt = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC) }, nil},
		{"year 10000", func(e *Envelope) { e.ReceivedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, errReceivedAt},
		{"year -1", func(e *Envelope) { e.ReceivedAt = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) }, errReceivedAt},
		{"empty id", func(e *Envelope) { e.ID = "" }, ErrID},
		{"id 257 bytes", func(e *Envelope) { e.ID = strings.Repeat("a", 257) }, ErrID},
		{"id newline", func(e *Envelope) { e.ID = "a\nb" }, ErrID},
		{"id invalid utf-8", func(e *Envelope) { e.ID = "\xff" }, ErrID},
		{"producer set", func(e *Envelope) { e.Producer = "team-a" }, nil},
		{"producer 257 bytes", func(e *Envelope) { e.Producer = strings.Repeat("p", 257) }, ErrProducer},
		{"producer newline", func(e *Envelope) { e.Producer = "a\nb" }, ErrProducer},
		{"producer invalid utf-8", func(e *Envelope) { e.Producer = "\xff" }, ErrProducer},
		{"empty partition key", func(e *Envelope) { e.PartitionKey = "" }, ErrPartitionKey},
		{"partition key 257 runes", func(e *Envelope) { e.PartitionKey = strings.Repeat("é", 257) }, ErrPartitionKey},
		{"partition key invalid utf-8", func(e *Envelope) { e.PartitionKey = "a\xc3" }, ErrPartitionKey},
		{"empty encoding", func(e *Envelope) { e.Encoding = "" }, ErrEncoding},
		{"encoding case", func(e *Envelope) { e.Encoding = "JSON" }, ErrEncoding},
		{"nil data", func(e *Envelope) { e.Data = nil }, ErrData},
		{"invalid json", func(e *Envelope) { e.Data = json.RawMessage(`{"a":}`) }, ErrData},
		{"two json values", func(e *Envelope) { e.Data = json.RawMessage(`1 2`) }, ErrData},
		{"invalid utf-8 in json string", func(e *Envelope) { e.Data = json.RawMessage("\"a\xffb\"") }, ErrData},
		{"json null allowed", func(e *Envelope) { e.Data = json.RawMessage(`null`) }, nil},
		{"json with spaces allowed", func(e *Envelope) { e.Data = json.RawMessage(` [ 1 ] `) }, nil},
		{"base64 valid", func(e *Envelope) { e.SetBase64([]byte("hi")) }, nil},
		{"base64 empty", func(e *Envelope) { e.Encoding, e.Data = EncodingBase64, json.RawMessage(`""`) }, nil},
		{"base64 not a string", func(e *Envelope) { e.Encoding, e.Data = EncodingBase64, json.RawMessage(`{"a":1}`) }, ErrData},
		{"base64 url alphabet", func(e *Envelope) { e.Encoding, e.Data = EncodingBase64, json.RawMessage(`"-_-_"`) }, ErrData},
		{"base64 nil data", func(e *Envelope) { e.Encoding, e.Data = EncodingBase64, nil }, ErrData},
		// ID is checked first, then partition key, then encoding, then data.
		{"first error wins", func(e *Envelope) { e.ID, e.PartitionKey, e.Encoding = "", "", "" }, ErrID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := valid
			tt.change(&e)
			if err := e.Validate(); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDuplicate(t *testing.T) {
	base := Envelope{ID: "order-1", Producer: "team-a", Region: "us-east-1", ReceivedAt: t0, PartitionKey: "order-1",
		Encoding: EncodingJSON, Data: json.RawMessage(`{"n":1}`)}
	tests := []struct {
		name   string
		change func(*Envelope)
		want   bool
	}{
		{"same record", func(*Envelope) {}, true},
		// A producer's retry: another receive time, region and partition key.
		{"retried elsewhere", func(e *Envelope) {
			e.Region, e.ReceivedAt, e.PartitionKey = "us-west-2", t0.Add(time.Hour), "other"
		}, true},
		{"another producer's id", func(e *Envelope) { e.Producer = "team-b" }, false},
		{"no producer", func(e *Envelope) { e.Producer = "" }, false},
		{"another id", func(e *Envelope) { e.ID = "order-2" }, false},
		{"same id, other data", func(e *Envelope) { e.Data = json.RawMessage(`{"n":2}`) }, false},
		{"same bytes, other encoding", func(e *Envelope) { e.Encoding = EncodingBase64 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			tt.change(&o)
			if got := base.Duplicate(&o); got != tt.want {
				t.Errorf("Duplicate: got %v, want %v", got, tt.want)
			}
			if got := o.Duplicate(&base); got != tt.want {
				t.Errorf("Duplicate, swapped: got %v, want %v", got, tt.want)
			}
		})
	}
	if got, want := base.Identity(), (Identity{Producer: "team-a", ID: "order-1"}); got != want {
		t.Errorf("Identity: got %+v, want %+v", got, want)
	}
}

func TestValidID(t *testing.T) {
	euro := "€" // 3 bytes
	tests := []struct {
		name string
		id   string
		want bool
	}{
		{"empty", "", false},
		{"one byte", "a", true},
		{"256 bytes", strings.Repeat("a", 256), true},
		{"257 bytes", strings.Repeat("a", 257), false},
		{"256 bytes multibyte", strings.Repeat(euro, 85) + "a", true},
		{"258 bytes in 86 runes", strings.Repeat(euro, 86), false},
		{"space", "a b", true},
		{"unicode", "日本語-🚀", true},
		{"line separator", "a\u2028b", true},
		{"nul", "a\x00", false},
		{"tab", "a\tb", false},
		{"unit separator", "\x1f", false},
		{"del", "a\x7f", false},
		{"c1 control", "a\u0085b", false},
		{"c1 csi", "\u009b", false},
		{"invalid utf-8", "a\xff", false},
		{"lone surrogate bytes", "\xed\xa0\x80", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidID(tt.id); got != tt.want {
				t.Errorf("ValidID(%q) (%d bytes): got %v, want %v", tt.id, len(tt.id), got, tt.want)
			}
		})
	}
}

func TestValidPartitionKey(t *testing.T) {
	tests := []struct {
		name string
		k    string
		want bool
	}{
		{"empty", "", false},
		{"one", "a", true},
		{"256 ascii", strings.Repeat("a", 256), true},
		{"257 ascii", strings.Repeat("a", 257), false},
		{"256 runes of 3 bytes", strings.Repeat("€", 256), true},
		{"257 runes of 3 bytes", strings.Repeat("€", 257), false},
		{"256 runes of 4 bytes", strings.Repeat("🚀", 256), true},
		{"257 runes of 4 bytes", strings.Repeat("🚀", 257), false},
		{"controls allowed", "\x00\n", true},
		{"invalid utf-8", "a\xff", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidPartitionKey(tt.k); got != tt.want {
				t.Errorf("ValidPartitionKey (%d runes, %d bytes): got %v, want %v",
					utf8.RuneCountInString(tt.k), len(tt.k), got, tt.want)
			}
		})
	}
}

func TestSetBase64Payload(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	tests := []struct {
		name string
		in   []byte
		data string
	}{
		{"nil", nil, `""`},
		{"empty", []byte{}, `""`},
		{"one byte", []byte{0xff}, `"/w=="`},
		{"text", []byte("hello"), `"aGVsbG8="`},
		{"all bytes", all, ""},
		{"large", bytes.Repeat([]byte{0xfe, 0, '"'}, 100_000), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := Envelope{ID: "i", PartitionKey: "p", Encoding: EncodingJSON, Data: json.RawMessage(`1`)}
			e.SetBase64(tt.in)
			if e.Encoding != EncodingBase64 {
				t.Errorf("encoding: got %q, want %q", e.Encoding, EncodingBase64)
			}
			if tt.data != "" && string(e.Data) != tt.data {
				t.Errorf("data: got %s, want %s", e.Data, tt.data)
			}
			if err := e.Validate(); err != nil {
				t.Errorf("Validate: got %v, want nil", err)
			}
			got, err := e.Payload()
			if err != nil {
				t.Fatalf("Payload: got error %v, want nil", err)
			}
			if !bytes.Equal(got, tt.in) {
				t.Errorf("Payload: got %d bytes %.20q, want %d bytes %.20q", len(got), got, len(tt.in), tt.in)
			}
			// And through the line form.
			d, err := Decode(e.Append(nil))
			if err != nil {
				t.Fatalf("Decode: got error %v, want nil", err)
			}
			if got, _ := d.Payload(); !bytes.Equal(got, tt.in) {
				t.Errorf("Payload after Decode: got %d bytes, want %d", len(got), len(tt.in))
			}
		})
	}
}

func TestPayload(t *testing.T) {
	tests := []struct {
		name    string
		e       Envelope
		want    string
		wantErr error // the error to match, if any
		anyErr  bool  // whether an error is expected
	}{
		{"json is returned as is", Envelope{Encoding: EncodingJSON, Data: json.RawMessage(`{"a": 1}`)}, `{"a": 1}`, nil, false},
		{"base64 with escapes", Envelope{Encoding: EncodingBase64, Data: json.RawMessage(`"aGk\u003d"`)}, "hi", nil, false},
		{"base64 not a string", Envelope{Encoding: EncodingBase64, Data: json.RawMessage(`1`)}, "", nil, true},
		{"base64 invalid", Envelope{Encoding: EncodingBase64, Data: json.RawMessage(`"@@"`)}, "", nil, true},
		{"unknown encoding", Envelope{Encoding: "gzip", Data: json.RawMessage(`1`)}, "", ErrEncoding, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.e.Payload()
			if (err != nil) != tt.anyErr || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("got error %v, want error %v (any: %v)", err, tt.wantErr, tt.anyErr)
			}
			if err == nil && string(got) != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMarshalJSON(t *testing.T) {
	e := Envelope{ID: "01J", Region: "eu-west-1", ReceivedAt: t0, PartitionKey: "pk",
		Encoding: EncodingJSON, Data: json.RawMessage(`{"a":1}`)}
	pretty := e
	pretty.Data = json.RawMessage("{\n  \"a\": 1\n}")
	html := e
	html.ID = "<&>"
	tests := []struct {
		name    string
		v       any
		want    string
		wantErr error
	}{
		{"value", e, string(e.Append(nil)), nil},
		{"pointer", &e, string(e.Append(nil)), nil},
		{"pretty data is compacted", pretty, string(e.Append(nil)), nil},
		{"in a slice", []Envelope{e, e}, "[" + string(e.Append(nil)) + "," + string(e.Append(nil)) + "]", nil},
		// encoding/json escapes HTML in a Marshaler's output; same value.
		{"html escaped", html, strings.Replace(string(html.Append(nil)), "<&>", `\u003c\u0026\u003e`, 1), nil},
		{"empty data", Envelope{ID: "a", PartitionKey: "a", Encoding: EncodingJSON}, "", ErrData},
		{"invalid data", Envelope{ID: "a", PartitionKey: "a", Encoding: EncodingJSON, Data: json.RawMessage(`{`)}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.v)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("got %s, want an error", got)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("got error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	// MarshalJSON must not change the caller's data.
	before := string(pretty.Data)
	if _, err := pretty.MarshalJSON(); err != nil {
		t.Fatal(err)
	}
	if string(pretty.Data) != before {
		t.Errorf("data after MarshalJSON: got %q, want %q", pretty.Data, before)
	}
}

func TestHasSpace(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{`{"a":1}`, false},
		{`"a b"`, false},
		{`"a\" b"`, false},
		{`"a\\" `, true},
		{`"\\\"" `, true},
		{`[1, 2]`, true},
		{"[1,\n2]", true},
		{"\t1", true},
		{"1\r", true},
		{`""`, false},
	}
	for _, tt := range tests {
		if got := hasSpace([]byte(tt.in)); got != tt.want {
			t.Errorf("hasSpace(%q): got %v, want %v", tt.in, got, tt.want)
		}
	}
}
