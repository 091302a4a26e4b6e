package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/twinstream/twinstream/lambdas/env"
	"github.com/twinstream/twinstream/lambdas/metrics"
	"github.com/twinstream/twinstream/lambdas/processor/processor"
	"github.com/twinstream/twinstream/lambdas/record"
)

const (
	seq1 = "49659753117836441366498154379620467326484640474564722690"
	seq2 = "49659753117836441366498154379621676252304255103739428866"
	seq3 = "49659753117836441366498154379622885178123869732914135042"
)

func fixture(t *testing.T) events.KinesisEvent {
	t.Helper()
	b, err := os.ReadFile("testdata/kinesis-event.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.KinesisEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("decode fixture: %v", err)
	}
	return ev
}

func TestHandle(t *testing.T) {
	key := "records/region=us-east-1/dt=2025-03-04/hr=10/shardId-000000000003-" + seq1 + "-" + seq3 + ".ndjson.gz"
	tests := []struct {
		name   string
		err    error
		want   events.KinesisEventResponse
		stored bool
	}{
		{name: "stored", stored: true},
		{name: "s3 fails", err: errors.New("s3 down"), want: events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{
			{ItemIdentifier: seq1}, {ItemIdentifier: seq2}, {ItemIdentifier: seq3},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := map[string][]byte{}
			h := &handler{p: &processor.Processor{Region: "us-east-1", Bucket: "sink",
				Client: processor.PutObjectFunc(func(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
					if tt.err != nil {
						return nil, tt.err
					}
					b, err := io.ReadAll(in.Body)
					objs[aws.ToString(in.Key)] = b
					return &s3.PutObjectOutput{}, err
				})}}
			resp, err := h.handle(context.Background(), fixture(t))
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if !reflect.DeepEqual(resp, tt.want) {
				t.Errorf("got %+v, want %+v", resp, tt.want)
			}
			if !tt.stored {
				return
			}
			if len(objs) != 1 || objs[key] == nil {
				t.Fatalf("got %d objects, want only %s", len(objs), key)
			}
			zr, err := gzip.NewReader(bytes.NewReader(objs[key]))
			if err != nil {
				t.Fatal(err)
			}
			raw, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			// The canary (2nd record) is dropped; the others are stored as sent.
			ev := fixture(t)
			want := string(ev.Records[0].Kinesis.Data) + "\n" + string(ev.Records[2].Kinesis.Data) + "\n"
			if string(raw) != want {
				t.Errorf("got\n%s\nwant\n%s", raw, want)
			}
		})
	}
}

func TestHandleEmpty(t *testing.T) {
	h := &handler{p: &processor.Processor{Region: "us-east-1", Bucket: "sink",
		Client: processor.PutObjectFunc(func(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
			return nil, errors.New("no write expected")
		})}}
	resp, err := h.handle(context.Background(), events.KinesisEvent{})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Errorf("got %+v, %v, want no failures", resp, err)
	}
}

