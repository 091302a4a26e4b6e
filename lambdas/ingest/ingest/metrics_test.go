package ingest

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twinstream/twinstream/lambdas/metrics"
	"github.com/twinstream/twinstream/lambdas/stream"
)

const testNamespace = "Twinstream/test/test-us-east-1"

// captureLog sends the default logger's output, as JSON lines, to the
// returned buffer until the test ends.
func captureLog(t *testing.T) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return &buf
}

// emfLines returns the log lines that carry metrics, each as the data
// CloudWatch would extract; a line breaking the EMF specification fails
// the test.
func emfLines(t *testing.T, log *bytes.Buffer) [][]metrics.Datum {
	t.Helper()
	var out [][]metrics.Datum
	for _, l := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		if l == "" {
			continue
		}
		d, err := metrics.Extract([]byte(l))
		if err != nil {
			t.Fatalf("line %s: %v", l, err)
		}
		if d != nil {
			out = append(out, d)
		}
	}
	return out
}

// values maps "Name" or "Name/dimension value" to the values of one line.
func values(t *testing.T, data []metrics.Datum) map[string][]float64 {
	t.Helper()
	out := map[string][]float64{}
	for _, d := range data {
		if d.Namespace != testNamespace {
			t.Errorf("%s: namespace %q, want %q", d.Name, d.Namespace, testNamespace)
		}
		if want := t0.Truncate(time.Millisecond); !d.Timestamp.Equal(want) {
			t.Errorf("%s: timestamp %v, want the handler's clock %v", d.Name, d.Timestamp, want)
		}
		m, ok := metrics.Named(d.Name)
		if !ok || m.Handler != metrics.Ingest || m.Unit != d.Unit {
			t.Errorf("%s (%s): not one of ingest's metrics in the catalogue", d.Name, d.Unit)
		}
		key := d.Name
		for k, v := range d.Dimensions {
			if k != m.Dimension {
				t.Errorf("%s: dimension %s, want %q", d.Name, k, m.Dimension)
			}
			key += "/" + v
		}
		out[key] = d.Values
	}
	return out
}

