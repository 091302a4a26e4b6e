package drill

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twinstream/twinstream/lambdas/record"
)

// RegionCounts are one region's numbers in a Report.
type RegionCounts struct {
	Acked   int // ids acknowledged by this region
	Spilled int // of those, ids in requests whose answer said spilled > 0
	InSink  int // records found in this region's sink
	Failed  int // attempts this region answered with an error (503, 502, ...)
	// BatchFails counts the processor's invocations that failed or reported
	// failed records: the event source mapping retried them.
	BatchFails int
}

// Report is the outcome of a drill.
type Report struct {
	// Scenario says what failed, e.g. "us-east-1 Kinesis kill, back empty".
	Scenario                                    string
	Sent, Acked, FoundInSinks, Lost, Duplicates int
	// AckedIn503 counts acknowledged ids that a 503 listed as stored (the
	// rest of their request failed).
	AckedIn503 int
	// LostByKinesis counts acknowledged ids in no sink that the failed
	// stream held when it failed and lost when it came back empty: Kinesis
	// lost data it had acknowledged, which is outside the design's
	// guarantee. They are not in Lost.
	LostByKinesis int
	// HeldChecked says the stream's content was read before it came back
	// empty (Held records), so LostByKinesis could be told apart.
	HeldChecked bool
	Held        int
	// DuplicateWhy explains the duplicates, one reason a line.
	DuplicateWhy []string
	// LostIDs and LostByKinesisIDs are those ids, sorted (Table shows the
	// first few).
	LostIDs, LostByKinesisIDs []string
	// FailedAttempts counts the producers' attempts that failed (each is
	// retried, see LoadGen).
	FailedAttempts int
	// Zero when it did not happen.
	FailureAt, UnhealthyAt, MovedAt, DrainedAt  time.Time
	TimeToUnhealthy, TimeToMoved, TimeToDrained time.Duration
	PerRegion                                   map[string]RegionCounts
	// Load is what the producers were asked to send and what they did
	// (zero Rate: not shown).
	Load LoadFigures
}

// LoadFigures describe a drill's load: the rate asked for, the rate
// offered, the rate acknowledged in each phase, and request latency. The
// producers pace batches and wait for each answer (client/load), so a
// region that answers slowly lowers what is offered: the offered rate says
// whether the drill ran at the rate it names.
type LoadFigures struct {
	Rate                 float64 // records/s asked for over all producers
	BatchSize, Producers int
	Sent                 int           // records offered
	For                  time.Duration // how long the producers sent
	// Acknowledged records per second, by the time of the answer: before
	// the failure, from the failure to the recovery, and after it until the
	// load stopped (0: the phase did not happen).
	AckedBefore, AckedDuring, AckedAfter float64
	// Request latency of the attempts that got an answer (nearest rank).
	Requests      int
	P50, P99, Max time.Duration
}

// Offered is the records offered per second.
func (l LoadFigures) Offered() float64 {
	if l.For <= 0 {
		return 0
	}
	return float64(l.Sent) / l.For.Seconds()
}

// loadFigures measures a drill's load from the producers' result and the
// moments of the failure and the recovery.
func loadFigures(rate float64, batch, producers int, res *LoadResult, failureAt, recoveryAt time.Time) LoadFigures {
	l := LoadFigures{Rate: rate, BatchSize: batch, Producers: producers, Sent: len(res.Sent), For: res.Stopped.Sub(res.Started)}
	var before, during, after int
	for _, a := range res.Acked {
		switch {
		case a.At.Before(res.Started):
		case a.At.Before(failureAt):
			before++
		case a.At.Before(recoveryAt):
			during++
		default:
			after++
		}
	}
	per := func(n int, from, to time.Time) float64 {
		if to.Sub(from) <= 0 {
			return 0
		}
		return float64(n) / to.Sub(from).Seconds()
	}
	l.AckedBefore = per(before, res.Started, failureAt)
	l.AckedDuring = per(during, failureAt, recoveryAt)
	l.AckedAfter = per(after, recoveryAt, res.Stopped)
	lat := slices.Clone(res.Latencies)
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		at := func(p int) time.Duration { return lat[max((p*n+99)/100, 1)-1] }
		l.Requests, l.P50, l.P99, l.Max = n, at(50), at(99), lat[n-1]
	}
	return l
}

