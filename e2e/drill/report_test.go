package drill

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twinstream/twinstream/lambdas/record"
)

func TestReconcile(t *testing.T) {
	acks := func(ids ...string) map[string]Ack {
		m := map[string]Ack{}
		for _, id := range ids {
			m[id] = Ack{Region: "r"}
		}
		return m
	}
	mine := func(ids ...string) map[record.Identity]int {
		m := map[record.Identity]int{}
		for _, id := range ids {
			m[record.Identity{Producer: "drill", ID: id}]++
		}
		return m
	}
	held := func(ks ...record.Identity) map[record.Identity]bool {
		m := map[record.Identity]bool{}
		for _, k := range ks {
			m[k] = true
		}
		return m
	}
	id := func(producer, id string) record.Identity { return record.Identity{Producer: producer, ID: id} }
	tests := []struct {
		name  string
		acked map[string]Ack
		sink  map[record.Identity]int
		held  map[record.Identity]bool
		want  Reconciliation
	}{
		{name: "nothing", acked: acks(), sink: mine()},
		{name: "all found, unacknowledged extras are not lost", acked: acks("a", "b"),
			sink: mine("a", "b", "c"), want: Reconciliation{Found: 2}},
		{name: "lost ids listed sorted", acked: acks("c", "a", "b", "d"),
			sink: mine("a"), want: Reconciliation{Found: 1, Lost: 3, LostIDs: []string{"b", "c", "d"}}},
		{name: "duplicates count extra copies, acknowledged or not", acked: acks("a", "b"),
			sink: mine("a", "a", "b", "b", "b", "x", "x"), want: Reconciliation{Found: 2, Duplicates: 4}},
		{name: "lost and duplicated together", acked: acks("a", "b"),
			sink: mine("a", "a"), want: Reconciliation{Found: 1, Lost: 1, Duplicates: 1, LostIDs: []string{"b"}}},
		{name: "a record without producer matches by id", acked: acks("a", "b"),
			sink: map[record.Identity]int{id("", "a"): 1, id("drill", "b"): 1}, want: Reconciliation{Found: 2}},
		{name: "another producer's record with the id does not match", acked: acks("a"),
			sink: map[record.Identity]int{id("team-b", "a"): 1}, want: Reconciliation{Lost: 1, LostIDs: []string{"a"}}},
		{name: "held by the stream and in no sink: lost by Kinesis, not LOST", acked: acks("a", "b", "c", "d"),
			sink: mine("a"), held: held(id("drill", "b"), id("", "d")),
			want: Reconciliation{Found: 1, Lost: 1, LostByKinesis: 2, LostIDs: []string{"c"}, LostByKinesisIDs: []string{"b", "d"}}},
		{name: "held and in a sink: found", acked: acks("a"),
			sink: mine("a"), held: held(id("drill", "a")), want: Reconciliation{Found: 1}},
		{name: "another producer's held record does not excuse a loss", acked: acks("a"),
			sink: mine(), held: held(id("team-b", "a")), want: Reconciliation{Lost: 1, LostIDs: []string{"a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Reconcile(tt.acked, "drill", tt.sink, tt.held)
			if got.Found != tt.want.Found || got.Lost != tt.want.Lost || got.LostByKinesis != tt.want.LostByKinesis ||
				got.Duplicates != tt.want.Duplicates || !slices.Equal(got.LostIDs, tt.want.LostIDs) || !slices.Equal(got.LostByKinesisIDs, tt.want.LostByKinesisIDs) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestReportTable(t *testing.T) {
	fail := time.Date(2020, 11, 25, 13, 15, 0, 0, time.UTC)
	full := Report{
		Scenario: "us-east-1 Kinesis kill, back with its data", FailedAttempts: 31,
		Sent: 12345, Acked: 12000, FoundInSinks: 11990, Lost: 10, Duplicates: 7,
		DuplicateWhy: []string{"7 ids retried after a 503 whose records were partly stored"},
		LostIDs:      []string{"lg-0-1", "lg-0-2", "lg-0-3", "lg-0-4", "lg-0-5", "lg-0-6", "lg-0-7", "lg-0-8", "lg-0-9", "lg-0-10"},
		FailureAt:    fail, UnhealthyAt: fail.Add(4250 * time.Millisecond), MovedAt: fail.Add(4300 * time.Millisecond),
		TimeToUnhealthy: 4250 * time.Millisecond, TimeToMoved: 4300 * time.Millisecond,
		PerRegion: map[string]RegionCounts{
			"us-west-2": {Acked: 7000, Spilled: 0, InSink: 7003},
			"us-east-1": {Acked: 5000, Spilled: 1234, InSink: 4987, Failed: 31, BatchFails: 3},
		},
	}
	tests := []struct {
		name   string
		r      Report
		want   []string // regexps, each must match a line
		absent []string
	}{
		{
			name: "failed drill",
			r:    full,
			want: []string{
				`^  LOST \(acknowledged, in no sink\) +10 +FAIL`,
				`^  sent +12345$`,
				`^  acknowledged \(202\) +12000$`,
				`^  found in sinks \(acknowledged\) +11990$`,
				`^  duplicates \(extra copies\) +7$`,
				`why: 7 ids retried after a 503`,
				`^  drill: us-east-1 Kinesis kill, back with its data$`,
				`^  failed attempts \(retried\) +31$`,
				`^  us-east-1 +5000 +1234 +4987 +31 +3$`,
				`^  us-west-2 +7000 +0 +7003 +0 +0$`,
				`lost: lg-0-10$`,
				`failure at 13:15:00.000`,
				`^  failure -> region unhealthy +4.25s$`,
				`^  failure -> traffic moved +4.30s$`,
				`^  failure -> spill drained +never$`,
			},
		},
		{
			name:   "clean drill, nothing happened",
			r:      Report{Sent: 5, Acked: 5, FoundInSinks: 5},
			want:   []string{`^  LOST \(acknowledged, in no sink\) +0 +OK`, `failure -> region unhealthy +never$`, `no failure`},
			absent: []string{"FAIL", "why:", "region  ", "lost by Kinesis", "stored in a 503"},
		},
		{
			name: "Kinesis came back empty: its losses apart, not LOST",
			r: Report{Sent: 100, Acked: 90, FoundInSinks: 80, LostByKinesis: 10, HeldChecked: true, Held: 25, AckedIn503: 4,
				LostByKinesisIDs: []string{"lg-1-1", "lg-1-2"}},
			want: []string{
				`^  LOST \(acknowledged, in no sink\) +0 +OK: none lost but what Kinesis lost itself$`,
				`^  lost by Kinesis itself +10 +outside the guarantee`,
				`held by the failed stream, which came back empty`,
				`25 records\)$`,
				`lost by Kinesis: lg-1-2$`,
				`^    of which stored in a 503 +4$`,
			},
			absent: []string{"FAIL"},
		},
		{
			name: "nothing spilled: no drain to wait for",
			r:    Report{Sent: 5, Acked: 5, FoundInSinks: 5, PerRegion: map[string]RegionCounts{"us-east-1": {Acked: 5, InSink: 5}}},
			want: []string{`^  failure -> spill drained +- \(nothing spilled\)$`},
		},
		{
			name: "the load asked, offered, acknowledged per phase and its latency",
			r: Report{Sent: 300000, Acked: 300000, FoundInSinks: 300000, Load: LoadFigures{
				Rate: 3000, BatchSize: 100, Producers: 12, Sent: 300000, For: 120 * time.Second,
				AckedBefore: 2990, AckedDuring: 2400.4, AckedAfter: 3001, Requests: 3000,
				P50: 23400 * time.Microsecond, P99: 1200 * time.Millisecond, Max: 3456 * time.Millisecond}},
			want: []string{
				`^  load asked +3000 records/s in batches of 100 from 12 producers$`,
				`^  offered +2500 records/s \(300000 in 120.0s\)$`,
				`^  acknowledged records/s +2990 before the failure, 2400 during it, 3001 after recovery$`,
				`^  request latency +23ms p50, 1.2s p99, 3.456s max \(3000 answered attempts\)$`,
			},
		},
		{
			name:   "no load figures without a rate",
			r:      Report{Sent: 5, Acked: 5, FoundInSinks: 5},
			absent: []string{"load asked", "offered", "request latency"},
		},
		{
			name: "losses besides Kinesis's fail",
			r:    Report{Sent: 100, Acked: 90, FoundInSinks: 80, Lost: 1, LostByKinesis: 9, LostIDs: []string{"x"}},
			want: []string{`^  LOST \(acknowledged, in no sink\) +1 +FAIL`, `^  lost by Kinesis itself +9 `},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := tt.r.Table()
			lines := strings.Split(table, "\n")
			for _, w := range tt.want {
				re := regexp.MustCompile(w)
				if !slices.ContainsFunc(lines, re.MatchString) {
					t.Errorf("no line matches %q in\n%s", w, table)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(table, a) {
					t.Errorf("table contains %q, want it absent:\n%s", a, table)
				}
			}
			at := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, "LOST") })
			if at < 0 || at > 2 {
				t.Errorf("LOST on line %d, want it first, after the scenario and a rule", at)
			}
			// The region rows line up.
			if i := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, "us-east-1") }); i > 0 {
				if len(lines[i]) != len(lines[i-1]) || len(lines[i]) != len(lines[i-2]) {
					t.Errorf("region rows of unequal width:\n%s\n%s\n%s", lines[i-2], lines[i-1], lines[i])
				}
			}
		})
	}
}

