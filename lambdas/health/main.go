// Command health is the Lambda target of the region-health target group: the
// ALB (and through it Global Accelerator and Route 53) asks it whether this
// region's Kinesis stream takes writes and, when API_KEYS_SECRET_ARN is set,
// whether ingest can read the API-key secret. The logic is in package health.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/twinstream/twinstream/lambdas/albhttp"
	"github.com/twinstream/twinstream/lambdas/env"
	"github.com/twinstream/twinstream/lambdas/health/health"
)

func main() {
	ctx := context.Background()
	slog.SetDefault(lambdacontext.NewLogger())
	h, err := setup(ctx, env.New())
	if err != nil {
		slog.ErrorContext(ctx, "health: cannot start", "err", err)
		os.Exit(1)
	}
	lambda.Start(albhttp.Handler(h))
}

// setup reads the configuration, loads the SDK configuration once and builds
// the handler.
func setup(ctx context.Context, r *env.Reader) (*health.Handler, error) {
	cfg, err := load(r)
	if err != nil {
		return nil, err
	}
	awsCfg, err := r.AWS(ctx)
	if err != nil {
		return nil, err
	}
	cfg.Client = newClient(awsCfg)
	if cfg.SecretID != "" {
		cfg.Secrets = newSecretsClient(awsCfg)
	}
	return health.New(cfg)
}

// newClient returns the Kinesis client of the probe.
func newClient(awsCfg aws.Config) *kinesis.Client {
	return kinesis.NewFromConfig(awsCfg, func(o *kinesis.Options) {
		// One probe is one attempt: the verdict's hysteresis absorbs a lost
		// probe, and SDK retries would outlast PROBE_TIMEOUT anyway.
		o.RetryMaxAttempts = 1
	})
}

// newSecretsClient returns the Secrets Manager client of the probe: one
// attempt per probe, as for Kinesis.
func newSecretsClient(awsCfg aws.Config) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(awsCfg, func(o *secretsmanager.Options) {
		o.RetryMaxAttempts = 1
	})
}

// maxProbeTimeout leaves room within Route 53's 2s for the ALB, the Lambda
// invocation and a cold start.
const maxProbeTimeout = 1500 * time.Millisecond

// load reads the environment into a health.Config (without the clients).
func load(r *env.Reader) (health.Config, error) {
	cfg := health.Config{
		StreamName: r.String("STREAM_NAME"),
		// Optional, so a pipeline deployed without it keeps probing Kinesis only.
		SecretID:       r.StringOr("API_KEYS_SECRET_ARN", ""),
		Region:         r.String("AWS_REGION"),
		ProbeTimeout:   r.Duration("PROBE_TIMEOUT", health.DefaultProbeTimeout),
		CacheTTL:       r.Duration("PROBE_CACHE_TTL", health.DefaultCacheTTL),
		Window:         r.Duration("PROBE_WINDOW", health.DefaultWindow),
		UnhealthyAfter: r.Int("UNHEALTHY_AFTER", health.DefaultUnhealthyAfter, 1, 100),
		HealthyAfter:   r.Int("HEALTHY_AFTER", health.DefaultHealthyAfter, 1, 100),
		// Set by the construct; unset, the probe lines carry no EMF.
		MetricsNamespace: r.StringOr("METRICS_NAMESPACE", ""),
	}
	if err := r.Err(); err != nil {
		return health.Config{}, fmt.Errorf("health: %w", err)
	}
	if cfg.ProbeTimeout > maxProbeTimeout {
		// Route 53 fails a check whose status does not arrive within 2s of
		// connecting; a hung Kinesis must give a 503, not a timed-out check.
		return health.Config{}, fmt.Errorf("health: PROBE_TIMEOUT=%s: want at most %s", cfg.ProbeTimeout, maxProbeTimeout)
	}
	return cfg, nil
}
