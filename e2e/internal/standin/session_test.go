package standin

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
)

func TestSessionCleanupOrder(t *testing.T) {
	var log bytes.Buffer
	s := NewSession(&log)
	var order []int
	s.Cleanup(func() { order = append(order, 1) })
	s.Cleanup(func() { order = append(order, 2) })
	dir := s.TempDir()
	s.Errorf("boom %d", 7)
	s.Close()
	if len(order) != 2 || order[0] != 2 || order[1] != 1 {
		t.Errorf("cleanup order: got %v, want [2 1]", order)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temp dir after Close: got %v, want it removed", err)
	}
	if !s.Failed() || !strings.Contains(log.String(), "error: boom 7") {
		t.Errorf("got failed=%v log %q, want failed and the message", s.Failed(), log.String())
	}
	if s.Context().Err() == nil {
		t.Error("context after Close: got live, want cancelled")
	}
}

func TestS3OnPut(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := StartS3(t)
	if err := s.CreateBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	type put struct {
		bucket, key string
		size        int64
	}
	got := make(chan put, 4)
	s.OnPut(func(bucket, key string, size int64) { got <- put{bucket, key, size} })
	_, err := s.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("spill/region=us-east-1/a b.ndjson"), Body: strings.NewReader("12345")})
	if err != nil {
		t.Fatal(err)
	}
	// A failed put is not notified.
	_, _ = s.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("missing"), Key: aws.String("k"), Body: strings.NewReader("x")})
	select {
	case p := <-got:
		if p != (put{"bkt", "spill/region=us-east-1/a b.ndjson", 5}) {
			t.Errorf("notification: got %+v, want bucket bkt, the decoded key, size 5", p)
		}
	default:
		t.Fatal("got no notification, want one")
	}
	if len(got) != 0 {
		t.Errorf("notifications: got %d more, want none for the failed put", len(got))
	}
}

func TestSecretsManager(t *testing.T) {
	sm := StartSecretsManager(t, map[string]string{"twinstream/api-keys": `{"keys":[]}`})
	c := secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(sm.Endpoint()),
		Credentials: AWSConfig("us-east-1").Credentials, RetryMaxAttempts: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, id := range []string{"twinstream/api-keys", "arn:aws:secretsmanager:us-west-2:123456789012:secret:twinstream/api-keys-AbCdEf"} {
		out, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil || aws.ToString(out.SecretString) != `{"keys":[]}` {
			t.Errorf("%s: got %v, %v, want the value", id, out, err)
		}
	}
	if _, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("other")}); err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Errorf("unknown secret: got %v, want ResourceNotFoundException", err)
	}
	if sm.Calls() != 3 {
		t.Errorf("calls: got %d, want 3", sm.Calls())
	}

	sm.Fail(true)
	_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("twinstream/api-keys")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InternalServiceError" {
		t.Errorf("while failing: got %v, want InternalServiceError", err)
	}
	sm.Fail(false)
	if out, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("twinstream/api-keys")}); err != nil || aws.ToString(out.SecretString) != `{"keys":[]}` {
		t.Errorf("after Fail(false): got %v, %v, want the value", out, err)
	}
}
