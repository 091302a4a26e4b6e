package replay_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/twinstream/twinstream/lambdas/record"
	"github.com/twinstream/twinstream/lambdas/replay/replay"
)

// bigLine returns an envelope line with n bytes of base64 data.
func bigLine(t testing.TB, id string, n int) []byte {
	t.Helper()
	e := record.Envelope{ID: id, Region: "us-east-1", ReceivedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), PartitionKey: id}
	e.SetBase64(bytes.Repeat([]byte{0xfe}, n))
	return e.Append(nil)
}

func TestReadEntries(t *testing.T) {
	small := envelopes(t, "s", 2)
	justFits := bigLine(t, "fits", 700_000) // 933,336 bytes of base64: an envelope under 1 MiB
	tooBig := bigLine(t, "big", 1_200_000)  // a 1.6 MB line: decodable, but over the Kinesis limit
	over := bigLine(t, "x", 800_000)        // 1,066,668 bytes of base64: just over 1 MiB
	tests := []struct {
		name     string
		in       []byte
		max      int64
		wantIDs  []string
		wantLine int // >0: a *BadObjectError at this line
		wantErr  string
	}{
		{name: "ndjson with trailing newline", in: small, wantIDs: []string{"s-0", "s-1"}},
		{name: "no trailing newline", in: bytes.TrimSuffix(small, []byte("\n")), wantIDs: []string{"s-0", "s-1"}},
		{name: "blank lines and CRLF", in: []byte("\r\n\n  \n" + strings.ReplaceAll(string(small), "\n", "\r\n\r\n")), wantIDs: []string{"s-0", "s-1"}},
		{name: "empty", in: nil},
		{name: "only blank lines", in: []byte("\n\n\r\n")},
		{name: "long line under the record limit", in: append(append(bytes.Clone(small), justFits...), '\n'), wantIDs: []string{"s-0", "s-1", "fits"}},
		{name: "1.6 MB line over the record limit", in: append(append(bytes.Clone(small), tooBig...), '\n'), wantLine: 3, wantErr: "over the Kinesis record limit"},
		{name: "line just over the limit", in: over, wantLine: 1, wantErr: "over the Kinesis record limit"},
		{name: "invalid JSON", in: append(bytes.Clone(small), "{\"id\":\n"...), wantLine: 3, wantErr: "decode envelope"},
		{name: "JSON that is not an envelope", in: []byte("[1,2]\n"), wantLine: 1, wantErr: "decode envelope"},
		{name: "bad encoding", in: []byte(`{"id":"a","region":"r","receivedAt":"2026-01-02T03:04:05.000Z","partitionKey":"p","encoding":"gzip","data":1}`), wantLine: 1, wantErr: "encoding must be"},
		{name: "object over the byte limit", in: small, max: int64(len(small) - 1), wantErr: "larger than"},
		{name: "object at the byte limit", in: small, max: int64(len(small)), wantIDs: []string{"s-0", "s-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			max := tt.max
			if max == 0 {
				max = replay.DefaultMaxObjectBytes
			}
			entries, err := replay.ReadEntries(bytes.NewReader(tt.in), max)
			if tt.wantErr != "" {
				var bad *replay.BadObjectError
				if !errors.As(err, &bad) || bad.Line != tt.wantLine || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v (%d entries), want a BadObjectError at line %d containing %q", err, len(entries), tt.wantLine, tt.wantErr)
				}
				if entries != nil {
					t.Errorf("got %d entries with the error, want none", len(entries))
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v, want no error", err)
			}
			var ids []string
			for _, e := range entries {
				env, err := record.Decode(e.Data)
				if err != nil {
					t.Fatalf("entry is not an envelope: %v", err)
				}
				if e.PartitionKey != env.PartitionKey {
					t.Errorf("got partition key %q, want %q", e.PartitionKey, env.PartitionKey)
				}
				if !bytes.Contains(tt.in, e.Data) || bytes.ContainsAny(e.Data, "\r\n") {
					t.Errorf("entry %s: got %d bytes that are not a stored line", env.ID, len(e.Data))
				}
				ids = append(ids, env.ID)
			}
			if !slices.Equal(ids, tt.wantIDs) {
				t.Errorf("got ids %q, want %q", ids, tt.wantIDs)
			}
		})
	}
}

