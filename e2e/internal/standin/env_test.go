package standin_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/twinstream/twinstream/e2e/internal/standin"
	"github.com/twinstream/twinstream/lambdas/env"
)

// TestEnvReachesStandins: a handler that loads its configuration the way
// main.go does (env.AWS, config.LoadDefaultConfig) reaches every stand-in
// through the lines from standin.Env, whatever this machine's AWS settings.
func TestEnvReachesStandins(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	k := standin.StartKinesis(t, standin.KinesisOptions{InMemory: true})
	s := standin.StartS3(t)
	q := standin.StartSQS(t)
	if err := k.CreateStream(ctx, "env-stream", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBucket(ctx, "env-bucket"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.CreateQueue(ctx, "env-queue"); err != nil {
		t.Fatal(err)
	}

	lines := standin.Env("eu-central-1", k, s, q)
	standin.Setenv(t, lines)
	cfg, err := env.AWS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-central-1" {
		t.Errorf("region: got %s, want eu-central-1", cfg.Region)
	}

	streams, err := kinesis.NewFromConfig(cfg).ListStreams(ctx, &kinesis.ListStreamsInput{})
	if err != nil {
		t.Fatalf("kinesis ListStreams: %v", err)
	}
	if len(streams.StreamNames) != 1 || streams.StreamNames[0] != "env-stream" {
		t.Errorf("kinesis streams: got %v, want [env-stream]", streams.StreamNames)
	}

	// S3_USE_PATH_STYLE=true is the project's convention; handlers apply it.
	buckets, err := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatalf("s3 ListBuckets: %v", err)
	}
	if len(buckets.Buckets) != 1 || aws.ToString(buckets.Buckets[0].Name) != "env-bucket" {
		t.Errorf("s3 buckets: got %d, want [env-bucket]", len(buckets.Buckets))
	}

	queues, err := sqs.NewFromConfig(cfg).ListQueues(ctx, &sqs.ListQueuesInput{})
	if err != nil {
		t.Fatalf("sqs ListQueues: %v", err)
	}
	if len(queues.QueueUrls) != 1 {
		t.Errorf("sqs queues: got %v, want one", queues.QueueUrls)
	}

	found := map[string]bool{}
	for _, line := range lines {
		name, _, _ := strings.Cut(line, "=")
		found[name] = true
	}
	for _, name := range []string{"AWS_ENDPOINT_URL_KINESIS", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SQS", "S3_USE_PATH_STYLE", "AWS_ACCESS_KEY_ID"} {
		if !found[name] {
			t.Errorf("Env: got no %s line", name)
		}
	}
}
