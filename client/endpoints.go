package client

import (
	"sync"
	"time"
)

// endpoints chooses where requests go (see the package doc, "Failover"):
// the active endpoint until it fails, then the next one; back to the first
// after Cooldown. The state is the client's, shared by all its requests.
type endpoints struct {
	urls     []string
	after    int           // 5xx answers in a row that move on
	cooldown time.Duration // time away from the first endpoint before trying it again
	now      func() time.Time
	hooks    *Hooks

	mu      sync.Mutex
	active  int
	fails   int       // 5xx answers in a row from active
	movedAt time.Time // when active last changed
}

// outcome is what an attempt says about its endpoint.
type outcome int

const (
	endpointOK     outcome = iota // an answer that is not a 5xx (429 and 4xx included)
	endpointFailed                // a 5xx answer
	endpointDown                  // no answer: network error or timeout
)

// pick returns the endpoint for the next attempt.
func (e *endpoints) pick() int {
	e.mu.Lock()
	var ev *FailoverEvent
	if e.active != 0 && e.now().Sub(e.movedAt) >= e.cooldown {
		ev = &FailoverEvent{From: e.urls[e.active], To: e.urls[0], Reason: "cool-down"}
		e.active, e.fails, e.movedAt = 0, 0, e.now()
	}
	i := e.active
	e.mu.Unlock()
	if ev != nil {
		e.hooks.failover(*ev)
	}
	return i
}

// peek returns the endpoint the next attempt would use at time t.
func (e *endpoints) peek(t time.Time) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.active != 0 && t.Sub(e.movedAt) >= e.cooldown {
		return 0
	}
	return e.active
}

// report tells what an attempt to endpoint i got. Only the active
// endpoint's outcomes count: an attempt that started before a move says
// nothing about the endpoint now in use.
func (e *endpoints) report(i int, o outcome) {
	e.mu.Lock()
	var ev *FailoverEvent
	if i == e.active && len(e.urls) > 1 {
		switch o {
		case endpointOK:
			e.fails = 0
		case endpointFailed:
			e.fails++
			if e.fails >= e.after {
				ev = e.move("5xx")
			}
		case endpointDown:
			ev = e.move("network error")
		}
	}
	e.mu.Unlock()
	if ev != nil {
		e.hooks.failover(*ev)
	}
}

func (e *endpoints) move(reason string) *FailoverEvent {
	from := e.active
	e.active = (e.active + 1) % len(e.urls)
	e.fails, e.movedAt = 0, e.now()
	return &FailoverEvent{From: e.urls[from], To: e.urls[e.active], Reason: reason}
}
