package kinesisevent

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/twinstream/twinstream/lambdas/batch"
)

const (
	seq1 = "49659753117836441366498154379620467326484640474564722690"
	seq2 = "49659753117836441366498154379621676252304255103739428866"
	seq3 = "49659753117836441366498154379622885178123869732914135042"
)

func fixture(t *testing.T) events.KinesisEvent {
	t.Helper()
	b, err := os.ReadFile("testdata/kinesis-event.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.KinesisEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("decode fixture: %v", err)
	}
	return ev
}

func TestRecords(t *testing.T) {
	ev := fixture(t)
	recs := Records(ev)
	if len(recs) != 3 {
		t.Fatalf("got %d records, want 3", len(recs))
	}
	arrival := time.Date(2025, 3, 4, 10, 15, 0, 250e6, time.UTC)
	for i, want := range []struct{ seq, pk, id string }{
		{seq1, "01JNKZQ4V8D6G2X7M3P9R5T1WA", "01JNKZQ4V8D6G2X7M3P9R5T1WA"},
		{seq2, "canary-us-east-1", "canary-us-east-1-01JNKZQ4VA0000000000000000"},
		{seq3, "customer-7", "order-42"},
	} {
		r := recs[i]
		if r.ShardID != "shardId-000000000003" || r.SequenceNumber != want.seq || r.PartitionKey != want.pk {
			t.Errorf("record %d: got %s %s %s, want shardId-000000000003 %s %s", i, r.ShardID, r.SequenceNumber, r.PartitionKey, want.seq, want.pk)
		}
		// JSON floats make the timestamp exact only to the microsecond.
		if d := r.ArrivalTime.Sub(arrival.Add(time.Duration(i) * 500 * time.Millisecond)); d < -time.Microsecond || d > time.Microsecond {
			t.Errorf("record %d: got arrival %v, want %v", i, r.ArrivalTime, arrival)
		}
		if string(r.Data) != string(ev.Records[i].Kinesis.Data) {
			t.Errorf("record %d: got data %q, want %q", i, r.Data, ev.Records[i].Kinesis.Data)
		}
	}
	// The fixture read through the library: the canary skipped.
	b := batch.Read(recs)
	var ids []string
	for _, it := range b.Items {
		ids = append(ids, it.Envelope.ID)
	}
	if want := []string{"01JNKZQ4V8D6G2X7M3P9R5T1WA", "order-42"}; !reflect.DeepEqual(ids, want) || b.Canaries != 1 || len(b.Bad) != 0 {
		t.Errorf("got items %q, %d canaries, bad %v, want %q, 1, none", ids, b.Canaries, b.Bad, want)
	}
}

func TestRecordsShardID(t *testing.T) {
	tests := []struct{ eventID, want string }{
		{"shardId-000000000003:4965", "shardId-000000000003"},
		{"shardId-000000000003", "shardId-000000000003"},
		{"", ""},
		{":1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.eventID, func(t *testing.T) {
			recs := Records(events.KinesisEvent{Records: []events.KinesisEventRecord{{EventID: tt.eventID}}})
			if recs[0].ShardID != tt.want {
				t.Errorf("got %q, want %q", recs[0].ShardID, tt.want)
			}
		})
	}
}

func TestResponse(t *testing.T) {
	tests := []struct {
		name   string
		failed []string
		want   string
	}{
		{"none", nil, `{"batchItemFailures":null}`},
		{"two", []string{seq2, seq3}, `{"batchItemFailures":[{"itemIdentifier":"` + seq2 + `"},{"itemIdentifier":"` + seq3 + `"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(Response(tt.failed))
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("got %s, want %s", b, tt.want)
			}
		})
	}
}
