// Command processor is the Kinesis event source Lambda: it stores each batch
// in the regional sink bucket (see package processor) and reports what it
// could not store as BatchItemFailures. The event source mapping must have
// FunctionResponseTypes [ReportBatchItemFailures], or Lambda ignores them.
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/twinstream/twinstream/lambdas/batch/kinesisevent"
	"github.com/twinstream/twinstream/lambdas/env"
	"github.com/twinstream/twinstream/lambdas/metrics"
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
	p       *processor.Processor
	metrics *metrics.Emitter // nil: lines carry no EMF
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
	namespace := r.StringOr("METRICS_NAMESPACE", "")
	if err := r.Err(); err != nil {
		return nil, err
	}
	cfg, err := r.AWS(ctx)
	if err != nil {
		return nil, err
	}
	p.Client = s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle })
	m, err := metrics.New(namespace)
	if err != nil {
		// Metrics never stop the processor.
		slog.Warn("processor: metrics are off", "error", err.Error())
	}
	return &handler{p: p, metrics: m}, nil
}

// handle never returns an error: that would make Lambda retry the whole
// batch, while BatchItemFailures retries from the first record not stored.
// ctx is the invocation's: Run starts no put that could outlast its deadline,
// so the function reports what is left instead of timing out (a timeout is a
// function error too).
func (h *handler) handle(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
	res, err := h.p.Run(ctx, kinesisevent.Records(ev))
	attrs := []slog.Attr{slog.Int("records", res.Records), slog.Int("written", res.Written), slog.Int("quarantined", res.Quarantined),
		slog.Int("canaries", res.Canaries), slog.Int("duplicates", res.Duplicates), slog.Int("conflicts", res.Conflicts), slog.Int("objects", len(res.Keys))}
	if res.Conflicts > 0 {
		// Not an error of the pipeline (every version is stored), but
		// consumers that de-duplicate by (producer, id) alone would merge
		// them: the producer should hear about it.
		slog.WarnContext(ctx, "processor: a producer reused ids with other payloads, every version stored",
			"conflicts", res.Conflicts, "conflictIds", res.ConflictIDs)
	}
	// The batch's one line carries its metrics, whatever its level.
	line := h.metrics.Line()
	res.Metrics(&line)
	level, msg := slog.LevelInfo, "processor: batch stored"
	switch {
	case err != nil:
		first := ""
		if len(res.Failed) > 0 {
			first = res.Failed[0]
		}
		level, msg = slog.LevelError, "processor: batch partly stored, lambda retries the rest"
		attrs = append(attrs, slog.Int("failed", len(res.Failed)), slog.String("firstFailed", first), slog.String("error", err.Error()))
	case res.Quarantined > 0:
		level, msg = slog.LevelWarn, "processor: records quarantined"
	}
	slog.LogAttrs(ctx, level, msg, append(attrs, line.Attrs(time.Now())...)...)
	return kinesisevent.Response(res.Failed), nil
}
