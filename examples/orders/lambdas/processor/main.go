// Command processor is the orders pipeline's processor: the pipeline's
// stream feeds it batches (PipelineProps.ProcessorHandler in app.go), and
// package orders checks and stores them. This file only wires it to Lambda.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/acme/orders/lambdas/processor/orders"
	"github.com/twinstream/twinstream/lambdas/batch/kinesisevent"
	"github.com/twinstream/twinstream/lambdas/env"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	s, err := orders.FromEnv(context.Background(), env.New())
	if err != nil {
		slog.Error("orders processor: configuration", "error", err)
		os.Exit(1)
	}
	lambda.Start(handler(s))
}

// handler never returns an error: that would retry the whole batch, while
// BatchItemFailures retries from the first record not stored.
func handler(s *orders.Store) func(context.Context, events.KinesisEvent) (events.KinesisEventResponse, error) {
	return func(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
		failed, err := s.Handle(ctx, kinesisevent.Records(ev))
		if err != nil {
			slog.ErrorContext(ctx, "orders processor: batch partly stored, lambda retries the rest",
				"records", len(ev.Records), "failed", len(failed), "error", err)
		}
		return kinesisevent.Response(failed), nil
	}
}
