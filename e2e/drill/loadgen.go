package drill

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Target is where producers at one location send: an Accelerator entry point.
type Target struct {
	URL      string // the ingest URL, e.g. http://127.0.0.1:8080/v1/records
	Location string
}

// LoadGen sends records with unique ids at a steady rate from several
// producers that retry like a real client: a failed request (transport
// error or any answer but 202) is sent again, with the same ids, after a
// jittered backoff (at least the answer's Retry-After), up to Retries
// times. After a 503 that lists the failed records (ingest's answer when
// neither Kinesis nor the spill bucket took them), only the records not
// stored are sent again; otherwise the whole batch is.
type LoadGen struct {
	Targets   []Target      // producer p uses Targets[p % len(Targets)]
	Producers int           // default 1
	Rate      float64       // records per second over all producers; default 100
	BatchSize int           // records per request; default 10
	APIKey    string        // sent as "Authorization: Bearer <APIKey>"
	Retries   int           // retries after the first attempt; default 0
	Timeout   time.Duration // per attempt; default 10 s
	Client    *http.Client  // nil: a client of its own
	IDPrefix  string        // ids are "<IDPrefix>-<producer>-<seq>"; default "lg"
}

// LoadResult is what a LoadGen run offered and what was acknowledged.
type LoadResult struct {
	Sent     []string       // every id offered, by producer then sequence
	Acked    map[string]Ack // ids acknowledged, with the first such answer
	Requests int            // HTTP attempts
	Retries  int            // attempts after the first for a batch
	Errors   int            // attempts that failed (transport error or not 202)
	// Failures are the failed attempts, in no particular order.
	Failures []Failure
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

// Backoff between attempts: equal jitter over an exponential base, so
// retrying producers do not arrive in lockstep.
const (
	lgBackoffBase = 100 * time.Millisecond
	lgBackoffMax  = 2 * time.Second
	lgPad         = "twinstream-outage-drill-padding-0123456789-abcdefghijklmnopqrstuvwxyz"
)

// Run sends until ctx ends, then waits for requests in flight to finish (they
// are not cut short: an answer the server sends is still recorded) and
// returns the result. A batch whose retries are pending when ctx ends is not
// sent again.
func (g *LoadGen) Run(ctx context.Context) *LoadResult {
	producers := max(g.Producers, 1)
	batch := max(g.BatchSize, 1)
	rate := g.Rate
	if rate <= 0 {
		rate = 100
	}
	prefix := g.IDPrefix
	if prefix == "" {
		prefix = "lg"
	}
	timeout := g.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	client := g.Client
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = producers
		client = &http.Client{Transport: tr}
	}
	if len(g.Targets) == 0 {
		return &LoadResult{Acked: map[string]Ack{}}
	}
	// Each producer sends one batch per tick: its share of Rate.
	every := time.Duration(float64(time.Second) * float64(batch) * float64(producers) / rate)
	every = max(every, time.Microsecond)

	parts := make([]*LoadResult, producers)
	var wg sync.WaitGroup
	for p := range producers {
		parts[p] = &LoadResult{Acked: map[string]Ack{}}
		pr := &lgProducer{
			g: g, client: client, res: parts[p], target: g.Targets[p%len(g.Targets)],
			prefix: prefix + "-" + strconv.Itoa(p) + "-", batch: batch, timeout: timeout,
		}
		// Producers start spread over one tick, so the load is steady rather
		// than a burst of every producer at once.
		offset := every * time.Duration(p) / time.Duration(producers)
		wg.Go(func() { pr.run(ctx, offset, every) })
	}
	wg.Wait()

	out := &LoadResult{Acked: map[string]Ack{}}
	for _, part := range parts {
		out.Sent = append(out.Sent, part.Sent...)
		for id, ack := range part.Acked {
			if _, seen := out.Acked[id]; !seen {
				out.Acked[id] = ack
			}
		}
		out.Requests += part.Requests
		out.Retries += part.Retries
		out.Errors += part.Errors
		out.Failures = append(out.Failures, part.Failures...)
	}
	return out
}

