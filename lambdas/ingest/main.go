// Command ingest is the ALB target for POST /v1/records: see package
// lambdas/ingest/ingest. This file only wires configuration and clients.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/twinstream/twinstream/lambdas/albhttp"
	"github.com/twinstream/twinstream/lambdas/env"
	"github.com/twinstream/twinstream/lambdas/ingest/ingest"
	"github.com/twinstream/twinstream/lambdas/stream"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	h, err := build(context.Background(), env.New())
	if err != nil {
		slog.Error("ingest: configuration", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(albhttp.Handler(h))
}

// build reads the environment and makes the handler; SDK config is loaded once
// per execution environment.
func build(ctx context.Context, e *env.Reader) (*ingest.Handler, error) {
	cfg := ingest.Config{
		Region:        e.String("AWS_REGION"),
		SpillBucket:   e.String("SPILL_BUCKET"),
		SpillPrefix:   e.StringOr("SPILL_PREFIX", "spill"),
		KeysSecretARN: e.String("API_KEYS_SECRET_ARN"),
		KeysTTL:       e.Duration("API_KEYS_TTL", ingest.DefaultKeysTTL),
		// How long a new execution environment answers 503 at once after
		// failing to load the API keys, before trying again.
		KeysFailureTTL: e.Duration("API_KEYS_FAILURE_TTL", ingest.DefaultKeysFailureTTL),
		MaxRecords:     e.Int("MAX_RECORDS", ingest.DefaultMaxRecords, 1, ingest.MaxMaxRecords),
		KinesisBudget:  e.Duration("KINESIS_BUDGET", ingest.DefaultKinesisBudget),
		SpillTimeout:   e.Duration("SPILL_TIMEOUT", ingest.DefaultSpillTimeout),
		// -1 turns the breaker off.
		BreakerAfter:    e.Int("KINESIS_BREAKER_AFTER", ingest.DefaultBreakerAfter, -1, 1000),
		BreakerCooldown: e.Duration("KINESIS_BREAKER_COOLDOWN", ingest.DefaultBreakerCooldown),
		// Set by the construct; unset, the request lines carry no EMF.
		MetricsNamespace: e.StringOr("METRICS_NAMESPACE", ""),
	}
	streamName := e.String("STREAM_NAME")
	callTimeout := e.Duration("KINESIS_CALL_TIMEOUT", ingest.DefaultKinesisCallTimeout)
	pathStyle := e.Bool("S3_USE_PATH_STYLE", false)
	// Packed Kinesis records (package pack); false: one envelope per record.
	packRecords := e.Bool("PACK_RECORDS", true)
	if err := e.Err(); err != nil {
		return nil, err
	}
	awsCfg, err := e.AWS(ctx)
	if err != nil {
		return nil, err
	}
	kc := kinesis.NewFromConfig(awsCfg, func(o *kinesis.Options) {
		// The writer retries failed records itself within the request's budget.
		o.RetryMaxAttempts = 1
	})
	s3c := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = pathStyle })
	var kw ingest.Putter = &stream.Writer{Client: kc, StreamName: streamName, CallTimeout: callTimeout}
	if packRecords {
		kw = &stream.Packer{Next: kw}
	}
	h, err := ingest.New(cfg, ingest.Deps{
		Kinesis: kw,
		S3:      s3c,
		Secrets: secretsmanager.NewFromConfig(awsCfg),
	})
	if err != nil {
		return nil, fmt.Errorf("build handler: %w", err)
	}
	return h, nil
}
