package client

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// ErrClosed is returned by Add, Flush and Close after Close.
var ErrClosed = errors.New("client: closed")

// ErrGaveUp is wrapped by the error of records not acknowledged when
// retrying stopped: MaxElapsed or MaxAttempts reached, or a Retry-After
// beyond the context's deadline. (Cancellation wraps the context's error
// instead.)
var ErrGaveUp = errors.New("retries exhausted")

// BadRecord names a record the server (or the client's own check) refused.
type BadRecord struct {
	// Index is the record's index in the records given to Send, or in the
	// batch's Records (BatchEvent) of buffered records; 0 for Add.
	Index  int
	ID     string
	Reason string
	// DuplicateOf is the index of the earlier record with the same id
	// (ingest's "duplicateOf"), -1 otherwise.
	DuplicateOf int
}

// RejectError is a request refused with a 4xx other than 429 (or answered
// with a status that is neither 202 nor worth a retry, such as a 3xx or
// 200 from something that is not ingest), or records the client refused
// before sending (Status 0): the caller's to fix, never retried. Ingest
// stores nothing of a request it refuses.
type RejectError struct {
	// Status is the HTTP status; 0 when the client refused the records.
	Status   int
	Endpoint string
	// Message is the answer's "error" (or the start of its body).
	Message string
	// Records lists the bad records, when the answer names them.
	Records []BadRecord
	// Body is the answer's body (at most 64 KiB of it).
	Body []byte
}

func (e *RejectError) Error() string {
	var b strings.Builder
	b.WriteString("client: ")
	if e.Status == 0 {
		b.WriteString("records refused before sending")
	} else {
		b.WriteString("request refused: ")
		b.WriteString(strconv.Itoa(e.Status))
		b.WriteByte(' ')
		b.WriteString(http.StatusText(e.Status))
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	for i, r := range e.Records {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Records)-3)
			break
		}
		fmt.Fprintf(&b, "; record %d (id %q): %s", r.Index, r.ID, r.Reason)
	}
	return b.String()
}

// StatusError is an answer worth retrying (429, 5xx) that was the last
// before giving up.
type StatusError struct {
	Endpoint string
	Status   int
	Message  string // the answer's "error", if any
}

func (e *StatusError) Error() string {
	s := strconv.Itoa(e.Status) + " " + http.StatusText(e.Status) + " from " + e.Endpoint
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}
