package ingest

import (
	"net/http"
	"testing"
	"time"
)

func TestBreaker(t *testing.T) {
	type step struct {
		advance   time.Duration
		wantAllow bool
		tookAny   bool // outcome reported when allowed
	}
	tests := []struct {
		name  string
		after int
		steps []step
	}{
		{"stays closed while Kinesis takes records", 3, []step{
			{0, true, false}, {0, true, false}, {0, true, true}, {0, true, false}, {0, true, false}, {0, true, true},
		}},
		{"opens after 3 failed requests, for the cooldown", 3, []step{
			{0, true, false}, {0, true, false}, {0, true, false},
			{0, false, false}, {4 * time.Second, false, false},
		}},
		{"after the cooldown one request tries; a failure reopens", 3, []step{
			{0, true, false}, {0, true, false}, {0, true, false},
			{5 * time.Second, true, false},
			{0, false, false}, {4 * time.Second, false, false},
			{time.Second, true, true},
			{0, true, false}, {0, true, false},
		}},
		{"disabled", 0, []step{
			{0, true, false}, {0, true, false}, {0, true, false}, {0, true, false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0
			b := &breaker{after: tt.after, cooldown: 5 * time.Second, now: func() time.Time { return now }}
			for i, s := range tt.steps {
				now = now.Add(s.advance)
				got := b.allow()
				if got != s.wantAllow {
					t.Fatalf("step %d: allow got %v, want %v", i, got, s.wantAllow)
				}
				if got {
					b.done(s.tookAny)
				}
			}
		})
	}
}

func TestBreakerOneProbeAtATime(t *testing.T) {
	now := t0
	b := &breaker{after: 1, cooldown: time.Second, now: func() time.Time { return now }}
	b.allow()
	b.done(false)
	now = now.Add(time.Second)
	if !b.allow() {
		t.Fatal("after the cooldown: got no probe, want one")
	}
	if b.allow() {
		t.Error("while a probe runs: got a second one, want the others to spill")
	}
	b.done(true)
	if !b.allow() {
		t.Error("after a good probe: got closed=false, want Kinesis tried")
	}
}

// TestBreakerSpillsWithoutWaiting: with Kinesis failing, the fourth request
// no longer calls Kinesis and is still answered 202 from the spill bucket;
// after the cooldown Kinesis is tried again.
func TestBreakerSpillsWithoutWaiting(t *testing.T) {
	c := &clock{t: t0}
	k := &kinesisFake{fail: failAll}
	sp := &spillFake{}
	h := newHandler(t, testConfig(), k, sp, nil, c.Now)
	send := func() reply {
		t.Helper()
		res := serve(t, h, post("application/json", bearerKey, jsonRecords(2)))
		if res.status != http.StatusAccepted {
			t.Fatalf("status: got %d, want 202: %s", res.status, res.raw)
		}
		return res.body
	}
	for i := range 4 {
		r := send()
		if *r.Spilled != 2 {
			t.Fatalf("request %d: got %d spilled, want 2", i, *r.Spilled)
		}
	}
	if k.calls != 3 {
		t.Errorf("Kinesis calls for 4 requests: got %d, want 3 (the 4th spills at once)", k.calls)
	}
	c.Add(DefaultBreakerCooldown)
	k.fail = nil
	if r := send(); *r.Spilled != 0 || k.calls != 4 {
		t.Errorf("after the cooldown: got %d spilled, %d calls, want 0 and 4", *r.Spilled, k.calls)
	}
}