func TestLoadFigures(t *testing.T) {
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	acks := map[string]Ack{}
	add := func(prefix string, n int, s float64) {
		for i := range n {
			acks[prefix+strconv.Itoa(i)] = Ack{At: at(s)}
		}
	}
	add("early", 7, -1)   // before the producers started (a clock step): left out
	add("before", 100, 5) // 10 s before the failure
	add("during", 60, 12) // 20 s of outage
	add("after", 300, 40) // 30 s after the recovery
	res := &LoadResult{Sent: make([]string, 467), Acked: acks, Started: start, Stopped: at(60),
		Latencies: []time.Duration{5 * time.Millisecond, time.Millisecond, 3 * time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond}}
	got := loadFigures(3000, 100, 12, res, at(10), at(30))
	want := LoadFigures{Rate: 3000, BatchSize: 100, Producers: 12, Sent: 467, For: time.Minute,
		AckedBefore: 10, AckedDuring: 3, AckedAfter: 10, Requests: 5,
		P50: 3 * time.Millisecond, P99: 5 * time.Millisecond, Max: 5 * time.Millisecond}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if o := got.Offered(); o < 7.78 || o > 7.79 {
		t.Errorf("offered: got %.3f records/s, want 467/60", o)
	}
	if o := (LoadFigures{Sent: 5}).Offered(); o != 0 {
		t.Errorf("offered without a duration: got %v, want 0", o)
	}
	// No failure moments (a drill cut short): nothing before or during.
	none := loadFigures(3000, 100, 12, &LoadResult{Started: start, Stopped: at(1)}, time.Time{}, time.Time{})
	if none.AckedBefore != 0 || none.AckedDuring != 0 || none.Requests != 0 {
		t.Errorf("empty load: got %+v, want zero rates and no latency", none)
	}
}
