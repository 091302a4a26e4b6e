package metrics

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 25, 13, 4, 5, 678_000_000, time.UTC)

// logLine logs one INFO record with attrs as the handlers do (slog's JSON
// handler, Lambda's key names) and returns the line.
func logLine(t *testing.T, msg string, attrs ...slog.Attr) []byte {
	t.Helper()
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		switch {
		case len(groups) > 0:
		case a.Key == slog.TimeKey:
			a.Key, a.Value = "timestamp", slog.StringValue(t0.Format(time.RFC3339Nano))
		case a.Key == slog.MessageKey:
			a.Key = "message"
		}
		return a
	}}))
	log.LogAttrs(context.Background(), slog.LevelInfo, msg, attrs...)
	if bytes.Count(buf.Bytes(), []byte("\n")) != 1 {
		t.Fatalf("got %q, want one line", buf.String())
	}
	return buf.Bytes()
}

func emitter(t *testing.T, ns string) *Emitter {
	t.Helper()
	e, err := New(ns)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestLineJSON: the exact line, metrics at the top level beside the log
// fields, "_aws" with one directive per dimension used.
func TestLineJSON(t *testing.T) {
	l := emitter(t, "Twinstream/orders/orders-us-east-1").Line()
	l.Count(Accepted, 500)
	l.Count(Requests, 1)
	l.Duration(KinesisPutLatency, 12345*time.Microsecond)
	l.Count(Spilled, 0)
	l.Dimension(StatusClass, Status2xx)
	got := logLine(t, "ingest", append([]slog.Attr{slog.Int("status", 202)}, l.Attrs(t0)...)...)
	want := `{"timestamp":"2026-11-25T13:04:05.678Z","level":"INFO","message":"ingest","status":202,` +
		`"AcceptedRecords":500,"Requests":1,"KinesisPutLatency":12.345,"SpilledRecords":0,"StatusClass":"2xx",` +
		`"_aws":{"Timestamp":1795611845678,"CloudWatchMetrics":[` +
		`{"Namespace":"Twinstream/orders/orders-us-east-1","Dimensions":[[]],"Metrics":[{"Name":"AcceptedRecords","Unit":"Count"},{"Name":"KinesisPutLatency","Unit":"Milliseconds"},{"Name":"SpilledRecords","Unit":"Count"}]},` +
		`{"Namespace":"Twinstream/orders/orders-us-east-1","Dimensions":[["StatusClass"]],"Metrics":[{"Name":"Requests","Unit":"Count"}]}]}}` + "\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	data, err := Extract(got)
	if err != nil {
		t.Fatal(err)
	}
	wantData := []Datum{
		{"Twinstream/orders/orders-us-east-1", "AcceptedRecords", Count, map[string]string{}, []float64{500}, t0},
		{"Twinstream/orders/orders-us-east-1", "KinesisPutLatency", Milliseconds, map[string]string{}, []float64{12.345}, t0},
		{"Twinstream/orders/orders-us-east-1", "SpilledRecords", Count, map[string]string{}, []float64{0}, t0},
		{"Twinstream/orders/orders-us-east-1", "Requests", Count, map[string]string{"StatusClass": "2xx"}, []float64{1}, t0},
	}
	if !reflect.DeepEqual(data, wantData) {
		t.Errorf("got data %+v, want %+v", data, wantData)
	}
}

func TestLineValues(t *testing.T) {
	l := emitter(t, "ns").Line()
	l.Durations(S3PutLatency, []time.Duration{1500 * time.Microsecond, 20 * time.Millisecond})
	l.Duration(SpillAge, 90*time.Second)
	l.Add(RegionHealthy, 1)
	l.Add(Written, 5)
	l.Add(Written, 7) // replaces
	l.Add(Quarantined, math.Inf(1))
	data, err := Extract(logLine(t, "x", l.Attrs(t0)...))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]float64{}
	for _, d := range data {
		got[d.Name] = d.Values
	}
	want := map[string][]float64{"S3PutLatency": {1.5, 20}, "SpillAge": {90}, "RegionHealthy": {1}, "WrittenRecords": {7}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v (an infinite value dropped)", got, want)
	}
	many := make([]time.Duration, MaxValues+5)
	l.Durations(S3PutLatency, many)
	data, err = Extract(logLine(t, "x", l.Attrs(t0)...))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range data {
		if d.Name == "S3PutLatency" && len(d.Values) != MaxValues {
			t.Errorf("got %d values, want %d", len(d.Values), MaxValues)
		}
	}
}