// TestReadEntriesLimit checks the Kinesis limit at its edge: line plus
// partition key of exactly 1 MiB is fine, one byte more is not.
func TestReadEntriesLimit(t *testing.T) {
	for _, tt := range []struct {
		extra int
		ok    bool
	}{{0, true}, {1, false}} {
		t.Run(fmt.Sprint("limit+", tt.extra), func(t *testing.T) {
			// {"id":"k",...,"data":"<s>"} with pk "k": pad s (a JSON value) to size.
			head := `{"id":"k","region":"r","receivedAt":"2026-01-02T03:04:05.000Z","partitionKey":"k","encoding":"json","data":"`
			n := record.MaxKinesisRecord + tt.extra - len("k") - len(head) - len(`"}`)
			line := head + strings.Repeat("a", n) + `"}`
			entries, err := replay.ReadEntries(strings.NewReader(line+"\n"), replay.DefaultMaxObjectBytes)
			if tt.ok && (err != nil || len(entries) != 1) {
				t.Errorf("got %v, %d entries, want 1 entry", err, len(entries))
			}
			if !tt.ok && err == nil {
				t.Errorf("got no error, want the record limit error")
			}
		})
	}
}

// errReader fails after its data, as a broken connection would.
type errReader struct{ r io.Reader }

func (e errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		return n, errors.New("connection reset by peer")
	}
	return n, err
}

func TestReadEntriesBrokenBody(t *testing.T) {
	_, err := replay.ReadEntries(errReader{bytes.NewReader(envelopes(t, "a", 3))}, replay.DefaultMaxObjectBytes)
	var bad *replay.BadObjectError
	if err == nil || errors.As(err, &bad) || !strings.Contains(err.Error(), "connection reset") {
		t.Errorf("got %v, want a retryable read error (not a BadObjectError)", err)
	}
}

