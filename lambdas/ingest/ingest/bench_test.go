package ingest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/twinstream/twinstream/lambdas/stream"
)

// benchBody is a request of n records whose data is a 200-byte JSON object.
func benchBody(n int) string {
	var b strings.Builder
	b.WriteString(`{"records":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		// {"device":"dev-00042","seq":00042,"temp":21.5,"note":"xxx..."} padded to 200 bytes.
		d := fmt.Sprintf(`{"device":"dev-%05d","seq":%d,"temp":21.5,"ok":true,"note":"`, i, i)
		d += strings.Repeat("x", 200-len(d)-2) + `"}`
		fmt.Fprintf(&b, `{"data":%s}`, d)
	}
	b.WriteString(`]}`)
	return b.String()
}

// BenchmarkServe200B measures the handler's CPU per record: a request of 500
// records of 200-byte JSON data, with a Kinesis that accepts everything.
// Target: >= 100k records/s per core (run with -cpu 1).
func BenchmarkServe200B(b *testing.B) {
	const n = 500
	body := benchBody(n)
	accept := PutFunc(func(context.Context, []stream.Entry) stream.Result { return stream.Result{Calls: 1} })
	cfg := testConfig()
	cfg.MetricsNamespace = "Twinstream/bench/bench-us-east-1" // as deployed: every request line carries its metrics
	h := newHandler(b, cfg, accept, &spillFake{}, nil, nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, post("application/json", bearerKey, body))
	if w.Code != http.StatusAccepted {
		b.Fatalf("status %d, want 202: %s", w.Code, w.Body)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, post("application/json", bearerKey, body))
	}
	b.ReportMetric(float64(b.N)*n/b.Elapsed().Seconds(), "records/s")
}
