// Command processor is the Kinesis event source Lambda: it stores each batch
// in the regional sink bucket (see package processor) and reports what it
// could not store as BatchItemFailures. The event source mapping must have
// FunctionResponseTypes [ReportBatchItemFailures], or Lambda ignores them.
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
	"github.com/twinstream/twinstream/lambdas/processor/processor"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	h, err := setup(context.Background(), env.New())
	if err != nil {
		slog.Error("processor: configuration", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.handle)
}

type handler struct {
	p *processor.Processor
}

// setup reads the environment and builds the S3 client once per execution
// environment.
func setup(ctx context.Context, r *env.Reader) (*handler, error) {
	p := &processor.Processor{
		Region:           r.String("AWS_REGION"),
		Bucket:           r.String("SINK_BUCKET"),
		SinkPrefix:       r.StringOr("SINK_PREFIX", processor.DefaultSinkPrefix),
		QuarantinePrefix: r.StringOr("QUARANTINE_PREFIX", processor.DefaultQuarantinePrefix),
		Timeout:          r.Duration("S3_TIMEOUT", processor.DefaultTimeout),
	}
	pathStyle := r.Bool("S3_USE_PATH_STYLE", false)
	if err := r.Err(); err != nil {
		return nil, err
	}
	cfg, err := r.AWS(ctx)
	if err != nil {
		return nil, err
	}
	p.Client = s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle })
	return &handler{p: p}, nil
}

// handle never returns an error: that would make Lambda retry the whole
// batch, while BatchItemFailures retries from the first record not stored.
// ctx is the invocation's: Run starts no put that could outlast its deadline,
// so the function reports what is left instead of timing out (a timeout is a
// function error too).
func (h *handler) handle(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
	res, err := h.p.Run(ctx, kinesisevent.Records(ev))
	attrs := []any{"records", res.Records, "written", res.Written, "quarantined", res.Quarantined,
		"canaries", res.Canaries, "duplicates", res.Duplicates, "conflicts", res.Conflicts, "objects", len(res.Keys)}
	if res.Conflicts > 0 {
		// Not an error of the pipeline (every version is stored), but
		// consumers that de-duplicate by (producer, id) alone would merge
		// them: the producer should hear about it.
		slog.WarnContext(ctx, "processor: a producer reused ids with other payloads, every version stored",
			"conflicts", res.Conflicts, "conflictIds", res.ConflictIDs)
	}
	switch {
	case err != nil:
		first := ""
		if len(res.Failed) > 0 {
			first = res.Failed[0]
		}
		slog.ErrorContext(ctx, "processor: batch partly stored, lambda retries the rest",
			append(attrs, "failed", len(res.Failed), "firstFailed", first, "error", err)...)
	case res.Quarantined > 0:
		slog.WarnContext(ctx, "processor: records quarantined", attrs...)
	default:
		slog.InfoContext(ctx, "processor: batch stored", attrs...)
	}
	return kinesisevent.Response(res.Failed), nil
}
