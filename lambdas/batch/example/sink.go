package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/twinstream/twinstream/lambdas/batch"
)

// putObjectAPI is the part of the S3 client the processor uses.
type putObjectAPI interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// putObjectFunc adapts a function (a fake in tests) to putObjectAPI.
type putObjectFunc func(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)

func (f putObjectFunc) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	return f(ctx, in, opts...)
}

const (
	// putTimeout bounds each PutObject.
	putTimeout = 10 * time.Second
	// margin is kept free before the invocation's deadline to report what
	// is not stored: a timeout would be a function error, which retries the
	// whole batch.
	margin = time.Second
)

// sink stores each batch's payloads in one S3 object.
type sink struct {
	client putObjectAPI
	bucket string
	prefix string
}

// handle stores a batch and returns the sequence numbers to report as
// BatchItemFailures; err says why they failed.
//
// The payloads of the batch's envelopes, one JSON value per line in batch
// order (the producer's JSON, or a JSON string holding the base64 of bytes
// that were not JSON), go to <prefix>/payloads/<shard>/<first>-<last>.jsonl,
// and its bad records to <prefix>/bad/<shard>/<first>-<last>.jsonl, first and
// last being the batch's first and last sequence numbers. The keys come from
// the batch only: the same batch retried rewrites the same objects with the
// same content, and a retry from a later record writes new ones.
func (s *sink) handle(ctx context.Context, recs []batch.Record) (failed []string, err error) {
	if len(recs) == 0 {
		return nil, nil
	}
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-margin))
		defer cancel()
	}
	b := batch.Read(recs)
	if len(b.Items) > 0 {
		var body []byte
		for _, it := range b.Items {
			body = append(append(body, it.Envelope.Data...), '\n')
		}
		if err := s.put(ctx, s.key("payloads", recs), body); err != nil {
			return b.FailedFrom(0), err
		}
	}
	if len(b.Bad) > 0 {
		body, err := badLines(b)
		if err == nil {
			err = s.put(ctx, s.key("bad", recs), body)
		}
		if err != nil {
			// Every record before the first bad one is stored or skipped.
			return b.FailedFrom(b.Bad[0].Index), err
		}
	}
	slog.InfoContext(ctx, "example processor: batch stored", "records", len(recs), "stored", len(b.Items),
		"bad", len(b.Bad), "canaries", b.Canaries, "copies", b.Duplicates, "conflicts", b.Conflicts)
	return nil, nil
}

func (s *sink) key(kind string, recs []batch.Record) string {
	first, last := recs[0], recs[len(recs)-1]
	return fmt.Sprintf("%s/%s/%s/%s-%s.jsonl", s.prefix, kind, first.ShardID, first.SequenceNumber, last.SequenceNumber)
}

// badLine is a record that is not an envelope, with what finds it in the
// stream.
type badLine struct {
	SequenceNumber string `json:"sequenceNumber"`
	Error          string `json:"error"`
	Data           []byte `json:"data"` // base64
}

func badLines(b *batch.Batch) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, bad := range b.Bad {
		if err := enc.Encode(badLine{b.Records[bad.Index].SequenceNumber, bad.Err.Error(), bad.Data}); err != nil {
			return nil, fmt.Errorf("encode bad record: %w", err)
		}
	}
	return buf.Bytes(), nil
}

func (s *sink) put(ctx context.Context, key string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, putTimeout)
	defer cancel()
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
		ContentType:   aws.String("application/x-ndjson"),
	})
	if err != nil {
		return fmt.Errorf("write s3://%s/%s: %w", s.bucket, key, err)
	}
	return nil
}
