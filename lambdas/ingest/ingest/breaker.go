package ingest

import (
	"sync"
	"time"
)

// breaker keeps an execution environment from spending every request's
// Kinesis budget on a Kinesis that has just failed. After `after` requests
// in a row in which Kinesis took none of the records, requests skip Kinesis
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
	fails     int       // requests in a row that Kinesis took nothing from
	openUntil time.Time // skip Kinesis until then
	probing   bool      // a request is trying Kinesis after the cooldown
}

// allow says whether this request should try Kinesis. Every true must be
// followed by done.
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

// done records whether Kinesis took any record of a request allow let try.
func (b *breaker) done(tookAny bool) {
	if b.after <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
	if tookAny {
		b.fails = 0
		return
	}
	b.fails++
	if b.fails >= b.after {
		b.openUntil = b.now().Add(b.cooldown)
	}
}