func TestParseEvent(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    replay.Event
		wantErr string
	}{
		{
			name: "object created",
			body: created(t, "spill/region%3Dus-east-1/a.ndjson"),
			want: replay.Event{Objects: []replay.Object{{EventName: "ObjectCreated:Put", Bucket: bucket, Key: "spill/region=us-east-1/a.ndjson", Size: 100, Time: eventTime}}},
		},
		{
			name: "key with plus, space, percent and unicode",
			body: created(t, "spill/a+b%2Bc%25d%20%E6%97%A5.ndjson"),
			want: replay.Event{Objects: []replay.Object{{EventName: "ObjectCreated:Put", Bucket: bucket, Key: "spill/a b+c%d 日.ndjson", Size: 100, Time: eventTime}}},
		},
		{
			name: "two records",
			body: created(t, "spill/a", "spill/b"),
			want: replay.Event{Objects: []replay.Object{
				{EventName: "ObjectCreated:Put", Bucket: bucket, Key: "spill/a", Size: 100, Time: eventTime},
				{EventName: "ObjectCreated:Put", Bucket: bucket, Key: "spill/b", Size: 100, Time: eventTime},
			}},
		},
		{
			name: "no event time",
			body: `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"spill/a","size":3}}}]}`,
			want: replay.Event{Objects: []replay.Object{{EventName: "ObjectCreated:Put", Bucket: "b", Key: "spill/a", Size: 3}}},
		},
		{name: "test event", body: `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-01-02T03:04:05.000Z","Bucket":"b"}`, want: replay.Event{Test: true}},
		{name: "other event without records", body: `{"Event":"s3:Other"}`, wantErr: "no Records"},
		{name: "not JSON", body: "not json", wantErr: "parse s3 event"},
		{name: "JSON null", body: "null", wantErr: "no Records"},
		{name: "JSON array", body: "[]", wantErr: "parse s3 event"},
		{name: "SNS envelope", body: `{"Type":"Notification","Message":"{}"}`, wantErr: "no Records"},
		{name: "other source", body: `{"Records":[{"eventSource":"aws:sqs"}]}`, wantErr: "eventSource"},
		{name: "no bucket", body: `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"object":{"key":"k"}}}]}`, wantErr: "required"},
		{name: "bad escape", body: created(t, "spill/%G0"), wantErr: "object key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := replay.ParseEvent([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %+v, %v, want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v, want no error", err)
			}
			if got.Test != tt.want.Test || !slices.Equal(got.Objects, tt.want.Objects) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestGone(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"NoSuchKey type", &types.NoSuchKey{}, true},
		{"NoSuchKey wrapped", fmt.Errorf("get: %w", apiErr("NoSuchKey", 404)), true},
		{"NotFound", apiErr("NotFound", 404), true},
		{"404 without code", apiErr("", 404), true},
		{"NoSuchBucket", apiErr("NoSuchBucket", 404), false},
		{"NoSuchBucket type", &types.NoSuchBucket{}, false},
		{"403", apiErr("AccessDenied", 403), false},
		{"500", apiErr("InternalError", 500), false},
		{"plain", errors.New("timeout"), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := replay.Gone(tt.err); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func FuzzParseEvent(f *testing.F) {
	f.Add([]byte(`{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"spill/a+b%20c","size":1}}}]}`))
	f.Add([]byte(`{"Event":"s3:TestEvent"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := replay.ParseEvent(body)
		if err != nil {
			return
		}
		if ev.Test == (len(ev.Objects) > 0) {
			t.Fatalf("got test=%v with %d objects, want exactly one of them", ev.Test, len(ev.Objects))
		}
		for _, o := range ev.Objects {
			if o.Bucket == "" || o.Key == "" || o.EventName == "" {
				t.Fatalf("got object %+v with an empty field", o)
			}
		}
	})
}

func FuzzReadEntries(f *testing.F) {
	f.Add([]byte(`{"id":"a","region":"r","receivedAt":"2026-01-02T03:04:05.000Z","partitionKey":"p","encoding":"json","data":{"x":1}}` + "\n\r\n"))
	f.Add([]byte(`{"id":"b","region":"r","receivedAt":"2026-01-02T03:04:05.000Z","partitionKey":"p","encoding":"base64","data":"` + base64.StdEncoding.EncodeToString([]byte{0, 1}) + `"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		entries, err := replay.ReadEntries(bytes.NewReader(in), 1<<20)
		if err != nil {
			if entries != nil {
				t.Fatalf("got %d entries with error %v, want none", len(entries), err)
			}
			return
		}
		for _, e := range entries {
			env, err := record.Decode(e.Data)
			if err != nil || env.PartitionKey != e.PartitionKey {
				t.Fatalf("entry %q: got %v / key %q, want a valid envelope with key %q", e.Data, err, e.PartitionKey, env.PartitionKey)
			}
		}
	})
}

func BenchmarkReadEntries(b *testing.B) {
	var obj []byte
	for i := range 1000 {
		e := record.Envelope{ID: fmt.Sprintf("01KDZ8QF3E%016d", i), Region: "us-east-1", ReceivedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			Encoding: record.EncodingJSON, Data: []byte(`{"sensor":"t-17","temp":21.5,"unit":"C","tags":["a","b"],"seq":` + fmt.Sprint(i) + `,"note":"` + strings.Repeat("x", 90) + `"}`)}
		e.PartitionKey = e.ID
		obj = append(e.Append(obj), '\n')
	}
	b.SetBytes(int64(len(obj)))
	b.ReportAllocs()
	for b.Loop() {
		entries, err := replay.ReadEntries(bytes.NewReader(obj), replay.DefaultMaxObjectBytes)
		if err != nil || len(entries) != 1000 {
			b.Fatalf("got %v, %d entries", err, len(entries))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/record")
}
