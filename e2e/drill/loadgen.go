package drill

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/twinstream/twinstream/client"
	"github.com/twinstream/twinstream/client/load"
)

// Target is where producers at one location send: an Accelerator entry point.
type Target struct {
	URL      string // the ingest URL, e.g. http://127.0.0.1:8080/v1/records
	Location string
}

// LoadGen is the drill's producers: per target, a client/load run whose
// senders go through the producer client (module client), so every drill
// exercises it: ids assigned on the client, retries with full-jitter
// backoff of at least the answer's Retry-After, and after a 503 that lists
// what was stored, only the other records sent again under their ids.
// Each producer location has one endpoint (its accelerator entry point):
// routing between regions is the accelerator's, as with Global Accelerator.
type LoadGen struct {
	Targets   []Target // producer p uses Targets[p % len(Targets)]
	Producers int      // default 1
	Rate      float64  // records per second over all producers; default 100
	BatchSize int      // records per request; default 10
	APIKey    string   // sent as "Authorization: Bearer <APIKey>"
	// MaxAttempts bounds the attempts per batch (1: no retries); 0: no
	// bound but MaxElapsed, as the client by default.
	MaxAttempts int
	// MaxElapsed bounds the retrying of a batch. Default: the client's
	// (client.DefaultMaxElapsed, 2 minutes).
	MaxElapsed time.Duration
	Timeout    time.Duration // per attempt; default 10 s
	Client     *http.Client  // nil: the producer client's own
	// IDPrefix makes ids "<IDPrefix>-<target>-<n>"; empty: the producer
	// client assigns ULIDs.
	IDPrefix string
}

// LoadResult is what a LoadGen run offered and what was acknowledged.
type LoadResult struct {
	Sent     []string       // every id offered
	Acked    map[string]Ack // ids acknowledged, with the first such answer
	Requests int            // HTTP attempts
	Retries  int            // attempts after a failed one
	Errors   int            // attempts that failed (transport error or not 202)
	// Failures are the failed attempts, in no particular order.
	Failures []Failure
	// Latencies are the attempts that got an answer, from sending to the
	// answer read, in no particular order.
	Latencies []time.Duration
	// Started and Stopped bound the sending: from the run's start to the
	// moment ctx ended (the requests in flight then still finish).
	Started, Stopped time.Time
}

// Ack is the answer that acknowledged an id: a 202, or a 503 that listed
// the id as stored.
type Ack struct {
	Region  string // the X-Twinstream-Region header of the answer ("" if absent)
	At      time.Time
	Spilled bool // the answer said spilled > 0: for the whole request, not this id alone
	In503   bool // a 503 said the id is stored (only the others failed)
}

// Failure is one failed attempt.
type Failure struct {
	Region  string // the answer's X-Twinstream-Region ("" without an answer)
	At      time.Time
	Status  int // the HTTP status, 0 for a transport error or timeout
	Records int // records in the attempt
}

// Backoff of the drill's producers (the client's full jitter).
const (
	lgBackoffBase = 100 * time.Millisecond
	lgBackoffMax  = 2 * time.Second
	// lgMaxRetryAfter caps the wait a Retry-After can ask for.
	lgMaxRetryAfter = 10 * time.Second
	// lgRecordSize is each record's JSON data, {"seq":N,"pad":"xx..."}.
	lgRecordSize = 100
)

// Run sends until ctx ends, then gives the requests in flight Timeout to
// finish, retries included (an answer the server sends is still recorded),
// and returns the result.
func (g *LoadGen) Run(ctx context.Context) *LoadResult {
	var mu sync.Mutex
	out := &LoadResult{Acked: map[string]Ack{}, Started: time.Now()}
	// Stopped is when ctx ended, not when the last request in flight did.
	stoppedAt := make(chan time.Time, 1)
	stopWatch := context.AfterFunc(ctx, func() { stoppedAt <- time.Now() })
	defer func() {
		if stopWatch() {
			out.Stopped = time.Now() // every sender ended without ctx ending
		} else {
			out.Stopped = <-stoppedAt
		}
	}()
	if len(g.Targets) == 0 {
		return out
	}
	producers := max(g.Producers, 1)
	rate := g.Rate
	if rate <= 0 {
		rate = 100
	}
	timeout := g.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	senders := make([]int, len(g.Targets))
	for p := range producers {
		senders[p%len(g.Targets)]++
	}

	hooks := client.Hooks{
		Request: func(e client.RequestEvent) {
			mu.Lock()
			defer mu.Unlock()
			out.Requests++
			if e.Status != 0 {
				out.Latencies = append(out.Latencies, e.Latency)
			}
			if e.Status != http.StatusAccepted {
				out.Errors++
				out.Failures = append(out.Failures, Failure{Region: e.Header.Get(HeaderRegion), At: time.Now(), Status: e.Status, Records: e.Records})
			}
		},
		Retry: func(client.RetryEvent) {
			mu.Lock()
			out.Retries++
			mu.Unlock()
		},
		Batch: func(e client.BatchEvent) {
			mu.Lock()
			defer mu.Unlock()
			for _, r := range e.Records {
				out.Sent = append(out.Sent, r.ID)
			}
			for _, a := range e.Result.Acks {
				ack := Ack{Region: a.Header.Get(HeaderRegion), At: a.At, Spilled: a.Status == http.StatusAccepted && a.Spilled > 0,
					In503: a.Status == http.StatusServiceUnavailable}
				for _, i := range a.Records {
					if _, seen := out.Acked[e.Records[i].ID]; !seen {
						out.Acked[e.Records[i].ID] = ack
					}
				}
			}
		},
	}
	var wg sync.WaitGroup
	for i, t := range g.Targets {
		if senders[i] == 0 {
			continue
		}
		cfg := load.Config{
			Client: client.Config{
				Endpoints: []string{t.URL}, APIKey: g.APIKey, HTTPClient: g.Client,
				AttemptTimeout: timeout, BackoffBase: lgBackoffBase, BackoffMax: lgBackoffMax,
				MaxAttempts: max(g.MaxAttempts, 0), MaxElapsed: g.MaxElapsed, MaxRetryAfter: lgMaxRetryAfter,
				Hooks: hooks,
			},
			Rate:        rate * float64(senders[i]) / float64(producers),
			BatchSize:   max(g.BatchSize, 1),
			Concurrency: senders[i],
			RecordSize:  lgRecordSize,
			Grace:       timeout,
			NoIDs:       true,
		}
		if g.IDPrefix != "" {
			cfg.IDPrefix = g.IDPrefix + "-" + strconv.Itoa(i) + "-"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The error is a refused request (a 4xx): its attempts are in
			// Failures and its records not acknowledged.
			_, _ = load.Run(ctx, cfg)
		}()
	}
	wg.Wait()
	return out
}

// String summarizes the result in one line.
func (r *LoadResult) String() string {
	return fmt.Sprintf("sent %d, acked %d, requests %d, retries %d, errors %d", len(r.Sent), len(r.Acked), r.Requests, r.Retries, r.Errors)
}
