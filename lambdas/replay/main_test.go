package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/twinstream/twinstream/lambdas/env"
	"github.com/twinstream/twinstream/lambdas/replay/replay"
	"github.com/twinstream/twinstream/lambdas/stream"
)

// vars is a Lambda environment: the AWS variables Lambda sets plus m.
func vars(m map[string]string) *env.Reader {
	all := map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "SECRET"}
	for k, v := range m {
		all[k] = v
	}
	return &env.Reader{Lookup: func(k string) (string, bool) { v, ok := all[k]; return v, ok }}
}

func TestSetup(t *testing.T) {
	// Hermetic SDK configuration: no profile, files or CA bundle of this machine.
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "SECRET",
		"AWS_PROFILE": "", "AWS_CA_BUNDLE": "",
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
	} {
		t.Setenv(k, v)
	}
	tests := []struct {
		name    string
		vars    map[string]string
		wantErr string
	}{
		{name: "minimal", vars: map[string]string{"STREAM_NAME": "s"}},
		{name: "all", vars: map[string]string{"STREAM_NAME": "s", "SPILL_BUCKET": "b", "SPILL_PREFIX": "p", "KINESIS_BUDGET": "30s",
			"KINESIS_CALL_TIMEOUT": "1500ms", "S3_TIMEOUT": "5s", "S3_USE_PATH_STYLE": "true"}},
		{name: "metrics", vars: map[string]string{"STREAM_NAME": "s", "METRICS_NAMESPACE": "Twinstream/a/a-us-east-1"}},
		// A bad namespace turns metrics off; replay still starts.
		{name: "bad metrics namespace", vars: map[string]string{"STREAM_NAME": "s", "METRICS_NAMESPACE": "AWS/Lambda"}},
		{name: "no stream", vars: map[string]string{}, wantErr: "STREAM_NAME is required"},
		{name: "bad budget", vars: map[string]string{"STREAM_NAME": "s", "KINESIS_BUDGET": "20"}, wantErr: "KINESIS_BUDGET"},
		{name: "bad call timeout", vars: map[string]string{"STREAM_NAME": "s", "KINESIS_CALL_TIMEOUT": "-1s"}, wantErr: "KINESIS_CALL_TIMEOUT"},
		{name: "bad s3 timeout", vars: map[string]string{"STREAM_NAME": "s", "S3_TIMEOUT": "soon"}, wantErr: "S3_TIMEOUT"},
		{name: "bad path style", vars: map[string]string{"STREAM_NAME": "s", "S3_USE_PATH_STYLE": "yes please"}, wantErr: "S3_USE_PATH_STYLE"},
		{name: "packing off", vars: map[string]string{"STREAM_NAME": "s", "PACK_RECORDS": "false"}},
		{name: "bad packing", vars: map[string]string{"STREAM_NAME": "s", "PACK_RECORDS": "zstd"}, wantErr: "PACK_RECORDS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := setup(context.Background(), vars(tt.vars))
			if tt.wantErr == "" {
				if err != nil || h == nil {
					t.Fatalf("got %v, want a handler", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error naming %s", err, tt.wantErr)
			}
		})
	}
}

// TestHandler feeds the fixture event, as Lambda sends it, through the
// handler and checks the BatchItemFailures it answers.
func TestHandler(t *testing.T) {
	fixture, err := os.ReadFile("replay/testdata/sqs-event.json")
	if err != nil {
		t.Fatal(err)
	}
	spill, err := os.ReadFile("replay/testdata/spill.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(fixture, &ev); err != nil {
		t.Fatal(err)
	}
	const object = "twinstream-spill-us-east-1/spill/region=us-east-1/dt=2026-01-02/hr=03/01KDZ8QF3E0000000000000000.ndjson"
	id := ev.Records[0].MessageId

	tests := []struct {
		name     string
		ev       events.SQSEvent
		kinesis  error
		want     string // the response as JSON
		wantLeft bool   // the object is still there
		wantPuts int
	}{
		{name: "fixture replayed", ev: ev, want: `{"batchItemFailures":[]}`, wantPuts: 4},
		{name: "kinesis down", ev: ev, kinesis: errors.New("connection refused"), want: `{"batchItemFailures":[{"itemIdentifier":"` + id + `"}]}`, wantLeft: true},
		{
			name: "garbage next to the fixture",
			ev:   events.SQSEvent{Records: append([]events.SQSMessage{{MessageId: "junk", Body: "{"}}, ev.Records...)},
			want: `{"batchItemFailures":[{"itemIdentifier":"junk"}]}`, wantPuts: 4,
		},
		{name: "empty event", ev: events.SQSEvent{}, want: `{"batchItemFailures":[]}`, wantLeft: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objects := map[string][]byte{object: spill}
			puts := 0
			r := &replay.Replayer{
				Get: replay.GetObjectFunc(func(ctx context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
					b, ok := objects[aws.ToString(in.Bucket)+"/"+aws.ToString(in.Key)]
					if !ok {
						return nil, &types.NoSuchKey{}
					}
					return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(b))}, nil
				}),
				Delete: replay.DeleteObjectFunc(func(ctx context.Context, in *s3.DeleteObjectInput, _ ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
					delete(objects, aws.ToString(in.Bucket)+"/"+aws.ToString(in.Key))
					return &s3.DeleteObjectOutput{}, nil
				}),
				Stream: putter(func(ctx context.Context, es []stream.Entry) stream.Result {
					if tt.kinesis != nil {
						return stream.Result{Failed: []int{0, 1, 2, 3}, Calls: 1, Err: tt.kinesis}
					}
					puts += len(es)
					return stream.Result{Calls: 1}
				}),
				Bucket: "twinstream-spill-us-east-1",
			}
			resp, err := handler(r)(context.Background(), tt.ev)
			if err != nil {
				t.Fatalf("got error %v, want none (it would retry the whole batch)", err)
			}
			got, err := json.Marshal(resp)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if _, left := objects[object]; left != tt.wantLeft {
				t.Errorf("object left: got %v, want %v", left, tt.wantLeft)
			}
			if puts != tt.wantPuts {
				t.Errorf("records put: got %d, want %d", puts, tt.wantPuts)
			}
		})
	}
}

type putter func(context.Context, []stream.Entry) stream.Result

func (f putter) Put(ctx context.Context, es []stream.Entry) stream.Result { return f(ctx, es) }
