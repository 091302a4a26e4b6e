package main

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/twinstream/twinstream/lambdas/env"
)

func TestSetup(t *testing.T) {
	base := map[string]string{"AWS_REGION": "eu-west-1", "SINK_BUCKET": "sink-bucket", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "SECRET"}
	tests := []struct {
		name    string
		set     map[string]string
		unset   string
		prefix  string
		wantErr string
	}{
		{name: "defaults", prefix: "example"},
		{name: "prefix", set: map[string]string{"OUTPUT_PREFIX": "orders"}, prefix: "orders"},
		{name: "no bucket", unset: "SINK_BUCKET", wantErr: "SINK_BUCKET is required"},
		{name: "no region", unset: "AWS_REGION", wantErr: "AWS_REGION is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{}
			for k, v := range base {
				vars[k] = v
			}
			for k, v := range tt.set {
				vars[k] = v
			}
			delete(vars, tt.unset)
			r := &env.Reader{Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
			s, err := setup(context.Background(), r)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if s.bucket != "sink-bucket" || s.prefix != tt.prefix || s.client == nil {
				t.Errorf("got bucket %q, prefix %q, client %v, want sink-bucket, %q and a client", s.bucket, s.prefix, s.client, tt.prefix)
			}
		})
	}
}

// TestHandleEvent: the Lambda event in, BatchItemFailures out, and never an
// error, which would retry the whole batch.
func TestHandleEvent(t *testing.T) {
	a := envelope("order-1", `{"total":12}`)
	ev := events.KinesisEvent{Records: []events.KinesisEventRecord{
		{EventID: shard + ":101", Kinesis: events.KinesisRecord{SequenceNumber: "101", PartitionKey: "order-1", Data: a.Append(nil)}},
		{EventID: shard + ":102", Kinesis: events.KinesisRecord{SequenceNumber: "102", PartitionKey: "x", Data: []byte("bad")}},
	}}
	tests := []struct {
		name string
		fail error
		want events.KinesisEventResponse
		objs map[string]string
	}{
		{name: "stored", objs: map[string]string{
			"orders/payloads/" + shard + "/101-102.jsonl": `{"total":12}` + "\n",
			"orders/bad/" + shard + "/101-102.jsonl":      `{"sequenceNumber":"102","error":"decode envelope: invalid character 'b' looking for beginning of value","data":"YmFk"}` + "\n",
		}},
		{name: "s3 fails", fail: errors.New("s3 down"), want: events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{
			{ItemIdentifier: "101"}, {ItemIdentifier: "102"},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bk := &bucket{fail: func(string) error { return tt.fail }}
			resp, err := newSink(bk).handleEvent(context.Background(), ev)
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if !reflect.DeepEqual(resp, tt.want) {
				t.Errorf("got %+v, want %+v", resp, tt.want)
			}
			if !reflect.DeepEqual(bk.objs, tt.objs) {
				t.Errorf("got objects %q, want %q", bk.objs, tt.objs)
			}
		})
	}
}
