package processor

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/twinstream/twinstream/lambdas/pack"
	"github.com/twinstream/twinstream/lambdas/record"
)

const shard = "shardId-000000000001"

var (
	h10 = time.Date(2025, 3, 4, 10, 15, 0, 123e6, time.UTC)
	h11 = time.Date(2025, 3, 4, 11, 0, 0, 0, time.UTC)
)

// env returns an envelope received at t.
func env(id string, t time.Time) record.Envelope {
	return record.Envelope{
		ID: id, Region: "eu-west-1", ReceivedAt: t, PartitionKey: id,
		Encoding: record.EncodingJSON, Data: json.RawMessage(`{"n":"` + id + `"}`),
	}
}

// by returns e as sent by producer.
func by(producer string, e record.Envelope) record.Envelope {
	e.Producer = producer
	return e
}

// with returns e carrying the JSON payload data.
func with(data string, e record.Envelope) record.Envelope {
	e.Data = json.RawMessage(data)
	return e
}

func canary(id string, t time.Time) record.Envelope {
	e := env(id, t)
	e.Canary = true
	return e
}

func line(e record.Envelope) string { return string(e.Append(nil)) }

// rec wraps data as the Kinesis record with sequence number seq.
func rec(seq string, data []byte) Record {
	return Record{ShardID: shard, SequenceNumber: seq, PartitionKey: "pk-" + seq, Data: data,
		ArrivalTime: time.Date(2025, 3, 4, 12, 30, 0, 0, time.UTC)}
}

// packed is a packed record (package pack) of envelopes or raw lines
// ([]byte / string).
type packed []any

// recsOf builds records with sequence numbers 1, 2, ... from envelopes
// (record.Envelope), raw bytes ([]byte / string) or packed records.
func recsOf(items ...any) []Record {
	out := make([]Record, len(items))
	for i, it := range items {
		var data []byte
		switch v := it.(type) {
		case record.Envelope:
			data = v.Append(nil)
		case []byte:
			data = v
		case string:
			data = []byte(v)
		case packed:
			var body []byte
			for _, l := range v {
				switch l := l.(type) {
				case record.Envelope:
					body = l.Append(body)
				case []byte:
					body = append(body, l...)
				case string:
					body = append(body, l...)
				}
				body = append(body, '\n')
			}
			var err error
			if data, err = pack.Encode(nil, body); err != nil {
				panic(err)
			}
		default:
			panic(fmt.Sprintf("recsOf: unexpected %T", it))
		}
		out[i] = rec(fmt.Sprint(i+1), data)
	}
	return out
}

type stored struct {
	body                         []byte
	contentType, contentEncoding string
	lines                        int // newlines in the gunzipped body
}

// store is a fake S3 bucket. fail, when set, decides the error of the n-th
// call (counting from 1). changed lists the keys overwritten with other
// bytes, shrunk those overwritten by an object holding fewer lines: a record
// lost unless it is stored elsewhere.
type store struct {
	mu      sync.Mutex
	objs    map[string]stored
	calls   []string
	fail    func(n int, key string) error
	changed []string
	shrunk  []string
}

func (s *store) api() PutObjectFunc {
	return func(ctx context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		key := aws.ToString(in.Key)
		s.calls = append(s.calls, key)
		if s.fail != nil {
			if err := s.fail(len(s.calls), key); err != nil {
				return nil, err
			}
		}
		if aws.ToString(in.Bucket) != "sink" {
			return nil, fmt.Errorf("bucket %q, want sink", aws.ToString(in.Bucket))
		}
		body, err := io.ReadAll(in.Body)
		if err != nil {
			return nil, err
		}
		if in.ContentLength == nil || *in.ContentLength != int64(len(body)) {
			return nil, fmt.Errorf("content length %v, body %d bytes", in.ContentLength, len(body))
		}
		n, err := countLines(body)
		if err != nil {
			return nil, err
		}
		if s.objs == nil {
			s.objs = map[string]stored{}
		}
		if old, ok := s.objs[key]; ok && !bytes.Equal(old.body, body) {
			s.changed = append(s.changed, key)
			if n < old.lines {
				s.shrunk = append(s.shrunk, fmt.Sprintf("%s: %d lines, then %d", key, old.lines, n))
			}
		}
		s.objs[key] = stored{body, aws.ToString(in.ContentType), aws.ToString(in.ContentEncoding), n}
		return &s3.PutObjectOutput{}, nil
	}
}

