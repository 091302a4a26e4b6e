package drill

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// RegionCounts are one region's numbers in a Report.
type RegionCounts struct {
	Acked   int // ids acknowledged by this region
	Spilled int // of those, ids in requests whose answer said spilled > 0
	InSink  int // ids found in this region's sink
}

// Report is the outcome of a drill.
type Report struct {
	Sent, Acked, FoundInSinks, Lost, Duplicates int
	// DuplicateWhy explains the duplicates, one reason a line.
	DuplicateWhy []string
	// LostIDs are the lost ids (Table shows the first few).
	LostIDs []string
	// Zero when it did not happen.
	FailureAt, UnhealthyAt, MovedAt, DrainedAt  time.Time
	TimeToUnhealthy, TimeToMoved, TimeToDrained time.Duration
	PerRegion                                   map[string]RegionCounts
}

// Reconcile compares the acknowledged ids with the ids in the sinks (id ->
// copies over all sinks). found and lost count acknowledged ids found and not
// found (lostIDs sorted); dups counts extra copies (copies beyond the first)
// of any id in the sinks, acknowledged or not.
func Reconcile(acked map[string]Ack, sinkIDs map[string]int) (found, lost, dups int, lostIDs []string) {
	for id := range acked {
		if sinkIDs[id] > 0 {
			found++
		} else {
			lostIDs = append(lostIDs, id)
		}
	}
	for _, n := range sinkIDs {
		if n > 1 {
			dups += n - 1
		}
	}
	slices.Sort(lostIDs)
	return found, len(lostIDs), dups, lostIDs
}

// rpMaxLost is how many lost ids Table lists.
const rpMaxLost = 10

// Table renders the report as a fixed-width text table, lost first.
func (r *Report) Table() string {
	var b strings.Builder
	line := strings.Repeat("=", 64)
	verdict := "OK: every acknowledged record is in a sink"
	if r.Lost > 0 {
		verdict = "FAIL: acknowledged records are missing from every sink"
	}
	fmt.Fprintf(&b, "%s\n", line)
	fmt.Fprintf(&b, "  LOST (acknowledged, in no sink) %10d   %s\n", r.Lost, verdict)
	fmt.Fprintf(&b, "%s\n", line)
	for i, id := range r.LostIDs {
		if i == rpMaxLost {
			fmt.Fprintf(&b, "    ... and %d more\n", len(r.LostIDs)-rpMaxLost)
			break
		}
		fmt.Fprintf(&b, "    lost: %s\n", id)
	}
	fmt.Fprintf(&b, "  %-32s %10d\n", "sent", r.Sent)
	fmt.Fprintf(&b, "  %-32s %10d\n", "acknowledged (202)", r.Acked)
	fmt.Fprintf(&b, "  %-32s %10d\n", "found in sinks (acknowledged)", r.FoundInSinks)
	fmt.Fprintf(&b, "  %-32s %10d\n", "duplicates (extra copies)", r.Duplicates)
	for _, why := range r.DuplicateWhy {
		fmt.Fprintf(&b, "    why: %s\n", why)
	}

	if len(r.PerRegion) > 0 {
		regions := make([]string, 0, len(r.PerRegion))
		for name := range r.PerRegion {
			regions = append(regions, name)
		}
		slices.Sort(regions)
		fmt.Fprintf(&b, "\n  %-20s %12s %12s %12s\n", "region", "acked", "spilled", "in sink")
		fmt.Fprintf(&b, "  %-20s %12s %12s %12s\n", strings.Repeat("-", 20), strings.Repeat("-", 12), strings.Repeat("-", 12), strings.Repeat("-", 12))
		for _, name := range regions {
			c := r.PerRegion[name]
			label := name
			if label == "" {
				label = "(no region)"
			}
			fmt.Fprintf(&b, "  %-20s %12d %12d %12d\n", label, c.Acked, c.Spilled, c.InSink)
		}
	}

	fmt.Fprintf(&b, "\n  Kinesis failure at %s\n", rpClock(r.FailureAt))
	fmt.Fprintf(&b, "  %-32s %10s\n", "failure -> region unhealthy", rpSince(r.UnhealthyAt, r.TimeToUnhealthy))
	fmt.Fprintf(&b, "  %-32s %10s\n", "failure -> traffic moved", rpSince(r.MovedAt, r.TimeToMoved))
	fmt.Fprintf(&b, "  %-32s %10s\n", "failure -> spill drained", rpSince(r.DrainedAt, r.TimeToDrained))
	return b.String()
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
