// Package load is a load generator built on the producer client: it sends
// records of a given size at a given rate from concurrent senders through
// client.Send (so with the client's batching, ids, retries and failover),
// and reports what was acknowledged, spilled and not, the acknowledged ids,
// and latency percentiles. The drill's producers and the operator CLI's
// `send` use it.
package load

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twinstream/twinstream/client"
)

// Defaults of Config.
const (
	DefaultRecordSize    = 100
	DefaultBatchSize     = 100
	DefaultConcurrency   = 4
	DefaultGrace         = 10 * time.Second
	DefaultProgressEvery = 250 * time.Millisecond
)

// Config describes a run. Zero values take the defaults on each field.
type Config struct {
	// Client configures the client the run sends with: endpoints, API key,
	// retries, failover. Its Hooks are called as well as the run's own.
	Client client.Config
	// Rate is records per second over all senders. 0: as fast as they go.
	Rate float64
	// Count is how many records to send. 0: no limit (Duration or the
	// context ends the run).
	Count int
	// Duration ends the run after this long. 0: no limit.
	Duration time.Duration
	// RecordSize is the size in bytes of each record's JSON data,
	// {"seq":N,"pad":"xx..."}; at least what the sequence number takes.
	// Default 100.
	RecordSize int
	// BatchSize is the records per Send (the client cuts them into
	// requests within the API's limits). Default 100.
	BatchSize int
	// Concurrency is how many Sends run at once. Default 4.
	Concurrency int
	// PartitionKey is every record's partition key. Empty: the record's id
	// (ingest's default), which spreads records over shards.
	PartitionKey string
	// IDPrefix makes ids "<IDPrefix><n>" (n counts from 1 over the run;
	// the records of one Send have consecutive numbers). Empty: the
	// client assigns ULIDs. Every record's data holds its n as "seq".
	IDPrefix string
	// Grace: when the run ends early (Duration, the context, a refused
	// request), the Sends in flight get this long to finish, retries
	// included, before they are cancelled; an answer on its way is still
	// counted. Default 10s; negative: cancelled at once.
	Grace time.Duration
	// Progress, if set, is called every ProgressEvery (default 250ms) and
	// once at the end (Done set), from one goroutine.
	Progress      func(Progress)
	ProgressEvery time.Duration
	// NoIDs leaves the acknowledged ids out of the report (long runs).
	NoIDs bool
}

// Progress is a run's state while it runs.
type Progress struct {
	Elapsed time.Duration
	// Records: offered to Send, acknowledged, of those spilled, given up;
	// in flight are offered and not finished.
	Sent, Accepted, Spilled, Failed, InFlight int
	Requests, Retries, Failovers              int
	// The run's bounds, for a progress bar (0: none).
	Count    int
	Duration time.Duration
	Done     bool
}

// Fraction is how far the run is, 0 to 1, by Count or else Duration; -1
// when it has neither bound.
func (p Progress) Fraction() float64 {
	switch {
	case p.Done:
		return 1
	case p.Count > 0:
		return min(1, float64(p.Accepted+p.Failed)/float64(p.Count))
	case p.Duration > 0:
		return min(1, float64(p.Elapsed)/float64(p.Duration))
	}
	return -1
}

// Report is what a run did.
type Report struct {
	// Records offered to Send (Sent), acknowledged (Accepted: a 202, or
	// stored in a 503), of those spilled by ingest (a 202's "spilled"), and
	// not acknowledged (Failed: given up or refused). Sent = Accepted + Failed.
	Sent, Accepted, Spilled, Failed int
	// Batches are the Send calls, BatchesFailed those with records not
	// acknowledged.
	Batches, BatchesFailed int
	// Requests are the HTTP attempts, Retries those after a failed one,
	// FailedRequests those that did not end in a 202 (no answer, 429, 5xx,
	// a 4xx), Failovers the moves between endpoints.
	Requests, Retries, FailedRequests, Failovers int
	// Statuses counts the attempts by HTTP status (0: no answer).
	Statuses map[int]int
	// Errors counts the records not acknowledged by the error that gave
	// them up (its text).
	Errors map[string]int
	// IDs are the acknowledged ids, in the order acknowledged (none with
	// NoIDs).
	IDs []string
	// RequestLatency is per HTTP attempt that got an answer: from sending
	// to the answer read. BatchLatency is per Send whose records were all
	// acknowledged: from the call to its return, retries and their waits
	// included: what a producer waits for an acknowledgement.
	RequestLatency, BatchLatency Latency
	Elapsed                      time.Duration
}

