package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// benchRecords are n records of about 200 bytes of JSON, ids assigned.
func benchRecords(n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i].Data = json.RawMessage(fmt.Sprintf(`{"order":%d,"customer":"c-%d","items":[{"sku":"A-1","qty":2},{"sku":"B-7","qty":1}],"note":"%s"}`, i, i%97, strings.Repeat("x", 100)))
	}
	return recs
}

// BenchmarkBatch is the client's cost per record to build requests: ids
// assigned, records checked and encoded, cut into requests, bodies built.
func BenchmarkBatch(b *testing.B) {
	for _, gz := range []bool{false, true} {
		b.Run(fmt.Sprintf("gzip=%v", gz), func(b *testing.B) {
			c, err := New(Config{Endpoints: []string{"http://127.0.0.1:1"}, APIKey: "k", Gzip: gz})
			if err != nil {
				b.Fatal(err)
			}
			const n = 500
			src := benchRecords(n)
			recs := make([]Record, n)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				copy(recs, src)
				items, _ := c.prepare(recs)
				for _, req := range split(items, c.lim) {
					if _, ok := build(req, gz); !ok {
						b.Fatal("body does not fit")
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
		})
	}
}

// BenchmarkSend is Send's cost per record with the network taken out: a
// transport that answers 202 at once.
func BenchmarkSend(b *testing.B) {
	c, err := New(Config{Endpoints: []string{"http://ingest.invalid"}, APIKey: "k",
		HTTPClient: &http.Client{Transport: accept202{}}})
	if err != nil {
		b.Fatal(err)
	}
	const n = 500
	src := benchRecords(n)
	recs := make([]Record, n)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		copy(recs, src)
		if _, err := c.Send(context.Background(), recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
}

// accept202 answers every request 202 without a network (its body read, as
// a server would).
type accept202 struct{}

func (accept202) RoundTrip(r *http.Request) (*http.Response, error) {
	_, _ = io.Copy(io.Discard, r.Body)
	r.Body.Close()
	return &http.Response{StatusCode: http.StatusAccepted, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{"accepted":500,"spilled":0}`)), Request: r}, nil
}
