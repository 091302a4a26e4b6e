// Command example is a custom processor to copy: it reads each Kinesis batch
// through package batch and stores the payloads of its records, one JSON
// value per line, as one S3 object per batch in the pipeline's sink bucket
// (see sink.handle). Its contract is package batch's doc.
//
// Give it to the pipeline as PipelineProps.ProcessorHandler (its import path
// in your module); OUTPUT_PREFIX (default "example") can be set through
// PipelineProps.ProcessorEnvironment.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/twinstream/twinstream/lambdas/batch/kinesisevent"
	"github.com/twinstream/twinstream/lambdas/env"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	s, err := setup(context.Background(), env.New())
	if err != nil {
		slog.Error("example processor: configuration", "error", err)
		os.Exit(1)
	}
	lambda.Start(s.handleEvent)
}

// setup reads the environment once per execution environment: SINK_BUCKET
// (set by the pipeline), OUTPUT_PREFIX, and the AWS variables Lambda sets.
func setup(ctx context.Context, r *env.Reader) (*sink, error) {
	s := &sink{bucket: r.String("SINK_BUCKET"), prefix: r.StringOr("OUTPUT_PREFIX", "example")}
	if err := r.Err(); err != nil {
		return nil, err
	}
	cfg, err := r.AWS(ctx)
	if err != nil {
		return nil, err
	}
	s.client = s3.NewFromConfig(cfg)
	return s, nil
}

// handleEvent never returns an error: that would retry the whole batch,
// while BatchItemFailures retries from the first record not stored.
func (s *sink) handleEvent(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
	failed, err := s.handle(ctx, kinesisevent.Records(ev))
	if err != nil {
		slog.ErrorContext(ctx, "example processor: batch partly stored, lambda retries the rest",
			"records", len(ev.Records), "failed", len(failed), "error", err)
	}
	return kinesisevent.Response(failed), nil
}