// TestMetrics: each request's log line carries its metrics in EMF, one line
// per request, with the values the answer implies.
func TestMetrics(t *testing.T) {
	one := []float64{1}
	num := func(n float64) []float64 { return []float64{n} }
	tests := []struct {
		name    string
		kinesis Putter
		spill   *spillFake
		req     func() *http.Request
		status  int
		want    map[string][]float64 // KinesisPutLatency: present when non-nil, value not checked
	}{
		{"all in kinesis", &kinesisFake{}, &spillFake{}, func() *http.Request { return post(TypeJSON, bearerKey, jsonRecords(3)) }, 202,
			map[string][]float64{"Requests/2xx": one, "AcceptedRecords": num(3), "SpilledRecords": num(0), "KinesisThrottledRecords": num(0),
				"KinesisFaults": num(0), "BreakerOpen": num(0), "KinesisPutLatency": {}}},
		{"one spilled", &kinesisFake{fail: func(i int) bool { return i == 1 }}, &spillFake{}, func() *http.Request { return post(TypeJSON, bearerKey, jsonRecords(3)) }, 202,
			map[string][]float64{"Requests/2xx": one, "AcceptedRecords": num(3), "SpilledRecords": num(1), "KinesisThrottledRecords": num(0),
				"KinesisFaults": num(1), "BreakerOpen": num(0), "KinesisPutLatency": {}}},
		{"throttled", &kinesisFake{fail: failAll, throttle: true}, &spillFake{}, func() *http.Request { return post(TypeJSON, bearerKey, jsonRecords(4)) }, 202,
			map[string][]float64{"Requests/2xx": one, "AcceptedRecords": num(4), "SpilledRecords": num(4), "KinesisThrottledRecords": num(4),
				"KinesisFaults": num(0), "BreakerOpen": num(0), "KinesisPutLatency": {}}},
		{"kinesis and spill fail", &kinesisFake{fail: func(i int) bool { return i > 0 }}, &spillFake{err: errors.New("s3 down")},
			func() *http.Request { return post(TypeJSON, bearerKey, jsonRecords(3)) }, 503,
			map[string][]float64{"Requests/5xx": one, "AcceptedRecords": num(1), "SpilledRecords": num(0), "RejectedRecords/5xx": num(2),
				"KinesisThrottledRecords": num(0), "KinesisFaults": num(1), "BreakerOpen": num(0), "KinesisPutLatency": {}}},
		{"bad records", &kinesisFake{}, &spillFake{}, func() *http.Request {
			return post(TypeJSON, bearerKey, `{"records":[{"data":1},{"nodata":1},{"data":2}]}`)
		}, 400,
			map[string][]float64{"Requests/4xx": one, "AcceptedRecords": num(0), "SpilledRecords": num(0), "RejectedRecords/4xx": num(3)}},
		{"unknown key", &kinesisFake{}, &spillFake{}, func() *http.Request { return post(TypeJSON, "Bearer wrong-key-123", jsonRecords(2)) }, 401,
			map[string][]float64{"Requests/4xx": one, "AcceptedRecords": num(0), "SpilledRecords": num(0), "RejectedRecords/4xx": num(0)}},
		{"unknown path", &kinesisFake{}, &spillFake{}, func() *http.Request { return httptest.NewRequest(http.MethodGet, "/v2/records", nil) }, 404,
			map[string][]float64{"Requests/4xx": one, "AcceptedRecords": num(0), "SpilledRecords": num(0), "RejectedRecords/4xx": num(0)}},
		{"panic", PutFunc(func(context.Context, []stream.Entry) stream.Result { panic("boom") }), &spillFake{},
			func() *http.Request { return post(TypeJSON, bearerKey, jsonRecords(1)) }, 500,
			map[string][]float64{"Requests/5xx": one, "AcceptedRecords": num(0), "SpilledRecords": num(0), "RejectedRecords/5xx": num(0)}},
	}
	emitted := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := captureLog(t)
			cfg := testConfig()
			cfg.MetricsNamespace = testNamespace
			h := newHandler(t, cfg, tt.kinesis, tt.spill, nil, nil)
			if r := serve(t, h, tt.req()); r.status != tt.status {
				t.Fatalf("got status %d, want %d: %s", r.status, tt.status, r.raw)
			}
			lines := emfLines(t, log)
			if len(lines) != 1 {
				t.Fatalf("got %d lines with metrics, want 1:\n%s", len(lines), log)
			}
			got := values(t, lines[0])
			for _, d := range lines[0] {
				emitted[d.Name] = true
			}
			if lat, ok := got["KinesisPutLatency"]; ok {
				if _, want := tt.want["KinesisPutLatency"]; !want || len(lat) != 1 || lat[0] < 0 {
					t.Errorf("got KinesisPutLatency %v, want %v", lat, want)
				}
				got["KinesisPutLatency"] = []float64{}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v\nwant %v", got, tt.want)
			}
		})
	}
	// The dashboards read the catalogue: ingest writes every metric it lists.
	for _, m := range metrics.All() {
		if m.Handler == metrics.Ingest && !emitted[m.Name] {
			t.Errorf("%s: in the catalogue as ingest's, never written", m.Name)
		}
	}
}

