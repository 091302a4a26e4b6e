package ingest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/twinstream/twinstream/lambdas/pack/sample"
	"github.com/twinstream/twinstream/lambdas/stream"
)

// Kinesis' per-shard write limits (on-demand and provisioned alike).
const (
	shardRecordsPerSec = 1000
	shardBytesPerSec   = 1 << 20
)

// meter is a PutRecords client that takes everything and adds up what it
// was sent: records, bytes (data plus partition key) and billed bytes
// (each record rounded up to stream.BilledUnit, as Kinesis on-demand bills).
type meter struct {
	records, bytes, billed int64
}

func (m *meter) PutRecords(_ context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	out := &kinesis.PutRecordsOutput{Records: make([]types.PutRecordsResultEntry, len(in.Records)), FailedRecordCount: aws.Int32(0)}
	for i, r := range in.Records {
		n := int64(len(r.Data) + len(aws.ToString(r.PartitionKey)))
		m.records++
		m.bytes += n
		m.billed += (n + stream.BilledUnit - 1) / stream.BilledUnit * stream.BilledUnit
		out.Records[i] = types.PutRecordsResultEntry{SequenceNumber: aws.String("1"), ShardId: aws.String("shardId-000000000000")}
	}
	return out, nil
}

// ordersBody is a request of n order events (package pack/sample: about 200
// bytes of compact JSON each, varied as a shop's would be), without ids;
// with keys > 0, each record has one of that many partition keys
// (customer-0...), else none.
func ordersBody(n, keys int, seed uint64) string {
	rng := rand.New(rand.NewPCG(seed, 2))
	at := time.Date(2026, 12, 1, 10, 15, 4, 0, time.UTC)
	var b strings.Builder
	b.WriteString(`{"records":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{`)
		if keys > 0 {
			b.WriteString(`"partitionKey":"customer-` + strconv.Itoa(rng.IntN(keys)) + `",`)
		}
		b.WriteString(`"data":`)
		b.Write(sample.Order(rng, at))
		b.WriteString(`}`)
	}
	b.WriteString(`]}`)
	return b.String()
}

// BenchmarkBilled sends requests of 200-byte JSON order events through the
// handler as deployed (stream.Packer, or not, over stream.Writer) to a
// Kinesis that meters what it is sent, and reports per million records the
// GB Kinesis on-demand bills (each record rounded up to 1 KiB; GB = 10^9
// bytes), the records per Kinesis record, and the records a shard takes per
// second within its 1,000 records/s and 1 MiB/s. Target: packed, 500 per
// request, <= 0.1 GB per million. records/s is the handler's CPU cost, per
// core with -cpu 1, packing included.
func BenchmarkBilled(b *testing.B) {
	for _, tt := range []struct {
		packed     bool
		size, keys int
	}{
		{true, 500, 0}, {true, 100, 0}, {true, 10, 0}, {true, 1, 0}, {true, 500, 10}, {true, 500, 500},
		{false, 500, 0},
	} {
		name := fmt.Sprintf("plain/%d", tt.size)
		if tt.packed {
			name = fmt.Sprintf("packed/%d", tt.size)
		}
		if tt.keys > 0 {
			name += fmt.Sprintf("/keys=%d", tt.keys)
		}
		b.Run(name, func(b *testing.B) {
			m := &meter{}
			var k Putter = &stream.Writer{Client: m, StreamName: "s"}
			if tt.packed {
				k = &stream.Packer{Next: k}
			}
			cfg := testConfig()
			cfg.MaxRecords = max(tt.size, 1)
			h := newHandler(b, cfg, k, &spillFake{}, nil, nil)
			bodies := make([]string, 8)
			for i := range bodies {
				bodies[i] = ordersBody(tt.size, tt.keys, uint64(i))
			}
			sent := 0
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, post("application/json", bearerKey, bodies[sent%len(bodies)]))
				if w.Code != http.StatusAccepted {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
				sent++
			}
			recs := float64(sent * tt.size)
			perRecord := float64(m.records) / recs // Kinesis records per producer record
			b.ReportMetric(float64(m.billed)/recs*1e6/1e9, "billedGB/Mrec")
			b.ReportMetric(float64(m.bytes)/recs, "sentB/rec")
			b.ReportMetric(1/perRecord, "rec/kinesisrec")
			b.ReportMetric(min(shardRecordsPerSec/perRecord, shardBytesPerSec/(float64(m.bytes)/recs)), "rec/s/shard")
			b.ReportMetric(recs/b.Elapsed().Seconds(), "records/s")
		})
	}
}