func TestSetup(t *testing.T) {
	base := map[string]string{"AWS_REGION": "eu-west-1", "SINK_BUCKET": "sink-bucket", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "SECRET"}
	tests := []struct {
		name    string
		set     map[string]string
		unset   string
		wantErr string
		want    processor.Processor
	}{
		{name: "defaults", want: processor.Processor{Region: "eu-west-1", Bucket: "sink-bucket",
			SinkPrefix: "records", QuarantinePrefix: "quarantine", Timeout: 10 * time.Second}},
		{name: "all set", set: map[string]string{"SINK_PREFIX": "sink/v1", "QUARANTINE_PREFIX": "bad", "S3_TIMEOUT": "3s", "S3_USE_PATH_STYLE": "true"},
			want: processor.Processor{Region: "eu-west-1", Bucket: "sink-bucket", SinkPrefix: "sink/v1", QuarantinePrefix: "bad", Timeout: 3 * time.Second}},
		{name: "no bucket", unset: "SINK_BUCKET", wantErr: "SINK_BUCKET"},
		{name: "no region", unset: "AWS_REGION", wantErr: "AWS_REGION"},
		{name: "bad timeout", set: map[string]string{"S3_TIMEOUT": "ten"}, wantErr: "S3_TIMEOUT"},
		{name: "bad path style", set: map[string]string{"S3_USE_PATH_STYLE": "maybe"}, wantErr: "S3_USE_PATH_STYLE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{}
			for k, v := range base {
				vars[k] = v
			}
			for k, v := range tt.set {
				vars[k] = v
			}
			delete(vars, tt.unset)
			r := &env.Reader{Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
			h, err := setup(context.Background(), r)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if h.p.Client == nil {
				t.Fatal("got no S3 client")
			}
			got := *h.p
			got.Client = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if ps := h.p.Client.(*s3.Client).Options().UsePathStyle; ps != (tt.set["S3_USE_PATH_STYLE"] == "true") {
				t.Errorf("got UsePathStyle %v, want %v", ps, !ps)
			}
		})
	}
}

// TestHandleConflicts: the same producer's id with two payloads is stored
// twice, and the handler logs it with the identity.
func TestHandleConflicts(t *testing.T) {
	var logs bytes.Buffer
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewJSONHandler(&logs, nil)))

	ev := fixture(t)
	e, err := record.Decode(ev.Records[2].Kinesis.Data)
	if err != nil {
		t.Fatal(err)
	}
	e.Producer = "team-a"
	ev.Records[2].Kinesis.Data = e.Append(nil)
	e.SetBase64([]byte("another payload"))
	ev.Records[1].Kinesis.Data = e.Append(nil) // replaces the canary
	var lines int
	h := &handler{p: &processor.Processor{Region: "us-east-1", Bucket: "sink",
		Client: processor.PutObjectFunc(func(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
			zr, err := gzip.NewReader(in.Body)
			if err != nil {
				return nil, err
			}
			raw, err := io.ReadAll(zr)
			lines += bytes.Count(raw, []byte("\n"))
			return &s3.PutObjectOutput{}, err
		})}}
	resp, err := h.handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("got %+v, %v, want no failures", resp, err)
	}
	if lines != 3 {
		t.Errorf("got %d lines stored, want 3", lines)
	}
	var warn struct {
		Level       string
		Conflicts   int
		ConflictIDs []record.Identity `json:"conflictIds"`
	}
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(l, "reused ids") {
			if err := json.Unmarshal([]byte(l), &warn); err != nil {
				t.Fatalf("log %s: %v", l, err)
			}
		}
	}
	want := []record.Identity{{Producer: e.Producer, ID: e.ID}}
	if warn.Level != "WARN" || warn.Conflicts != 1 || !reflect.DeepEqual(warn.ConflictIDs, want) {
		t.Errorf("got log %+v, want a WARN with 1 conflict %+v in\n%s", warn, want, logs.String())
	}
}

// TestHandleDeadline: the handler passes the invocation's context, whose
// deadline leaves no room for a put: every record is reported, no call is
// made, and the handler returns before the deadline instead of timing out.
func TestHandleDeadline(t *testing.T) {
	calls := 0
	h := &handler{p: &processor.Processor{Region: "us-east-1", Bucket: "sink",
		Client: processor.PutObjectFunc(func(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
			calls++
			return &s3.PutObjectOutput{}, nil
		})}}
	ctx, cancel := context.WithTimeout(context.Background(), processor.DefaultMargin/2)
	defer cancel()
	resp, err := h.handle(ctx, fixture(t))
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	want := events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{
		{ItemIdentifier: seq1}, {ItemIdentifier: seq2}, {ItemIdentifier: seq3},
	}}
	if !reflect.DeepEqual(resp, want) || calls != 0 {
		t.Errorf("got %+v after %d calls, want %+v and no call", resp, calls, want)
	}
	if ctx.Err() != nil {
		t.Errorf("handler returned after the deadline, want before")
	}
}

