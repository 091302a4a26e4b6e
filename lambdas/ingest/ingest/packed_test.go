package ingest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/twinstream/twinstream/lambdas/pack"
	"github.com/twinstream/twinstream/lambdas/pack/sample"
	"github.com/twinstream/twinstream/lambdas/record"
	"github.com/twinstream/twinstream/lambdas/stream"
)

// putRecordsFake is Kinesis at the PutRecords API, behind the real
// stream.Writer and stream.Packer. It keeps what it takes (sent: every
// record as sent, taken or not), and fails records and calls as failRecord
// and failCall decide; a failed call may have been applied (a timeout after
// Kinesis stored the records).
type putRecordsFake struct {
	mu         sync.Mutex
	calls      int
	sent       []types.PutRecordsRequestEntry
	stored     [][]byte
	failRecord func(call, n int) string // error code, "" to store
	failCall   func(call int) (err error, applied bool)
}

func (k *putRecordsFake) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls++
	k.sent = append(k.sent, in.Records...)
	if k.failCall != nil {
		if err, applied := k.failCall(k.calls); err != nil {
			if applied {
				for _, r := range in.Records {
					k.stored = append(k.stored, r.Data)
				}
			}
			return nil, err
		}
	}
	out := &kinesis.PutRecordsOutput{Records: make([]types.PutRecordsResultEntry, len(in.Records)), FailedRecordCount: aws.Int32(0)}
	for n, r := range in.Records {
		if k.failRecord != nil {
			if code := k.failRecord(k.calls, n); code != "" {
				out.Records[n] = types.PutRecordsResultEntry{ErrorCode: aws.String(code), ErrorMessage: aws.String("fake")}
				*out.FailedRecordCount++
				continue
			}
		}
		k.stored = append(k.stored, r.Data)
		out.Records[n] = types.PutRecordsResultEntry{SequenceNumber: aws.String(strconv.Itoa(len(k.stored))), ShardId: aws.String("shardId-000000000000")}
	}
	return out, nil
}

// envelopes returns the envelopes Kinesis stored, unpacked.
func (k *putRecordsFake) envelopes(t *testing.T) []record.Envelope {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []record.Envelope
	for _, data := range k.stored {
		lines, err := pack.Unpack(data)
		if err != nil {
			t.Fatalf("stored record: %v", err)
		}
		for _, l := range lines {
			e, err := record.Decode(l)
			if err != nil {
				t.Fatalf("stored envelope: %v", err)
			}
			out = append(out, e)
		}
	}
	return out
}

// packedHandler is the handler as deployed with packing on: Packer, Writer,
// the fake's PutRecords. Retries do not sleep, and a request's budget runs
// out at its fifth retry.
func packedHandler(t *testing.T, k *putRecordsFake, sp *spillFake) *Handler {
	t.Helper()
	var mu sync.Mutex
	sleeps := 0
	w := &stream.Writer{Client: k, StreamName: "s", Sleep: func(ctx context.Context, _ time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		if sleeps++; sleeps%5 == 0 {
			return fmt.Errorf("retry budget spent: %w", context.DeadlineExceeded)
		}
		return ctx.Err()
	}}
	return newHandler(t, testConfig(), &stream.Packer{Next: w}, sp, nil, nil)
}

// mixedRequest is n order events, every third with a partition key of its
// own (one of three customers), the others without; some with ids.
func mixedRequest(n int, seed uint64) string {
	rng := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	b.WriteString(`{"records":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{`)
		if i%4 == 1 {
			fmt.Fprintf(&b, `"id":"order-%d",`, i)
		}
		if i%3 == 2 {
			fmt.Fprintf(&b, `"partitionKey":"customer-%d",`, rng.IntN(3))
		}
		fmt.Fprintf(&b, `"data":%s}`, sample.Order(rng, t0))
	}
	b.WriteString(`]}`)
	return b.String()
}

