package replay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/twinstream/twinstream/lambdas/metrics"
	"github.com/twinstream/twinstream/lambdas/record"
	"github.com/twinstream/twinstream/lambdas/replay/replay"
	"github.com/twinstream/twinstream/lambdas/stream"
)

const bucket = "spill-bucket"

// fakeS3 is an in-memory bucket set; objects are keyed "bucket/key".
type fakeS3 struct {
	t       *testing.T
	objects map[string][]byte
	getErr  map[string]error
	delErr  map[string][]error // consumed one per call; nil afterwards
	gets    []string
	deletes []string
}

func newFakeS3(t *testing.T, objects map[string][]byte) *fakeS3 {
	if objects == nil {
		objects = map[string][]byte{}
	}
	return &fakeS3{t: t, objects: objects, getErr: map[string]error{}, delErr: map[string][]error{}}
}

func (f *fakeS3) get(ctx context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	if _, ok := ctx.Deadline(); !ok {
		f.t.Errorf("GetObject without a deadline")
	}
	k := aws.ToString(in.Bucket) + "/" + aws.ToString(in.Key)
	f.gets = append(f.gets, k)
	if err := f.getErr[k]; err != nil {
		return nil, err
	}
	b, ok := f.objects[k]
	if !ok {
		return nil, &types.NoSuchKey{Message: aws.String("The specified key does not exist.")}
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(b))}, nil
}

func (f *fakeS3) delete(ctx context.Context, in *s3.DeleteObjectInput, _ ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	if _, ok := ctx.Deadline(); !ok {
		f.t.Errorf("DeleteObject without a deadline")
	}
	k := aws.ToString(in.Bucket) + "/" + aws.ToString(in.Key)
	f.deletes = append(f.deletes, k)
	if errs := f.delErr[k]; len(errs) > 0 {
		f.delErr[k] = errs[1:]
		return nil, errs[0]
	}
	delete(f.objects, k) // S3 deletes of missing keys succeed too
	return &s3.DeleteObjectOutput{}, nil
}