// countLines counts the lines of a gzipped object.
func countLines(body []byte) (int, error) {
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("gzip header: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return 0, fmt.Errorf("gunzip: %w", err)
	}
	return bytes.Count(raw, []byte{'\n'}), nil
}

func newProcessor(s *store) *Processor {
	return &Processor{Client: s.api(), Region: "us-east-1", Bucket: "sink"}
}

// lines returns the gunzipped lines of an object (with compress/gzip, so the
// test also checks the output is standard gzip).
func lines(t *testing.T, o stored) []string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(o.body))
	if err != nil {
		t.Fatalf("gzip header: %v", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	if len(raw) == 0 || raw[len(raw)-1] != '\n' {
		t.Fatalf("object does not end with a newline: %q", raw)
	}
	return strings.Split(string(raw[:len(raw)-1]), "\n")
}

const (
	sinkDir = "records/region=us-east-1/dt=2025-03-04/"
	quarDir = "quarantine/region=us-east-1/dt=2025-03-04/hr=12/"
)

func TestRun(t *testing.T) {
	a, b, c := env("a", h10), env("b", h10), env("c", h11)
	tests := []struct {
		name    string
		recs    []Record
		want    map[string][]string // key -> lines (sink objects only)
		keys    []string            // write order
		written int
		quar    int
		canary  int
		dup     int
		// conflicts: identities written again with another payload
		conflicts []record.Identity
	}{
		{name: "empty batch", recs: nil},
		{name: "only canaries", recs: recsOf(canary("k1", h10), canary("k2", h11)), canary: 2},
		{
			name:    "one hour",
			recs:    recsOf(a, b),
			keys:    []string{sinkDir + "hr=10/" + shard + "-1-2.ndjson.gz"},
			want:    map[string][]string{sinkDir + "hr=10/" + shard + "-1-2.ndjson.gz": {line(a), line(b)}},
			written: 2,
		},
		{
			name:    "canaries dropped and do not split or bound a run",
			recs:    recsOf(canary("k1", h10), a, canary("k2", h11), b, canary("k3", h10)),
			keys:    []string{sinkDir + "hr=10/" + shard + "-2-4.ndjson.gz"},
			want:    map[string][]string{sinkDir + "hr=10/" + shard + "-2-4.ndjson.gz": {line(a), line(b)}},
			written: 2, canary: 3,
		},
		{
			name: "hour change splits into two objects",
			recs: recsOf(a, b, c),
			keys: []string{sinkDir + "hr=10/" + shard + "-1-2.ndjson.gz", sinkDir + "hr=11/" + shard + "-3-3.ndjson.gz"},
			want: map[string][]string{
				sinkDir + "hr=10/" + shard + "-1-2.ndjson.gz": {line(a), line(b)},
				sinkDir + "hr=11/" + shard + "-3-3.ndjson.gz": {line(c)},
			},
			written: 3,
		},
		{
			name: "one object per hour however they interleave: 10, 11, 10 is two objects",
			recs: recsOf(a, c, b),
			keys: []string{
				sinkDir + "hr=10/" + shard + "-1-3.ndjson.gz",
				sinkDir + "hr=11/" + shard + "-2-2.ndjson.gz",
			},
			want: map[string][]string{
				sinkDir + "hr=10/" + shard + "-1-3.ndjson.gz": {line(a), line(b)},
				sinkDir + "hr=11/" + shard + "-2-2.ndjson.gz": {line(c)},
			},
			written: 3,
		},
		{
			name: "objects in the order of their first record, days apart",
			recs: recsOf(c, "bad", env("d", h10.Add(-48*time.Hour)), a, env("e", h11), b, env("f", h10.Add(-48*time.Hour))),
			keys: []string{
				sinkDir + "hr=11/" + shard + "-1-5.ndjson.gz",
				quarDir + shard + "-2-2.ndjson.gz",
				"records/region=us-east-1/dt=2025-03-02/hr=10/" + shard + "-3-7.ndjson.gz",
				sinkDir + "hr=10/" + shard + "-4-6.ndjson.gz",
			},
			want: map[string][]string{
				sinkDir + "hr=11/" + shard + "-1-5.ndjson.gz":                              {line(c), line(env("e", h11))},
				"records/region=us-east-1/dt=2025-03-02/hr=10/" + shard + "-3-7.ndjson.gz": {line(env("d", h10.Add(-48*time.Hour))), line(env("f", h10.Add(-48*time.Hour)))},
				sinkDir + "hr=10/" + shard + "-4-6.ndjson.gz":                              {line(a), line(b)},
			},
			written: 6, quar: 1,
		},
		{
			name:    "same id twice keeps the first",
			recs:    recsOf(a, b, env("a", h11), b),
			keys:    []string{sinkDir + "hr=10/" + shard + "-1-2.ndjson.gz"},
			want:    map[string][]string{sinkDir + "hr=10/" + shard + "-1-2.ndjson.gz": {line(a), line(b)}},
			written: 2, dup: 2,
		},
		{
			name:    "same id and payload in another hour is a copy",
			recs:    recsOf(a, env("a", h11)),
			keys:    []string{sinkDir + "hr=10/" + shard + "-1-1.ndjson.gz"},
			want:    map[string][]string{sinkDir + "hr=10/" + shard + "-1-1.ndjson.gz": {line(a)}},
			written: 1, dup: 1,
		},
		{
			name: "two producers' same id are two records",
			recs: recsOf(by("team-a", env("order-1", h10)), by("team-b", env("order-1", h10)), by("team-a", env("order-1", h10))),
			keys: []string{sinkDir + "hr=10/" + shard + "-1-2.ndjson.gz"},
			want: map[string][]string{sinkDir + "hr=10/" + shard + "-1-2.ndjson.gz": {
				line(by("team-a", env("order-1", h10))), line(by("team-b", env("order-1", h10))),
			}},
			written: 2, dup: 1,
		},
		{
			name: "no producer is a namespace of its own",
			recs: recsOf(a, by("team-a", a), a),
			keys: []string{sinkDir + "hr=10/" + shard + "-1-2.ndjson.gz"},
			want: map[string][]string{sinkDir + "hr=10/" + shard + "-1-2.ndjson.gz": {
				line(a), line(by("team-a", a)),
			}},
			written: 2, dup: 1,
		},
		{
			name: "same id with another payload is written and counted as a conflict",
			recs: recsOf(by("p", a), by("p", with(`[2]`, a)), by("p", with(`[3]`, a)), by("p", a), by("p", with(`[2]`, a)), b),
			keys: []string{sinkDir + "hr=10/" + shard + "-1-6.ndjson.gz"},
			want: map[string][]string{sinkDir + "hr=10/" + shard + "-1-6.ndjson.gz": {
				line(by("p", a)), line(by("p", with(`[2]`, a))), line(by("p", with(`[3]`, a))), line(b),
			}},
			written: 4, dup: 2,
			conflicts: []record.Identity{{Producer: "p", ID: "a"}, {Producer: "p", ID: "a"}},
		},
		{
			name: "same data in another encoding is another payload",
			recs: recsOf(with(`"AQ=="`, a), func() record.Envelope { e := with(`"AQ=="`, a); e.Encoding = record.EncodingBase64; return e }()),
			keys: []string{sinkDir + "hr=10/" + shard + "-1-2.ndjson.gz"},
			want: map[string][]string{sinkDir + "hr=10/" + shard + "-1-2.ndjson.gz": {
				line(with(`"AQ=="`, a)), line(func() record.Envelope { e := with(`"AQ=="`, a); e.Encoding = record.EncodingBase64; return e }()),
			}},
			written:   2,
			conflicts: []record.Identity{{ID: "a"}},
		},
		{
			name: "bad records go to one quarantine object written at its first record's place",
			recs: recsOf(a, "not json", b, `{"id":"x"}`, c),
			keys: []string{
				sinkDir + "hr=10/" + shard + "-1-3.ndjson.gz",
				quarDir + shard + "-2-4.ndjson.gz",
				sinkDir + "hr=11/" + shard + "-5-5.ndjson.gz",
			},
			want: map[string][]string{
				sinkDir + "hr=10/" + shard + "-1-3.ndjson.gz": {line(a), line(b)},
				sinkDir + "hr=11/" + shard + "-5-5.ndjson.gz": {line(c)},
			},
			written: 3, quar: 2,
		},
		{
			name: "only bad records",
			recs: recsOf("", []byte{0xff, 0x00}),
			keys: []string{quarDir + shard + "-1-2.ndjson.gz"},
			quar: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &store{}
			res, err := newProcessor(s).Run(context.Background(), tt.recs)
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if len(res.Failed) != 0 {
				t.Errorf("got failed %v, want none", res.Failed)
			}
			if !reflect.DeepEqual(s.calls, tt.keys) {
				t.Errorf("got writes %q, want %q", s.calls, tt.keys)
			}
			if !reflect.DeepEqual(res.Keys, tt.keys) {
				t.Errorf("got Result.Keys %q, want %q", res.Keys, tt.keys)
			}
			got := Result{Records: res.Records, Written: res.Written, Quarantined: res.Quarantined, Canaries: res.Canaries, Duplicates: res.Duplicates,
				Conflicts: res.Conflicts, ConflictIDs: res.ConflictIDs}
			want := Result{Records: len(tt.recs), Written: tt.written, Quarantined: tt.quar, Canaries: tt.canary, Duplicates: tt.dup,
				Conflicts: len(tt.conflicts), ConflictIDs: tt.conflicts}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got counts %+v, want %+v", got, want)
			}
			for key, o := range s.objs {
				if o.contentType != "application/x-ndjson" || o.contentEncoding != "gzip" {
					t.Errorf("%s: got Content-Type %q Content-Encoding %q, want application/x-ndjson, gzip", key, o.contentType, o.contentEncoding)
				}
				if strings.HasPrefix(key, "quarantine/") {
					continue
				}
				if got := lines(t, o); !reflect.DeepEqual(got, tt.want[key]) {
					t.Errorf("%s: got lines\n%q\nwant\n%q", key, got, tt.want[key])
				}
			}
		})
	}
}

