package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxAnswer bounds the answer body read: ingest's answers fit the ALB's
// 1 MB; anything longer is not ingest's.
const maxAnswer = 2 << 20

// maxRejectBody bounds the body kept in a RejectError.
const maxRejectBody = 64 << 10

// answer is what one attempt got.
type answer struct {
	endpoint   string
	status     int // 0: no answer
	header     http.Header
	err        error // no answer: why (or the body could not be read)
	at         time.Time
	latency    time.Duration
	attempt    int
	records    int
	bytes      int
	gzip       bool
	retryAfter time.Duration
	body       []byte
	reply
}

// reply is the union of ingest's answer bodies.
type reply struct {
	Error     string
	Spilled   int
	Stored    *[]string // nil: no "stored" list
	Failed    []int
	FailedIDs []string
	Records   []badRecord
}

// badRecord is an entry of a 400's "records".
type badRecord struct {
	Index       int    `json:"index"`
	Reason      string `json:"reason"`
	DuplicateOf *int   `json:"duplicateOf"`
}

// attempt makes one HTTP attempt with body w to endpoint ep.
func (c *Client) attempt(ctx context.Context, ep int, w wire, records, attempt int) *answer {
	url := c.endpointURL(ep)
	a := &answer{endpoint: url, attempt: attempt, records: records, bytes: len(w.body), gzip: w.gzip}
	actx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, url, bytes.NewReader(w.body))
	if err != nil {
		a.err, a.at = err, c.now()
		return a
	}
	// GetBody lets a 307 or 308 redirect send the body again.
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(w.body)), nil }
	req.Header.Set("Content-Type", "application/json")
	if w.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	t0 := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		a.err, a.latency, a.at = err, time.Since(t0), c.now()
		return a
	}
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	resp.Body.Close()
	a.latency, a.at = time.Since(t0), c.now()
	a.status, a.header, a.body = resp.StatusCode, resp.Header, raw
	a.retryAfter = retryAfter(resp.Header.Get("Retry-After"), a.at)
	if rerr != nil {
		// The status stands (a 202 is the acknowledgement); a body cut
		// short says nothing about single records.
		a.err = rerr
		return a
	}
	a.parse()
	return a
}

// parse reads the answer body field by field: one field of an unexpected
// shape (a proxy's answer, another version) leaves the others usable.
func (a *answer) parse() {
	var fields map[string]json.RawMessage
	if json.Unmarshal(a.body, &fields) != nil {
		return
	}
	field := func(name string, v any) {
		if raw, ok := fields[name]; ok && json.Unmarshal(raw, v) != nil {
			// A field of another shape says nothing.
			_ = json.Unmarshal([]byte("null"), v)
		}
	}
	field("error", &a.Error)
	field("spilled", &a.Spilled)
	field("failed", &a.Failed)
	field("failedIds", &a.FailedIDs)
	// "stored": present (even empty) means the list is complete.
	if raw, ok := fields["stored"]; ok {
		var ids []string
		if json.Unmarshal(raw, &ids) == nil && ids != nil {
			a.Stored = &ids
		}
	}
	// "records" is a list of bad records in a 400, a count elsewhere.
	if raw := fields["records"]; len(raw) > 0 && raw[0] == '[' {
		field("records", &a.Records)
	}
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// retryable reports whether the attempt is worth another: no answer, 429,
// or a 5xx.
func (a *answer) retryable() bool {
	return a.status == 0 || a.status == http.StatusTooManyRequests || a.status >= 500
}

// partial splits req after a failed attempt into the records the answer
// says are stored and those to send again. Only a 503 says anything about
// single records: its "stored" ids are stored and the rest are not; without
// "stored", its "failedIds" (else "failed" indices) are not stored and the
// rest are. An answer naming a record the request did not hold says
// nothing: all again (a copy at worst, never a loss).
func (a *answer) partial(req []item) (stored, again []item) {
	if a.status != http.StatusServiceUnavailable {
		return nil, req
	}
	notStored := make([]bool, len(req))
	switch {
	case a.Stored != nil:
		in := make(map[string]bool, len(*a.Stored))
		for _, id := range *a.Stored {
			in[id] = true
		}
		for i := range req {
			notStored[i] = !in[req[i].id]
		}
	case len(a.FailedIDs) > 0:
		at := make(map[string]int, len(req))
		for i := range req {
			at[req[i].id] = i
		}
		for _, id := range a.FailedIDs {
			i, ok := at[id]
			if !ok {
				return nil, req
			}
			notStored[i] = true
		}
	case len(a.Failed) > 0:
		for _, i := range a.Failed {
			if i < 0 || i >= len(req) {
				return nil, req
			}
			notStored[i] = true
		}
	default:
		return nil, req
	}
	for i := range req {
		if notStored[i] {
			again = append(again, req[i])
		} else {
			stored = append(stored, req[i])
		}
	}
	return stored, again
}

// reject is the RejectError of a refused request holding req.
func (a *answer) reject(req []item) *RejectError {
	e := &RejectError{Status: a.status, Endpoint: a.endpoint, Message: a.Error}
	e.Body = a.body[:min(len(a.body), maxRejectBody)]
	if e.Message == "" {
		e.Message = strings.TrimSpace(string(e.Body[:min(len(e.Body), 200)]))
		if !utf8.ValidString(e.Message) {
			e.Message = strconv.Quote(e.Message)
		}
	}
	for _, r := range a.Records {
		b := BadRecord{Index: -1, Reason: r.Reason, DuplicateOf: -1}
		if r.Index >= 0 && r.Index < len(req) {
			b.Index, b.ID = req[r.Index].idx, req[r.Index].id
		}
		if d := r.DuplicateOf; d != nil && *d >= 0 && *d < len(req) {
			b.DuplicateOf = req[*d].idx
		}
		e.Records = append(e.Records, b)
	}
	return e
}

// failure is the attempt's failure as an error.
func (a *answer) failure() error {
	if a == nil {
		return errors.New("no attempt")
	}
	if a.status == 0 {
		return a.err
	}
	return &StatusError{Endpoint: a.endpoint, Status: a.status, Message: a.Error}
}

func (a *answer) event(acked int) RequestEvent {
	e := RequestEvent{Endpoint: a.endpoint, Status: a.status, Header: a.header, Latency: a.latency,
		Attempt: a.attempt, Records: a.records, Bytes: a.bytes, Gzip: a.gzip, Acked: acked}
	if a.status == 0 {
		e.Err = a.err
	}
	return e
}