func (f *fakeS3) keys() []string {
	var ks []string
	for k := range f.objects {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// fakeKinesis records what a stream.Writer gets into the stream.
type fakeKinesis struct {
	t *testing.T
	// fail returns the error code for one record of call n (1-based); "" writes it.
	fail func(call int, e record.Envelope) string
	// callErr fails call n as a whole when it returns an error.
	callErr func(call int) error
	calls   int
	written []stream.Entry
}

func (k *fakeKinesis) put(ctx context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	if _, ok := ctx.Deadline(); !ok {
		k.t.Errorf("PutRecords without a deadline")
	}
	k.calls++
	if k.callErr != nil {
		if err := k.callErr(k.calls); err != nil {
			return nil, err
		}
	}
	out := &kinesis.PutRecordsOutput{Records: make([]ktypes.PutRecordsResultEntry, len(in.Records))}
	failed := int32(0)
	for i, r := range in.Records {
		e, err := record.Decode(r.Data)
		if err != nil {
			k.t.Errorf("kinesis got a record that is not an envelope: %v", err)
		}
		if aws.ToString(r.PartitionKey) != e.PartitionKey {
			k.t.Errorf("record %s: got partition key %q, want %q", e.ID, aws.ToString(r.PartitionKey), e.PartitionKey)
		}
		code := ""
		if k.fail != nil {
			code = k.fail(k.calls, e)
		}
		if code != "" {
			failed++
			out.Records[i] = ktypes.PutRecordsResultEntry{ErrorCode: aws.String(code), ErrorMessage: aws.String("fake failure")}
			continue
		}
		out.Records[i] = ktypes.PutRecordsResultEntry{SequenceNumber: aws.String(fmt.Sprint(len(k.written))), ShardId: aws.String("shardId-000000000000")}
		k.written = append(k.written, stream.Entry{Data: bytes.Clone(r.Data), PartitionKey: aws.ToString(r.PartitionKey)})
	}
	out.FailedRecordCount = aws.Int32(failed)
	return out, nil
}

// writer returns a stream.Writer over k whose retries stop after 5 backoffs,
// as a spent budget would stop them, without waiting.
func (k *fakeKinesis) writer() *stream.Writer {
	sleeps := 0
	return &stream.Writer{
		Client:     stream.PutRecordsFunc(k.put),
		StreamName: "twinstream",
		Sleep: func(ctx context.Context, d time.Duration) error {
			sleeps++
			if sleeps > 5 {
				return fmt.Errorf("retry budget spent: %w", context.DeadlineExceeded)
			}
			return ctx.Err()
		},
	}
}

// s3Body returns an S3 ObjectCreated notification for the given raw
// (already URL-encoded) keys of one bucket.
func s3Body(t *testing.T, bucket, event string, rawKeys ...string) string {
	t.Helper()
	type rec struct {
		EventVersion string `json:"eventVersion"`
		EventSource  string `json:"eventSource"`
		EventTime    string `json:"eventTime"`
		EventName    string `json:"eventName"`
		S3           struct {
			Bucket struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object struct {
				Key  string `json:"key"`
				Size int    `json:"size"`
			} `json:"object"`
		} `json:"s3"`
	}
	var ev struct {
		Records []rec `json:"Records"`
	}
	for _, k := range rawKeys {
		var r rec
		r.EventVersion, r.EventSource, r.EventName = "2.1", "aws:s3", event
		r.EventTime = eventTime.Format("2006-01-02T15:04:05.000Z")
		r.S3.Bucket.Name = bucket
		r.S3.Object.Key = k
		r.S3.Object.Size = 100
		ev.Records = append(ev.Records, r)
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// eventTime is the time of every notification s3Body writes.
var eventTime = time.Date(2026, 1, 2, 3, 4, 6, 12_000_000, time.UTC)

func created(t *testing.T, rawKeys ...string) string {
	return s3Body(t, bucket, "ObjectCreated:Put", rawKeys...)
}

// envelopes returns NDJSON of n envelopes whose ids start with prefix.
func envelopes(t *testing.T, prefix string, n int) []byte {
	t.Helper()
	var b []byte
	for i := range n {
		e := record.Envelope{
			ID: fmt.Sprintf("%s-%d", prefix, i), Region: "us-east-1",
			ReceivedAt:   time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			PartitionKey: fmt.Sprintf("pk-%s-%d", prefix, i), Encoding: record.EncodingJSON,
			Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)),
		}
		b = append(e.Append(b), '\n')
	}
	return b
}

// lines returns the non-blank lines of an NDJSON object, trimmed.
func lines(b []byte) [][]byte {
	var out [][]byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if l = bytes.TrimSpace(l); len(l) > 0 {
			out = append(out, l)
		}
	}
	return out
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameSet reports whether the written entries are exactly the lines, each once
// (retries change the order, not the set).
func sameSet(written []stream.Entry, want [][]byte) error {
	got := make([]string, len(written))
	for i, e := range written {
		got[i] = string(e.Data)
	}
	w := make([]string, len(want))
	for i, l := range want {
		w[i] = string(l)
	}
	slices.Sort(got)
	slices.Sort(w)
	if !slices.Equal(got, w) {
		return fmt.Errorf("written records differ:\ngot  %q\nwant %q", got, w)
	}
	return nil
}

func apiErr(code string, status int) error {
	return &smithy.OperationError{ServiceID: "S3", OperationName: "GetObject", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err:      &smithy.GenericAPIError{Code: code, Message: code},
		},
		RequestID: "req-1",
	}}
}

