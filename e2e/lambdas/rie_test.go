package lambdas_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/twinstream/twinstream/e2e/internal/standin"
	"github.com/twinstream/twinstream/lambdas/pack"
	"github.com/twinstream/twinstream/lambdas/record"
)

// These tests build each handler's bootstrap as the CDK app does (for the
// host's architecture) and invoke it under aws-lambda-rie with a fixture
// event, as Lambda would: the wiring in main.go, the environment it reads and
// the event/response types are exercised, not only the logic packages.

// fixture reads a handler's test data: path is relative to the library's
// lambdas directory.
func fixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "lambdas", path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func invoke(t *testing.T, fn *standin.RIE, event []byte, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := fn.Invoke(ctx, event)
	if err != nil {
		t.Fatalf("invoke: %v\nlogs:\n%s", err, fn.Logs())
	}
	if err := json.Unmarshal(resp, out); err != nil {
		t.Fatalf("response %s: %v", resp, err)
	}
}

func TestRIEIngest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kin := standin.StartKinesis(t, standin.KinesisOptions{Region: region, InMemory: true})
	s3s := standin.StartS3(t)
	if err := kin.CreateStream(ctx, streamName, 1); err != nil {
		t.Fatal(err)
	}
	if err := s3s.CreateBucket(ctx, spillBucket); err != nil {
		t.Fatal(err)
	}
	sm := standin.StartSecretsManager(t, map[string]string{"api-keys": string(fixture(t, "ingest/ingest/testdata/api-keys-secret.json"))})
	env := append(standin.Env(region, kin, s3s, sm),
		"STREAM_NAME="+streamName, "SPILL_BUCKET="+spillBucket,
		"API_KEYS_SECRET_ARN=arn:aws:secretsmanager:us-east-1:123456789012:secret:api-keys")
	fn := standin.StartRIE(t, standin.BuildBootstrap(t, "./lambdas/ingest"), env)

	var resp events.ALBTargetGroupResponse
	invoke(t, fn, fixture(t, "ingest/ingest/testdata/alb-post-records.json"), &resp)
	if resp.StatusCode != http.StatusAccepted || resp.StatusDescription != "202 Accepted" {
		t.Fatalf("status: got %d %q, want 202 \"202 Accepted\"; body %s", resp.StatusCode, resp.StatusDescription, resp.Body)
	}
	var body struct {
		Accepted, Spilled int
		IDs               []string
	}
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatal(err)
	}
	if body.Accepted != 3 || body.Spilled != 0 || len(body.IDs) != 3 || body.IDs[0] != "order-1001" {
		t.Fatalf("body: got %+v, want 3 accepted, 0 spilled, first id order-1001", body)
	}
	recs, err := kin.ReadAll(ctx, streamName)
	if err != nil {
		t.Fatal(err)
	}
	// Packed by default (PACK_RECORDS unset): order-1001, under its own
	// key customer-42, alone and small, so plain; the two records without
	// a key packed together.
	if len(recs) != 2 || !pack.IsPacked(recs[0].Data) && !pack.IsPacked(recs[1].Data) {
		t.Fatalf("stream: got %d records, want 2, one packed", len(recs))
	}
	envs, err := standin.Envelopes(recs)
	if err != nil || len(envs) != 3 {
		t.Fatalf("stream: got %d envelopes (%v), want 3", len(envs), err)
	}
	for _, e := range envs {
		if e.Region != region {
			t.Fatalf("stream envelope: got %+v, want an envelope from %s", e, region)
		}
	}

	// Kinesis gone: the same request is still acknowledged, from the spill bucket.
	if err := kin.Kill(); err != nil {
		t.Fatal(err)
	}
	invoke(t, fn, fixture(t, "ingest/ingest/testdata/alb-post-records.json"), &resp)
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusAccepted || body.Spilled != 3 {
		t.Fatalf("with Kinesis down: got %d %s, want 202 with 3 spilled", resp.StatusCode, resp.Body)
	}
	objs, err := s3s.Objects(ctx, spillBucket, "spill/")
	if err != nil || len(objs) != 1 {
		t.Fatalf("spill objects: got %d (%v), want 1", len(objs), err)
	}
	// spill/<hash>/region=/dt=/hr=/<request id>.ndjson
	if p := strings.Split(objs[0].Key, "/"); len(p) != 6 || len(p[1]) != 2 || p[2] != "region="+region {
		t.Errorf("spill key %q, want spill/<2 hex>/region=%s/dt=.../hr=.../<id>.ndjson", objs[0].Key, region)
	}
}

// TestRIEIngestPlain: PACK_RECORDS=false writes one plain envelope per
// Kinesis record, as before packing.
func TestRIEIngestPlain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kin := standin.StartKinesis(t, standin.KinesisOptions{Region: region, InMemory: true})
	s3s := standin.StartS3(t)
	if err := kin.CreateStream(ctx, streamName, 1); err != nil {
		t.Fatal(err)
	}
	sm := standin.StartSecretsManager(t, map[string]string{"api-keys": string(fixture(t, "ingest/ingest/testdata/api-keys-secret.json"))})
	env := append(standin.Env(region, kin, s3s, sm),
		"STREAM_NAME="+streamName, "SPILL_BUCKET="+spillBucket, "PACK_RECORDS=false",
		"API_KEYS_SECRET_ARN=arn:aws:secretsmanager:us-east-1:123456789012:secret:api-keys")
	fn := standin.StartRIE(t, standin.BuildBootstrap(t, "./lambdas/ingest"), env)
	var resp events.ALBTargetGroupResponse
	invoke(t, fn, fixture(t, "ingest/ingest/testdata/alb-post-records.json"), &resp)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status: got %d, want 202; body %s", resp.StatusCode, resp.Body)
	}
	recs, err := kin.ReadAll(ctx, streamName)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("stream: got %d records, want 3", len(recs))
	}
	for _, r := range recs {
		if e, err := record.Decode(r.Data); err != nil || e.Region != region {
			t.Fatalf("stream record: got %+v (%v), want a plain envelope from %s", e, err, region)
		}
	}
}

