// Package kinesisevent converts between the Lambda Kinesis event types of
// github.com/aws/aws-lambda-go and package batch, so a processor's logic can
// stay free of aws-lambda-go and its main package only wires.
package kinesisevent

import (
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/twinstream/twinstream/lambdas/batch"
)

// Records returns the event's records for batch.Read. The shard id is the
// part of the event id before ':' ("shardId-000000000003:4965...").
func Records(ev events.KinesisEvent) []batch.Record {
	out := make([]batch.Record, len(ev.Records))
	for i, r := range ev.Records {
		shard, _, _ := strings.Cut(r.EventID, ":")
		out[i] = batch.Record{
			ShardID:        shard,
			SequenceNumber: r.Kinesis.SequenceNumber,
			PartitionKey:   r.Kinesis.PartitionKey,
			Data:           r.Kinesis.Data,
			ArrivalTime:    r.Kinesis.ApproximateArrivalTimestamp.Time,
		}
	}
	return out
}

// Response reports the sequence numbers failed (Batch.FailedFrom) as
// BatchItemFailures; none means the whole batch was handled.
func Response(failed []string) events.KinesisEventResponse {
	var resp events.KinesisEventResponse
	for _, seq := range failed {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: seq})
	}
	return resp
}
