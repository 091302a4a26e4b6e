package main

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/acme/orders/lambdas/processor/orders"
)

// putFunc is a fake S3 client.
type putFunc func(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)

func (f putFunc) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	return f(ctx, in, opts...)
}

// TestHandler: the Lambda event in, BatchItemFailures out, and never an
// error, which would retry the whole batch.
func TestHandler(t *testing.T) {
	ev := events.KinesisEvent{Records: []events.KinesisEventRecord{
		{EventID: "shardId-000000000000:101", Kinesis: events.KinesisRecord{SequenceNumber: "101", PartitionKey: "x", Data: []byte("not an envelope")}},
		{EventID: "shardId-000000000000:102", Kinesis: events.KinesisRecord{SequenceNumber: "102", PartitionKey: "y", Data: []byte("nor this")}},
	}}
	tests := []struct {
		name    string
		err     error
		want    events.KinesisEventResponse
		wantKey string
	}{
		{name: "stored", wantKey: "orders/rejected/shardId-000000000000/101-102.jsonl"},
		{name: "s3 fails", err: errors.New("s3 down"), want: events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{
			{ItemIdentifier: "101"}, {ItemIdentifier: "102"},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var key string
			s := &orders.Store{Bucket: "sink", Prefix: "orders", Client: putFunc(
				func(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
					if tt.err != nil {
						return nil, tt.err
					}
					key = *in.Key
					return &s3.PutObjectOutput{}, nil
				})}
			resp, err := handler(s)(context.Background(), ev)
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if !reflect.DeepEqual(resp, tt.want) {
				t.Errorf("got %+v, want %+v", resp, tt.want)
			}
			if key != tt.wantKey {
				t.Errorf("got object %q, want %q", key, tt.wantKey)
			}
		})
	}
}