func TestRIEHealth(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kin := standin.StartKinesis(t, standin.KinesisOptions{Region: region, InMemory: true})
	if err := kin.CreateStream(ctx, streamName, 1); err != nil {
		t.Fatal(err)
	}
	// One failed probe turns the verdict, and no cache: each invoke probes.
	env := append(standin.Env(region, kin), "STREAM_NAME="+streamName,
		"UNHEALTHY_AFTER=1", "PROBE_CACHE_TTL=1ms", "PROBE_TIMEOUT=300ms")
	fn := standin.StartRIE(t, standin.BuildBootstrap(t, "./lambdas/health"), env)
	event := fixture(t, "health/health/testdata/alb-health-deep.json")

	var resp events.ALBTargetGroupResponse
	invoke(t, fn, event, &resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Body, `"verdict":"healthy"`) {
		t.Fatalf("healthy Kinesis: got %d %s, want 200 healthy", resp.StatusCode, resp.Body)
	}
	recs, err := kin.ReadAll(ctx, streamName)
	if err != nil || len(recs) != 1 {
		t.Fatalf("canaries: got %d (%v), want 1", len(recs), err)
	}
	if e, err := record.Decode(recs[0].Data); err != nil || !e.Canary {
		t.Fatalf("canary: got %+v (%v), want Canary=true", e, err)
	}

	if err := kin.Hang(); err != nil {
		t.Fatal(err)
	}
	defer kin.Resume()
	invoke(t, fn, event, &resp)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(resp.Body, `"verdict":"unhealthy"`) {
		t.Fatalf("hung Kinesis: got %d %s, want 503 unhealthy", resp.StatusCode, resp.Body)
	}
}

func TestRIEProcessor(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s3s := standin.StartS3(t)
	if err := s3s.CreateBucket(ctx, sinkBucket); err != nil {
		t.Fatal(err)
	}
	env := append(standin.Env(region, s3s), "SINK_BUCKET="+sinkBucket)
	fn := standin.StartRIE(t, standin.BuildBootstrap(t, "./lambdas/processor"), env)

	var resp events.KinesisEventResponse
	invoke(t, fn, fixture(t, "processor/testdata/kinesis-event.json"), &resp)
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("batch item failures: got %v, want none", resp.BatchItemFailures)
	}
	objs, err := s3s.Objects(ctx, sinkBucket, "records/region=us-east-1/")
	if err != nil || len(objs) != 1 {
		t.Fatalf("sink objects: got %d (%v), want 1", len(objs), err)
	}
	if lines := bytes.Count(objs[0].Body, []byte("\n")); lines != 2 {
		t.Fatalf("sink object %s: got %d lines, want 2 (the canary dropped)", objs[0].Key, lines)
	}

	// The sink failing: every record is reported, so Lambda retries them.
	s3s.Fail(true)
	invoke(t, fn, fixture(t, "processor/testdata/kinesis-event.json"), &resp)
	if len(resp.BatchItemFailures) == 0 {
		t.Fatalf("with S3 failing: got no batch item failures, want the batch reported")
	}
}

func TestRIEReplay(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kin := standin.StartKinesis(t, standin.KinesisOptions{Region: region, InMemory: true})
	s3s := standin.StartS3(t)
	if err := kin.CreateStream(ctx, streamName, 1); err != nil {
		t.Fatal(err)
	}
	const bucket = "twinstream-spill-us-east-1"
	const key = "spill/region=us-east-1/dt=2026-01-02/hr=03/01KDZ8QF3E0000000000000000.ndjson"
	if err := s3s.CreateBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	if _, err := s3s.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: bytes.NewReader(fixture(t, "replay/replay/testdata/spill.ndjson"))}); err != nil {
		t.Fatal(err)
	}
	env := append(standin.Env(region, kin, s3s), "STREAM_NAME="+streamName, "SPILL_BUCKET="+bucket)
	fn := standin.StartRIE(t, standin.BuildBootstrap(t, "./lambdas/replay"), env)

	event := fixture(t, "replay/replay/testdata/sqs-event.json")
	var resp events.SQSEventResponse
	invoke(t, fn, event, &resp)
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("batch item failures: got %v, want none\nlogs:\n%s", resp.BatchItemFailures, fn.Logs())
	}
	recs, err := kin.ReadAll(ctx, streamName)
	if err != nil {
		t.Fatal(err)
	}
	// Packed again (PACK_RECORDS unset): the three envelopes whose key is
	// their id in one record, order-42 (key customer-7) alone, plain.
	envs, err := standin.Envelopes(recs)
	if err != nil || len(recs) != 2 || len(envs) != 4 {
		t.Fatalf("stream: got %d records holding %d envelopes (%v), want 2 holding the 4 spilled envelopes", len(recs), len(envs), err)
	}
	if objs, err := s3s.Objects(ctx, bucket, "spill/"); err != nil || len(objs) != 0 {
		t.Fatalf("spill objects after replay: got %d (%v), want 0", len(objs), err)
	}
	// A second delivery of the same notification finds the object gone: done.
	invoke(t, fn, event, &resp)
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("redelivery: got failures %v, want none", resp.BatchItemFailures)
	}
}
