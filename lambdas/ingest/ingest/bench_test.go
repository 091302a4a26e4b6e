package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/twinstream/twinstream/lambdas/albhttp"
	"github.com/twinstream/twinstream/lambdas/internal/cputime"
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
	cpu := cputime.Used()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, post("application/json", bearerKey, body))
	}
	reportRecords(b, n, cputime.Used()-cpu)
}

// reportRecords reports records per second of the benchmark's wall-clock
// time and per second of CPU time (records/cpu-s, when known): with -cpu 1
// the second is the per-core figure, which a shared, loaded machine
// disturbs much less.
func reportRecords(b *testing.B, perOp int, cpu time.Duration) {
	b.ReportMetric(float64(b.N)*float64(perOp)/b.Elapsed().Seconds(), "records/s")
	if cpu > 0 {
		b.ReportMetric(float64(b.N)*float64(perOp)/cpu.Seconds(), "records/cpu-s")
	}
}

// albEvent is the Lambda payload ALB sends for a POST of body to Path: the
// headers a producer behind ALB arrives with, and the body as ALB passes it,
// as is for application/json and base64 for other types (NDJSON) and for
// gzip (not UTF-8).
func albEvent(tb testing.TB, body []byte, contentType, contentEncoding string) []byte {
	tb.Helper()
	ev := events.ALBTargetGroupRequest{
		HTTPMethod: http.MethodPost,
		Path:       Path,
		Headers: map[string]string{
			"accept":            "application/json",
			"accept-encoding":   "gzip",
			"authorization":     bearerKey,
			"content-length":    strconv.Itoa(len(body)),
			"content-type":      contentType,
			"host":              "ingest.example.com",
			"user-agent":        "twinstream-client/0.1 (go1.26)",
			"x-amzn-trace-id":   "Root=1-67891233-abcdef012345678912345678",
			"x-forwarded-for":   "203.0.113.7",
			"x-forwarded-port":  "443",
			"x-forwarded-proto": "https",
		},
		QueryStringParameters: map[string]string{},
		RequestContext: events.ALBTargetGroupRequestContext{ELB: events.ELBContext{
			TargetGroupArn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/twinstream-ingest/0123456789abcdef"}},
		Body: string(body),
	}
	if contentEncoding != "" {
		ev.Headers["content-encoding"] = contentEncoding
	}
	if contentType != TypeJSON || !utf8.Valid(body) {
		ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	}
	b, err := json.Marshal(ev)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// ndjsonBody is benchBody's records as NDJSON lines.
func ndjsonBody(n int) string {
	var recs struct{ Records []json.RawMessage }
	if err := json.Unmarshal([]byte(benchBody(n)), &recs); err != nil {
		panic(err)
	}
	var b strings.Builder
	for _, r := range recs.Records {
		b.Write(r)
		b.WriteByte('\n')
	}
	return b.String()
}

// BenchmarkALB measures what every ingest invocation pays, from the bytes
// Lambda hands the runtime to the bytes it sends back: the runtime's JSON
// decoding of the ALB event and encoding of the response (aws-lambda-go's
// own handler, as lambda.Start runs it), the albhttp adapter (base64 body,
// headers, the ALB response) and the handler (parse, validation,
// envelopes, a Kinesis that takes everything, the JSON answer). 500
// records of 200-byte JSON per request, as JSON (ALB passes it as is),
// NDJSON (base64) and gzip-compressed JSON (base64).
// Target: >= 500k records/s per core (run with -cpu 1).
func BenchmarkALB(b *testing.B) {
	const n = 500
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(benchBody(n)))
	zw.Close()
	for _, tt := range []struct {
		name, ct, ce string
		body         []byte
	}{
		{"json", TypeJSON, "", []byte(benchBody(n))},
		{"ndjson-base64", TypeNDJSON, "", []byte(ndjsonBody(n))},
		{"gzip-base64", TypeJSON, "gzip", gz.Bytes()},
	} {
		b.Run(tt.name, func(b *testing.B) {
			accept := PutFunc(func(context.Context, []stream.Entry) stream.Result { return stream.Result{Calls: 1} })
			cfg := testConfig()
			cfg.MetricsNamespace = "Twinstream/bench/bench-us-east-1"
			fn := lambda.NewHandler(albhttp.Handler(newHandler(b, cfg, accept, &spillFake{}, nil, nil)))
			payload := albEvent(b, tt.body, tt.ct, tt.ce)
			ctx := context.Background()
			out, err := fn.Invoke(ctx, payload)
			var resp events.ALBTargetGroupResponse
			if err == nil {
				err = json.Unmarshal(out, &resp)
			}
			if err != nil || resp.StatusCode != http.StatusAccepted || !strings.Contains(resp.Body, `"accepted":500`) {
				b.Fatalf("got %s (%v), want 202 with 500 accepted", out, err)
			}
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cputime.Used()
			for b.Loop() {
				if _, err := fn.Invoke(ctx, payload); err != nil {
					b.Fatal(err)
				}
			}
			reportRecords(b, n, cputime.Used()-cpu)
		})
	}
}
