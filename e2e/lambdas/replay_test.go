package lambdas_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/twinstream/twinstream/e2e/internal/standin"
	"github.com/twinstream/twinstream/lambdas/replay/replay"
	"github.com/twinstream/twinstream/lambdas/stream"
)

// TestReplayS3 runs the replayer against the S3 stand-in through the real S3
// client, so the SDK's own errors (NoSuchKey, NoSuchBucket) and a key that
// needs escaping in the request path are what the replayer sees. (It was
// replay's TestReplayGoFakeS3, which needed gofakes3 in the library's module.)
func TestReplayS3(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s3s := standin.StartS3(t)
	client := s3s.Client()
	const bucket = "spill-bucket"
	if err := s3s.CreateBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	spill := fixture(t, "replay/replay/testdata/spill.ndjson")
	const key = "spill/region=us-east-1/dt=2026-01-02/hr=03/a file é+%.ndjson"
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(spill), ContentType: aws.String("application/x-ndjson"),
	}); err != nil {
		t.Fatal(err)
	}
	// The key as S3 notifications spell it.
	raw := "spill/region%3Dus-east-1/dt%3D2026-01-02/hr%3D03/a+file+%C3%A9%2B%25.ndjson"

	var k capture
	var logs bytes.Buffer
	r := &replay.Replayer{Get: client, Delete: client, Stream: &stream.Writer{Client: stream.PutRecordsFunc(k.put), StreamName: streamName},
		Log: slog.New(slog.NewTextHandler(&logs, nil))}

	// The steps run in order against one bucket.
	steps := []struct {
		name    string
		body    string
		failed  []string
		written []string
		log     string
	}{
		{name: "replays and deletes", body: notification(t, bucket, raw), written: ndjsonLines(spill), log: "replayed spill object"},
		{name: "again: NoSuchKey, success", body: notification(t, bucket, raw), log: "already gone"},
		{name: "missing bucket fails", body: notification(t, "no-such-bucket", raw), failed: []string{"m"}, log: "NoSuchBucket"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			k.reset()
			logs.Reset()
			got := r.Replay(ctx, []replay.Message{{ID: "m", Body: st.body}})
			if !slices.Equal(got, st.failed) {
				t.Errorf("failed: got %q, want %q", got, st.failed)
			}
			if w := k.sorted(); !slices.Equal(w, sortedCopy(st.written)) {
				t.Errorf("written records:\ngot  %q\nwant %q", w, sortedCopy(st.written))
			}
			if !strings.Contains(logs.String(), st.log) {
				t.Errorf("log: got %q, want it to contain %q", logs.String(), st.log)
			}
		})
	}
	_, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	var nsk *types.NoSuchKey
	if !errors.As(err, &nsk) {
		t.Errorf("after replay: got %v, want NoSuchKey (object deleted)", err)
	}
}

// capture is a Kinesis PutRecords that accepts every record and keeps its
// data.
type capture struct {
	mu      sync.Mutex
	written []string
}

func (c *capture) put(ctx context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := &kinesis.PutRecordsOutput{FailedRecordCount: aws.Int32(0), Records: make([]ktypes.PutRecordsResultEntry, len(in.Records))}
	for i, r := range in.Records {
		out.Records[i] = ktypes.PutRecordsResultEntry{SequenceNumber: aws.String(fmt.Sprint(len(c.written))), ShardId: aws.String("shardId-000000000000")}
		c.written = append(c.written, string(r.Data))
	}
	return out, nil
}

func (c *capture) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.written = nil
}

// sorted returns the data written since reset, sorted: retries change the
// order, not the set.
func (c *capture) sorted() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return sortedCopy(c.written)
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// ndjsonLines returns the non-blank lines of an NDJSON object, trimmed.
func ndjsonLines(b []byte) []string {
	var out []string
	for _, l := range bytes.Split(b, []byte("\n")) {
		if l = bytes.TrimSpace(l); len(l) > 0 {
			out = append(out, string(l))
		}
	}
	return out
}

// notification returns the SQS body of an S3 ObjectCreated:Put notification
// for one raw (already URL-encoded) key.
func notification(t *testing.T, bucket, rawKey string) string {
	t.Helper()
	var ev struct {
		Records []map[string]any `json:"Records"`
	}
	ev.Records = append(ev.Records, map[string]any{
		"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
		"s3": map[string]any{"bucket": map[string]any{"name": bucket}, "object": map[string]any{"key": rawKey, "size": 100}},
	})
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
