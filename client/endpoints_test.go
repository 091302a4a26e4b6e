package client

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestFailover(t *testing.T) {
	tests := []struct {
		name    string
		primary []fault
		down    bool // the primary refuses connections
		// want: the endpoints each attempt went to (0 primary, 1 secondary),
		// the failover reasons, and whether the wait before the last
		// attempt honoured the primary's Retry-After
		went     []int
		reasons  []string
		minWaits []time.Duration
		maxWaits []time.Duration
	}{
		{name: "5xx twice: the next endpoint", primary: []fault{{status: 500}, {status: 502}},
			went: []int{0, 0, 1}, reasons: []string{"5xx"}},
		{name: "5xx once: stays", primary: []fault{{status: 500}},
			went: []int{0, 0}},
		{name: "5xx, 429, 5xx: not in a row, stays", primary: []fault{{status: 503}, {status: 429}, {status: 503}},
			went: []int{0, 0, 0, 0}},
		{name: "refused: the next endpoint at once", down: true,
			went: []int{0, 1}, reasons: []string{"network error"}},
		{name: "429 is not the endpoint's failure", primary: []fault{{status: 429}, {status: 429}, {status: 429}},
			went: []int{0, 0, 0, 0}},
		{name: "Retry-After is the primary's: not waited for on the secondary",
			primary: []fault{{status: 503, retryAfter: "30"}, {status: 503, retryAfter: "30"}},
			went:    []int{0, 0, 1}, reasons: []string{"5xx"},
			minWaits: []time.Duration{30 * time.Second, 0}, maxWaits: []time.Duration{time.Hour, DefaultBackoffBase * 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, s := newFake(t, tt.primary...), newFake(t)
			ps, ss := p.start(), s.start()
			if tt.down {
				ps.Close()
			}
			var mu sync.Mutex
			var events []FailoverEvent
			var went []int
			c, clk := newTestClient(t, Config{Endpoints: []string{ps.URL, ss.URL}, Hooks: Hooks{
				Failover: func(e FailoverEvent) { mu.Lock(); events = append(events, e); mu.Unlock() },
				Request: func(e RequestEvent) {
					mu.Lock()
					went = append(went, slices.Index([]string{ps.URL + Path, ss.URL + Path}, e.Endpoint))
					mu.Unlock()
				},
			}})
			recs := records(3)
			res, err := c.Send(context.Background(), recs)
			if err != nil {
				t.Fatal(err)
			}
			checkAcked(t, recs, res, both(p, s))
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(went, tt.went) {
				t.Errorf("attempts went to %v, want %v", went, tt.went)
			}
			var reasons []string
			for _, e := range events {
				reasons = append(reasons, e.Reason)
				if e.From != ps.URL+Path || e.To != ss.URL+Path {
					t.Errorf("failover %+v: want from the primary to the secondary", e)
				}
			}
			if !slices.Equal(reasons, tt.reasons) {
				t.Errorf("failovers: got %v, want %v", reasons, tt.reasons)
			}
			waits := clk.slept()
			for i := range tt.minWaits {
				if waits[i] < tt.minWaits[i] || waits[i] > tt.maxWaits[i] {
					t.Errorf("wait %d: got %v, want %v to %v", i, waits[i], tt.minWaits[i], tt.maxWaits[i])
				}
			}
		})
	}
}

// both is the union of two fakes' stores, for checkAcked.
func both(a, b *ingestFake) *ingestFake {
	u := newFake(a.t)
	for _, f := range []*ingestFake{a, b} {
		f.mu.Lock()
		for id, c := range f.stored {
			u.stored[id] = append(u.stored[id], c...)
		}
		f.mu.Unlock()
	}
	return u
}

// TestFailoverReturns: after the cool-down the client tries the first
// endpoint again; while it fails, back to the second.
func TestFailoverReturns(t *testing.T) {
	p, s := newFake(t, fault{status: 500}, fault{status: 500}), newFake(t)
	ps, ss := p.start(), s.start()
	var mu sync.Mutex
	var reasons []string
	c, clk := newTestClient(t, Config{Endpoints: []string{ps.URL, ss.URL}, Cooldown: time.Minute, Hooks: Hooks{
		Failover: func(e FailoverEvent) { mu.Lock(); reasons = append(reasons, e.Reason); mu.Unlock() },
	}})
	send := func() {
		t.Helper()
		if _, err := c.Send(context.Background(), records(2)); err != nil {
			t.Fatal(err)
		}
	}
	counts := func() (int, int) {
		p.mu.Lock()
		defer p.mu.Unlock()
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(p.requests), len(s.requests)
	}
	send() // primary 500, 500, secondary 202
	if a, b := counts(); a != 2 || b != 1 || c.Active() != ss.URL+Path {
		t.Fatalf("after two 5xx: primary %d, secondary %d requests, active %s; want 2, 1, the secondary", a, b, c.Active())
	}
	clk.advance(59 * time.Second)
	send() // within the cool-down: the secondary
	if a, b := counts(); a != 2 || b != 2 {
		t.Fatalf("within the cool-down: primary %d, secondary %d requests, want 2, 2", a, b)
	}
	clk.advance(time.Second)
	send() // back to the primary, which answers 202 now
	if a, b := counts(); a != 3 || b != 2 || c.Active() != ps.URL+Path {
		t.Fatalf("after the cool-down: primary %d, secondary %d requests, active %s; want 3, 2, the primary", a, b, c.Active())
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"5xx", "cool-down"}; !slices.Equal(reasons, want) {
		t.Errorf("failovers: got %v, want %v", reasons, want)
	}
}

func TestEndpointsReport(t *testing.T) {
	now := time.Now()
	type step struct {
		report  int // endpoint reported on
		outcome outcome
		active  int // active after it
	}
	tests := []struct {
		name  string
		n     int
		steps []step
	}{
		{"wraps around", 3, []step{{0, endpointDown, 1}, {1, endpointDown, 2}, {2, endpointDown, 0}}},
		{"a stale report does not count", 2, []step{{0, endpointDown, 1}, {0, endpointDown, 1}, {0, endpointFailed, 1}, {0, endpointFailed, 1}}},
		{"ok resets the count", 2, []step{{0, endpointFailed, 0}, {0, endpointOK, 0}, {0, endpointFailed, 0}, {0, endpointFailed, 1}}},
		{"one endpoint never moves", 1, []step{{0, endpointDown, 0}, {0, endpointFailed, 0}, {0, endpointFailed, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &endpoints{urls: make([]string, tt.n), after: 2, cooldown: time.Minute, now: func() time.Time { return now }}
			for i, s := range tt.steps {
				e.report(s.report, s.outcome)
				if got := e.pick(); got != s.active {
					t.Fatalf("step %d: active %d, want %d", i, got, s.active)
				}
			}
		})
	}
}
