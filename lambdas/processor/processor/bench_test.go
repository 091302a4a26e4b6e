package processor

import (
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	kpgzip "github.com/klauspost/compress/gzip"

	"github.com/twinstream/twinstream/lambdas/internal/cputime"
	"github.com/twinstream/twinstream/lambdas/pack"
	"github.com/twinstream/twinstream/lambdas/pack/sample"
	"github.com/twinstream/twinstream/lambdas/record"
)

// benchBatch is a Lambda batch of 500 envelopes with ~200-byte JSON payloads,
// all received in one hour.
func benchBatch(b *testing.B) []Record {
	return benchBatchAt(b, func(t time.Time, _ int) time.Time { return t })
}

// benchBatchAt is benchBatch with receive times changed by at: record i
// arrives in Kinesis at t but says it was received at at(t, i).
func benchBatchAt(b *testing.B, at func(t time.Time, i int) time.Time) []Record {
	b.Helper()
	ids := record.NewIDs()
	t0 := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	recs := make([]Record, 500)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range recs {
		t := t0.Add(time.Duration(i) * time.Millisecond)
		id := ids.New(at(t, i))
		// Some fields vary per record (a hex token, numbers) so gzip sees
		// realistic, not ideal, input.
		data := fmt.Sprintf(`{"user":"user-%06d","session":"%016x","event":"page_view","path":"/products/%d/details","ref":"https://example.com/search?q=item%d","value":%d.%02d,"ok":true,"pad":"`,
			rng.IntN(1000000), rng.Uint64(), rng.IntN(100000), rng.IntN(1000), rng.IntN(10000), rng.IntN(100))
		data += strings.Repeat("x", max(0, 198-len(data))) + `"}`
		e := record.Envelope{ID: id, Region: "us-east-1", ReceivedAt: at(t, i), PartitionKey: id,
			Encoding: record.EncodingJSON, Data: json.RawMessage(data)}
		recs[i] = Record{ShardID: "shardId-000000000000", SequenceNumber: fmt.Sprintf("4959033827149025660855969253836157109592157598913658%04d", i),
			PartitionKey: id, Data: e.Append(nil), ArrivalTime: t}
	}
	return recs
}

func discard(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if _, err := io.Copy(io.Discard, in.Body); err != nil {
		return nil, err
	}
	return &s3.PutObjectOutput{}, nil
}

// BenchmarkProcess is the processor's CPU cost per record, gzip included,
// with an S3 that discards: records/s is per core with -cpu 1.
func BenchmarkProcess(b *testing.B) {
	recs := benchBatch(b)
	p := &Processor{Client: PutObjectFunc(discard), Region: "us-east-1", Bucket: "sink"}
	ctx := context.Background()
	b.ReportAllocs()
	cpu0 := cputime.Used()
	for b.Loop() {
		res, err := p.Run(ctx, recs)
		if err != nil || res.Written != len(recs) {
			b.Fatalf("got %d written, %v, want %d, nil", res.Written, err, len(recs))
		}
	}
	reportRate(b, b.N*len(recs), cputime.Used()-cpu0)
}

// reportRate reports records/s and records/cpu-s: on a shared machine the
// wall-clock rate varies with the other processes, CPU time much less.
func reportRate(b *testing.B, records int, cpu time.Duration) {
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
	if cpu > 0 {
		b.ReportMetric(float64(records)/cpu.Seconds(), "records/cpu-s")
	}
}