// Latency are percentiles of a set of durations (nearest rank).
type Latency struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

func latency(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	slices.Sort(d)
	at := func(p int) time.Duration {
		i := (p*len(d) + 99) / 100 // ceil(p/100 * n), 1-based
		return d[max(i, 1)-1]
	}
	return Latency{N: len(d), P50: at(50), P90: at(90), P99: at(99), Max: d[len(d)-1]}
}

func (l Latency) String() string {
	if l.N == 0 {
		return "none"
	}
	r := func(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }
	return fmt.Sprintf("p50 %s, p90 %s, p99 %s, max %s (n=%d)", r(l.P50), r(l.P90), r(l.P99), r(l.Max), l.N)
}

// String summarizes the report in a few lines.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sent %d, accepted %d (spilled %d), failed %d in %s", r.Sent, r.Accepted, r.Spilled, r.Failed, r.Elapsed.Round(time.Millisecond))
	if r.Elapsed > 0 {
		fmt.Fprintf(&b, " (%.0f records/s accepted)", float64(r.Accepted)/r.Elapsed.Seconds())
	}
	fmt.Fprintf(&b, "\nrequests %d, retries %d, failed %d, failovers %d", r.Requests, r.Retries, r.FailedRequests, r.Failovers)
	codes := make([]int, 0, len(r.Statuses))
	for s := range r.Statuses {
		codes = append(codes, s)
	}
	slices.Sort(codes)
	for i, s := range codes {
		sep := "; "
		if i > 0 {
			sep = ", "
		}
		name := strconv.Itoa(s)
		if s == 0 {
			name = "no answer"
		}
		fmt.Fprintf(&b, "%s%s: %d", sep, name, r.Statuses[s])
	}
	fmt.Fprintf(&b, "\nlatency per request: %s\nlatency per batch:   %s", r.RequestLatency, r.BatchLatency)
	for e, n := range r.Errors {
		fmt.Fprintf(&b, "\nnot acknowledged: %d: %s", n, e)
	}
	return b.String()
}

// run is one run's state.
type run struct {
	cfg   Config
	c     *client.Client
	start time.Time

	offered  atomic.Int64 // records taken for a Send
	seq      atomic.Int64 // ids and sequence numbers
	requests atomic.Int64
	retries  atomic.Int64

	mu       sync.Mutex
	rep      Report
	inFlight int
	reqLat   []time.Duration
	batchLat []time.Duration
	rejected error // the first refused request's error: the run stops
}