// lgProducer is one producer; its result is its own until Run merges them.
type lgProducer struct {
	g       *LoadGen
	client  *http.Client
	res     *LoadResult
	target  Target
	prefix  string
	batch   int
	timeout time.Duration
	seq     int
}

func (p *lgProducer) run(ctx context.Context, offset, every time.Duration) {
	if offset > 0 && !sleep(ctx, offset) {
		return
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for ctx.Err() == nil {
		p.sendBatch(ctx)
		// A batch that took longer than a tick is not followed by a burst:
		// the ticker drops the ticks missed.
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sendBatch offers the next batch of ids and retries it until acknowledged,
// out of retries, or ctx ends.
func (p *lgProducer) sendBatch(ctx context.Context) {
	ids := make([]string, p.batch)
	lines := make([][]byte, p.batch)
	for i := range ids {
		p.seq++
		ids[i] = p.prefix + strconv.Itoa(p.seq)
		line := struct {
			ID   string `json:"id"`
			Data struct {
				N   int    `json:"n"`
				Pad string `json:"pad"`
			} `json:"data"`
		}{ID: ids[i]}
		line.Data.N, line.Data.Pad = p.seq, lgPad
		b, _ := json.Marshal(line) // cannot fail: strings and ints only
		lines[i] = append(b, '\n')
	}
	p.res.Sent = append(p.res.Sent, ids...)

	// pending are the records still to store, as indices into ids.
	pending := make([]int, len(ids))
	for i := range pending {
		pending[i] = i
	}
	var wait time.Duration // the last answer's Retry-After
	retries := max(p.g.Retries, 0)
	for attempt := 0; attempt <= retries; attempt++ {
		if attempt > 0 {
			if !sleep(ctx, max(lgBackoff(attempt), wait)) {
				return
			}
			p.res.Retries++
		}
		p.res.Requests++
		var body bytes.Buffer
		sent := make([]string, len(pending))
		for j, i := range pending {
			body.Write(lines[i])
			sent[j] = ids[i]
		}
		a := p.post(ctx, body.Bytes(), sent)
		if a.ok {
			p.ack(sent, a.ack)
			return
		}
		p.res.Errors++
		p.res.Failures = append(p.res.Failures, Failure{Region: a.ack.Region, At: a.ack.At, Status: a.status, Records: len(sent)})
		wait = a.retryAfter
		if a.failed == nil {
			continue // nothing said about single records: all again
		}
		var stored []string
		var again []int
		for j, i := range pending {
			if a.failed[j] {
				again = append(again, i)
			} else {
				stored = append(stored, ids[i])
			}
		}
		ack := a.ack
		ack.In503 = true
		p.ack(stored, ack)
		pending = again
	}
}

func (p *lgProducer) ack(ids []string, ack Ack) {
	for _, id := range ids {
		if _, seen := p.res.Acked[id]; !seen {
			p.res.Acked[id] = ack
		}
	}
}

// lgAnswer is what one attempt got.
type lgAnswer struct {
	ok     bool // 202: every record stored
	ack    Ack  // Region and At of the answer (At: when the attempt ended)
	status int  // 0: no answer
	// failed, for a 503 that says which records were not stored: failed[j]
	// for the j-th record sent. nil: resend all.
	failed     []bool
	retryAfter time.Duration
}

// post makes one attempt with the records of ids (in order). It is not cut
// short when ctx ends: only Timeout applies, so an answer already on its way
// is recorded.
func (p *lgProducer) post(ctx context.Context, body []byte, ids []string) lgAnswer {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.target.URL, bytes.NewReader(body))
	if err != nil {
		return lgAnswer{ack: Ack{At: time.Now()}}
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Authorization", "Bearer "+p.g.APIKey)
	resp, err := p.client.Do(req)
	if err != nil {
		return lgAnswer{ack: Ack{At: time.Now()}}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	a := lgAnswer{ack: Ack{Region: resp.Header.Get(HeaderRegion), At: time.Now()}, status: resp.StatusCode}
	if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s > 0 {
		a.retryAfter = min(time.Duration(s)*time.Second, lgMaxRetryAfter)
	}
	switch {
	case resp.StatusCode == http.StatusAccepted:
		a.ok = true
		// The 202 is the acknowledgement; the body only says whether it
		// spilled. An unreadable body leaves Spilled false.
		if err == nil {
			var b struct {
				Spilled int `json:"spilled"`
			}
			if json.Unmarshal(raw, &b) == nil {
				a.ack.Spilled = b.Spilled > 0
			}
		}
	case resp.StatusCode == http.StatusServiceUnavailable && err == nil:
		a.failed = lgFailed(raw, ids)
	}
	return a
}

// lgMaxRetryAfter caps the wait a Retry-After can ask for.
const lgMaxRetryAfter = 10 * time.Second

// lgFailed reads ingest's 503 answer: which of the records sent (ids, in
// request order) are not stored. "failedIds" lists their ids, the ones to
// resend them with; without it, "failed" lists them by index in the request
// or by id (or as objects with "index" and/or "id"). "stored", when present,
// lists the ids stored, and every record not in it is not stored. It
// returns nil, meaning resend everything, when the answer says nothing
// usable: not JSON, no failed records, or a record it names that was not
// sent.
func lgFailed(body []byte, ids []string) []bool {
	var a struct {
		Failed    []json.RawMessage `json:"failed"`
		FailedIDs []string          `json:"failedIds"`
		Stored    []string          `json:"stored"`
	}
	if json.Unmarshal(body, &a) != nil {
		return nil
	}
	if len(a.FailedIDs) > 0 {
		a.Failed = a.Failed[:0]
		for _, id := range a.FailedIDs {
			b, _ := json.Marshal(id) // a string always marshals
			a.Failed = append(a.Failed, b)
		}
	}
	if len(a.Failed) == 0 {
		return nil
	}
	index := make(map[string]int, len(ids))
	for i, id := range ids {
		index[id] = i
	}
	failed := make([]bool, len(ids))
	for _, f := range a.Failed {
		if string(bytes.TrimSpace(f)) == "null" {
			return nil
		}
		var n int
		var id string
		var obj struct {
			Index *int   `json:"index"`
			ID    string `json:"id"`
		}
		i := -1
		switch {
		case json.Unmarshal(f, &n) == nil:
			i = n
		case json.Unmarshal(f, &id) == nil:
			if j, ok := index[id]; ok {
				i = j
			}
		case json.Unmarshal(f, &obj) == nil:
			if j, ok := index[obj.ID]; ok {
				i = j
			} else if obj.ID == "" && obj.Index != nil {
				i = *obj.Index
			}
		}
		if i < 0 || i >= len(ids) {
			return nil
		}
		failed[i] = true
	}
	if a.Stored != nil {
		stored := map[string]bool{}
		for _, id := range a.Stored {
			if _, ok := index[id]; !ok {
				return nil
			}
			stored[id] = true
		}
		for i, id := range ids {
			if !stored[id] {
				failed[i] = true
			}
		}
	}
	return failed
}

// lgBackoff is the wait before retry n (n >= 1): between half and all of
// min(base * 2^(n-1), max).
func lgBackoff(n int) time.Duration {
	d := lgBackoffMax
	if n-1 < 5 {
		d = min(lgBackoffBase<<(n-1), lgBackoffMax)
	}
	return d/2 + rand.N(d/2+1)
}

// String summarizes the result in one line.
func (r *LoadResult) String() string {
	return fmt.Sprintf("sent %d, acked %d, requests %d, retries %d, errors %d", len(r.Sent), len(r.Acked), r.Requests, r.Retries, r.Errors)
}
