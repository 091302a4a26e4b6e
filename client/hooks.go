package client

import (
	"net/http"
	"time"
)

// Hooks are called as requests, retries, failovers and batches happen, for
// metrics and logs. Any of them may be nil. They are called from the
// goroutine doing the work, several at once under concurrent use: they must
// be safe for concurrent use and return quickly.
type Hooks struct {
	// Request: after every HTTP attempt.
	Request func(RequestEvent)
	// Retry: before the wait ahead of another attempt.
	Retry func(RetryEvent)
	// Failover: when the endpoint in use changes.
	Failover func(FailoverEvent)
	// Batch: when a batch ends: a Send call, or a batch of buffered records
	// (then the only way to learn which of them were acknowledged).
	Batch func(BatchEvent)
}

// RequestEvent describes one HTTP attempt.
type RequestEvent struct {
	Endpoint string
	// Status is the answer's HTTP status; 0 without an answer (Err says why).
	Status int
	Err    error
	// Header is the answer's header (nil without an answer).
	Header  http.Header
	Latency time.Duration // from sending to the answer read in full (or the error)
	// Attempt counts the attempts for the same records: 1 for the first.
	Attempt int
	Records int // records in the request
	Bytes   int // body bytes as sent (compressed with gzip)
	Gzip    bool
	// Acked is how many of its records the answer acknowledged: all with a
	// 202, those listed as stored by a 503.
	Acked int
}

// RetryEvent describes a retry about to wait.
type RetryEvent struct {
	Endpoint string // where the failed attempt went
	Status   int    // its answer's status; 0 without an answer
	Err      error  // the failure
	Attempt  int    // the attempt that failed
	Records  int    // records to send again
	// Wait is the time before the next attempt: the backoff, or the
	// answer's Retry-After when longer and the next attempt goes to the
	// same endpoint.
	Wait       time.Duration
	RetryAfter time.Duration // what the answer asked for (0: nothing)
}

// FailoverEvent says the client moved from one endpoint to another.
type FailoverEvent struct {
	From, To string
	// Reason: "network error", "5xx" (FailoverAfter answers 5xx in a row),
	// or "cool-down" (back to the first endpoint).
	Reason string
}

// BatchEvent says how a batch ended.
type BatchEvent struct {
	// Records are the batch's records, their ids set. Result's indices
	// refer to them.
	Records []Record
	Result  Result
	// Err is nil when every record was acknowledged.
	Err      error
	Elapsed  time.Duration
	Buffered bool // records given to Add (false: a Send call)
}

func (h *Hooks) request(e RequestEvent) {
	if h != nil && h.Request != nil {
		h.Request(e)
	}
}

func (h *Hooks) retry(e RetryEvent) {
	if h != nil && h.Retry != nil {
		h.Retry(e)
	}
}

func (h *Hooks) failover(e FailoverEvent) {
	if h != nil && h.Failover != nil {
		h.Failover(e)
	}
}

func (h *Hooks) batch(e BatchEvent) {
	if h != nil && h.Batch != nil {
		h.Batch(e)
	}
}
