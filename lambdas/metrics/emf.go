// Package metrics is the handlers' CloudWatch metrics: the catalogue (name,
// unit, dimension, which handler emits each; see catalogue.go), which the
// stacks' dashboards and alarms read, and Line, which writes one log line's
// metrics in CloudWatch Embedded Metric Format (EMF).
//
// Why log lines: CloudWatch degraded with Kinesis in the 2020 outage, and a
// metrics API call (PutMetricData) on the request path would slow ingest
// down, or fail it, exactly then. A handler already writes one log line per
// request, batch or probe; the metrics ride on that line, at the cost of a
// few hundred bytes of output, and CloudWatch Logs extracts them later, or
// not at all while it is degraded. Nothing on the request path waits for
// CloudWatch.
//
// How the line becomes metrics: the functions run on a custom runtime
// (provided.al2023) with Lambda's JSON log format. Lambda formats the
// application logs of custom runtimes itself only as system logs; what the
// function writes to stdout is the log event as written, and a line that is
// already JSON is not encoded again (Lambda developer guide, "Configuring
// JSON and plain text log formats"). The handlers log with slog's JSON
// handler (lambdacontext.NewLogger when AWS_LAMBDA_LOG_FORMAT is JSON), which
// writes each record as one JSON object whose attributes are top-level
// members. So the "_aws" member and the metric and dimension members Line
// adds are top-level members of the log event, where the EMF specification
// requires them ("Target values cannot be nested"). A logger that wrapped the
// line into a "message" string (Node.js's console.log does in JSON mode)
// would hide them: CloudWatch would extract nothing.
//
// A line's metrics are extracted only when its level passes the function's
// log level filter: the handlers emit them on INFO (or WARN and ERROR)
// lines, and the construct sets no application log level (INFO). A
// function that times out writes no line for that invocation.
package metrics

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Unit is a CloudWatch unit.
type Unit string

// The units the catalogue uses.
const (
	Count        Unit = "Count"
	Milliseconds Unit = "Milliseconds"
	Seconds      Unit = "Seconds"
	None         Unit = "None"
)

// Limits of the EMF specification.
const (
	// MaxMetrics is the most metrics one directive, and so one Line, holds.
	MaxMetrics = 100
	// MaxValues is the most values one metric member holds.
	MaxValues = 100
)

// Emitter holds what every Line of one namespace shares. Its methods are
// safe for concurrent use; a nil *Emitter emits no metrics.
type Emitter struct {
	namespace []byte // JSON-quoted; nil: lines carry no "_aws" member
}

// New returns an Emitter for namespace, the METRICS_NAMESPACE the construct
// gives each function ("Twinstream/<name>/<stack name>"). An empty namespace
// gives an Emitter whose lines carry the values but no "_aws" member, so
// CloudWatch extracts nothing (a handler run outside the construct). An
// invalid namespace gives that Emitter too, with an error to log: a metrics
// setting must never keep a handler from serving.
func New(namespace string) (*Emitter, error) {
	if namespace == "" {
		return &Emitter{}, nil
	}
	if err := validNamespace(namespace); err != nil {
		return &Emitter{}, err
	}
	q, _ := json.Marshal(namespace) // a valid namespace is ASCII: cannot fail
	return &Emitter{namespace: q}, nil
}

// validNamespace checks a CloudWatch custom namespace: 1-255 printable ASCII
// characters, not starting with ':' nor with "AWS/" (reserved for AWS).
func validNamespace(ns string) error {
	if len(ns) > 255 {
		return fmt.Errorf("metrics: namespace of %d characters: want at most 255", len(ns))
	}
	for i := 0; i < len(ns); i++ {
		if ns[i] < 0x20 || ns[i] > 0x7e {
			return fmt.Errorf("metrics: namespace %q: want printable ASCII characters only", ns)
		}
	}
	if ns[0] == ':' || strings.HasPrefix(ns, "AWS/") {
		return fmt.Errorf("metrics: namespace %q: want one not starting with \":\" or \"AWS/\"", ns)
	}
	return nil
}

// Enabled reports whether lines carry an "_aws" member.
func (e *Emitter) Enabled() bool { return e != nil && e.namespace != nil }

// Line starts the metrics of one log line.
func (e *Emitter) Line() Line { return Line{e: e} }

// Line collects the metric values of one log line, then gives the slog
// attributes that carry them (Attrs). The zero Line collects values but
// emits no "_aws" member. Not safe for concurrent use.
type Line struct {
	e    *Emitter
	vals []value
	dims []dimension
}

type value struct {
	m     Metric
	n     int64 // Count metrics given as whole numbers
	f     float64
	isInt bool
	list  []float64 // non-nil: an array member
}

type dimension struct{ name, value string }

// Add sets metric m's value on the line (replacing a value set before). A
// NaN or infinite value is dropped: JSON has no such numbers.
func (l *Line) Add(m Metric, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	l.set(value{m: m, f: v})
}

