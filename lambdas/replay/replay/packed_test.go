package replay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/twinstream/twinstream/lambdas/pack"
	"github.com/twinstream/twinstream/lambdas/record"
	"github.com/twinstream/twinstream/lambdas/replay/replay"
	"github.com/twinstream/twinstream/lambdas/stream"
)

// packedKinesis is Kinesis at the PutRecords API behind a stream.Packer: it
// keeps the records it takes, and fails every record (plain or packed) that
// holds an envelope failing says should fail.
type packedKinesis struct {
	t       *testing.T
	failing func(e record.Envelope) bool
	records []ktypes.PutRecordsRequestEntry // taken
}

func (k *packedKinesis) put(ctx context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	out := &kinesis.PutRecordsOutput{Records: make([]ktypes.PutRecordsResultEntry, len(in.Records)), FailedRecordCount: aws.Int32(0)}
	for n, r := range in.Records {
		fail := false
		for _, e := range k.envelopes(r.Data) {
			fail = fail || (k.failing != nil && k.failing(e))
		}
		if fail {
			out.Records[n] = ktypes.PutRecordsResultEntry{ErrorCode: aws.String("InternalFailure"), ErrorMessage: aws.String("fake")}
			*out.FailedRecordCount++
			continue
		}
		k.records = append(k.records, r)
		out.Records[n] = ktypes.PutRecordsResultEntry{SequenceNumber: aws.String(strconv.Itoa(len(k.records))), ShardId: aws.String("shardId-000000000000")}
	}
	return out, nil
}

func (k *packedKinesis) envelopes(data []byte) []record.Envelope {
	lines, err := pack.Unpack(data)
	if err != nil {
		k.t.Fatalf("kinesis got %q: %v", data, err)
	}
	var out []record.Envelope
	for _, l := range lines {
		e, err := record.Decode(l)
		if err != nil {
			k.t.Fatalf("kinesis got a line that is not an envelope: %v", err)
		}
		out = append(out, e)
	}
	return out
}

// TestReplayPacked replays a spill object through a Packer, with a packed
// record Kinesis keeps failing: the object stays and its message fails (the
// envelopes that went in are copies for the next run); once Kinesis takes
// it, every envelope is in the stream and only then is the object deleted.
// Envelopes whose partition key is their id go packed together, the others
// with their key's, under it.
func TestReplayPacked(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC)
	var spill []byte
	var ids []string
	for i := range 40 {
		e := record.Envelope{ID: fmt.Sprint("e-", i), Producer: "team-a", Region: "us-east-1", ReceivedAt: at,
			Encoding: record.EncodingJSON, Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
		e.PartitionKey = e.ID
		if i%5 == 0 {
			e.PartitionKey = fmt.Sprint("customer-", i%2)
		}
		spill = append(e.Append(spill), '\n')
		ids = append(ids, e.ID)
	}
	const key = "spill/region=us-east-1/dt=2026-01-02/hr=03/01KDZ8QF3E0000000000000000.ndjson"
	s := newFakeS3(t, map[string][]byte{bucket + "/" + key: spill})
	k := &packedKinesis{t: t, failing: func(e record.Envelope) bool { return e.PartitionKey == "customer-1" }}
	sleeps := 0
	w := &stream.Writer{Client: stream.PutRecordsFunc(k.put), StreamName: "s", Sleep: func(ctx context.Context, _ time.Duration) error {
		if sleeps++; sleeps > 3 {
			return context.DeadlineExceeded
		}
		return nil
	}}
	r := &replay.Replayer{Get: replay.GetObjectFunc(s.get), Delete: replay.DeleteObjectFunc(s.delete), Stream: &stream.Packer{Next: w}, Bucket: bucket}
	msg := []replay.Message{{ID: "m1", Body: created(t, key)}}

	if failed := r.Replay(context.Background(), msg); !slices.Equal(failed, []string{"m1"}) {
		t.Fatalf("with a packed record failing: failed %q, want m1", failed)
	}
	if len(s.keys()) != 1 {
		t.Fatal("the object was deleted with a packed record not in the stream")
	}
	k.failing, sleeps = nil, 0
	if failed := r.Replay(context.Background(), msg); len(failed) != 0 {
		t.Fatalf("with Kinesis back: failed %q, want none", failed)
	}
	if len(s.keys()) != 0 {
		t.Error("object not deleted after all its records went in")
	}
	in := map[string]bool{}
	for _, rec := range k.records {
		envs := k.envelopes(rec.Data)
		pk := aws.ToString(rec.PartitionKey)
		for _, e := range envs {
			in[e.ID] = true
			switch {
			case e.PartitionKey != e.ID && e.PartitionKey != pk:
				t.Errorf("envelope %s with key %s in a record under %s", e.ID, e.PartitionKey, pk)
			case e.PartitionKey == e.ID && envs[0].PartitionKey != envs[0].ID:
				t.Errorf("envelope %s without a key of its own in a record of key %s", e.ID, envs[0].PartitionKey)
			}
		}
		if len(envs) > 1 && !pack.IsPacked(rec.Data) {
			t.Errorf("a plain record of %d envelopes", len(envs))
		}
	}
	for _, id := range ids {
		if !in[id] {
			t.Errorf("envelope %s of the replayed object is not in the stream", id)
		}
	}
	if n := len(k.records); n > 6 {
		t.Errorf("%d records for 40 envelopes of 3 groups over two runs, want at most 6", n)
	}
}
