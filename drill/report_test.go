package drill

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestReconcile(t *testing.T) {
	acks := func(ids ...string) map[string]Ack {
		m := map[string]Ack{}
		for _, id := range ids {
			m[id] = Ack{Region: "r"}
		}
		return m
	}
	tests := []struct {
		name              string
		acked             map[string]Ack
		sink              map[string]int
		found, lost, dups int
		lostIDs           []string
	}{
		{name: "nothing", acked: acks(), sink: map[string]int{}},
		{name: "all found, unacknowledged extras are not lost", acked: acks("a", "b"),
			sink: map[string]int{"a": 1, "b": 1, "c": 1}, found: 2},
		{name: "lost ids listed sorted", acked: acks("c", "a", "b", "d"),
			sink: map[string]int{"a": 1, "d": 0}, found: 1, lost: 3, lostIDs: []string{"b", "c", "d"}},
		{name: "duplicates count extra copies, acknowledged or not", acked: acks("a", "b"),
			sink: map[string]int{"a": 2, "b": 3, "x": 2}, found: 2, dups: 4},
		{name: "lost and duplicated together", acked: acks("a", "b"),
			sink: map[string]int{"a": 2}, found: 1, lost: 1, dups: 1, lostIDs: []string{"b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			found, lost, dups, lostIDs := Reconcile(tt.acked, tt.sink)
			if found != tt.found || lost != tt.lost || dups != tt.dups || !slices.Equal(lostIDs, tt.lostIDs) {
				t.Errorf("got found %d lost %d dups %d lostIDs %q, want %d %d %d %q",
					found, lost, dups, lostIDs, tt.found, tt.lost, tt.dups, tt.lostIDs)
			}
		})
	}
}

func TestReportTable(t *testing.T) {
	fail := time.Date(2020, 11, 25, 13, 15, 0, 0, time.UTC)
	full := Report{
		Sent: 12345, Acked: 12000, FoundInSinks: 11990, Lost: 10, Duplicates: 7,
		DuplicateWhy: []string{"7 ids retried after a 503 whose records were partly stored"},
		LostIDs:      []string{"lg-0-1", "lg-0-2", "lg-0-3", "lg-0-4", "lg-0-5", "lg-0-6", "lg-0-7", "lg-0-8", "lg-0-9", "lg-0-10"},
		FailureAt:    fail, UnhealthyAt: fail.Add(4250 * time.Millisecond), MovedAt: fail.Add(4300 * time.Millisecond),
		TimeToUnhealthy: 4250 * time.Millisecond, TimeToMoved: 4300 * time.Millisecond,
		PerRegion: map[string]RegionCounts{
			"us-west-2": {Acked: 7000, Spilled: 0, InSink: 7003},
			"us-east-1": {Acked: 5000, Spilled: 1234, InSink: 4987},
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
				`^  us-east-1 +5000 +1234 +4987$`,
				`^  us-west-2 +7000 +0 +7003$`,
				`lost: lg-0-10$`,
				`Kinesis failure at 13:15:00.000`,
				`^  failure -> region unhealthy +4.25s$`,
				`^  failure -> traffic moved +4.30s$`,
				`^  failure -> spill drained +never$`,
			},
		},
		{
			name:   "clean drill, nothing happened",
			r:      Report{Sent: 5, Acked: 5, FoundInSinks: 5},
			want:   []string{`^  LOST \(acknowledged, in no sink\) +0 +OK`, `failure -> region unhealthy +never$`, `no failure`},
			absent: []string{"FAIL", "why:", "region  "},
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
			if !strings.Contains(lines[1], "LOST") {
				t.Errorf("second line: got %q, want the lost count first", lines[1])
			}
			// The region rows line up.
			if i := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, "us-east-1") }); i > 0 {
				if len(lines[i]) != len(lines[i+1]) || len(lines[i]) != len(lines[i-2]) {
					t.Errorf("region rows of unequal width:\n%s\n%s\n%s", lines[i-2], lines[i], lines[i+1])
				}
			}
		})
	}
}