// TestRunMixedHours: after an outage, replayed records of an earlier hour
// alternate with live ones in every shard; that is one object per hour, not
// one per record.
func TestRunMixedHours(t *testing.T) {
	items := make([]any, 1000)
	for i := range items {
		at := h10.Add(time.Duration(i) * time.Millisecond)
		if i%2 == 1 {
			at = at.Add(-time.Hour)
		}
		items[i] = env(fmt.Sprint("r", i), at)
	}
	s := &store{}
	res, err := newProcessor(s).Run(context.Background(), recsOf(items...))
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	want := []string{sinkDir + "hr=10/" + shard + "-1-999.ndjson.gz", sinkDir + "hr=09/" + shard + "-2-1000.ndjson.gz"}
	if !reflect.DeepEqual(s.calls, want) || res.Written != len(items) {
		t.Errorf("got %d written in %q, want %d in %q", res.Written, s.calls, len(items), want)
	}
	for _, k := range want {
		if n := s.objs[k].lines; n != len(items)/2 {
			t.Errorf("%s: got %d lines, want %d", k, n, len(items)/2)
		}
	}
}

func TestRunDeterministic(t *testing.T) {
	recs := recsOf(env("a", h10), "garbage", canary("k", h10), env("b", h11), env("c", h11))
	var stores [2]*store
	for i := range stores {
		stores[i] = &store{}
		if _, err := newProcessor(stores[i]).Run(context.Background(), recs); err != nil {
			t.Fatalf("run %d: got error %v, want nil", i, err)
		}
	}
	if len(stores[0].objs) != 3 {
		t.Fatalf("got %d objects, want 3", len(stores[0].objs))
	}
	if !reflect.DeepEqual(stores[0].objs, stores[1].objs) {
		t.Errorf("got different objects for the same batch:\n%v\n%v", stores[0].calls, stores[1].calls)
	}
}

