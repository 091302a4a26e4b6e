package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// Defaults of Config.
const (
	// DefaultAttemptTimeout is above ingest's function timeout (15 s), so
	// an answer ingest gives is waited for.
	DefaultAttemptTimeout = 20 * time.Second
	DefaultBackoffBase    = 100 * time.Millisecond
	DefaultBackoffMax     = 5 * time.Second
	DefaultMaxElapsed     = 2 * time.Minute
	// DefaultMaxRetryAfter is the WAF's Retry-After (60 s).
	DefaultMaxRetryAfter = time.Minute
	DefaultFailoverAfter = 2
	DefaultCooldown      = time.Minute
	DefaultFlushInterval = 200 * time.Millisecond
	DefaultConcurrency   = 4
)

// Path is ingest's route, used for an endpoint given without a path.
const Path = "/v1/records"

// Config configures a Client. Zero values take the defaults on each field.
type Config struct {
	// Endpoints are ingest URLs, the preferred first: the accelerator's
	// name (the global stack's ProducerUrl output), then the failover DNS
	// name (FailoverUrl). An URL without a path gets /v1/records.
	// Required.
	Endpoints []string
	// APIKey is sent as "Authorization: Bearer <APIKey>". Required.
	APIKey string
	// HTTPClient makes the requests. Default: a client of its own (its
	// transport a clone of http.DefaultTransport), no overall timeout
	// (AttemptTimeout bounds each attempt).
	HTTPClient *http.Client

	// MaxRecords is the most records per request: ingest's MAX_RECORDS
	// (1 to 5000). Default 500.
	MaxRecords int
	// Gzip sends bodies with Content-Encoding: gzip. A request then holds
	// up to 5 MiB of JSON (MaxDecodedBody) if it compresses to MaxBody,
	// otherwise it is split (or sent uncompressed when that is smaller).
	Gzip bool

	// AttemptTimeout bounds each HTTP attempt. Default 20s.
	AttemptTimeout time.Duration
	// BackoffBase and BackoffMax shape the wait before retry n: a random
	// duration from 0 to min(BackoffMax, BackoffBase * 2^(n-1)) ("full
	// jitter"), at least an answer's Retry-After. Defaults 100ms and 5s.
	BackoffBase, BackoffMax time.Duration
	// MaxElapsed bounds the time spent on one request, from its first
	// attempt: no retry starts that would begin after it. Default 2m.
	MaxElapsed time.Duration
	// MaxAttempts bounds the attempts for one request. Default 0: no
	// bound but MaxElapsed and the context.
	MaxAttempts int
	// MaxRetryAfter caps the wait an answer's Retry-After can ask for.
	// Default 1m.
	MaxRetryAfter time.Duration

	// FailoverAfter is how many 5xx answers in a row from the endpoint in
	// use move the client to the next one (a network error or timeout
	// moves it at once). Default 2.
	FailoverAfter int
	// Cooldown is how long the client stays away from the first endpoint
	// before trying it again. Default 1m.
	Cooldown time.Duration

	// FlushInterval: a buffered record waits at most this long for its
	// batch to fill before the batch is sent. Default 200ms.
	FlushInterval time.Duration
	// Concurrency is how many buffered batches are sent at once. Default 4.
	Concurrency int
	// BufferRecords bounds the buffered records, those waiting and those
	// being sent: Add blocks while it is reached. Default MaxRecords *
	// Concurrency * 2.
	BufferRecords int

	// Hooks are called for metrics; see Hooks.
	Hooks Hooks
	// UserAgent is sent as User-Agent. Default "twinstream-client".
	UserAgent string
}

// Result says what became of a batch of records.
type Result struct {
	// IDs are the records' ids, in the order given, those the client
	// assigned included.
	IDs []string
	// Acks are the answers that acknowledged records, in order.
	Acks []Ack
	// Acked counts the records acknowledged, Spilled those of them ingest
	// said went to its spill bucket (a 202's "spilled").
	Acked, Spilled int
	// Unacked are the indices of the records not acknowledged, ascending
	// (the error says why). Send them again with the same ids: a record
	// stored after all is then a copy, which consumers drop.
	Unacked []int
	// Requests counts the HTTP attempts.
	Requests int
}

