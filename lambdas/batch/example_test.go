package batch_test

import (
	"errors"
	"fmt"

	"github.com/twinstream/twinstream/lambdas/batch"
)

// handle is the core of a processor's handler (see lambdas/batch/example for
// a whole one): keep the bad records, handle the envelopes in batch order,
// and at the first failure report every Kinesis record from that envelope's
// on. main converts the event with kinesisevent.Records and returns
// kinesisevent.Response(failed) with a nil error.
func handle(recs []batch.Record, keep func([]batch.Bad) error, store func(batch.Item) error) (failed []string) {
	b := batch.Read(recs)
	if len(b.Bad) > 0 {
		if err := keep(b.Bad); err != nil {
			return b.FailedFrom(0) // nothing handled yet
		}
	}
	for _, it := range b.Items {
		if err := store(it); err != nil {
			// Everything before it is stored, kept as bad, or skipped.
			return b.FailedFrom(it.Index)
		}
	}
	fmt.Printf("%d stored, %d bad, %d canaries and %d copies skipped, %d conflicts\n",
		len(b.Items), len(b.Bad), b.Canaries, b.Duplicates, b.Conflicts)
	return nil
}

func Example() {
	// A batch as kinesisevent.Records gives it, with the records ingest
	// wrote: two orders, a canary, a copy of the first order (a producer's
	// retry), a record that is not an envelope and the id order-1 reused
	// with another payload.
	lines := []string{
		`{"id":"order-1","producer":"shop","region":"eu-west-1","receivedAt":"2025-03-04T10:15:00.123Z","partitionKey":"order-1","encoding":"json","data":{"total":12}}`,
		`{"id":"canary-eu-west-1-01JNKZQ4VA0000000000000000","region":"eu-west-1","receivedAt":"2025-03-04T10:15:00.200Z","partitionKey":"canary-eu-west-1","encoding":"json","data":{"probe":"health"},"canary":true}`,
		`{"id":"order-2","producer":"shop","region":"eu-west-1","receivedAt":"2025-03-04T10:15:00.301Z","partitionKey":"order-2","encoding":"json","data":{"total":7}}`,
		`{"id":"order-1","producer":"shop","region":"us-east-1","receivedAt":"2025-03-04T10:15:01.000Z","partitionKey":"order-1","encoding":"json","data":{"total":12}}`,
		`not an envelope`,
		`{"id":"order-1","producer":"shop","region":"eu-west-1","receivedAt":"2025-03-04T10:15:02.000Z","partitionKey":"order-1","encoding":"json","data":{"total":13}}`,
	}
	var recs []batch.Record
	for i, l := range lines {
		recs = append(recs, batch.Record{ShardID: "shardId-000000000000", SequenceNumber: fmt.Sprint(100 + i), Data: []byte(l)})
	}
	keep := func(bad []batch.Bad) error {
		for _, b := range bad {
			fmt.Printf("kept bad record %s: %v\n", recs[b.Index].SequenceNumber, b.Err)
		}
		return nil
	}
	store := func(it batch.Item) error {
		fmt.Printf("stored %s %s/%s %s conflict=%t\n", it.SequenceNumber, it.Envelope.Producer, it.Envelope.ID, it.Envelope.Data, it.Conflict)
		return nil
	}
	fmt.Println("failed:", handle(recs, keep, store))

	// The store fails at order-2: Lambda gets records 102 on, and retries
	// from 102.
	failing := func(it batch.Item) error {
		if it.Envelope.ID == "order-2" {
			return errors.New("store unavailable")
		}
		return store(it)
	}
	fmt.Println("failed:", handle(recs, keep, failing))
	// Output:
	// kept bad record 104: decode envelope: invalid character 'o' in literal null (expecting 'u')
	// stored 100 shop/order-1 {"total":12} conflict=false
	// stored 102 shop/order-2 {"total":7} conflict=false
	// stored 105 shop/order-1 {"total":13} conflict=true
	// 3 stored, 1 bad, 1 canaries and 1 copies skipped, 1 conflicts
	// failed: []
	// kept bad record 104: decode envelope: invalid character 'o' in literal null (expecting 'u')
	// stored 100 shop/order-1 {"total":12} conflict=false
	// failed: [102 103 104 105]
}
