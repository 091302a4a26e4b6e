package send

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twinstream/twinstream/client/load"
)

// Summary is what a run did, as `send` prints it (--json: this document).
type Summary struct {
	Endpoints []string `json:"endpoints"`
	// Records offered to the client (Sent), acknowledged by ingest
	// (Acknowledged: a 202, or listed as stored by a 503), of those
	// spilled (a 202's "spilled"), not acknowledged (Failed).
	Sent         int `json:"sent"`
	Acknowledged int `json:"acknowledged"`
	Spilled      int `json:"spilled"`
	Failed       int `json:"failed"`
	RecordBytes  int `json:"recordBytes"`
	Batches      int `json:"batches"`
	// BatchesFailed are the batches with records not acknowledged.
	BatchesFailed int `json:"batchesFailed"`
	// Requests are the HTTP attempts, Retries those after a failed one,
	// FailedRequests those not answered 202.
	Requests       int `json:"requests"`
	Retries        int `json:"retries"`
	FailedRequests int `json:"failedRequests"`
	Failovers      int `json:"failovers"`
	// Statuses counts the attempts by HTTP status; 0: no answer.
	Statuses map[int]int `json:"statuses"`
	// NotAcknowledged counts the failed records by why (the last failure).
	NotAcknowledged map[string]int `json:"notAcknowledged,omitempty"`
	ElapsedSeconds  float64        `json:"elapsedSeconds"`
	// Rate is records acknowledged per second.
	Rate    float64 `json:"ratePerSecond"`
	Latency struct {
		// Request: per HTTP attempt answered; Batch: per batch of records
		// all acknowledged, retries and their waits included.
		Request Latency `json:"request"`
		Batch   Latency `json:"batch"`
	} `json:"latencyMs"`
	// Interrupted: the run was cut short (Ctrl-C).
	Interrupted bool `json:"interrupted,omitempty"`
	// Stopped is why the run stopped before its end: a refused request.
	Stopped string `json:"stopped,omitempty"`
}

// Latency are percentiles in milliseconds.
type Latency struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func latency(l load.Latency) Latency {
	return Latency{N: l.N, P50: ms(l.P50), P90: ms(l.P90), P99: ms(l.P99), Max: ms(l.Max)}
}

// Summarize makes the summary of a run's report.
func Summarize(o *Options, rep *load.Report) *Summary {
	s := &Summary{Endpoints: o.Endpoints, Sent: rep.Sent, Acknowledged: rep.Accepted, Spilled: rep.Spilled, Failed: rep.Failed,
		RecordBytes: o.Size, Batches: rep.Batches, BatchesFailed: rep.BatchesFailed, Requests: rep.Requests,
		Retries: rep.Retries, FailedRequests: rep.FailedRequests, Failovers: rep.Failovers, Statuses: rep.Statuses,
		ElapsedSeconds: rep.Elapsed.Seconds()}
	if s.Statuses == nil {
		s.Statuses = map[int]int{}
	}
	if len(rep.Errors) > 0 {
		s.NotAcknowledged = rep.Errors
	}
	if rep.Elapsed > 0 {
		s.Rate = float64(rep.Accepted) / rep.Elapsed.Seconds()
	}
	s.Latency.Request, s.Latency.Batch = latency(rep.RequestLatency), latency(rep.BatchLatency)
	return s
}

// WriteJSON writes the summary as indented JSON.
func (s *Summary) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// WriteText writes the summary for a person.
func (s *Summary) WriteText(w io.Writer) error {
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-14s%s\n", label, fmt.Sprintf(format, args...))
	}
	line("endpoints", "%s", strings.Join(s.Endpoints, ", then "))
	line("sent", "%d records of %d bytes in %d batches", s.Sent, s.RecordBytes, s.Batches)
	line("acknowledged", "%d (spilled %d)", s.Acknowledged, s.Spilled)
	line("failed", "%d", s.Failed)
	for _, why := range slices.Sorted(maps.Keys(s.NotAcknowledged)) {
		line("", "%d: %s", s.NotAcknowledged[why], why)
	}
	var answers []string
	for _, code := range slices.Sorted(maps.Keys(s.Statuses)) {
		name := fmt.Sprintf("%d", code)
		if code == 0 {
			name = "no answer"
		} else if t := http.StatusText(code); t != "" {
			name += " " + t
		}
		answers = append(answers, fmt.Sprintf("%d × %s", s.Statuses[code], name))
	}
	line("requests", "%d: %s", s.Requests, strings.Join(answers, ", "))
	line("retries", "%d", s.Retries)
	line("failovers", "%d", s.Failovers)
	line("rate", "%.1f records/s acknowledged over %s", s.Rate, (time.Duration(s.ElapsedSeconds * float64(time.Second))).Round(time.Millisecond))
	line("latency", "per request %s", s.Latency.Request)
	line("", "per batch   %s", s.Latency.Batch)
	if s.Interrupted {
		line("interrupted", "the run was cut short; records not yet sent are not counted")
	}
	if s.Stopped != "" {
		line("stopped", "%s", s.Stopped)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (l Latency) String() string {
	if l.N == 0 {
		return "none"
	}
	f := func(v float64) string { return fmt.Sprintf("%.1fms", v) }
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s  (n=%d)", f(l.P50), f(l.P90), f(l.P99), f(l.Max), l.N)
}

// Bar shows a run's progress on W: redrawn in place on a terminal
// (Redraw), else as a line per update. Safe for concurrent use; Note
// writes a message without garbling the bar.
type Bar struct {
	W      io.Writer
	Redraw bool

	mu    sync.Mutex
	drawn bool // a bar is on the current line (Redraw)
}

// Update draws p.
func (b *Bar) Update(p load.Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	line := Line(p)
	switch {
	case b.Redraw && p.Done:
		fmt.Fprintf(b.W, "\r%s\x1b[K\n", line)
		b.drawn = false
	case b.Redraw:
		fmt.Fprintf(b.W, "\r%s\x1b[K", line)
		b.drawn = true
	default:
		fmt.Fprintln(b.W, line)
	}
}

// Note writes msg on a line of its own.
func (b *Bar) Note(msg string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		fmt.Fprint(b.W, "\r\x1b[K")
		b.drawn = false
	}
	fmt.Fprintln(b.W, msg)
}

// Line is one progress line: a bar when the run has a bound, the counts,
// the rate acknowledged and the time elapsed.
func Line(p load.Progress) string {
	var b strings.Builder
	if f := p.Fraction(); f >= 0 {
		const width = 20
		n := int(f * width)
		fmt.Fprintf(&b, "[%s%s] %3.0f%%  ", strings.Repeat("#", n), strings.Repeat(".", width-n), f*100)
	}
	fmt.Fprintf(&b, "sent %d  acknowledged %d (spilled %d)  failed %d", p.Sent, p.Accepted, p.Spilled, p.Failed)
	if p.InFlight > 0 {
		fmt.Fprintf(&b, "  in flight %d", p.InFlight)
	}
	if p.Retries > 0 {
		fmt.Fprintf(&b, "  retries %d", p.Retries)
	}
	if p.Failovers > 0 {
		fmt.Fprintf(&b, "  failovers %d", p.Failovers)
	}
	rate := 0.0
	if p.Elapsed > 0 {
		rate = float64(p.Accepted) / p.Elapsed.Seconds()
	}
	fmt.Fprintf(&b, "  %.0f/s  %s", rate, elapsed(p.Elapsed))
	return b.String()
}

func elapsed(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Truncate(time.Second).String()
}