// Ack is one answer that acknowledged records.
type Ack struct {
	// Records are the indices of the records it acknowledged.
	Records  []int
	Endpoint string
	// Status is 202, or 503 for the records a 503 listed as stored.
	Status int
	// Spilled is the 202's "spilled": how many of the request's records
	// went to the spill bucket (which ones, it does not say).
	Spilled int
	Header  http.Header
	At      time.Time // when the answer arrived
}

// Client sends records to ingest. It is safe for concurrent use.
type Client struct {
	cfg   Config
	http  *http.Client
	eps   *endpoints
	ids   ids
	lim   limits
	hooks *Hooks

	// now, sleep and jitter are the clock and randomness (fakes in tests).
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func(n int64) int64

	buf buffer
}

// New checks the configuration and returns a client.
func New(cfg Config) (*Client, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("client: no endpoints")
	}
	if cfg.APIKey == "" {
		return nil, errors.New("client: no API key")
	}
	eps := make([]string, len(cfg.Endpoints))
	for i, s := range cfg.Endpoints {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("client: endpoint %q: want an http or https URL", s)
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = Path
		}
		eps[i] = u.String()
	}
	cfg.Endpoints = eps
	if cfg.MaxRecords < 0 || cfg.MaxRecords > MaxMaxRecords {
		return nil, fmt.Errorf("client: MaxRecords %d: want 1 to %d", cfg.MaxRecords, MaxMaxRecords)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.AttemptTimeout, DefaultAttemptTimeout)
	def(&cfg.BackoffBase, DefaultBackoffBase)
	def(&cfg.BackoffMax, DefaultBackoffMax)
	def(&cfg.MaxElapsed, DefaultMaxElapsed)
	def(&cfg.MaxRetryAfter, DefaultMaxRetryAfter)
	def(&cfg.Cooldown, DefaultCooldown)
	def(&cfg.FlushInterval, DefaultFlushInterval)
	defInt := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	defInt(&cfg.MaxRecords, DefaultMaxRecords)
	defInt(&cfg.FailoverAfter, DefaultFailoverAfter)
	defInt(&cfg.Concurrency, DefaultConcurrency)
	defInt(&cfg.BufferRecords, cfg.MaxRecords*cfg.Concurrency*2)
	if cfg.UserAgent == "" {
		cfg.UserAgent = "twinstream-client"
	}
	c := &Client{cfg: cfg, http: cfg.HTTPClient, now: time.Now, sleep: sleepCtx, jitter: rand.Int64N}
	if c.http == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = cfg.Concurrency * 2
		c.http = &http.Client{Transport: tr}
	}
	c.hooks = &c.cfg.Hooks
	c.lim = limits{records: cfg.MaxRecords, body: MaxBody}
	if cfg.Gzip {
		c.lim.body = MaxDecodedBody
	}
	c.eps = &endpoints{urls: eps, after: cfg.FailoverAfter, cooldown: cfg.Cooldown,
		now: func() time.Time { return c.now() }, hooks: c.hooks}
	c.buf.init(c)
	return c, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// NewID returns a new ULID, as the client assigns to records without an id.
func (c *Client) NewID() string { return c.ids.next(c.now()) }

// prepare assigns ids to records without one (in place) and encodes them.
// It returns the bad records instead when any is invalid.
func (c *Client) prepare(recs []Record) ([]item, []BadRecord) {
	items := make([]item, len(recs))
	size := 0
	for i := range recs {
		size += len(recs[i].ID) + len(recs[i].PartitionKey) + len(recs[i].Data) + len(recs[i].Binary)*4/3 + 48
	}
	buf := make([]byte, 0, size)
	var bad []BadRecord
	now := c.now()
	for i := range recs {
		r := &recs[i]
		own := r.ID != ""
		if !own {
			r.ID = c.ids.next(now)
		}
		start := len(buf)
		var reason string
		buf, reason = encode(buf, r)
		if reason != "" {
			bad = append(bad, BadRecord{Index: i, ID: r.ID, Reason: reason, DuplicateOf: -1})
			continue
		}
		items[i] = item{id: r.ID, enc: buf[start:len(buf):len(buf)], idx: i, own: own}
	}
	if bad != nil {
		return nil, bad
	}
	return items, nil
}