func TestReplay(t *testing.T) {
	spill := readFile(t, "testdata/spill.ndjson")
	const key = "spill/region=us-east-1/dt=2026-01-02/hr=03/01KDZ8QF3E0000000000000000.ndjson"
	const rawKey = "spill/region%3Dus-east-1/dt%3D2026-01-02/hr%3D03/01KDZ8QF3E0000000000000000.ndjson"
	const keyB = "spill/region=us-east-1/dt=2026-01-02/hr=03/B.ndjson"
	const rawKeyB = "spill/region%3Dus-east-1/dt%3D2026-01-02/hr%3D03/B.ndjson"
	objB := envelopes(t, "b", 3)
	down := func(int) error { return errors.New("dial tcp 10.0.0.1:443: connect: connection refused") }

	tests := []struct {
		name    string
		objects map[string][]byte
		msgs    []replay.Message
		setup   func(*fakeS3, *fakeKinesis, *replay.Replayer)
		// want
		failed    []string
		remaining []string // objects left, "bucket/key", sorted
		written   [][]byte // the exact set of records in the stream
		gets      int      // GetObject calls
		calls     int      // PutRecords calls (-1: do not check)
		log       string   // substring of the log
	}{
		{
			name:    "object replayed and deleted",
			objects: map[string][]byte{bucket + "/" + key: spill},
			msgs:    []replay.Message{{ID: "m1", Body: created(t, rawKey)}},
			written: lines(spill), gets: 1, calls: 1, log: "replayed spill object",
		},
		{
			name:    "partial kinesis failure retried then success",
			objects: map[string][]byte{bucket + "/" + key: spill},
			msgs:    []replay.Message{{ID: "m1", Body: created(t, rawKey)}},
			setup: func(_ *fakeS3, k *fakeKinesis, _ *replay.Replayer) {
				k.fail = func(call int, e record.Envelope) string {
					if call <= 2 && e.ID == "order-42" {
						return "ProvisionedThroughputExceededException"
					}
					return ""
				}
			},
			written: lines(spill), gets: 1, calls: 3,
		},
		{
			name:    "kinesis down: message failed, object kept",
			objects: map[string][]byte{bucket + "/" + key: spill},
			msgs:    []replay.Message{{ID: "m1", Body: created(t, rawKey)}},
			setup:   func(_ *fakeS3, k *fakeKinesis, _ *replay.Replayer) { k.callErr = down },
			failed:  []string{"m1"}, remaining: []string{bucket + "/" + key}, gets: 1, calls: 6,
			log: "connection refused",
		},
		{
			name:    "kinesis refuses some records for the whole budget",
			objects: map[string][]byte{bucket + "/" + key: spill},
			msgs:    []replay.Message{{ID: "m1", Body: created(t, rawKey)}},
			setup: func(_ *fakeS3, k *fakeKinesis, _ *replay.Replayer) {
				k.fail = func(_ int, e record.Envelope) string {
					if e.ID == "order-42" {
						return "InternalFailure"
					}
					return ""
				}
			},
			failed: []string{"m1"}, remaining: []string{bucket + "/" + key},
			written: [][]byte{lines(spill)[0], lines(spill)[2], lines(spill)[3]}, gets: 1, calls: 6,
			log: "1 of 4 records not written",
		},
		{
			name: "NoSuchKey: already replayed",
			msgs: []replay.Message{{ID: "m1", Body: created(t, rawKey)}},
			gets: 1, log: "already gone",
		},
		{
			name: "404 without an error code: already replayed",
			msgs: []replay.Message{{ID: "m1", Body: created(t, rawKey)}},
			setup: func(s *fakeS3, _ *fakeKinesis, _ *replay.Replayer) {
				s.getErr[bucket+"/"+key] = apiErr("", 404)
			},
			gets: 1,
		},
		{
			name:    "NoSuchBucket is a failure",
			objects: map[string][]byte{bucket + "/" + key: spill},
			msgs:    []replay.Message{{ID: "m1", Body: created(t, rawKey)}},
			setup: func(s *fakeS3, _ *fakeKinesis, _ *replay.Replayer) {
				s.getErr[bucket+"/"+key] = apiErr("NoSuchBucket", 404)
			},
			failed: []string{"m1"}, remaining: []string{bucket + "/" + key}, gets: 1,
		},
		{
			name:    "access denied on get is a failure",
			objects: map[string][]byte{bucket + "/" + key: spill},
			msgs:    []replay.Message{{ID: "m1", Body: created(t, rawKey)}},
			setup: func(s *fakeS3, _ *fakeKinesis, _ *replay.Replayer) {
				s.getErr[bucket+"/"+key] = apiErr("AccessDenied", 403)
			},
			failed: []string{"m1"}, remaining: []string{bucket + "/" + key}, gets: 1, log: "AccessDenied",
		},
		{
			name: "S3 test event ignored",
			msgs: []replay.Message{{ID: "m1", Body: `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-01-02T03:04:05.000Z","Bucket":"spill-bucket","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"}`}},
			log:  "ignored S3 test event",
		},
		{
			name: "garbage bodies failed",
			msgs: []replay.Message{
				{ID: "not-json", Body: "hello"},
				{ID: "empty", Body: ""},
				{ID: "other-json", Body: `{"foo":1}`},
				{ID: "no-records", Body: `{"Records":[]}`},
				{ID: "not-s3", Body: `{"Records":[{"eventSource":"aws:sqs","eventName":"x","s3":{"bucket":{"name":"b"},"object":{"key":"spill/k"}}}]}`},
				{ID: "no-key", Body: `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{}}}]}`},
				{ID: "bad-escape", Body: created(t, "spill/%zz.ndjson")},
				{ID: "wrong-type", Body: `{"Records":[{"eventSource":"aws:s3","s3":{"object":{"size":"big"}}}]}`},
			},
			failed: []string{"not-json", "empty", "other-json", "no-records", "not-s3", "no-key", "bad-escape", "wrong-type"},
			log:    "not an S3 event notification",
		},
		{
			name: "URL-encoded key with spaces, plus and unicode",
			objects: map[string][]byte{
				bucket + "/spill/region=us-east-1/dt=2026-01-02/hr=03/my file été+1 ✓.ndjson": spill,
			},
			msgs:    []replay.Message{{ID: "m1", Body: created(t, "spill/region%3Dus-east-1/dt%3D2026-01-02/hr%3D03/my+file+%C3%A9t%C3%A9%2B1+%E2%9C%93.ndjson")}},
			written: lines(spill), gets: 1, calls: 1,
		},
		{
			name:    "two records in one message, one fails: only the good one deleted",
			objects: map[string][]byte{bucket + "/" + key: spill, bucket + "/" + keyB: objB},
			msgs:    []replay.Message{{ID: "m1", Body: created(t, rawKey, rawKeyB)}},
			setup: func(_ *fakeS3, k *fakeKinesis, _ *replay.Replayer) {
				k.fail = func(_ int, e record.Envelope) string {
					if e.ID == "b-1" {
						return "InternalFailure"
					}
					return ""
				}
			},
			failed: []string{"m1"}, remaining: []string{bucket + "/" + keyB},
			written: append(lines(spill), lines(objB)[0], lines(objB)[2]), gets: 2, calls: -1,
		},
		{
			name:    "two messages, one fails: only its id",
			objects: map[string][]byte{bucket + "/" + key: spill, bucket + "/" + keyB: objB},
			msgs: []replay.Message{
				{ID: "m1", Body: created(t, rawKey)},
				{ID: "m2", Body: created(t, rawKeyB)},
			},
			setup: func(s *fakeS3, _ *fakeKinesis, _ *replay.Replayer) {
				s.getErr[bucket+"/"+keyB] = apiErr("InternalError", 500)
			},
			failed: []string{"m2"}, remaining: []string{bucket + "/" + keyB},
			written: lines(spill), gets: 2, calls: 1,
		},
		{
			name: "undecodable line: nothing written, object kept",
			objects: map[string][]byte{
				bucket + "/" + key: append(append(envelopes(t, "a", 2), "{not an envelope}\n"...), envelopes(t, "c", 1)...),
			},
			msgs:   []replay.Message{{ID: "m1", Body: created(t, rawKey)}},
			failed: []string{"m1"}, remaining: []string{bucket + "/" + key}, gets: 1,
			log: "SPILL OBJECT IS DAMAGED",
		},
		{
			name: "envelope without an id: nothing written, object kept",
			objects: map[string][]byte{
				bucket + "/" + key: []byte(`{"id":"","region":"r","receivedAt":"2026-01-02T03:04:05.000Z","partitionKey":"p","encoding":"json","data":1}` + "\n"),
			},
			msgs:   []replay.Message{{ID: "m1", Body: created(t, rawKey)}},
			failed: []string{"m1"}, remaining: []string{bucket + "/" + key}, gets: 1,
			log: "line 1: decode envelope: id must be",
		},
		{
			name:    "blank lines and CRLF tolerated",
			objects: map[string][]byte{bucket + "/" + key: append([]byte("\n\r\n"), bytes.ReplaceAll(spill, []byte("\n"), []byte("\r\n\n"))...)},
			msgs:    []replay.Message{{ID: "m1", Body: created(t, rawKey)}},
			written: lines(spill), gets: 1, calls: 1,
		},
		{
			name:    "empty object deleted without a kinesis call",
			objects: map[string][]byte{bucket + "/" + key: {}},
			msgs:    []replay.Message{{ID: "m1", Body: created(t, rawKey)}},
			gets:    1,
		},
		{
			name:    "delete fails: message failed, records already in",
			objects: map[string][]byte{bucket + "/" + key: spill},
			msgs:    []replay.Message{{ID: "m1", Body: created(t, rawKey)}},
			setup: func(s *fakeS3, _ *fakeKinesis, _ *replay.Replayer) {
				s.delErr[bucket+"/"+key] = []error{apiErr("SlowDown", 503)}
			},
			failed: []string{"m1"}, remaining: []string{bucket + "/" + key},
			written: lines(spill), gets: 1, calls: 1, log: "delete failed",
		},
		{
			name: "keys outside the spill prefix ignored",
			objects: map[string][]byte{
				bucket + "/spillover/x.ndjson": spill,
				bucket + "/records/x.ndjson":   spill,
				bucket + "/x.ndjson":           spill,
			},
			msgs:      []replay.Message{{ID: "m1", Body: created(t, "spillover/x.ndjson", "records/x.ndjson", "x.ndjson")}},
			remaining: []string{bucket + "/records/x.ndjson", bucket + "/spillover/x.ndjson", bucket + "/x.ndjson"},
			log:       "ignored object outside the spill prefix",
		},
		{
			name:    "custom prefix with slashes",
			objects: map[string][]byte{bucket + "/team/spill/x.ndjson": spill},
			msgs:    []replay.Message{{ID: "m1", Body: created(t, "team/spill/x.ndjson")}},
			setup:   func(_ *fakeS3, _ *fakeKinesis, r *replay.Replayer) { r.Prefix = "/team/spill/" },
			written: lines(spill), gets: 1, calls: 1,
		},
		{
			name:      "other bucket ignored when Bucket is set",
			objects:   map[string][]byte{"other/" + key: spill},
			msgs:      []replay.Message{{ID: "m1", Body: s3Body(t, "other", "ObjectCreated:Put", rawKey)}},
			setup:     func(_ *fakeS3, _ *fakeKinesis, r *replay.Replayer) { r.Bucket = bucket },
			remaining: []string{"other/" + key},
			log:       "ignored object of another bucket",
		},
		{
			name:      "removal events ignored",
			objects:   map[string][]byte{bucket + "/" + key: spill},
			msgs:      []replay.Message{{ID: "m1", Body: s3Body(t, bucket, "ObjectRemoved:Delete", rawKey)}},
			remaining: []string{bucket + "/" + key},
			log:       "ignored event",
		},
		{
			name: "object larger than the limit: failed, kept",
			objects: map[string][]byte{
				bucket + "/" + key: envelopes(t, "big", 100),
			},
			msgs:   []replay.Message{{ID: "m1", Body: created(t, rawKey)}},
			setup:  func(_ *fakeS3, _ *fakeKinesis, r *replay.Replayer) { r.MaxObjectBytes = 1000 },
			failed: []string{"m1"}, remaining: []string{bucket + "/" + key}, gets: 1,
			log: "object is larger than 1000 bytes",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeS3(t, tt.objects)
			k := &fakeKinesis{t: t}
			var logs bytes.Buffer
			r := &replay.Replayer{
				Get:    replay.GetObjectFunc(s.get),
				Delete: replay.DeleteObjectFunc(s.delete),
				Stream: k.writer(),
				Log:    slog.New(slog.NewTextHandler(&logs, nil)),
			}
			if tt.setup != nil {
				tt.setup(s, k, r)
			}
			failed := r.Replay(context.Background(), tt.msgs)
			if !slices.Equal(failed, tt.failed) {
				t.Errorf("failed: got %q, want %q", failed, tt.failed)
			}
			if got := s.keys(); !slices.Equal(got, tt.remaining) {
				t.Errorf("objects left: got %q, want %q", got, tt.remaining)
			}
			if err := sameSet(k.written, tt.written); err != nil {
				t.Error(err)
			}
			if len(s.gets) != tt.gets {
				t.Errorf("GetObject calls: got %d, want %d", len(s.gets), tt.gets)
			}
			if tt.calls >= 0 && k.calls != tt.calls {
				t.Errorf("PutRecords calls: got %d, want %d", k.calls, tt.calls)
			}
			if !strings.Contains(logs.String(), tt.log) {
				t.Errorf("log: got %q, want it to contain %q", logs.String(), tt.log)
			}
		})
	}
}

