package health

import (
	"errors"
	"time"
)

// Tracker turns probe results into a verdict with hysteresis, so one lost
// probe does not flap a region out of service and one lucky probe does not
// bring an impaired region back:
//   - it starts healthy;
//   - it turns unhealthy once UnhealthyAfter probes have failed within the
//     last Window (the failures need not be consecutive; older ones expire);
//   - it turns healthy again after HealthyAfter consecutive good probes, and
//     then forgets the failures that made it unhealthy.
//
// The clock is the caller's: every method takes the time it should use.
// A Tracker is not safe for concurrent use; Handler guards it with its mutex.
type Tracker struct {
	unhealthyAfter int
	healthyAfter   int
	window         time.Duration

	unhealthy     bool
	since         time.Time
	failures      []time.Time // failed probe times, oldest first, none older than window at the last Record
	consecutiveOK int
	probed        bool
	lastProbe     time.Time
	lastProbeOK   bool
	lastErr       string
	lastErrAt     time.Time
}

// State is a Tracker's verdict and what it is based on.
type State struct {
	Healthy bool
	// Since is when the verdict last changed (the Tracker's start if never).
	Since time.Time
	// LastProbe is when the last probe result was recorded; zero if none yet.
	LastProbe   time.Time
	LastProbeOK bool
	// LastError and LastErrorAt describe the last failed probe, even after
	// recovery; empty and zero if no probe has failed yet.
	LastError   string
	LastErrorAt time.Time
	// ConsecutiveOK counts good probes since the last failure.
	ConsecutiveOK int
	// FailuresInWindow counts failed probes in the window ending at the time
	// State was asked for.
	FailuresInWindow int
}

// NewTracker returns a healthy Tracker started at now.
func NewTracker(unhealthyAfter, healthyAfter int, window time.Duration, now time.Time) (*Tracker, error) {
	switch {
	case unhealthyAfter < 1:
		return nil, errors.New("unhealthy-after must be at least 1")
	case healthyAfter < 1:
		return nil, errors.New("healthy-after must be at least 1")
	case window <= 0:
		return nil, errors.New("probe window must be positive")
	}
	return &Tracker{
		unhealthyAfter: unhealthyAfter,
		healthyAfter:   healthyAfter,
		window:         window,
		since:          now,
		failures:       make([]time.Time, 0, unhealthyAfter),
	}, nil
}

// Record adds the result of a probe that finished at now (err nil: good) and
// reports whether the verdict changed.
func (t *Tracker) Record(now time.Time, err error) (changed bool) {
	t.probed = true
	t.lastProbe = now
	t.lastProbeOK = err == nil
	t.expire(now)
	if err != nil {
		t.lastErr = err.Error()
		t.lastErrAt = now
		t.consecutiveOK = 0
		t.failures = append(t.failures, now)
		if !t.unhealthy && len(t.failures) >= t.unhealthyAfter {
			t.unhealthy = true
			t.since = now
			return true
		}
		return false
	}
	t.consecutiveOK++
	if t.unhealthy && t.consecutiveOK >= t.healthyAfter {
		t.unhealthy = false
		t.since = now
		// Start the next judgement afresh: failures from the outage just
		// ended would otherwise make a single new failure flip it back.
		t.failures = t.failures[:0]
		return true
	}
	return false
}

// State returns the verdict as of now.
func (t *Tracker) State(now time.Time) State {
	s := State{
		Healthy:       !t.unhealthy,
		Since:         t.since,
		LastProbeOK:   t.lastProbeOK,
		LastError:     t.lastErr,
		LastErrorAt:   t.lastErrAt,
		ConsecutiveOK: t.consecutiveOK,
	}
	if t.probed {
		s.LastProbe = t.lastProbe
	}
	for _, f := range t.failures {
		if t.inWindow(f, now) {
			s.FailuresInWindow++
		}
	}
	return s
}

// inWindow reports whether a failure at f still counts at now.
func (t *Tracker) inWindow(f, now time.Time) bool {
	return now.Sub(f) < t.window
}

// expire drops failures that no longer count at now. Probes are at most one
// per cache TTL, so the slice stays short.
func (t *Tracker) expire(now time.Time) {
	i := 0
	for i < len(t.failures) && !t.inWindow(t.failures[i], now) {
		i++
	}
	if i > 0 {
		t.failures = append(t.failures[:0], t.failures[i:]...)
	}
}