// Send sends recs and returns when every one is acknowledged, or retrying
// stopped (see Config), or ctx ends. Records without an ID get one, set in
// recs itself: sending the same slice again is idempotent. Records are cut
// into requests within the API's limits and sent one request after the
// other. An invalid record fails the call before anything is sent
// (*RejectError with Status 0).
//
// The error is nil when every record was acknowledged; otherwise Result
// says which were, and the error why the others were not: *RejectError
// (a 4xx, never retried), or after retries ErrGaveUp or the context's
// error, with the last failure (*StatusError, or the network error).
func (c *Client) Send(ctx context.Context, recs []Record) (Result, error) {
	start := c.now()
	res, err := c.send(ctx, recs)
	c.hooks.batch(BatchEvent{Records: recs, Result: res, Err: err, Elapsed: c.now().Sub(start)})
	return res, err
}

func (c *Client) send(ctx context.Context, recs []Record) (Result, error) {
	res := Result{IDs: make([]string, 0, len(recs))}
	if len(recs) == 0 {
		return res, nil
	}
	items, bad := c.prepare(recs)
	for i := range recs {
		res.IDs = append(res.IDs, recs[i].ID)
	}
	if bad != nil {
		res.Unacked = make([]int, len(recs))
		for i := range recs {
			res.Unacked[i] = i
		}
		return res, &RejectError{Message: fmt.Sprintf("%d of %d records invalid, none sent", len(bad), len(recs)), Records: bad}
	}
	st := &state{res: &res}
	reqs := split(items, c.lim)
	for i, req := range reqs {
		if st.stop != nil {
			for _, rest := range reqs[i:] {
				st.unack(rest)
			}
			break
		}
		c.deliver(ctx, req, st)
	}
	return res, st.finish()
}

// state gathers what became of a batch's records over its requests.
type state struct {
	res *Result
	// reject gathers the refused requests' bad records; rejectN counts the
	// refused requests.
	reject  *RejectError
	rejectN int
	stop    error // why retrying stopped: the other requests are not sent
}

func (s *state) ack(items []item, a *answer, at time.Time) {
	if len(items) == 0 {
		return
	}
	ack := Ack{Records: make([]int, len(items)), Endpoint: a.endpoint, Status: a.status, Spilled: a.Spilled, Header: a.header, At: at}
	for i := range items {
		ack.Records[i] = items[i].idx
	}
	s.res.Acks = append(s.res.Acks, ack)
	s.res.Acked += len(items)
	if a.status == http.StatusAccepted {
		s.res.Spilled += a.Spilled
	}
}

func (s *state) unack(items []item) {
	for i := range items {
		s.res.Unacked = append(s.res.Unacked, items[i].idx)
	}
}

