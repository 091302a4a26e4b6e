package lambdas_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/twinstream/twinstream/e2e/internal/standin"
)

// Processor's fixture sequence numbers (processor/testdata/kinesis-event.json).
const (
	procSeq1 = "49659753117836441366498154379620467326484640474564722690"
	procSeq3 = "49659753117836441366498154379622885178123869732914135042"
	procSeq4 = "49659753117836441366498154379624094103943484362088841218"
)

// TestRIEProcessorSinkObjects runs the processor as main wires it (real S3
// client, endpoint from AWS_ENDPOINT_URL_S3, path-style from
// S3_USE_PATH_STYLE, S3_TIMEOUT) against the S3 stand-in and reads back what
// it wrote: the object keys, their content type and encoding, and a record
// that is not an envelope in quarantine. (It was the processor's
// TestHandleS3, which needed gofakes3 in the library's module.)
func TestRIEProcessorSinkObjects(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s3s := standin.StartS3(t)
	if err := s3s.CreateBucket(ctx, sinkBucket); err != nil {
		t.Fatal(err)
	}
	env := append(standin.Env(region, s3s), "SINK_BUCKET="+sinkBucket, "S3_TIMEOUT=5s")
	fn := standin.StartRIE(t, standin.BuildBootstrap(t, "./lambdas/processor"), env)

	var ev events.KinesisEvent
	if err := json.Unmarshal(fixture(t, "processor/testdata/kinesis-event.json"), &ev); err != nil {
		t.Fatal(err)
	}
	ev.Records = append(ev.Records, ev.Records[0])
	ev.Records[3].Kinesis.SequenceNumber = procSeq4
	ev.Records[3].Kinesis.Data = []byte("not an envelope")
	body, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.KinesisEventResponse
	invoke(t, fn, body, &resp)
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("batch item failures: got %v, want none\nlogs:\n%s", resp.BatchItemFailures, fn.Logs())
	}

	client := s3s.Client()
	for _, tt := range []struct{ key, want string }{
		{
			key:  "records/region=us-east-1/dt=2025-03-04/hr=10/shardId-000000000003-" + procSeq1 + "-" + procSeq3 + ".ndjson.gz",
			want: string(ev.Records[0].Kinesis.Data) + "\n" + string(ev.Records[2].Kinesis.Data) + "\n",
		},
		{
			key:  "quarantine/region=us-east-1/dt=2025-03-04/hr=10/shardId-000000000003-" + procSeq4 + "-" + procSeq4 + ".ndjson.gz",
			want: "not an envelope",
		},
	} {
		t.Run(strings.SplitN(tt.key, "/", 2)[0], func(t *testing.T) {
			out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(sinkBucket), Key: aws.String(tt.key)})
			if err != nil {
				t.Fatalf("get %s: %v", tt.key, err)
			}
			defer out.Body.Close()
			if ct, ce := aws.ToString(out.ContentType), aws.ToString(out.ContentEncoding); ct != "application/x-ndjson" || ce != "gzip" {
				t.Errorf("%s: got %s, %s, want application/x-ndjson, gzip", tt.key, ct, ce)
			}
			zr, err := gzip.NewReader(out.Body)
			if err != nil {
				t.Fatalf("%s: %v", tt.key, err)
			}
			raw, err := io.ReadAll(zr)
			if err != nil {
				t.Fatalf("%s: %v", tt.key, err)
			}
			if strings.HasPrefix(tt.key, "quarantine/") {
				var q struct{ Data []byte }
				if err := json.Unmarshal(raw, &q); err != nil || string(q.Data) != tt.want {
					t.Errorf("%s: got %s, want a line with data %q", tt.key, raw, tt.want)
				}
			} else if string(raw) != tt.want {
				t.Errorf("%s: got\n%s\nwant\n%s", tt.key, raw, tt.want)
			}
		})
	}
}