// Count sets a Count metric's value.
func (l *Line) Count(m Metric, n int) {
	l.set(value{m: m, n: int64(n), isInt: true})
}

// Duration sets a time metric's value in its unit (Seconds or
// Milliseconds, fractions kept).
func (l *Line) Duration(m Metric, d time.Duration) {
	l.Add(m, inUnit(m.Unit, d))
}

// Durations sets a time metric to several values, one sample each (at most
// MaxValues: the first MaxValues are kept). CloudWatch counts every value, so
// percentiles and Maximum see each one.
func (l *Line) Durations(m Metric, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	list := make([]float64, 0, min(len(ds), MaxValues))
	for _, d := range ds[:min(len(ds), MaxValues)] {
		list = append(list, inUnit(m.Unit, d))
	}
	l.set(value{m: m, list: list})
}

func inUnit(u Unit, d time.Duration) float64 {
	if u == Seconds {
		return d.Seconds()
	}
	return float64(d) / float64(time.Millisecond)
}

func (l *Line) set(v value) {
	for i := range l.vals {
		if l.vals[i].m.Name == v.m.Name {
			l.vals[i] = v
			return
		}
	}
	if len(l.vals) < MaxMetrics {
		l.vals = append(l.vals, v)
	}
}

// Dimension sets the line's value of a dimension: the metrics whose
// Dimension is name are extracted with it. A metric whose dimension has no
// (or an empty) value on the line is logged but not extracted. Values are
// at most 1024 characters (EMF's limit; longer ones are cut).
func (l *Line) Dimension(name, val string) {
	if len(val) > 1024 {
		val = val[:1024]
		for !utf8.ValidString(val) {
			val = val[:len(val)-1]
		}
	}
	for i := range l.dims {
		if l.dims[i].name == name {
			l.dims[i].value = val
			return
		}
	}
	l.dims = append(l.dims, dimension{name, val})
}

func (l *Line) dim(name string) string {
	for _, d := range l.dims {
		if d.name == name {
			return d.value
		}
	}
	return ""
}

// extracted says whether v's metric goes into a directive: it has no
// dimension, or the line gives its dimension a value.
func (l *Line) extracted(v value) bool {
	return v.m.Dimension == "" || l.dim(v.m.Dimension) != ""
}

// Attrs returns the line's slog attributes, to append to those of the log
// call (slog.LogAttrs): one member per metric (named as the metric, a number or an
// array of numbers), one per dimension (a string), and, when the Emitter has
// a namespace and some metric is extracted, "_aws" with t as the metrics'
// timestamp and one MetricDirective per dimension used: the metrics without
// a dimension under the empty dimension set, each dimension's metrics under
// that dimension alone.
func (l *Line) Attrs(t time.Time) []slog.Attr {
	out := make([]slog.Attr, 0, len(l.vals)+len(l.dims)+1)
	for _, v := range l.vals {
		switch {
		case v.list != nil:
			out = append(out, slog.Any(v.m.Name, v.list))
		case v.isInt:
			out = append(out, slog.Int64(v.m.Name, v.n))
		default:
			out = append(out, slog.Float64(v.m.Name, v.f))
		}
	}
	for _, d := range l.dims {
		if d.value != "" {
			out = append(out, slog.String(d.name, d.value))
		}
	}
	if dirs := l.directives(); dirs != nil {
		out = append(out, slog.Group("_aws",
			slog.Int64("Timestamp", t.UnixMilli()),
			slog.Any("CloudWatchMetrics", json.RawMessage(dirs))))
	}
	return out
}

// directives is the CloudWatchMetrics array, or nil when nothing is
// extracted.
func (l *Line) directives() []byte {
	if !l.e.Enabled() {
		return nil
	}
	var b []byte
	for i, v := range l.vals {
		if !l.extracted(v) || l.earlier(i) {
			continue
		}
		if b == nil {
			b = append(make([]byte, 0, 256), '[')
		} else {
			b = append(b, ',')
		}
		b = append(b, `{"Namespace":`...)
		b = append(b, l.e.namespace...)
		b = append(b, `,"Dimensions":[[`...)
		if v.m.Dimension != "" {
			b = appendString(b, v.m.Dimension)
		}
		b = append(b, `]],"Metrics":[`...)
		for j, w := range l.vals[i:] {
			if w.m.Dimension != v.m.Dimension {
				continue
			}
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"Name":`...)
			b = appendString(b, w.m.Name)
			if w.m.Unit != "" {
				b = append(b, `,"Unit":`...)
				b = appendString(b, string(w.m.Unit))
			}
			b = append(b, '}')
		}
		b = append(b, "]}"...)
	}
	if b == nil {
		return nil
	}
	return append(b, ']')
}

// earlier says whether a value before i has the same dimension (its
// directive is written already).
func (l *Line) earlier(i int) bool {
	for _, v := range l.vals[:i] {
		if v.m.Dimension == l.vals[i].m.Dimension {
			return true
		}
	}
	return false
}

// appendString appends s as a JSON string: as it is when nothing in it
// needs escaping (the catalogue's names), else through encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