// TestMetricsBreakerOpen: a request that finds the breaker open spills
// without a Kinesis call: BreakerOpen 1, no KinesisPutLatency.
func TestMetricsBreakerOpen(t *testing.T) {
	log := captureLog(t)
	cfg := testConfig()
	cfg.MetricsNamespace = testNamespace
	c := &clock{t: t0}
	k := &kinesisFake{fail: failAll}
	h := newHandler(t, cfg, k, &spillFake{}, nil, func() time.Time { return c.Now() })
	for range DefaultBreakerAfter + 1 {
		serve(t, h, post(TypeJSON, bearerKey, jsonRecords(2)))
	}
	if k.calls != DefaultBreakerAfter {
		t.Fatalf("got %d kinesis calls, want %d (the last request skips)", k.calls, DefaultBreakerAfter)
	}
	lines := emfLines(t, log)
	if len(lines) != DefaultBreakerAfter+1 {
		t.Fatalf("got %d lines with metrics, want %d", len(lines), DefaultBreakerAfter+1)
	}
	got := values(t, lines[len(lines)-1])
	want := map[string][]float64{"Requests/2xx": {1}, "AcceptedRecords": {2}, "SpilledRecords": {2}, "KinesisThrottledRecords": {0},
		"KinesisFaults": {0}, "BreakerOpen": {1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

// TestMetricsLeaveAnswersAlone: the same requests get byte-identical
// answers whether or not metrics are on, and the ALB's health check of the
// ingest target group writes no line at all.
func TestMetricsLeaveAnswersAlone(t *testing.T) {
	reqs := []func() *http.Request{
		func() *http.Request { return post(TypeJSON, bearerKey, jsonRecords(3)) },
		func() *http.Request { return post(TypeNDJSON, bearerKey, `{"data":1}`+"\n"+`{"id":"x","data":2}`) },
		func() *http.Request { return post(TypeJSON, bearerKey, `{"records":[{"nodata":1}]}`) },
		func() *http.Request { return post(TypeJSON, "", jsonRecords(1)) },
		func() *http.Request { return httptest.NewRequest(http.MethodGet, HealthPath, nil) },
	}
	answers := func(ns string) []string {
		log := captureLog(t)
		cfg := testConfig()
		cfg.MetricsNamespace = ns
		// Two handlers with the same ids, so generated ids match.
		h := newHandler(t, cfg, &kinesisFake{fail: func(i int) bool { return i == 0 }}, &spillFake{}, nil, nil)
		var out []string
		for _, r := range reqs {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r())
			out = append(out, w.Result().Status+" "+w.Header().Get("Content-Type")+" "+w.Body.String())
		}
		if ns != "" {
			if n := len(emfLines(t, log)); n != len(reqs)-1 {
				t.Errorf("got %d lines with metrics, want %d (none for %s)", n, len(reqs)-1, HealthPath)
			}
		}
		return out
	}
	on, off := answers(testNamespace), answers("")
	for i := range on {
		// Generated ids differ between handlers: compare shapes without them.
		if strip(on[i]) != strip(off[i]) {
			t.Errorf("request %d: with metrics %s, without %s", i, on[i], off[i])
		}
	}
}

// strip blanks the generated ids (26-character ULIDs) of an answer.
func strip(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if i+28 <= len(s) && s[i] == '"' && s[i+27] == '"' && isULID(s[i+1:i+27]) {
			b.WriteString(`"<id>"`)
			i += 27
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isULID(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune("0123456789ABCDEFGHJKMNPQRSTVWXYZ", c) {
			return false
		}
	}
	return true
}

// TestMetricsNamespaceInvalid: an invalid namespace turns metrics off with
// a warning, and the handler serves.
func TestMetricsNamespaceInvalid(t *testing.T) {
	log := captureLog(t)
	cfg := testConfig()
	cfg.MetricsNamespace = "AWS/Lambda"
	h := newHandler(t, cfg, &kinesisFake{}, &spillFake{}, nil, nil)
	if r := serve(t, h, post(TypeJSON, bearerKey, jsonRecords(1))); r.status != http.StatusAccepted {
		t.Fatalf("got %d, want 202", r.status)
	}
	if n := len(emfLines(t, log)); n != 0 || !strings.Contains(log.String(), "ingest: metrics are off") {
		t.Errorf("got %d lines with metrics and log\n%s\nwant none and a warning", n, log)
	}
}