// TestAcknowledgedIsStoredPacked walks every path to an answer with packing
// on and tries to lose a record on each: Kinesis records failing in part
// (throttled, InternalFailure), whole calls failing, calls applied but timed
// out, Kinesis down, the budget running out between retries, and the spill
// bucket failing too. Every id answered 202 (or listed in a 503's stored)
// must be in Kinesis or the spill bucket; every id of a 503's failedIds must
// be one the producer may resend.
func TestAcknowledgedIsStoredPacked(t *testing.T) {
	type scenario struct {
		name       string
		failRecord func(call, n int) string
		failCall   func(call int) (error, bool)
		spillDown  bool
		want       int // status
	}
	timeout := errors.New("fake: i/o timeout")
	tests := []scenario{
		{name: "all in kinesis", want: 202},
		{name: "some packed records failing once", failRecord: func(call, n int) string {
			if call == 1 && n%2 == 0 {
				return stream.ThrottledCode
			}
			return ""
		}, want: 202},
		{name: "some packed records failing always: spilled", failRecord: func(_, n int) string {
			if n%2 == 1 {
				return "InternalFailure"
			}
			return ""
		}, want: 202},
		{name: "kinesis down: all spilled", failCall: func(int) (error, bool) { return timeout, false }, want: 202},
		{name: "calls time out after kinesis applied them", failCall: func(int) (error, bool) { return timeout, true }, want: 202},
		{name: "first call applied then timed out, then partial", failCall: func(call int) (error, bool) { return timeout, call == 1 },
			failRecord: func(_, n int) string {
				if n == 0 {
					return stream.ThrottledCode
				}
				return ""
			}, want: 202},
		{name: "partial failures and the spill bucket down: 503", failRecord: func(_, n int) string {
			if n%3 == 0 {
				return "InternalFailure"
			}
			return ""
		}, spillDown: true, want: 503},
		{name: "kinesis and the spill bucket down: 503", failCall: func(int) (error, bool) { return timeout, false }, spillDown: true, want: 503},
	}
	for _, tt := range tests {
		for _, n := range []int{1, 7, 120, 500} {
			t.Run(fmt.Sprint(tt.name, "/", n), func(t *testing.T) {
				k := &putRecordsFake{failRecord: tt.failRecord, failCall: tt.failCall}
				sp := &spillFake{}
				if tt.spillDown {
					sp.err = errors.New("s3: service unavailable")
				}
				h := packedHandler(t, k, sp)
				res := serve(t, h, post(TypeJSON, bearerKey, mixedRequest(n, uint64(n))))
				if res.status != tt.want {
					t.Fatalf("status %d, want %d: %.300s", res.status, tt.want, res.raw)
				}
				where := map[string]string{}
				for _, e := range k.envelopes(t) {
					where[e.ID] = "kinesis"
				}
				for _, e := range spilledEnvelopes(t, sp) {
					where[e.ID] = "spill"
				}
				acked := res.body.IDs
				if res.status == 503 {
					acked = res.body.Stored
					if len(res.body.Failed) != len(res.body.FailedIDs) || len(res.body.Stored)+len(res.body.Failed) != n {
						t.Fatalf("503: %d stored, %d failed, %d failedIds for %d records", len(res.body.Stored), len(res.body.Failed), len(res.body.FailedIDs), n)
					}
				} else if len(acked) != n {
					t.Fatalf("202 with %d ids for %d records", len(acked), n)
				}
				for _, id := range acked {
					if where[id] == "" {
						t.Errorf("acknowledged id %s: not in kinesis nor in the spill bucket", id)
					}
				}
				if res.status == 202 && *res.body.Spilled != 0 {
					spilled := 0
					for _, w := range where {
						if w == "spill" {
							spilled++
						}
					}
					if spilled < *res.body.Spilled {
						t.Errorf("answer says %d spilled, the spill bucket holds %d", *res.body.Spilled, spilled)
					}
				}
			})
		}
	}
}