// BenchmarkProcessPacked is BenchmarkProcess on packed records, unpacking
// included: a batch of 10 packed records of 500 envelopes each (the order
// events of package pack/sample, as ingest packs a request of 500 records).
// records/s counts envelopes, per core with -cpu 1.
func BenchmarkProcessPacked(b *testing.B) {
	var recs []Record
	t0 := time.Date(2026, 12, 1, 10, 15, 0, 0, time.UTC)
	for i := range 10 {
		var body []byte
		for _, e := range sample.Envelopes(500, uint64(i), t0.Add(time.Duration(i)*time.Second)) {
			body = append(e.Append(body), '\n')
		}
		data, err := pack.Encode(nil, body)
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, Record{ShardID: "shardId-000000000000", SequenceNumber: fmt.Sprintf("4959033827149025660855969253836157109592157598913658%04d", i),
			PartitionKey: "pk", Data: data, ArrivalTime: t0})
	}
	p := &Processor{Client: PutObjectFunc(discard), Region: "us-east-1", Bucket: "sink"}
	ctx := context.Background()
	b.ReportAllocs()
	cpu0 := cputime.Used()
	for b.Loop() {
		res, err := p.Run(ctx, recs)
		if err != nil || res.Written != 5000 {
			b.Fatalf("got %d written, %v, want 5000, nil", res.Written, err)
		}
	}
	reportRate(b, b.N*5000, cputime.Used()-cpu0)
}

// BenchmarkProcessMixedHours is BenchmarkProcess after an outage: replayed
// records received an hour earlier alternate with live ones in the batch.
// objects/batch is the number of PutObject calls per batch.
func BenchmarkProcessMixedHours(b *testing.B) {
	recs := benchBatchAt(b, func(t time.Time, i int) time.Time {
		if i%2 == 1 {
			return t.Add(-time.Hour)
		}
		return t
	})
	p := &Processor{Client: PutObjectFunc(discard), Region: "us-east-1", Bucket: "sink"}
	ctx := context.Background()
	var objects int
	b.ReportAllocs()
	for b.Loop() {
		res, err := p.Run(ctx, recs)
		if err != nil || res.Written != len(recs) {
			b.Fatalf("got %d written, %v, want %d, nil", res.Written, err, len(recs))
		}
		objects = len(res.Keys)
	}
	b.ReportMetric(float64(objects), "objects/batch")
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkProcessReusedID is a producer sending every record of a batch
// of 5,000 under one id with different payloads: all are written (conflicts),
// and the cost per record stays that of distinct ids, not one comparison
// with every earlier record.
func BenchmarkProcessReusedID(b *testing.B) {
	var recs []Record
	for range 10 {
		recs = append(recs, benchBatch(b)...)
	}
	for i := range recs {
		e, err := record.Decode(recs[i].Data)
		if err != nil {
			b.Fatal(err)
		}
		e.ID, e.Producer = "order-1", "team-a"
		e.Data = json.RawMessage(fmt.Sprintf(`{"n":%d,%s`, i, e.Data[1:]))
		recs[i].Data = e.Append(nil)
		recs[i].SequenceNumber = fmt.Sprintf("%08d", i)
	}
	p := &Processor{Client: PutObjectFunc(discard), Region: "us-east-1", Bucket: "sink"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		res, err := p.Run(ctx, recs)
		if err != nil || res.Written != len(recs) || res.Conflicts != len(recs)-1 {
			b.Fatalf("got %d written, %d conflicts, %v, want %d, %d, nil", res.Written, res.Conflicts, err, len(recs), len(recs)-1)
		}
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
}

type gzipWriter interface {
	io.WriteCloser
	Reset(io.Writer)
}

// BenchmarkGzip compresses the NDJSON of one batch with compress/gzip and
// with github.com/klauspost/compress/gzip at the default level (writers
// reused, as in Run); the faster is the one Run uses.
func BenchmarkGzip(b *testing.B) {
	var raw []byte
	for _, r := range benchBatch(b) {
		raw = append(append(raw, r.Data...), '\n')
	}
	for _, c := range []struct {
		name string
		w    gzipWriter
	}{
		{"stdlib", stdgzip.NewWriter(nil)},
		{"klauspost", kpgzip.NewWriter(nil)},
	} {
		b.Run(c.name, func(b *testing.B) {
			var out bytes.Buffer
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				out.Reset()
				c.w.Reset(&out)
				if _, err := c.w.Write(raw); err != nil {
					b.Fatal(err)
				}
				if err := c.w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(out.Len())/float64(len(raw)), "ratio")
			b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
