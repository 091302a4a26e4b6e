package ingest

import (
	"sync"
	"time"

	"github.com/twinstream/twinstream/lambdas/stream"
)

// breaker keeps an execution environment from spending every request's
// Kinesis budget on a Kinesis that is not answering. After `after` requests
// in a row that failed at the call level (see judge), requests skip Kinesis
// and spill at once for `cooldown`; then one request tries Kinesis again
// (the others keep spilling) and its outcome closes or reopens the breaker.
//
// It only saves producers the wait (the budget, 3 s by default, on every
// request while Kinesis is down): the data path is the same, and moving
// traffic away is the health function's job.
type breaker struct {
	after    int // 0: never opens
	cooldown time.Duration
	now      func() time.Time

	mu        sync.Mutex
	fails     int       // failed requests in a row
	openUntil time.Time // skip Kinesis until then
	probing   bool      // a request is trying Kinesis after the cooldown
}

// verdict is what one request's Kinesis outcome says about Kinesis.
type verdict int

const (
	// unknown says nothing (no call was made, or the call panicked): the
	// count stays as it is, and a probe makes way for the next one.
	unknown verdict = iota
	// answered: Kinesis took records, or refused them for throughput only.
	answered
	// down: Kinesis took nothing and some call or record failed for a
	// reason other than throttling.
	down
)

// judge reads a Put's result. Throttling alone closes the breaker rather
// than being neutral: it is an answer, so Kinesis is up, and one hot
// partition key (a producer sending every record to one shard) must not
// make every other producer spill. InternalFailure of a record counts as a
// failure: it is Kinesis' server error, not a busy shard, and it only
// matters when the request got nothing else in (anything taken closes).
func judge(res stream.Result, entries, failed int) verdict {
	switch {
	case failed < entries:
		return answered
	case res.Faults > 0:
		return down
	case res.Throttled > 0:
		return answered
	}
	return unknown
}

// allow says whether this request should try Kinesis. Every true must be
// followed by done, deferred so that a panic cannot leave a probe running.
func (b *breaker) allow() bool {
	if b.after <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fails < b.after {
		return true
	}
	if b.now().Before(b.openUntil) || b.probing {
		return false
	}
	b.probing = true
	return true
}

// done records the verdict on a request allow let try.
func (b *breaker) done(v verdict) {
	if b.after <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
	switch v {
	case answered:
		b.fails = 0
	case down:
		b.fails++
		if b.fails >= b.after {
			b.openUntil = b.now().Add(b.cooldown)
		}
	}
}