// TestPackedPartitionKeys: records without a partition key of their own go
// out packed together under the first one's id; records with one, packed
// with the same key's, under it, in request order; every envelope keeps its
// partitionKey field.
func TestPackedPartitionKeys(t *testing.T) {
	k := &putRecordsFake{}
	h := packedHandler(t, k, &spillFake{})
	body := `{"records":[{"id":"a","data":1},{"id":"b","partitionKey":"k1","data":2},{"id":"c","data":3},` +
		`{"id":"d","partitionKey":"k1","data":4},{"id":"e","partitionKey":"a","data":5},{"data":6},{"id":"g","partitionKey":"k1","data":7}]}`
	res := serve(t, h, post(TypeJSON, bearerKey, body))
	if res.status != http.StatusAccepted {
		t.Fatalf("status %d: %s", res.status, res.raw)
	}
	type rec struct {
		key string
		ids []string
	}
	var got []rec
	for _, r := range k.sent {
		lines, err := pack.Unpack(r.Data)
		if err != nil {
			t.Fatal(err)
		}
		g := rec{key: aws.ToString(r.PartitionKey)}
		for _, l := range lines {
			e, err := record.Decode(l)
			if err != nil {
				t.Fatal(err)
			}
			g.ids = append(g.ids, e.ID)
			if want := map[string]string{"b": "k1", "d": "k1", "g": "k1", "e": "a"}[e.ID]; want != "" && e.PartitionKey != want {
				t.Errorf("envelope %s: partitionKey %q, want %q", e.ID, e.PartitionKey, want)
			}
			if (e.ID == "a" || e.ID == "c") && e.PartitionKey != e.ID {
				t.Errorf("envelope %s: partitionKey %q, want its id", e.ID, e.PartitionKey)
			}
		}
		got = append(got, g)
	}
	sixth := res.body.IDs[5]
	want := []rec{{"a", []string{"a", "c", sixth}}, {"k1", []string{"b", "d", "g"}}, {"a", []string{"e"}}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Kinesis records: got %v, want %v", got, want)
	}
	if !pack.IsPacked(k.sent[0].Data) || !pack.IsPacked(k.sent[1].Data) || pack.IsPacked(k.sent[2].Data) {
		t.Error("want the two groups packed and the lone record plain")
	}
}

// TestPackedBinaryHeaderKey: a binary record's X-Partition-Key counts as a
// key of its own; without it the record has none.
func TestPackedBinaryHeaderKey(t *testing.T) {
	for _, tt := range []struct {
		header, wantKey string
	}{
		{"customer-9", "customer-9"},
		{"", "order-7"},
	} {
		k := &putRecordsFake{}
		h := packedHandler(t, k, &spillFake{})
		r := post(TypeBinary, bearerKey, "\x00\x01binary")
		r.Header.Set("X-Record-Id", "order-7")
		if tt.header != "" {
			r.Header.Set("X-Partition-Key", tt.header)
		}
		if res := serve(t, h, r); res.status != http.StatusAccepted || len(k.sent) != 1 || aws.ToString(k.sent[0].PartitionKey) != tt.wantKey {
			t.Errorf("header %q: got %d, %d records, want 202 and one record under %q", tt.header, res.status, len(k.sent), tt.wantKey)
		}
	}
}

// TestAnyShardMarksDefaultKeys: ingest marks exactly the records sent
// without a partition key as AnyShard.
func TestAnyShardMarksDefaultKeys(t *testing.T) {
	var got []bool
	k := PutFunc(func(_ context.Context, es []stream.Entry) stream.Result {
		for _, e := range es {
			got = append(got, e.AnyShard)
		}
		return stream.Result{Calls: 1}
	})
	h := newHandler(t, testConfig(), k, &spillFake{}, nil, nil)
	body := `{"records":[{"id":"a","data":1},{"id":"b","partitionKey":"b","data":2},{"data":3},{"partitionKey":"x","data":4}]}`
	if res := serve(t, h, post(TypeJSON, bearerKey, body)); res.status != http.StatusAccepted {
		t.Fatalf("status %d: %s", res.status, res.raw)
	}
	if want := []bool{true, false, true, false}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("AnyShard: got %v, want %v", got, want)
	}
}