// Reconciliation is Reconcile's answer.
type Reconciliation struct {
	// Found, Lost and LostByKinesis partition the acknowledged ids.
	Found, Lost, LostByKinesis int
	// Duplicates counts extra copies (beyond the first) of any record in the
	// sinks, acknowledged or not.
	Duplicates                int
	LostIDs, LostByKinesisIDs []string // sorted
}

// Reconcile compares the acknowledged ids, all sent with the API key whose
// id is producer, with the records in the sinks (identity -> copies over all
// sinks). A record matches an id when it has the id and either that
// producer or none (a handler that does not name the producer). An
// acknowledged id in no sink is lost by Kinesis itself when held, the
// records a failed stream held before it came back empty (matched the same
// way), has it: the stream acknowledged it to ingest and lost it, which the
// design does not promise against. Every other acknowledged id in no sink
// is lost.
func Reconcile(acked map[string]Ack, producer string, sinks map[record.Identity]int, held map[record.Identity]bool) Reconciliation {
	var r Reconciliation
	has := func(m func(record.Identity) bool, id string) bool {
		return m(record.Identity{Producer: producer, ID: id}) || (producer != "" && m(record.Identity{ID: id}))
	}
	inSink := func(k record.Identity) bool { return sinks[k] > 0 }
	wasHeld := func(k record.Identity) bool { return held[k] }
	for id := range acked {
		switch {
		case has(inSink, id):
			r.Found++
		case has(wasHeld, id):
			r.LostByKinesisIDs = append(r.LostByKinesisIDs, id)
		default:
			r.LostIDs = append(r.LostIDs, id)
		}
	}
	for _, n := range sinks {
		if n > 1 {
			r.Duplicates += n - 1
		}
	}
	slices.Sort(r.LostIDs)
	slices.Sort(r.LostByKinesisIDs)
	r.Lost, r.LostByKinesis = len(r.LostIDs), len(r.LostByKinesisIDs)
	return r
}

// rpMaxLost is how many lost ids Table lists.
const rpMaxLost = 10