// TestHandleMetrics: each batch writes one log line, and it carries the
// batch's metrics in EMF, at the level of what happened; the answer is the
// same with metrics off.
func TestHandleMetrics(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		level  string
		values map[string][]float64 // S3PutLatency: count of values only
	}{
		{"stored", nil, "INFO", map[string][]float64{"BatchRecords": {3}, "WrittenRecords": {2}, "QuarantinedRecords": {0},
			"DuplicateRecords": {0}, "ConflictRecords": {0}, "CanaryRecords": {1}, "FailedRecords": {0}, "SinkObjects": {1},
			"S3PutFailures": {0}, "S3PutLatency": {1}}},
		{"s3 fails", errors.New("s3 down"), "ERROR", map[string][]float64{"BatchRecords": {3}, "WrittenRecords": {0}, "QuarantinedRecords": {0},
			"DuplicateRecords": {0}, "ConflictRecords": {0}, "CanaryRecords": {1}, "FailedRecords": {3}, "SinkObjects": {0},
			"S3PutFailures": {1}, "S3PutLatency": {1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			defer slog.SetDefault(slog.Default())
			slog.SetDefault(slog.New(slog.NewJSONHandler(&logs, nil)))
			client := processor.PutObjectFunc(func(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
				return &s3.PutObjectOutput{}, tt.err
			})
			m, err := metrics.New("Twinstream/test/test-us-east-1")
			if err != nil {
				t.Fatal(err)
			}
			on := &handler{p: &processor.Processor{Region: "us-east-1", Bucket: "sink", Client: client}, metrics: m}
			respOn, _ := on.handle(context.Background(), fixture(t))
			off := &handler{p: &processor.Processor{Region: "us-east-1", Bucket: "sink", Client: client}}
			respOff, _ := off.handle(context.Background(), fixture(t))
			if !reflect.DeepEqual(respOn, respOff) {
				t.Errorf("got %+v with metrics, %+v without, want the same answer", respOn, respOff)
			}

			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			if len(lines) != 2 {
				t.Fatalf("got %d log lines for 2 batches, want 2:\n%s", len(lines), logs.String())
			}
			var level struct{ Level string }
			if err := json.Unmarshal([]byte(lines[0]), &level); err != nil || level.Level != tt.level {
				t.Errorf("got level %q, %v, want %s", level.Level, err, tt.level)
			}
			data, err := metrics.Extract([]byte(lines[0]))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]float64{}
			for _, d := range data {
				if d.Namespace != "Twinstream/test/test-us-east-1" {
					t.Errorf("%s: namespace %q", d.Name, d.Namespace)
				}
				got[d.Name] = d.Values
			}
			if n := len(got["S3PutLatency"]); n == 1 {
				got["S3PutLatency"] = []float64{1}
			}
			if !reflect.DeepEqual(got, tt.values) {
				t.Errorf("got %v\nwant %v", got, tt.values)
			}
			if d, err := metrics.Extract([]byte(lines[1])); d != nil || err != nil {
				t.Errorf("metrics off: got %v, %v, want no EMF", d, err)
			}
		})
	}
}

// TestSetupMetrics: METRICS_NAMESPACE turns the lines' EMF on; a bad one
// turns it off and the processor still starts.
func TestSetupMetrics(t *testing.T) {
	for ns, on := range map[string]bool{"": false, "Twinstream/a/a-us-east-1": true, "AWS/Lambda": false} {
		vars := map[string]string{"AWS_REGION": "eu-west-1", "SINK_BUCKET": "b", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "SECRET",
			"METRICS_NAMESPACE": ns}
		h, err := setup(context.Background(), &env.Reader{Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }})
		if err != nil {
			t.Fatalf("%q: %v", ns, err)
		}
		if h.metrics.Enabled() != on {
			t.Errorf("METRICS_NAMESPACE=%q: got metrics on %v, want %v", ns, h.metrics.Enabled(), on)
		}
	}
}