// TestLineWithoutNamespace: the values are logged, nothing is extracted.
func TestLineWithoutNamespace(t *testing.T) {
	for _, e := range []*Emitter{nil, emitter(t, "")} {
		l := e.Line()
		l.Count(Accepted, 3)
		line := logLine(t, "ingest", l.Attrs(t0)...)
		if bytes.Contains(line, []byte("_aws")) || !bytes.Contains(line, []byte(`"AcceptedRecords":3`)) {
			t.Errorf("got %s, want the value and no _aws", line)
		}
		if d, err := Extract(line); d != nil || err != nil {
			t.Errorf("got %v, %v, want nothing extracted", d, err)
		}
	}
}

// TestLineDimensionUnset: a metric whose dimension has no value on the line
// is logged but left out of the directives, which would otherwise name a
// member the line lacks (and CloudWatch would extract nothing of the line).
func TestLineDimensionUnset(t *testing.T) {
	l := emitter(t, "ns").Line()
	l.Count(Requests, 1)
	line := logLine(t, "ingest", l.Attrs(t0)...)
	if bytes.Contains(line, []byte("_aws")) || !bytes.Contains(line, []byte(`"Requests":1`)) {
		t.Errorf("got %s, want the value and no _aws", line)
	}
	l.Count(Accepted, 1)
	l.Dimension(StatusClass, "")
	data, err := Extract(logLine(t, "ingest", l.Attrs(t0)...))
	if err != nil || len(data) != 1 || data[0].Name != "AcceptedRecords" {
		t.Errorf("got %+v, %v, want AcceptedRecords only", data, err)
	}
}

func TestLineLimits(t *testing.T) {
	l := emitter(t, "ns").Line()
	for i := range MaxMetrics + 3 {
		l.Count(Metric{Name: "M" + strings.Repeat("x", i), Unit: Count}, i)
	}
	data, err := Extract(logLine(t, "x", l.Attrs(t0)...))
	if err != nil || len(data) != MaxMetrics {
		t.Errorf("got %d data, %v, want %d", len(data), err, MaxMetrics)
	}
	l = emitter(t, "ns").Line()
	l.Count(Metric{Name: `odd "name"`, Unit: Count, Dimension: "d<1>"}, 1)
	l.Dimension("d<1>", strings.Repeat("é", 600))
	data, err = Extract(logLine(t, "x", l.Attrs(t0)...))
	if err != nil || len(data) != 1 || data[0].Name != `odd "name"` || len(data[0].Dimensions["d<1>"]) > 1024 {
		t.Errorf("got %+v, %v, want the escaped name and a value cut to 1024 bytes", data, err)
	}
}

