package pack

import (
	"testing"
	"time"

	"github.com/twinstream/twinstream/lambdas/pack/sample"
)

// benchBody is the body of 500 order events as ingest packs one request.
func benchBody() []byte {
	var body []byte
	for _, e := range sample.Envelopes(500, 1, time.Date(2026, 12, 1, 10, 15, 4, 0, time.UTC)) {
		body = append(e.Append(body), '\n')
	}
	return body
}

// BenchmarkEncode: packing one request's 500 envelopes (MB/s of envelopes,
// ratio = packed/body).
func BenchmarkEncode(b *testing.B) {
	body := benchBody()
	var out []byte
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if out, err = Encode(out[:0], body); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(out))/float64(len(body)), "ratio")
	b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkDecode: unpacking it (MB/s of envelopes).
func BenchmarkDecode(b *testing.B) {
	body := benchBody()
	packed := mustEncode(b, body)
	buf := NewBuffer()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(buf, packed); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "records/s")
}
