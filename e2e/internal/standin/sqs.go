package standin

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// SQS is a running local-aws-sqs 2.0.2 (JSON protocol, as aws-sdk-go-v2
// speaks it). Queue URLs point at its 127.0.0.1 port.
type SQS struct {
	region string
	port   int
}

// StartSQS starts local-aws-sqs on 127.0.0.1 and a free port, stopped when
// the test ends. It fails the test if it is not installed (run npm ci).
func StartSQS(t T) *SQS {
	t.Helper()
	root := RepoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "node_modules", "local-aws-sqs", "package.json")); err != nil {
		t.Fatalf("standin: local-aws-sqs is not installed in %s/node_modules: run npm ci (or make deps): %v", root, err)
	}
	q := &SQS{region: DefaultRegion}
	log := &logBuffer{}
	logOnFailure(t, "local-aws-sqs", log)
	ctx, cancel := startContext(t)
	defer cancel()
	script := filepath.Join(Dir(root), "sqs.js")
	p, port, err := startNode(ctx, root, "local-aws-sqs", script, map[string]any{"port": 0, "region": q.region}, q.region, log)
	if err != nil {
		t.Fatalf("standin: %v", err)
	}
	t.Cleanup(func() {
		if err := p.kill(); err != nil {
			t.Errorf("standin: %v", err)
		}
	})
	q.port = port
	return q
}

// Endpoint returns the base URL.
func (q *SQS) Endpoint() string { return fmt.Sprintf("http://127.0.0.1:%d", q.port) }

// Region returns the region in the queue ARNs.
func (q *SQS) Region() string { return q.region }

// Env returns AWS_ENDPOINT_URL_SQS for a child process.
func (q *SQS) Env() []string { return []string{"AWS_ENDPOINT_URL_SQS=" + q.Endpoint()} }

// Client returns an SQS client for this stand-in.
func (q *SQS) Client(optFns ...func(*sqs.Options)) *sqs.Client {
	endpoint := q.Endpoint()
	opts := append([]func(*sqs.Options){func(o *sqs.Options) {
		o.BaseEndpoint = aws.String(endpoint)
	}}, optFns...)
	return sqs.NewFromConfig(AWSConfig(q.region), opts...)
}

// CreateQueue creates a standard queue and returns its URL.
func (q *SQS) CreateQueue(ctx context.Context, name string) (string, error) {
	out, err := q.Client().CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("create queue %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), nil
}