// Run sends records as cfg says until Count records were sent, Duration
// passed, ctx ended, or a request was refused (a 4xx: every request
// would be), and returns the report. The error is an invalid Config (the
// report is then nil), or the refusal (*client.RejectError) that stopped
// the run; records not acknowledged for other reasons are counted in the
// report, not errors.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Rate < 0 || cfg.Count < 0 || cfg.Duration < 0 || cfg.RecordSize < 0 || cfg.BatchSize < 0 || cfg.Concurrency < 0 {
		return nil, errors.New("load: Rate, Count, Duration, RecordSize, BatchSize and Concurrency must not be negative")
	}
	def := func(n *int, v int) {
		if *n == 0 {
			*n = v
		}
	}
	def(&cfg.RecordSize, DefaultRecordSize)
	def(&cfg.BatchSize, DefaultBatchSize)
	def(&cfg.Concurrency, DefaultConcurrency)
	if cfg.Grace == 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = DefaultProgressEvery
	}
	r := &run{cfg: cfg, rep: Report{Statuses: map[int]int{}, Errors: map[string]int{}}}
	cc := cfg.Client
	user := cfg.Client.Hooks
	cc.Hooks = client.Hooks{
		Request: func(e client.RequestEvent) {
			r.requests.Add(1)
			r.mu.Lock()
			r.rep.Statuses[e.Status]++
			if e.Status != 0 {
				r.reqLat = append(r.reqLat, e.Latency)
			}
			if e.Status != 202 {
				r.rep.FailedRequests++
			}
			r.mu.Unlock()
			if user.Request != nil {
				user.Request(e)
			}
		},
		Retry: func(e client.RetryEvent) {
			r.retries.Add(1)
			if user.Retry != nil {
				user.Retry(e)
			}
		},
		Failover: func(e client.FailoverEvent) {
			r.mu.Lock()
			r.rep.Failovers++
			r.mu.Unlock()
			if user.Failover != nil {
				user.Failover(e)
			}
		},
		Batch: user.Batch,
	}
	c, err := client.New(cc)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	r.c = c
	return r.run(ctx)
}

func (r *run) run(ctx context.Context) (*Report, error) {
	cfg := r.cfg
	r.start = time.Now()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(runCtx, cfg.Duration)
		defer cancel()
	}
	// Sends outlive the run by Grace: an answer on its way still counts.
	sendCtx, cancelSends := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSends()
	var graceTimer *time.Timer
	var graceMu sync.Mutex
	stopGrace := context.AfterFunc(runCtx, func() {
		graceMu.Lock()
		defer graceMu.Unlock()
		if cfg.Grace < 0 {
			cancelSends()
			return
		}
		graceTimer = time.AfterFunc(cfg.Grace, cancelSends)
	})
	defer func() {
		stopGrace()
		graceMu.Lock()
		if graceTimer != nil {
			graceTimer.Stop()
		}
		graceMu.Unlock()
	}()

	// Progress goes on while the Sends in flight finish (Grace).
	finished, progressDone := make(chan struct{}), make(chan struct{})
	if cfg.Progress != nil {
		go func() {
			defer close(progressDone)
			t := time.NewTicker(cfg.ProgressEvery)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					cfg.Progress(r.progress(false))
				case <-finished:
					return
				}
			}
		}()
	} else {
		close(progressDone)
	}

	p := &pacer{}
	if cfg.Rate > 0 {
		p.per = time.Duration(float64(time.Second) / cfg.Rate)
	}
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.sender(runCtx, sendCtx, stop, p)
		}()
	}
	wg.Wait()
	stop()
	close(finished)
	<-progressDone
	r.mu.Lock()
	r.rep.Elapsed = time.Since(r.start)
	r.rep.Requests = int(r.requests.Load())
	r.rep.Retries = int(r.retries.Load())
	r.rep.Failed = r.rep.Sent - r.rep.Accepted
	r.rep.RequestLatency, r.rep.BatchLatency = latency(r.reqLat), latency(r.batchLat)
	rep, rejected := r.rep, r.rejected
	r.mu.Unlock()
	if cfg.Progress != nil {
		cfg.Progress(r.progress(true))
	}
	return &rep, rejected
}

