package send

import (
	"strings"
	"testing"
	"time"

	"github.com/twinstream/twinstream/client/load"
)

// TestBarRedraw: on a terminal the bar is redrawn in place, a note gets a
// line of its own without the bar's remains, and the last state stays.
func TestBarRedraw(t *testing.T) {
	var b strings.Builder
	bar := &Bar{W: &b, Redraw: true}
	bar.Update(load.Progress{Sent: 10, Count: 20, Elapsed: time.Second})
	bar.Update(load.Progress{Sent: 20, Accepted: 10, Count: 20, Elapsed: 2 * time.Second})
	bar.Note("interrupted")
	bar.Update(load.Progress{Sent: 20, Accepted: 20, Count: 20, Elapsed: 3 * time.Second, Done: true})
	want := "\r[....................]   0%  sent 10  acknowledged 0 (spilled 0)  failed 0  0/s  1.0s\x1b[K" +
		"\r[##########..........]  50%  sent 20  acknowledged 10 (spilled 0)  failed 0  5/s  2.0s\x1b[K" +
		"\r\x1b[Kinterrupted\n" +
		"\r[####################] 100%  sent 20  acknowledged 20 (spilled 0)  failed 0  7/s  3.0s\x1b[K\n"
	if got := b.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSummaryText(t *testing.T) {
	rep := &load.Report{Sent: 10, Accepted: 7, Spilled: 2, Failed: 3, Batches: 2, BatchesFailed: 1, Requests: 5, Retries: 3, FailedRequests: 3, Failovers: 1,
		Statuses: map[int]int{0: 1, 202: 2, 503: 2}, Errors: map[string]int{"gave up; last: 503 Service Unavailable from u": 3},
		RequestLatency: load.Latency{N: 4, P50: 1500 * time.Microsecond, P90: 2 * time.Millisecond, P99: 3 * time.Millisecond, Max: 3 * time.Millisecond},
		Elapsed:        2 * time.Second}
	s := Summarize(&Options{Endpoints: []string{"https://a/v1/records", "https://b/v1/records"}, Size: 100}, rep)
	s.Interrupted = true
	var b strings.Builder
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := `endpoints     https://a/v1/records, then https://b/v1/records
sent          10 records of 100 bytes in 2 batches
acknowledged  7 (spilled 2)
failed        3
              3: gave up; last: 503 Service Unavailable from u
requests      5: 1 × no answer, 2 × 202 Accepted, 2 × 503 Service Unavailable
retries       3
failovers     1
rate          3.5 records/s acknowledged over 2s
latency       per request p50 1.5ms  p90 2.0ms  p99 3.0ms  max 3.0ms  (n=4)
              per batch   none
interrupted   the run was cut short; records not yet sent are not counted
`
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
