// Command replay is the Lambda function that drains the spill bucket back into
// Kinesis. Its event source is the SQS queue that receives the spill bucket's
// ObjectCreated notifications; the event source mapping must have
// ReportBatchItemFailures on, so only failed messages are delivered again.
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/twinstream/twinstream/lambdas/env"
	"github.com/twinstream/twinstream/lambdas/metrics"
	"github.com/twinstream/twinstream/lambdas/replay/replay"
	"github.com/twinstream/twinstream/lambdas/stream"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	h, err := setup(context.Background(), env.New())
	if err != nil {
		slog.Error("replay: configuration", "err", err)
		os.Exit(1)
	}
	lambda.Start(h)
}

// setup reads the configuration and builds the handler once per execution
// environment.
func setup(ctx context.Context, e *env.Reader) (func(context.Context, events.SQSEvent) (events.SQSEventResponse, error), error) {
	streamName := e.String("STREAM_NAME")
	bucket := e.StringOr("SPILL_BUCKET", "")
	prefix := e.StringOr("SPILL_PREFIX", replay.DefaultPrefix)
	budget := e.Duration("KINESIS_BUDGET", replay.DefaultKinesisBudget)
	callTimeout := e.Duration("KINESIS_CALL_TIMEOUT", 2*time.Second)
	s3Timeout := e.Duration("S3_TIMEOUT", replay.DefaultS3Timeout)
	pathStyle := e.Bool("S3_USE_PATH_STYLE", false)
	namespace := e.StringOr("METRICS_NAMESPACE", "")
	// Packed Kinesis records (package pack); false: one envelope per record.
	packRecords := e.Bool("PACK_RECORDS", true)
	if err := e.Err(); err != nil {
		return nil, err
	}
	m, err := metrics.New(namespace)
	if err != nil {
		// Metrics never stop replay.
		slog.Warn("replay: metrics are off", "err", err)
	}
	cfg, err := e.AWS(ctx)
	if err != nil {
		return nil, err
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle })
	// The writer retries within KINESIS_BUDGET; SDK retries would stack on top.
	kc := kinesis.NewFromConfig(cfg, func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })
	var kw replay.Putter = &stream.Writer{Client: kc, StreamName: streamName, CallTimeout: callTimeout}
	if packRecords {
		kw = &stream.Packer{Next: kw}
	}
	r := &replay.Replayer{
		Get:           s3c,
		Delete:        s3c,
		Stream:        kw,
		Bucket:        bucket,
		Prefix:        prefix,
		S3Timeout:     s3Timeout,
		KinesisBudget: budget,
		Metrics:       m,
	}
	return handler(r), nil
}

// handler turns the SQS event into replay messages and the failed ids into
// BatchItemFailures. It never returns an error: that would make SQS deliver
// the whole batch again, replayed objects included.
func handler(r *replay.Replayer) func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		msgs := make([]replay.Message, len(ev.Records))
		for i, m := range ev.Records {
			msgs[i] = replay.Message{ID: m.MessageId, Body: m.Body}
		}
		failed := r.Replay(ctx, msgs)
		resp := events.SQSEventResponse{BatchItemFailures: make([]events.SQSBatchItemFailure, 0, len(failed))}
		for _, id := range failed {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
		}
		return resp, nil
	}
}