// sender sends batches until the run ends.
func (r *run) sender(runCtx, sendCtx context.Context, stop context.CancelFunc, p *pacer) {
	cfg := r.cfg
	for {
		n := int64(cfg.BatchSize)
		if cfg.Count > 0 {
			taken := r.offered.Add(n)
			if over := taken - int64(cfg.Count); over > 0 {
				n -= over
			}
			if n <= 0 {
				return
			}
		}
		if !p.wait(runCtx, int(n)) {
			return
		}
		recs := r.records(int(n))
		r.mu.Lock()
		r.rep.Sent += len(recs)
		r.inFlight += len(recs)
		r.mu.Unlock()
		start := time.Now()
		res, err := r.c.Send(sendCtx, recs)
		took := time.Since(start)
		r.mu.Lock()
		r.inFlight -= len(recs)
		r.rep.Batches++
		r.rep.Accepted += res.Acked
		r.rep.Spilled += res.Spilled
		if !r.cfg.NoIDs {
			for _, a := range res.Acks {
				for _, i := range a.Records {
					r.rep.IDs = append(r.rep.IDs, res.IDs[i])
				}
			}
		}
		if err != nil {
			r.rep.BatchesFailed++
			r.rep.Errors[errorKey(err)] += len(res.Unacked)
		} else {
			r.batchLat = append(r.batchLat, took)
		}
		var rej *client.RejectError
		if errors.As(err, &rej) && r.rejected == nil {
			r.rejected = rej
			stop()
		}
		r.mu.Unlock()
	}
}

// errorKey names an error in Report.Errors by its kind and last failure,
// without the counts and durations that make every batch's text differ.
func errorKey(err error) string {
	var rej *client.RejectError
	if errors.As(err, &rej) {
		if rej.Status == 0 {
			return "refused by the client: " + rej.Message
		}
		return fmt.Sprintf("refused: %d %s", rej.Status, rej.Message)
	}
	why := "not acknowledged"
	switch {
	case errors.Is(err, client.ErrGaveUp):
		why = "gave up"
	case errors.Is(err, context.Canceled):
		why = "cancelled"
	case errors.Is(err, context.DeadlineExceeded):
		why = "deadline"
	}
	var se *client.StatusError
	var ue *url.Error
	switch {
	case errors.As(err, &se):
		return why + "; last: " + se.Error()
	case errors.As(err, &ue):
		return why + "; last: " + ue.Err.Error()
	}
	return why
}

// records makes n records of the configured size, numbered in a row.
func (r *run) records(n int) []client.Record {
	recs := make([]client.Record, n)
	first := r.seq.Add(int64(n)) - int64(n) + 1
	for i := range recs {
		seq := first + int64(i)
		rec := &recs[i]
		if r.cfg.IDPrefix != "" {
			rec.ID = r.cfg.IDPrefix + strconv.FormatInt(seq, 10)
		}
		rec.PartitionKey = r.cfg.PartitionKey
		rec.Data = data(seq, r.cfg.RecordSize)
	}
	return recs
}

// data is {"seq":N,"pad":"xx..."} of size bytes, or as short as N allows.
func data(seq int64, size int) []byte {
	b := make([]byte, 0, max(size, 40))
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `,"pad":"`...)
	for range size - len(b) - 2 {
		b = append(b, 'x')
	}
	return append(b, `"}`...)
}

func (r *run) progress(done bool) Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Progress{Elapsed: time.Since(r.start), Sent: r.rep.Sent, Accepted: r.rep.Accepted, Spilled: r.rep.Spilled,
		Failed: r.rep.Sent - r.rep.Accepted - r.inFlight, InFlight: r.inFlight, Requests: int(r.requests.Load()),
		Retries: int(r.retries.Load()), Failovers: r.rep.Failovers, Count: r.cfg.Count, Duration: r.cfg.Duration, Done: done}
}

// pacer spaces the senders' batches to the rate: each batch of n records
// takes the next slot and moves it on by n records' time. A slot in the
// past moves to now: senders that fell behind (slow answers, retries) do
// not catch up in a burst.
type pacer struct {
	per time.Duration // per record; 0: no pacing
	mu  sync.Mutex
	// next is the next free slot.
	next time.Time
}

// wait waits for the slot of a batch of n records; false when ctx ended.
func (p *pacer) wait(ctx context.Context, n int) bool {
	if ctx.Err() != nil {
		return false
	}
	if p.per == 0 {
		return true
	}
	p.mu.Lock()
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	at := p.next
	p.next = at.Add(p.per * time.Duration(n))
	p.mu.Unlock()
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