// TestReplayTwice replays one object twice (its delete failed the first time,
// so SQS delivered the message again): both runs write the same bytes, so the
// same ids, and the second run deletes it.
func TestReplayTwice(t *testing.T) {
	spill := readFile(t, "testdata/spill.ndjson")
	const key = "spill/region=us-east-1/dt=2026-01-02/hr=03/x.ndjson"
	s := newFakeS3(t, map[string][]byte{bucket + "/" + key: spill})
	s.delErr[bucket+"/"+key] = []error{apiErr("InternalError", 500)}
	k := &fakeKinesis{t: t}
	r := &replay.Replayer{Get: replay.GetObjectFunc(s.get), Delete: replay.DeleteObjectFunc(s.delete), Stream: k.writer(),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	msg := []replay.Message{{ID: "m1", Body: created(t, url.QueryEscape(key))}}

	var runs [][]stream.Entry
	for i, want := range [][]string{{"m1"}, nil, nil} {
		k.written = nil
		if got := r.Replay(context.Background(), msg); !slices.Equal(got, want) {
			t.Fatalf("run %d: failed: got %q, want %q", i+1, got, want)
		}
		runs = append(runs, k.written)
	}
	if len(runs[0]) != 4 || len(runs[2]) != 0 {
		t.Fatalf("records written per run: got %d, %d, %d, want 4, 4, 0", len(runs[0]), len(runs[1]), len(runs[2]))
	}
	if !slices.EqualFunc(runs[0], runs[1], func(a, b stream.Entry) bool {
		return bytes.Equal(a.Data, b.Data) && a.PartitionKey == b.PartitionKey
	}) {
		t.Errorf("second replay wrote other records:\ngot  %q\nwant %q", entryText(runs[1]), entryText(runs[0]))
	}
	for i, l := range lines(spill) {
		if !bytes.Equal(runs[1][i].Data, l) {
			t.Errorf("record %d: got %q, want the stored line %q", i, runs[1][i].Data, l)
		}
		want, _ := record.Decode(l)
		got, err := record.Decode(runs[1][i].Data)
		if err != nil || got.ID != want.ID {
			t.Errorf("record %d: got id %q (%v), want %q", i, got.ID, err, want.ID)
		}
	}
	if len(s.objects) != 0 {
		t.Errorf("objects left: got %q, want none", s.keys())
	}
}

// TestReplayPanic: a bug that panics fails its own message only.
func TestReplayPanic(t *testing.T) {
	spill := readFile(t, "testdata/spill.ndjson")
	s := newFakeS3(t, map[string][]byte{bucket + "/spill/a.ndjson": spill, bucket + "/spill/b.ndjson": spill})
	var logs bytes.Buffer
	puts := 0
	r := &replay.Replayer{
		Get: replay.GetObjectFunc(s.get), Delete: replay.DeleteObjectFunc(s.delete),
		Stream: putterFunc(func(ctx context.Context, es []stream.Entry) stream.Result {
			if _, ok := ctx.Deadline(); !ok {
				t.Errorf("Put without a deadline")
			}
			puts++
			if puts == 1 {
				panic("boom")
			}
			return stream.Result{Calls: 1}
		}),
		Log: slog.New(slog.NewTextHandler(&logs, nil)),
	}
	got := r.Replay(context.Background(), []replay.Message{
		{ID: "a", Body: created(t, "spill/a.ndjson")},
		{ID: "b", Body: created(t, "spill/b.ndjson")},
	})
	if want := []string{"a"}; !slices.Equal(got, want) {
		t.Errorf("failed: got %q, want %q", got, want)
	}
	if want := []string{bucket + "/spill/a.ndjson"}; !slices.Equal(s.keys(), want) {
		t.Errorf("objects left: got %q, want %q", s.keys(), want)
	}
	if !strings.Contains(logs.String(), "boom") {
		t.Errorf("log: got %q, want the panic", logs.String())
	}
}

type putterFunc func(context.Context, []stream.Entry) stream.Result

func (f putterFunc) Put(ctx context.Context, es []stream.Entry) stream.Result { return f(ctx, es) }

// TestReplayDeadlines: the Kinesis budget bounds each message's writes, and a
// batch whose Lambda deadline has passed fails every message without calls.
func TestReplayDeadlines(t *testing.T) {
	spill := readFile(t, "testdata/spill.ndjson")
	tests := []struct {
		name      string
		ctx       func() (context.Context, context.CancelFunc)
		budget    time.Duration
		wantBound time.Duration // the Put deadline is at most this far away
		wantPuts  int
		wantFail  []string
	}{
		{
			name:      "budget bounds the writes",
			ctx:       func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			budget:    3 * time.Second,
			wantBound: 3 * time.Second, wantPuts: 2,
		},
		{
			name:      "default budget is 20s",
			ctx:       func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			wantBound: replay.DefaultKinesisBudget, wantPuts: 2,
		},
		{
			name: "lambda deadline passed",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			},
			wantFail: []string{"a", "b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeS3(t, map[string][]byte{bucket + "/spill/a.ndjson": spill, bucket + "/spill/b.ndjson": spill})
			puts := 0
			r := &replay.Replayer{
				Get: replay.GetObjectFunc(s.get), Delete: replay.DeleteObjectFunc(s.delete),
				KinesisBudget: tt.budget,
				Stream: putterFunc(func(ctx context.Context, es []stream.Entry) stream.Result {
					puts++
					dl, ok := ctx.Deadline()
					if left := time.Until(dl); !ok || left > tt.wantBound || left < tt.wantBound/2 {
						t.Errorf("Put deadline: got %v from now (set %v), want at most %v", left, ok, tt.wantBound)
					}
					return stream.Result{Calls: 1}
				}),
				Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			}
			ctx, cancel := tt.ctx()
			defer cancel()
			got := r.Replay(ctx, []replay.Message{{ID: "a", Body: created(t, "spill/a.ndjson")}, {ID: "b", Body: created(t, "spill/b.ndjson")}})
			if !slices.Equal(got, tt.wantFail) {
				t.Errorf("failed: got %q, want %q", got, tt.wantFail)
			}
			if puts != tt.wantPuts {
				t.Errorf("Put calls: got %d, want %d", puts, tt.wantPuts)
			}
		})
	}
}

