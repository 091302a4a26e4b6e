// Package sample makes realistic records for the packing benchmarks, tests
// and golden sample: what compression achieves depends on the data, so the
// figures are measured on JSON a shop would send, never on random bytes or
// one repeated record. It is deterministic for a seed.
package sample

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/twinstream/twinstream/lambdas/record"
)

var (
	events   = []string{"order.created", "order.paid", "order.shipped", "order.cancelled"}
	skus     = []string{"SKU-10442", "SKU-20931", "SKU-33810", "SKU-48120", "SKU-51177", "SKU-60213"}
	currency = []string{"EUR", "USD", "GBP"}
	channels = []string{"web", "ios", "android", "store"}
)

// Order returns one order event of about 200 bytes of compact JSON, e.g.
//
//	{"orderId":"ord-1A2B3C4D","customer":"c-004211","event":"order.paid",
//	 "items":[{"sku":"SKU-20931","qty":2,"price":118.07}],"total":236.14,
//	 "currency":"EUR","channel":"web","ts":"2026-12-01T10:15:01.871Z"}
//
// Its order id (32 random bits), customer (one of a million), amounts and
// timestamp (within 5 s of t) vary per record; the field names, event types,
// SKUs, currencies and channels come from small sets, as in real traffic.
func Order(rng *rand.Rand, t time.Time) json.RawMessage {
	qty, price := rng.IntN(5)+1, rng.IntN(20000)
	total := qty * price
	return json.RawMessage(fmt.Sprintf(`{"orderId":"ord-%08X","customer":"c-%06d","event":"%s","items":[{"sku":"%s","qty":%d,"price":%d.%02d}],"total":%d.%02d,"currency":"%s","channel":"%s","ts":"%s"}`,
		rng.Uint32(), rng.IntN(1000000), events[rng.IntN(len(events))], skus[rng.IntN(len(skus))], qty, price/100, price%100,
		total/100, total%100, currency[rng.IntN(len(currency))], channels[rng.IntN(len(channels))],
		t.Add(-time.Duration(rng.IntN(5000))*time.Millisecond).UTC().Format("2006-01-02T15:04:05.000Z")))
}

// Envelopes returns n envelopes of Order payloads as ingest makes them for
// one request: producer "team-a", region us-east-1, received at t
// (milliseconds), ULID ids for t, and each record's id as its partition key.
func Envelopes(n int, seed uint64, t time.Time) []record.Envelope {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	t = t.UTC().Truncate(time.Millisecond)
	ids := ulid.Monotonic(reader{rng}, 0)
	out := make([]record.Envelope, n)
	for i := range out {
		id := ulid.MustNew(ulid.Timestamp(t), ids).String()
		out[i] = record.Envelope{ID: id, Producer: "team-a", Region: "us-east-1", ReceivedAt: t, PartitionKey: id,
			Encoding: record.EncodingJSON, Data: Order(rng, t)}
	}
	return out
}

// reader is a deterministic entropy source for ulid.
type reader struct{ rng *rand.Rand }

func (r reader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r.rng.Uint32())
	}
	return len(p), nil
}
