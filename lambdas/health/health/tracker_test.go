package health

import (
	"errors"
	"testing"
	"time"
)

func TestTracker(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	boom := errors.New("boom")
	type step struct {
		at      time.Duration // since start
		err     error
		healthy bool // verdict after the step
		changed bool
	}
	tests := []struct {
		name           string
		unhealthyAfter int
		healthyAfter   int
		steps          []step
		query          time.Duration // State asked at start+query
		wantSince      time.Duration
		wantOK         int
		wantFailures   int
		wantLastErrAt  time.Duration // -1: no error yet
	}{
		{
			name: "starts healthy", unhealthyAfter: 3, healthyAfter: 2,
			query: 10 * time.Second, wantSince: 0, wantLastErrAt: -1,
		},
		{
			name: "good probes stay healthy", unhealthyAfter: 3, healthyAfter: 2,
			steps: []step{{at: 5 * time.Second, healthy: true}, {at: 10 * time.Second, healthy: true}},
			query: 10 * time.Second, wantSince: 0, wantOK: 2, wantLastErrAt: -1,
		},
		{
			name: "one failure stays healthy", unhealthyAfter: 3, healthyAfter: 2,
			steps: []step{{at: 5 * time.Second, err: boom, healthy: true}},
			query: 5 * time.Second, wantSince: 0, wantFailures: 1, wantLastErrAt: 5 * time.Second,
		},
		{
			name: "K failures in the window turn unhealthy", unhealthyAfter: 3, healthyAfter: 2,
			steps: []step{
				{at: 0, err: boom, healthy: true},
				{at: 10 * time.Second, err: boom, healthy: true},
				{at: 20 * time.Second, err: boom, healthy: false, changed: true},
			},
			query: 20 * time.Second, wantSince: 20 * time.Second, wantFailures: 3, wantLastErrAt: 20 * time.Second,
		},
		{
			name: "failures need not be consecutive", unhealthyAfter: 3, healthyAfter: 2,
			steps: []step{
				{at: 0, err: boom, healthy: true},
				{at: 10 * time.Second, healthy: true},
				{at: 20 * time.Second, err: boom, healthy: true},
				{at: 30 * time.Second, healthy: true},
				{at: 40 * time.Second, err: boom, healthy: false, changed: true},
			},
			query: 40 * time.Second, wantSince: 40 * time.Second, wantFailures: 3, wantLastErrAt: 40 * time.Second,
		},
		{
			name: "failures spread beyond the window stay healthy", unhealthyAfter: 3, healthyAfter: 2,
			steps: []step{
				{at: 0, err: boom, healthy: true},
				{at: 35 * time.Second, err: boom, healthy: true},
				{at: 70 * time.Second, err: boom, healthy: true},
				{at: 105 * time.Second, err: boom, healthy: true},
			},
			query: 105 * time.Second, wantSince: 0, wantFailures: 2, wantLastErrAt: 105 * time.Second,
		},
		{
			name: "a failure exactly one window old no longer counts", unhealthyAfter: 3, healthyAfter: 2,
			steps: []step{
				{at: 0, err: boom, healthy: true},
				{at: time.Second, err: boom, healthy: true},
				{at: 60 * time.Second, err: boom, healthy: true},
			},
			query: 60 * time.Second, wantSince: 0, wantFailures: 2, wantLastErrAt: 60 * time.Second,
		},
		{
			name: "a failure just inside the window counts", unhealthyAfter: 3, healthyAfter: 2,
			steps: []step{
				{at: 0, err: boom, healthy: true},
				{at: time.Second, err: boom, healthy: true},
				{at: 60*time.Second - time.Millisecond, err: boom, healthy: false, changed: true},
			},
			query: 60*time.Second - time.Millisecond, wantSince: 60*time.Second - time.Millisecond,
			wantFailures: 3, wantLastErrAt: 60*time.Second - time.Millisecond,
		},
		{
			name: "failures expire from the count as time passes", unhealthyAfter: 3, healthyAfter: 2,
			steps: []step{
				{at: 0, err: boom, healthy: true},
				{at: 30 * time.Second, err: boom, healthy: true},
			},
			query: 75 * time.Second, wantSince: 0, wantFailures: 1, wantLastErrAt: 30 * time.Second,
		},
		{
			name: "unhealthy after the first failure when K is 1", unhealthyAfter: 1, healthyAfter: 1,
			steps: []step{{at: 3 * time.Second, err: boom, healthy: false, changed: true}},
			query: 3 * time.Second, wantSince: 3 * time.Second, wantFailures: 1, wantLastErrAt: 3 * time.Second,
		},
		{
			name: "one good probe does not recover", unhealthyAfter: 3, healthyAfter: 2,
			steps: []step{
				{at: 0, err: boom, healthy: true},
				{at: 10 * time.Second, err: boom, healthy: true},
				{at: 20 * time.Second, err: boom, healthy: false, changed: true},
				{at: 30 * time.Second, healthy: false},
			},
			query: 30 * time.Second, wantSince: 20 * time.Second, wantOK: 1, wantFailures: 3, wantLastErrAt: 20 * time.Second,
		},
		{
			name: "M good probes recover and keep the last error", unhealthyAfter: 3, healthyAfter: 2,
			steps: []step{
				{at: 0, err: boom, healthy: true},
				{at: 10 * time.Second, err: boom, healthy: true},
				{at: 20 * time.Second, err: boom, healthy: false, changed: true},
				{at: 30 * time.Second, healthy: false},
				{at: 40 * time.Second, healthy: true, changed: true},
			},
			query: 40 * time.Second, wantSince: 40 * time.Second, wantOK: 2, wantFailures: 0, wantLastErrAt: 20 * time.Second,
		},
		{
			name: "a failure during recovery restarts the count", unhealthyAfter: 3, healthyAfter: 2,
			steps: []step{
				{at: 0, err: boom, healthy: true},
				{at: 10 * time.Second, err: boom, healthy: true},
				{at: 20 * time.Second, err: boom, healthy: false, changed: true},
				{at: 30 * time.Second, healthy: false},
				{at: 40 * time.Second, err: boom, healthy: false},
				{at: 50 * time.Second, healthy: false},
				{at: 60 * time.Second, healthy: true, changed: true},
			},
			query: 60 * time.Second, wantSince: 60 * time.Second, wantOK: 2, wantFailures: 0, wantLastErrAt: 40 * time.Second,
		},
		{
			name: "after recovery one new failure does not flip back", unhealthyAfter: 3, healthyAfter: 2,
			steps: []step{
				{at: 0, err: boom, healthy: true},
				{at: 5 * time.Second, err: boom, healthy: true},
				{at: 10 * time.Second, err: boom, healthy: false, changed: true},
				{at: 15 * time.Second, healthy: false},
				{at: 20 * time.Second, healthy: true, changed: true},
				{at: 25 * time.Second, err: boom, healthy: true},
			},
			query: 25 * time.Second, wantSince: 20 * time.Second, wantFailures: 1, wantLastErrAt: 25 * time.Second,
		},
		{
			name: "only probes change the verdict", unhealthyAfter: 2, healthyAfter: 2,
			steps: []step{
				{at: 0, err: boom, healthy: true},
				{at: 5 * time.Second, err: boom, healthy: false, changed: true},
			},
			query: time.Hour, wantSince: 5 * time.Second, wantFailures: 0, wantLastErrAt: 5 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := NewTracker(tt.unhealthyAfter, tt.healthyAfter, time.Minute, start)
			if err != nil {
				t.Fatalf("NewTracker: got error %v, want nil", err)
			}
			for i, s := range tt.steps {
				changed := tr.Record(start.Add(s.at), s.err)
				st := tr.State(start.Add(s.at))
				if st.Healthy != s.healthy || changed != s.changed {
					t.Fatalf("step %d: got healthy=%v changed=%v, want healthy=%v changed=%v", i, st.Healthy, changed, s.healthy, s.changed)
				}
				if st.LastProbeOK != (s.err == nil) || !st.LastProbe.Equal(start.Add(s.at)) {
					t.Errorf("step %d: got lastProbe %v ok=%v, want %v ok=%v", i, st.LastProbe, st.LastProbeOK, start.Add(s.at), s.err == nil)
				}
			}
			st := tr.State(start.Add(tt.query))
			if !st.Since.Equal(start.Add(tt.wantSince)) {
				t.Errorf("since: got %v, want %v", st.Since, start.Add(tt.wantSince))
			}
			if st.ConsecutiveOK != tt.wantOK {
				t.Errorf("consecutiveOK: got %d, want %d", st.ConsecutiveOK, tt.wantOK)
			}
			if st.FailuresInWindow != tt.wantFailures {
				t.Errorf("failuresInWindow: got %d, want %d", st.FailuresInWindow, tt.wantFailures)
			}
			if tt.wantLastErrAt < 0 {
				if st.LastError != "" || !st.LastErrorAt.IsZero() {
					t.Errorf("last error: got %q at %v, want none", st.LastError, st.LastErrorAt)
				}
			} else if st.LastError != boom.Error() || !st.LastErrorAt.Equal(start.Add(tt.wantLastErrAt)) {
				t.Errorf("last error: got %q at %v, want %q at %v", st.LastError, st.LastErrorAt, boom, start.Add(tt.wantLastErrAt))
			}
			if len(tt.steps) == 0 && !st.LastProbe.IsZero() {
				t.Errorf("lastProbe: got %v, want zero before any probe", st.LastProbe)
			}
		})
	}
}

func TestNewTrackerErrors(t *testing.T) {
	tests := []struct {
		name                         string
		unhealthyAfter, healthyAfter int
		window                       time.Duration
	}{
		{"unhealthy-after 0", 0, 2, time.Minute},
		{"healthy-after 0", 3, 0, time.Minute},
		{"healthy-after negative", 3, -1, time.Minute},
		{"window 0", 3, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := NewTracker(tt.unhealthyAfter, tt.healthyAfter, tt.window, time.Now())
			if err == nil || tr != nil {
				t.Errorf("got tracker %v, error %v; want nil and an error", tr, err)
			}
		})
	}
}