// TestRunMetrics: a batch writes one line with its metrics in EMF: records
// and objects replayed, failed messages, and the age of every spill object
// tried, failed tries included, objects already gone not.
func TestRunMetrics(t *testing.T) {
	spill := readFile(t, "testdata/spill.ndjson")
	const keyA = "spill/region=us-east-1/dt=2026-01-02/hr=03/A.ndjson"
	const keyB = "spill/region=us-east-1/dt=2026-01-02/hr=03/B.ndjson"
	s := newFakeS3(t, map[string][]byte{bucket + "/" + keyA: spill, bucket + "/" + keyB: envelopes(t, "b", 2)})
	s.getErr[bucket+"/"+keyB] = apiErr("InternalError", 500)
	k := &fakeKinesis{t: t}
	var logs bytes.Buffer
	m, err := metrics.New("Twinstream/test/test-us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	r := &replay.Replayer{
		Get: replay.GetObjectFunc(s.get), Delete: replay.DeleteObjectFunc(s.delete), Stream: k.writer(),
		Log:     slog.New(slog.NewJSONHandler(&logs, nil)),
		Metrics: m,
		Now:     func() time.Time { return eventTime.Add(90 * time.Second) },
	}
	res := r.Run(context.Background(), []replay.Message{
		{ID: "a", Body: created(t, "spill/region%3Dus-east-1/dt%3D2026-01-02/hr%3D03/A.ndjson")},
		{ID: "b", Body: created(t, "spill/region%3Dus-east-1/dt%3D2026-01-02/hr%3D03/B.ndjson")},
		{ID: "gone", Body: created(t, "spill/gone.ndjson")},
		{ID: "junk", Body: "hello"},
	})
	if !slices.Equal(res.Failed, []string{"b", "junk"}) || res.Records != 4 || res.Objects != 1 {
		t.Errorf("got %+v, want failed [b junk], 4 records, 1 object", res)
	}
	var emf []string
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(l, `"_aws"`) {
			emf = append(emf, l)
		}
	}
	if len(emf) != 1 || !strings.Contains(emf[0], `"msg":"replay batch"`) || !strings.Contains(emf[0], `"level":"WARN"`) {
		t.Fatalf("got lines with metrics %q, want one WARN replay batch line", emf)
	}
	data, err := metrics.Extract([]byte(emf[0]))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]float64{}
	for _, d := range data {
		if m, ok := metrics.Named(d.Name); !ok || m.Handler != metrics.Replay || m.Unit != d.Unit || len(d.Dimensions) != 0 {
			t.Errorf("%s (%s, %v): not one of replay's metrics", d.Name, d.Unit, d.Dimensions)
		}
		got[d.Name] = d.Values
	}
	want := map[string][]float64{"ReplayedRecords": {4}, "ReplayedObjects": {1}, "ReplayFailures": {2}, "SpillAge": {90, 90}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	for _, m := range metrics.All() {
		if _, ok := got[m.Name]; m.Handler == metrics.Replay && !ok {
			t.Errorf("%s: in the catalogue as replay's, never written", m.Name)
		}
	}
}

// entryText shows entries in a failure message.
func entryText(es []stream.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = fmt.Sprintf("%s %q any=%t", e.PartitionKey, e.Data, e.AnyShard)
	}
	return out
}