// Table renders the report as a fixed-width text table, lost first.
func (r *Report) Table() string {
	var b strings.Builder
	line := strings.Repeat("=", 64)
	verdict := "OK: every acknowledged record is in a sink"
	switch {
	case r.Lost > 0:
		verdict = "FAIL: acknowledged records are missing from every sink"
	case r.LostByKinesis > 0:
		verdict = "OK: none lost but what Kinesis lost itself"
	}
	if r.Scenario != "" {
		fmt.Fprintf(&b, "  drill: %s\n", r.Scenario)
	}
	fmt.Fprintf(&b, "%s\n", line)
	fmt.Fprintf(&b, "  LOST (acknowledged, in no sink) %10d   %s\n", r.Lost, verdict)
	fmt.Fprintf(&b, "%s\n", line)
	rpIDs(&b, "lost", r.LostIDs)
	if r.HeldChecked || r.LostByKinesis > 0 {
		fmt.Fprintf(&b, "  %-32s %10d   outside the guarantee, not in LOST:\n", "lost by Kinesis itself", r.LostByKinesis)
		fmt.Fprintf(&b, "    acknowledged, in no sink, and held by the failed stream, which came back empty\n")
		if r.HeldChecked {
			fmt.Fprintf(&b, "    (read from a copy of its data before it came back: %d records)\n", r.Held)
		}
		rpIDs(&b, "lost by Kinesis", r.LostByKinesisIDs)
	}
	fmt.Fprintf(&b, "  %-32s %10d\n", "sent", r.Sent)
	fmt.Fprintf(&b, "  %-32s %10d\n", "acknowledged (202)", r.Acked)
	if r.AckedIn503 > 0 {
		fmt.Fprintf(&b, "  %-32s %10d\n", "  of which stored in a 503", r.AckedIn503)
	}
	fmt.Fprintf(&b, "  %-32s %10d\n", "found in sinks (acknowledged)", r.FoundInSinks)
	fmt.Fprintf(&b, "  %-32s %10d\n", "failed attempts (retried)", r.FailedAttempts)
	fmt.Fprintf(&b, "  %-32s %10d\n", "duplicates (extra copies)", r.Duplicates)
	for _, why := range r.DuplicateWhy {
		fmt.Fprintf(&b, "    why: %s\n", why)
	}
	if l := r.Load; l.Rate > 0 {
		fmt.Fprintf(&b, "\n  %-32s %s\n", "load asked", fmt.Sprintf("%.0f records/s in batches of %d from %d producers", l.Rate, l.BatchSize, l.Producers))
		fmt.Fprintf(&b, "  %-32s %10.0f records/s (%d in %.1fs)\n", "offered", l.Offered(), l.Sent, l.For.Seconds())
		fmt.Fprintf(&b, "  %-32s %10.0f before the failure, %.0f during it, %.0f after recovery\n", "acknowledged records/s", l.AckedBefore, l.AckedDuring, l.AckedAfter)
		if l.Requests > 0 {
			r := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
			fmt.Fprintf(&b, "  %-32s %10s p50, %s p99, %s max (%d answered attempts)\n", "request latency", r(l.P50), r(l.P99), r(l.Max), l.Requests)
		}
	}

	if len(r.PerRegion) > 0 {
		regions := make([]string, 0, len(r.PerRegion))
		for name := range r.PerRegion {
			regions = append(regions, name)
		}
		slices.Sort(regions)
		col := strings.Repeat("-", 11)
		fmt.Fprintf(&b, "\n  %-14s %11s %11s %11s %11s %11s\n", "region", "acked", "spilled", "in sink", "req failed", "batch fails")
		fmt.Fprintf(&b, "  %-14s %11s %11s %11s %11s %11s\n", strings.Repeat("-", 14), col, col, col, col, col)
		for _, name := range regions {
			c := r.PerRegion[name]
			label := name
			if label == "" {
				label = "(no region)"
			}
			fmt.Fprintf(&b, "  %-14s %11d %11d %11d %11d %11d\n", label, c.Acked, c.Spilled, c.InSink, c.Failed, c.BatchFails)
		}
		fmt.Fprintf(&b, "  req failed: producer attempts answered with an error or not at all (retried);\n")
		fmt.Fprintf(&b, "  batch fails: processor invocations with failed records (retried by the event source mapping)\n")
	}

	fmt.Fprintf(&b, "\n  failure at %s\n", rpClock(r.FailureAt))
	fmt.Fprintf(&b, "  %-32s %10s\n", "failure -> region unhealthy", rpSince(r.UnhealthyAt, r.TimeToUnhealthy))
	fmt.Fprintf(&b, "  %-32s %10s\n", "failure -> traffic moved", rpSince(r.MovedAt, r.TimeToMoved))
	drained := rpSince(r.DrainedAt, r.TimeToDrained)
	spilled := 0
	for _, c := range r.PerRegion {
		spilled += c.Spilled
	}
	if spilled == 0 && len(r.PerRegion) > 0 {
		drained = "- (nothing spilled)"
	}
	fmt.Fprintf(&b, "  %-32s %10s\n", "failure -> spill drained", drained)
	return b.String()
}

// rpIDs lists the first ids.
func rpIDs(b *strings.Builder, label string, ids []string) {
	for i, id := range ids {
		if i == rpMaxLost {
			fmt.Fprintf(b, "    ... and %d more\n", len(ids)-rpMaxLost)
			break
		}
		fmt.Fprintf(b, "    %s: %s\n", label, id)
	}
}

func rpClock(t time.Time) string {
	if t.IsZero() {
		return "- (no failure)"
	}
	return t.Format("15:04:05.000")
}

// rpSince shows a time to an event, or that the event did not happen.
func rpSince(at time.Time, d time.Duration) string {
	if at.IsZero() {
		return "never"
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}
