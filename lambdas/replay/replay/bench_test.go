package replay_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/twinstream/twinstream/lambdas/internal/cputime"
	"github.com/twinstream/twinstream/lambdas/record"
	"github.com/twinstream/twinstream/lambdas/replay/replay"
	"github.com/twinstream/twinstream/lambdas/stream"
)

// The latencies BenchmarkReplayDrain gives the AWS calls of one spill
// object (replay makes them in turn, so they, not the CPU, bound one
// invocation): S3 "median latencies are often in the tens of milliseconds"
// for objects under 512 KB (S3 performance guidelines, "Timeouts and
// retries for latency-sensitive applications"): 30 ms for GetObject, plus
// the body at 100 MB/s, and for DeleteObject. PutRecords has no published
// figure: 50 ms per call (up to 500 records or 5 MiB).
const (
	benchS3Latency   = 30 * time.Millisecond
	benchS3BytesPerS = 100 << 20
	benchPutLatency  = 50 * time.Millisecond
)

// spillObject is a spill object as ingest writes it for a request of n
// records of 200-byte JSON (benchmark data of lambdas/ingest/ingest):
// NDJSON envelopes with generated ids.
func spillObject(n int) []byte {
	ids := record.NewIDs()
	at := time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)
	var b []byte
	for i := range n {
		d := fmt.Sprintf(`{"device":"dev-%05d","seq":%d,"temp":21.5,"ok":true,"note":"`, i, i)
		d += strings.Repeat("x", 200-len(d)-2) + `"}`
		id := ids.New(at)
		e := record.Envelope{ID: id, Producer: "team-a", Region: "us-east-1", ReceivedAt: at, PartitionKey: id,
			Encoding: record.EncodingJSON, Data: []byte(d)}
		b = append(e.Append(b), '\n')
	}
	return b
}

// notification is the SQS message body S3 sends for a new object.
func notification(key string) string {
	return `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventTime":"2026-12-01T11:00:00.000Z","eventName":"ObjectCreated:Put",` +
		`"s3":{"bucket":{"name":"` + bucket + `"},"object":{"key":"` + key + `","size":200000}}}]}`
}

// sleep waits d, or returns the context's error.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// BenchmarkReplayDrain measures how fast one replay invocation drains the
// spill: a batch of 5 SQS messages (ReplayBatchSize's default) naming
// spill objects of 500 records each (a full request of the producer
// client), with the real stream.Writer in front of a Kinesis that takes
// everything. "latency": the AWS calls take the latencies above, so
// objects/s and records/s are one invocation's; "cpu": no latency, so
// records/cpu-s is the CPU replay spends per record (one core, -cpu 1).
func BenchmarkReplayDrain(b *testing.B) {
	const perObject, batch = 500, 5
	obj := spillObject(perObject)
	for _, tt := range []struct {
		name           string
		s3, s3Rate, kp time.Duration
	}{
		{"latency", benchS3Latency, time.Second / benchS3BytesPerS, benchPutLatency},
		{"cpu", 0, 0, 0},
	} {
		b.Run(tt.name, func(b *testing.B) {
			calls := 0
			r := &replay.Replayer{
				Get: replay.GetObjectFunc(func(ctx context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
					if err := sleep(ctx, tt.s3+time.Duration(len(obj))*tt.s3Rate); err != nil {
						return nil, err
					}
					return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(obj))}, nil
				}),
				Delete: replay.DeleteObjectFunc(func(ctx context.Context, in *s3.DeleteObjectInput, _ ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
					return &s3.DeleteObjectOutput{}, sleep(ctx, tt.s3)
				}),
				Stream: &stream.Writer{StreamName: "s", Client: stream.PutRecordsFunc(func(ctx context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
					calls++
					if err := sleep(ctx, tt.kp); err != nil {
						return nil, err
					}
					out := &kinesis.PutRecordsOutput{Records: make([]ktypes.PutRecordsResultEntry, len(in.Records))}
					for i := range out.Records {
						out.Records[i].SequenceNumber, out.Records[i].ShardId = aws.String("1"), aws.String("shardId-000000000000")
					}
					return out, nil
				})},
				Bucket: bucket,
				Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
			}
			msgs := make([]replay.Message, batch)
			for i := range msgs {
				msgs[i] = replay.Message{ID: fmt.Sprint(i), Body: notification(fmt.Sprintf("spill/%02x/region=us-east-1/dt=2026-12-01/hr=11/%d.ndjson", i*37, i))}
			}
			if res := r.Run(context.Background(), msgs); len(res.Failed) != 0 || res.Records != batch*perObject {
				b.Fatalf("got %+v, want %d records replayed and no failure", res, batch*perObject)
			}
			calls = 0
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cputime.Used()
			for b.Loop() {
				r.Run(context.Background(), msgs)
			}
			cpu = cputime.Used() - cpu
			objects := float64(b.N * batch)
			b.ReportMetric(objects/b.Elapsed().Seconds(), "objects/s")
			b.ReportMetric(objects*perObject/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(calls)/objects, "puts/object")
			if cpu > 0 && tt.name == "cpu" {
				b.ReportMetric(objects*perObject/cpu.Seconds(), "records/cpu-s")
			}
		})
	}
}