func TestNew(t *testing.T) {
	for _, tt := range []struct {
		ns   string
		want string
	}{
		{"Twinstream/a/a-us-east-1", ""},
		{"", ""},
		{"AWS/Lambda", `not starting with ":" or "AWS/"`},
		{":x", `not starting with ":" or "AWS/"`},
		{"tab\there", "printable ASCII"},
		{"ns/é", "printable ASCII"},
		{strings.Repeat("n", 256), "at most 255"},
	} {
		e, err := New(tt.ns)
		if e == nil {
			t.Fatalf("New(%q) returned nil, want an Emitter always", tt.ns)
		}
		if tt.want == "" {
			if err != nil || e.Enabled() != (tt.ns != "") {
				t.Errorf("New(%q): got %v, enabled %v, want no error", tt.ns, err, e.Enabled())
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) || e.Enabled() {
			t.Errorf("New(%q): got %v, enabled %v, want a disabled Emitter and an error containing %q", tt.ns, err, e.Enabled(), tt.want)
		}
	}
}

func TestExtractRefuses(t *testing.T) {
	const dir = `{"Namespace":"ns","Dimensions":[["D"]],"Metrics":[{"Name":"M","Unit":"Count"}]}`
	doc := func(members string, dirs ...string) string {
		if len(dirs) == 0 {
			dirs = []string{dir}
		}
		return `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[` + strings.Join(dirs, ",") + `]}` + members + `}`
	}
	tests := []struct{ name, event, want string }{
		{"not json", `ingest 202`, "not a JSON object"},
		{"trailing data", doc(`,"M":1,"D":"x"`) + ` x`, "data after"},
		{"member twice", doc(`,"M":1,"M":2,"D":"x"`), `"M" appears twice`},
		{"no timestamp", `{"_aws":{"CloudWatchMetrics":[]}}`, "Timestamp and CloudWatchMetrics"},
		{"float timestamp", `{"_aws":{"Timestamp":1.5,"CloudWatchMetrics":[]}}`, "integer"},
		{"no namespace", doc(`,"M":1`, `{"Dimensions":[[]],"Metrics":[]}`), "Namespace"},
		{"no dimension sets", doc(`,"M":1`, `{"Namespace":"ns","Dimensions":[],"Metrics":[]}`), "at least one set"},
		{"missing metric member", doc(`,"D":"x"`), `metric "M": want a top-level member`},
		{"nested metric", doc(`,"D":"x","A":{"M":1}`), `metric "M": want a top-level member`},
		{"string metric", doc(`,"M":"1","D":"x"`), "want a number"},
		{"too many values", doc(`,"M":[` + strings.Repeat("1,", MaxValues) + `1],"D":"x"`), "values, want at most"},
		{"missing dimension", doc(`,"M":1`), `dimension "D": want a top-level string`},
		{"number dimension", doc(`,"M":1,"D":3`), `dimension "D": want a top-level string`},
		{"empty dimension", doc(`,"M":1,"D":""`), "want 1-1024"},
		{"bad unit", doc(`,"M":1`, `{"Namespace":"ns","Dimensions":[[]],"Metrics":[{"Name":"M","Unit":"Records"}]}`), "not a CloudWatch unit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Extract([]byte(tt.event))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if d, err := Extract([]byte(doc(`,"M":[1,2],"D":"x"`) + "\n")); err != nil || len(d) != 1 || len(d[0].Values) != 2 {
		t.Errorf("valid event: got %+v, %v", d, err)
	}
}

// TestCatalogue: names are unique identifiers; units, statistics, handlers
// and dimensions are ones the stacks and CloudWatch know.
func TestCatalogue(t *testing.T) {
	name := regexp.MustCompile(`^[A-Z][A-Za-z0-9]+$`)
	stat := regexp.MustCompile(`^(Sum|Minimum|Maximum|Average|SampleCount|p\d\d)$`)
	seen := map[string]bool{}
	for _, m := range All() {
		if !name.MatchString(m.Name) || seen[m.Name] {
			t.Errorf("%q: want a unique name of letters and digits", m.Name)
		}
		seen[m.Name] = true
		if m.Unit != Count && m.Unit != Milliseconds && m.Unit != Seconds && m.Unit != None {
			t.Errorf("%s: unit %q", m.Name, m.Unit)
		}
		if !stat.MatchString(m.Statistic) {
			t.Errorf("%s: statistic %q", m.Name, m.Statistic)
		}
		if m.Handler != Ingest && m.Handler != Processor && m.Handler != Replay && m.Handler != Health {
			t.Errorf("%s: handler %q", m.Name, m.Handler)
		}
		if m.Dimension != "" && (m.Dimension != StatusClass || m.Handler != Ingest) {
			t.Errorf("%s: dimension %q, want none or ingest's StatusClass", m.Name, m.Dimension)
		}
		if m.Description == "" {
			t.Errorf("%s: no description", m.Name)
		}
		if got, ok := Named(m.Name); !ok || got != m {
			t.Errorf("Named(%q) = %v, %v", m.Name, got, ok)
		}
	}
	if _, ok := Named("Nope"); ok {
		t.Error("Named(Nope): got a metric, want none")
	}
}

func TestStatusClassOf(t *testing.T) {
	for status, want := range map[int]string{202: "2xx", 400: "4xx", 413: "4xx", 503: "5xx", 500: "5xx", 0: "5xx", 700: "5xx"} {
		if got := StatusClassOf(status); got != want {
			t.Errorf("StatusClassOf(%d) = %q, want %q", status, got, want)
		}
	}
}

// BenchmarkLine is one ingest request's metrics through slog's JSON handler.
func BenchmarkLine(b *testing.B) {
	e, _ := New("Twinstream/orders/orders-us-east-1")
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	b.ReportAllocs()
	for b.Loop() {
		l := e.Line()
		l.Count(Requests, 1)
		l.Count(Accepted, 500)
		l.Count(Spilled, 0)
		l.Duration(KinesisPutLatency, 12*time.Millisecond)
		l.Count(KinesisThrottled, 0)
		l.Count(KinesisFaults, 0)
		l.Count(BreakerOpen, 0)
		l.Dimension(StatusClass, Status2xx)
		log.LogAttrs(context.Background(), slog.LevelInfo, "ingest", l.Attrs(t0)...)
	}
}