func (s *state) finish() error {
	slices.Sort(s.res.Unacked)
	var errs []error
	if s.reject != nil {
		if s.rejectN > 1 {
			s.reject.Message = fmt.Sprintf("%s (and %d more requests refused)", s.reject.Message, s.rejectN-1)
		}
		errs = append(errs, s.reject)
	}
	if s.stop != nil {
		errs = append(errs, s.stop)
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errors.Join(errs...)
}

// deliver sends one request's items until they are acknowledged, refused
// or retrying stops, and records the outcome in st. After a partial 503 it
// sends only the records not stored; a body that does not fit (gzip) is
// split in two.
func (c *Client) deliver(ctx context.Context, items []item, st *state) {
	start := c.now()
	queue := [][]item{items}
	var (
		attempts, failures int
		last               *answer // the last failed attempt
		lastEP             = -1
	)
	var (
		built []item // the records w holds: a retry of the same records reuses it
		w     wire
	)
	for len(queue) > 0 {
		req := queue[0]
		if len(req) == 0 {
			// A 503 that listed every record as stored.
			queue, failures = queue[1:], 0
			continue
		}
		if len(built) != len(req) || &built[0] != &req[0] {
			var ok bool
			if w, ok = build(req, c.cfg.Gzip); !ok {
				h := len(req) / 2
				queue = append([][]item{req[:h], req[h:]}, queue[1:]...)
				continue
			}
			built = req
		}
		if failures > 0 {
			if err := c.wait(ctx, start, attempts, failures, last, lastEP, len(req)); err != nil {
				for _, q := range queue {
					st.unack(q)
				}
				st.stop = fmt.Errorf("client: %d records not acknowledged after %d attempts over %v: %w (last: %w)",
					countItems(queue), attempts, c.now().Sub(start).Round(time.Millisecond), err, last.failure())
				return
			}
		}
		ep := c.eps.pick()
		attempts++
		a := c.attempt(ctx, ep, w, len(req), attempts)
		switch {
		case a.status == http.StatusAccepted:
			st.res.Requests++
			st.ack(req, a, a.at)
			c.eps.report(ep, endpointOK)
			c.hooks.request(a.event(len(req)))
			queue, failures = queue[1:], 0
			continue
		case a.status == 0 && ctx.Err() != nil:
			// Cancelled: says nothing about the endpoint.
			st.res.Requests++
			c.hooks.request(a.event(0))
			for _, q := range queue {
				st.unack(q)
			}
			st.stop = fmt.Errorf("client: %d records not acknowledged after %d attempts: %w", countItems(queue), attempts, ctx.Err())
			return
		case a.retryable():
			st.res.Requests++
			stored, again := a.partial(req)
			st.ack(stored, a, a.at)
			if a.status == 0 {
				c.eps.report(ep, endpointDown)
			} else if a.status >= 500 {
				c.eps.report(ep, endpointFailed)
			} else {
				c.eps.report(ep, endpointOK)
			}
			c.hooks.request(a.event(len(stored)))
			queue[0] = again
			failures++
			last, lastEP = a, ep
		default:
			// 4xx: the caller's to fix; nothing of it was stored.
			st.res.Requests++
			c.eps.report(ep, endpointOK)
			c.hooks.request(a.event(0))
			st.unack(req)
			st.rejectN++
			rej := a.reject(req)
			if st.reject == nil {
				st.reject = rej
			} else {
				st.reject.Records = append(st.reject.Records, rej.Records...)
			}
			queue = queue[1:]
		}
	}
}

func countItems(q [][]item) int {
	n := 0
	for _, r := range q {
		n += len(r)
	}
	return n
}

// wait sleeps before the next attempt after failures in a row, or says
// why retrying stops.
func (c *Client) wait(ctx context.Context, start time.Time, attempts, failures int, last *answer, lastEP, records int) error {
	if c.cfg.MaxAttempts > 0 && attempts >= c.cfg.MaxAttempts {
		return fmt.Errorf("%w: %d attempts", ErrGaveUp, attempts)
	}
	d := c.backoff(failures)
	now := c.now()
	ra := min(last.retryAfter, c.cfg.MaxRetryAfter)
	// Retry-After is the word of the endpoint that said it: an attempt
	// that goes elsewhere (failover) need not wait for it.
	if ra > d && c.eps.peek(now.Add(d)) == lastEP {
		d = ra
	}
	if now.Add(d).Sub(start) > c.cfg.MaxElapsed {
		return fmt.Errorf("%w: the next attempt in %v would be beyond MaxElapsed %v", ErrGaveUp, d, c.cfg.MaxElapsed)
	}
	if dl, ok := ctx.Deadline(); ok && now.Add(d).After(dl) {
		return fmt.Errorf("%w: the next attempt in %v would be beyond the context's deadline", ErrGaveUp, d)
	}
	c.hooks.retry(RetryEvent{Endpoint: last.endpoint, Status: last.status, Err: last.failure(), Attempt: attempts,
		Records: records, Wait: d, RetryAfter: last.retryAfter})
	return c.sleep(ctx, d)
}

// backoff is the wait before retry n (n >= 1): full jitter, a random
// duration from 0 to min(BackoffMax, BackoffBase * 2^(n-1)).
func (c *Client) backoff(n int) time.Duration {
	d := c.cfg.BackoffMax
	if n-1 < 32 {
		if b := c.cfg.BackoffBase << (n - 1); b > 0 && b < d {
			d = b
		}
	}
	return time.Duration(c.jitter(int64(d) + 1))
}

// endpointURL is endpoint i's URL.
func (c *Client) endpointURL(i int) string { return c.cfg.Endpoints[i] }

// Endpoints returns the endpoints, the preferred first, as requests use them.
func (c *Client) Endpoints() []string { return slices.Clone(c.cfg.Endpoints) }

// Active returns the endpoint requests go to now.
func (c *Client) Active() string { return c.cfg.Endpoints[c.eps.peek(c.now())] }