func TestRunQuarantineContent(t *testing.T) {
	noTime := env("t", time.Time{})
	recs := recsOf(env("a", h10), "not json", `{"id":"x","region":"r"}`, []byte{0xff, '\n', 0x00}, noTime)
	recs[1].ArrivalTime = time.Date(2025, 3, 4, 12, 30, 0, 456e6, time.FixedZone("x", 3600))
	s := &store{}
	res, err := newProcessor(s).Run(context.Background(), recs)
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	if res.Quarantined != 4 {
		t.Errorf("got %d quarantined, want 4", res.Quarantined)
	}
	// The first quarantined record's arrival time (11:30 UTC) picks the partition.
	key := "quarantine/region=us-east-1/dt=2025-03-04/hr=11/" + shard + "-2-5.ndjson.gz"
	o, ok := s.objs[key]
	if !ok {
		t.Fatalf("got objects %q, want %s", s.calls, key)
	}
	got := lines(t, o)
	if len(got) != 4 {
		t.Fatalf("got %d lines, want 4: %q", len(got), got)
	}
	for n, l := range got {
		r := recs[n+1]
		var q struct {
			ShardID, SequenceNumber, PartitionKey, Error string
			ArrivalTime                                  time.Time
			Data                                         []byte
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal([]byte(l), &fields); err != nil {
			t.Fatalf("line %d: %v", n, err)
		}
		for _, f := range []string{"shardId", "sequenceNumber", "partitionKey", "arrivalTime", "error", "data"} {
			if _, ok := fields[f]; !ok {
				t.Errorf("line %d: field %s missing in %s", n, f, l)
			}
		}
		if err := json.Unmarshal([]byte(l), &q); err != nil {
			t.Fatalf("line %d: %v", n, err)
		}
		if q.ShardID != shard || q.SequenceNumber != r.SequenceNumber || q.PartitionKey != r.PartitionKey {
			t.Errorf("line %d: got %s/%s/%s, want %s/%s/%s", n, q.ShardID, q.SequenceNumber, q.PartitionKey, shard, r.SequenceNumber, r.PartitionKey)
		}
		if !q.ArrivalTime.Equal(r.ArrivalTime) {
			t.Errorf("line %d: got arrivalTime %v, want %v", n, q.ArrivalTime, r.ArrivalTime)
		}
		if !bytes.Equal(q.Data, r.Data) {
			t.Errorf("line %d: got data %q, want %q", n, q.Data, r.Data)
		}
		if q.Error == "" {
			t.Errorf("line %d: got empty error", n)
		}
	}
	if want := ErrNoReceivedAt.Error(); !strings.Contains(got[3], want) {
		t.Errorf("got %s, want error %q", got[3], want)
	}
}

func TestRunCompactsMultilineData(t *testing.T) {
	tests := []struct{ name, data, want string }{
		{"LF", "{\n  \"k\": [1,\n 2]\n}", `{"k":[1,2]}`},
		{"CR", "[1,\r2]", `[1,2]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := env("a", h10)
			e.Data = json.RawMessage(tt.data)
			s := &store{}
			if _, err := newProcessor(s).Run(context.Background(), recsOf(e)); err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			got := lines(t, s.objs[sinkDir+"hr=10/"+shard+"-1-1.ndjson.gz"])
			e.Data = json.RawMessage(tt.want)
			if want := []string{line(e)}; !reflect.DeepEqual(got, want) {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

func TestRunKeepsEnvelopeRegion(t *testing.T) {
	e := env("a", h10)
	e.Region = "ap-south-1"
	s := &store{}
	p := newProcessor(s)
	p.Region, p.SinkPrefix = "eu-central-1", "custom/sink/"
	if _, err := p.Run(context.Background(), recsOf(e)); err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	key := "custom/sink/region=eu-central-1/dt=2025-03-04/hr=10/" + shard + "-1-1.ndjson.gz"
	o, ok := s.objs[key]
	if !ok {
		t.Fatalf("got keys %q, want %s", s.calls, key)
	}
	if got, want := lines(t, o), []string{line(e)}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRunWriteFailure(t *testing.T) {
	a, b, c, d := env("a", h10), env("b", h10), env("c", h11), env("d", h11)
	boom := errors.New("boom")
	tests := []struct {
		name    string
		recs    []Record
		failAt  int // n-th PutObject fails
		cancel  bool
		failed  []string
		written []string
	}{
		{name: "first run fails: all", recs: recsOf(a, b, c, d), failAt: 1, failed: []string{"1", "2", "3", "4"}},
		{
			name: "second run fails: from its first record", recs: recsOf(a, b, c, d), failAt: 2,
			failed: []string{"3", "4"}, written: []string{sinkDir + "hr=10/" + shard + "-1-2.ndjson.gz"},
		},
		{
			name: "second run fails after a canary: from the run's own first record", recs: recsOf(a, canary("k", h11), c, d), failAt: 2,
			failed: []string{"3", "4"}, written: []string{sinkDir + "hr=10/" + shard + "-1-1.ndjson.gz"},
		},
		{
			name: "quarantine fails: from the first quarantined record", recs: recsOf(a, "bad", b, c), failAt: 2,
			failed: []string{"2", "3", "4"}, written: []string{sinkDir + "hr=10/" + shard + "-1-3.ndjson.gz"},
		},
		{
			name: "run after quarantine fails: from the run's first record", recs: recsOf(a, "bad", c, "bad2"), failAt: 3,
			failed:  []string{"3", "4"},
			written: []string{sinkDir + "hr=10/" + shard + "-1-1.ndjson.gz", quarDir + shard + "-2-4.ndjson.gz"},
		},
		{
			name: "mixed hours, second object fails: from its first record, records of the first one after it too",
			recs: recsOf(a, c, b, d), failAt: 2,
			failed: []string{"2", "3", "4"}, written: []string{sinkDir + "hr=10/" + shard + "-1-3.ndjson.gz"},
		},
		{name: "cancelled context: all, no call", recs: recsOf(a, b), cancel: true, failed: []string{"1", "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &store{fail: func(n int, _ string) error {
				if n == tt.failAt {
					return boom
				}
				return nil
			}}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				cancel()
			}
			failed, err := newProcessor(s).Process(ctx, tt.recs)
			if err == nil {
				t.Fatalf("got nil error, want one")
			}
			if !tt.cancel && !errors.Is(err, boom) {
				t.Errorf("got error %v, want it to wrap %v", err, boom)
			}
			if !reflect.DeepEqual(failed, tt.failed) {
				t.Errorf("got failed %q, want %q", failed, tt.failed)
			}
			var written []string
			for k := range s.objs {
				written = append(written, k)
			}
			if len(written) != len(tt.written) {
				t.Fatalf("got written %q, want %q", written, tt.written)
			}
			for _, k := range tt.written {
				if _, ok := s.objs[k]; !ok {
					t.Errorf("got written %q, want %q", written, tt.written)
				}
			}
			if tt.failAt > 0 && len(s.calls) != tt.failAt {
				t.Errorf("got %d calls, want %d (stop at the first failure)", len(s.calls), tt.failAt)
			}
			if tt.cancel && len(s.calls) != 0 {
				t.Errorf("got calls %q, want none", s.calls)
			}
		})
	}
}

func TestRunCallTimeout(t *testing.T) {
	tests := []struct {
		timeout, want time.Duration
	}{
		{0, DefaultTimeout},
		{2 * time.Second, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.want.String(), func(t *testing.T) {
			var left time.Duration
			p := &Processor{Region: "us-east-1", Bucket: "sink", Timeout: tt.timeout,
				Client: PutObjectFunc(func(ctx context.Context, _ *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
					dl, ok := ctx.Deadline()
					if !ok {
						return nil, errors.New("no deadline")
					}
					left = time.Until(dl)
					return &s3.PutObjectOutput{}, nil
				})}
			if _, err := p.Process(context.Background(), recsOf(env("a", h10))); err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			// The deadline is set just before the call: it is at most the
			// timeout away, and more than half of it.
			if left > tt.want || left < tt.want/2 {
				t.Errorf("got deadline in %v, want %v", left, tt.want)
			}
		})
	}
}

func TestRunMisconfigured(t *testing.T) {
	failed, err := (&Processor{Region: "us-east-1"}).Process(context.Background(), recsOf(env("a", h10)))
	if err == nil || !reflect.DeepEqual(failed, []string{"1"}) {
		t.Errorf("got %q, %v, want [1] and an error", failed, err)
	}
}
func TestRunConflictIDsBounded(t *testing.T) {
	items := make([]any, MaxConflictIDs+5)
	for i := range items {
		items[i] = by("p", with(fmt.Sprint(i), env("a", h10)))
	}
	res, err := newProcessor(&store{}).Run(context.Background(), recsOf(items...))
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	if res.Written != len(items) || res.Conflicts != len(items)-1 || len(res.ConflictIDs) != MaxConflictIDs {
		t.Errorf("got %d written, %d conflicts, %d ids, want %d, %d, %d", res.Written, res.Conflicts, len(res.ConflictIDs), len(items), len(items)-1, MaxConflictIDs)
	}
}

// seqs returns the records' sequence numbers.
func seqs(recs []Record) []string {
	out := make([]string, len(recs))
	for i := range recs {
		out[i] = recs[i].SequenceNumber
	}
	return out
}
