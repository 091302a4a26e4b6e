package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// checkAcked checks the caller's view and the server's: every record is
// acknowledged exactly once, under one id, and what the server stored under
// each id is that record's data (copies of it at most).
func checkAcked(t *testing.T, recs []Record, res Result, f *ingestFake) {
	t.Helper()
	if len(res.IDs) != len(recs) {
		t.Fatalf("result ids: got %d, want %d", len(res.IDs), len(recs))
	}
	acked := make([]int, len(recs))
	for _, a := range res.Acks {
		for _, i := range a.Records {
			acked[i]++
		}
	}
	for i, n := range acked {
		if n != 1 {
			t.Errorf("record %d (id %s) acknowledged %d times, want once", i, res.IDs[i], n)
		}
	}
	if res.Acked != len(recs) || len(res.Unacked) != 0 {
		t.Errorf("acked %d, unacked %v, want %d and none", res.Acked, res.Unacked, len(recs))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.stored) != len(recs) {
		t.Errorf("server stored %d ids, want %d", len(f.stored), len(recs))
	}
	for i, r := range recs {
		if r.ID != res.IDs[i] {
			t.Errorf("record %d: id %q in the slice, %q in the result", i, r.ID, res.IDs[i])
		}
		copies := f.stored[r.ID]
		if len(copies) == 0 {
			t.Errorf("record %d (id %s) not stored", i, r.ID)
		}
		want := []byte(r.Data)
		if r.Binary != nil {
			want, _ = json.Marshal(r.Binary)
		}
		for _, c := range copies {
			if !bytes.Equal(c, want) {
				t.Errorf("id %s stored with %.80s, want %.80s", r.ID, c, want)
			}
		}
	}
}

func TestSendRetries(t *testing.T) {
	tests := []struct {
		name   string
		script []fault
		// want: requests made, the waits before each retry at least, and
		// which records each request carried (indices; nil: all)
		requests int
		minWaits []time.Duration
		carried  [][]int
		acks     []int // the status of each ack
	}{
		{name: "202 at once", requests: 1, acks: []int{202}},
		{name: "429 with Retry-After in seconds", script: []fault{{status: 429, retryAfter: "3"}},
			requests: 2, minWaits: []time.Duration{3 * time.Second}, acks: []int{202}},
		{name: "429 with Retry-After as an HTTP date", script: []fault{{status: 429, retryAt: 7 * time.Second}},
			requests: 2, minWaits: []time.Duration{7 * time.Second}, acks: []int{202}},
		{name: "503 from the load balancer, not JSON: all again", script: []fault{{status: 503, body: "<html>503</html>"}},
			requests: 2, acks: []int{202}},
		{name: "partial 503: only the failed records again", script: []fault{{fail: []int{0, 3}}},
			requests: 2, minWaits: []time.Duration{time.Second}, carried: [][]int{nil, {0, 3}}, acks: []int{503, 202}},
		{name: "partial 503 twice: the failed of the failed", script: []fault{{fail: []int{1, 2, 4}}, {fail: []int{1}}},
			requests: 3, carried: [][]int{nil, {1, 2, 4}, {2}}, acks: []int{503, 503, 202}},
		{name: "503 listing every record as stored: done", script: []fault{{fail: []int{}}},
			requests: 1, acks: []int{503}},
		{name: "partial 503 with failedIds and no stored", script: []fault{{fail: []int{2}, noStored: true}},
			requests: 2, carried: [][]int{nil, {2}}, acks: []int{503, 202}},
		{name: "500, 502, 504", script: []fault{{status: 500}, {status: 502}, {status: 504}},
			requests: 4, acks: []int{202}},
		{name: "connection reset", script: []fault{{reset: true}}, requests: 2, acks: []int{202}},
		{name: "answer lost after storing: same ids again", script: []fault{{lost: true}}, requests: 2, acks: []int{202}},
		{name: "hang until the attempt timeout", script: []fault{{hang: true}}, requests: 2, acks: []int{202}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, tt.script...)
			srv := f.start()
			var mu sync.Mutex
			var reqs []RequestEvent
			var retries []RetryEvent
			var batches []BatchEvent
			c, clk := newTestClient(t, Config{Endpoints: []string{srv.URL}, AttemptTimeout: 300 * time.Millisecond,
				Hooks: Hooks{
					Request: func(e RequestEvent) { mu.Lock(); reqs = append(reqs, e); mu.Unlock() },
					Retry:   func(e RetryEvent) { mu.Lock(); retries = append(retries, e); mu.Unlock() },
					Batch:   func(e BatchEvent) { mu.Lock(); batches = append(batches, e); mu.Unlock() },
				}})
			f.now = clk.now
			recs := records(5)
			recs[4].ID = "caller-chosen"
			res, err := c.Send(context.Background(), recs)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			checkAcked(t, recs, res, f)
			if res.Requests != tt.requests || len(f.requests) != tt.requests {
				t.Errorf("requests: got %d (server %d), want %d", res.Requests, len(f.requests), tt.requests)
			}
			// Every attempt carries the caller's ids, the same each time.
			for n, ids := range f.requests {
				want := res.IDs
				if n < len(tt.carried) && tt.carried[n] != nil {
					want = nil
					for _, i := range tt.carried[n] {
						want = append(want, res.IDs[i])
					}
				}
				if !slices.Equal(ids, want) {
					t.Errorf("request %d carried %v, want %v", n, ids, want)
				}
			}
			waits := clk.slept()
			if len(waits) != tt.requests-1 {
				t.Errorf("waits: got %v, want %d", waits, tt.requests-1)
			}
			for i, w := range tt.minWaits {
				if i < len(waits) && waits[i] < w {
					t.Errorf("wait %d: got %v, want at least %v (Retry-After)", i, waits[i], w)
				}
			}
			var statuses []int
			for _, a := range res.Acks {
				statuses = append(statuses, a.Status)
				if a.Endpoint != srv.URL+Path || a.At.IsZero() {
					t.Errorf("ack: got endpoint %q at %v, want %s and a time", a.Endpoint, a.At, srv.URL+Path)
				}
			}
			if !slices.Equal(statuses, tt.acks) {
				t.Errorf("acks' statuses: got %v, want %v", statuses, tt.acks)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(reqs) != tt.requests || len(retries) != tt.requests-1 || len(batches) != 1 {
				t.Errorf("hooks: got %d requests, %d retries, %d batches, want %d, %d, 1", len(reqs), len(retries), len(batches), tt.requests, tt.requests-1)
			}
			for i, e := range reqs {
				if e.Attempt != i+1 || e.Records != len(f.requests[i]) || e.Bytes != f.sizes[i] || e.Endpoint != srv.URL+Path {
					t.Errorf("request event %d: got %+v, want attempt %d, %d records, %d bytes", i, e, i+1, len(f.requests[i]), f.sizes[i])
				}
				if (e.Status == 0) != (e.Err != nil) {
					t.Errorf("request event %d: status %d with error %v, want an error exactly without an answer", i, e.Status, e.Err)
				}
			}
			for i, e := range retries {
				if e.Wait != waits[i] || e.Attempt != i+1 {
					t.Errorf("retry event %d: got %+v, want wait %v after attempt %d", i, e, waits[i], i+1)
				}
			}
			if len(batches) == 1 && (batches[0].Err != nil || batches[0].Result.Acked != len(recs) || batches[0].Buffered) {
				t.Errorf("batch event: got %+v, want all acknowledged by Send", batches[0])
			}
		})
	}
}

func TestSendRejects(t *testing.T) {
	tests := []struct {
		name     string
		script   []fault
		key      string
		status   int
		bad      []int // caller indices named
		requests int
		acked    int
	}{
		{name: "400 names records", script: []fault{{bad: []int{1, 3}}}, status: 400, bad: []int{1, 3}, requests: 1},
		{name: "400 after a partial 503 names the caller's records", script: []fault{{fail: []int{2, 4}}, {bad: []int{1}}},
			status: 400, bad: []int{4}, requests: 2, acked: 3},
		{name: "401: wrong key, not retried", key: "wrong", status: 401, requests: 1},
		{name: "413 not retried", script: []fault{{status: 413}}, status: 413, requests: 1},
		{name: "404 not retried", script: []fault{{status: 404, body: "<html>not found</html>"}}, status: 404, requests: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, tt.script...)
			srv := f.start()
			c, _ := newTestClient(t, Config{Endpoints: []string{srv.URL}, APIKey: tt.key})
			recs := records(5)
			res, err := c.Send(context.Background(), recs)
			var rej *RejectError
			if !errors.As(err, &rej) {
				t.Fatalf("Send: got %v, want a *RejectError", err)
			}
			if rej.Status != tt.status || res.Requests != tt.requests {
				t.Errorf("got status %d after %d requests, want %d after %d", rej.Status, res.Requests, tt.status, tt.requests)
			}
			var named []int
			for _, b := range rej.Records {
				named = append(named, b.Index)
				if b.ID != res.IDs[b.Index] {
					t.Errorf("bad record %d: id %q, want %q", b.Index, b.ID, res.IDs[b.Index])
				}
			}
			if !slices.Equal(named, tt.bad) {
				t.Errorf("bad records: got %v, want %v", named, tt.bad)
			}
			if res.Acked != tt.acked || len(res.Unacked) != len(recs)-tt.acked {
				t.Errorf("acked %d, unacked %v, want %d acked and the rest not", res.Acked, res.Unacked, tt.acked)
			}
			if rej.Message == "" || !strings.Contains(err.Error(), "refused") {
				t.Errorf("error %q: want a message", err)
			}
		})
	}
}

func TestSendInvalid(t *testing.T) {
	long := strings.Repeat("x", 257)
	tests := []struct {
		name   string
		rec    Record
		reason string
	}{
		{"id too long", Record{ID: long, Data: json.RawMessage(`1`)}, reasonID},
		{"id with a control character", Record{ID: "a\nb", Data: json.RawMessage(`1`)}, reasonID},
		{"id not UTF-8", Record{ID: "a\xffb", Data: json.RawMessage(`1`)}, reasonID},
		{"partition key too long", Record{PartitionKey: strings.Repeat("é", 257), Data: json.RawMessage(`1`)}, reasonPK},
		{"no data", Record{}, reasonNoData},
		{"both data", Record{Data: json.RawMessage(`1`), Binary: []byte{1}}, reasonBothData},
		{"null", Record{Data: json.RawMessage(` null `)}, reasonNull},
		{"not JSON", Record{Data: json.RawMessage(`{"a":`)}, "invalid JSON data"},
		{"empty data", Record{Data: json.RawMessage{}}, "invalid JSON data"},
		{"data not UTF-8", Record{Data: json.RawMessage("\"\xff\"")}, reasonDataUTF8},
		{"too large alone", Record{Binary: make([]byte, 750_000)}, "record too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			srv := f.start()
			c, _ := newTestClient(t, Config{Endpoints: []string{srv.URL}})
			recs := records(3)
			recs[1] = tt.rec
			res, err := c.Send(context.Background(), recs)
			var rej *RejectError
			if !errors.As(err, &rej) || rej.Status != 0 || len(rej.Records) != 1 {
				t.Fatalf("Send: got %v, want a *RejectError with status 0 naming one record", err)
			}
			if b := rej.Records[0]; b.Index != 1 || !strings.HasPrefix(b.Reason, tt.reason) {
				t.Errorf("bad record: got %+v, want index 1, reason %q", b, tt.reason)
			}
			if len(f.requests) != 0 || len(res.Unacked) != 3 {
				t.Errorf("got %d requests and %d unacked, want nothing sent", len(f.requests), len(res.Unacked))
			}
			id, err := c.Add(context.Background(), tt.rec)
			if !errors.As(err, &rej) || rej.Status != 0 || id == "" {
				t.Errorf("Add: got %q, %v, want a *RejectError", id, err)
			}
		})
	}
}

func TestSendGivesUp(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		script   []fault
		deadline time.Duration // of the context, real time
		want     error
		requests int
	}{
		{name: "MaxAttempts", cfg: Config{MaxAttempts: 3}, script: []fault{{status: 500}, {status: 500}, {status: 500}, {status: 500}},
			want: ErrGaveUp, requests: 3},
		{name: "MaxElapsed", cfg: Config{MaxElapsed: 2 * time.Second, BackoffBase: time.Second},
			script: []fault{{status: 503}, {status: 503}, {status: 503}, {status: 503}}, want: ErrGaveUp, requests: 2},
		{name: "Retry-After beyond the deadline: at once", cfg: Config{}, deadline: time.Hour,
			script: []fault{{status: 429, retryAfter: "7200"}}, want: ErrGaveUp, requests: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.script...)
			srv := f.start()
			tt.cfg.Endpoints = []string{srv.URL}
			tt.cfg.MaxRetryAfter = 3 * time.Hour
			c, clk := newTestClient(t, tt.cfg)
			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, clk.now().Add(tt.deadline))
				defer cancel()
			}
			res, err := c.Send(ctx, records(4))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Send: got %v, want %v", err, tt.want)
			}
			var se *StatusError
			if !errors.As(err, &se) || se.Status != tt.script[0].status {
				t.Errorf("error %v: want the last answer's *StatusError", err)
			}
			if len(f.requests) != tt.requests || len(res.Unacked) != 4 {
				t.Errorf("got %d requests, %d unacked, want %d and all 4", len(f.requests), len(res.Unacked), tt.requests)
			}
		})
	}
}

// TestSendCancel: cancelling the context stops Send promptly, in the
// middle of an attempt that hangs or of a wait, and nothing is acknowledged.
func TestSendCancel(t *testing.T) {
	for _, tt := range []struct {
		name   string
		script []fault
	}{
		{"hanging attempt", []fault{{hang: true}}},
		{"waiting out Retry-After", []fault{{status: 429, retryAfter: "30"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.script...)
			srv := f.start()
			c, err := New(Config{Endpoints: []string{srv.URL}, APIKey: "k-1", AttemptTimeout: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(200*time.Millisecond, cancel)
			start := time.Now()
			res, err := c.Send(ctx, records(3))
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("Send returned %v after the cancel, want promptly", took-200*time.Millisecond)
			}
			if !errors.Is(err, context.Canceled) || res.Acked != 0 || len(res.Unacked) != 3 {
				t.Errorf("got %v, %d acked, want context.Canceled and nothing acknowledged", err, res.Acked)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"1", time.Second},
		{" 60 ", time.Minute},
		{"0", 0},
		{"-5", 0},
		{"1.5", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{now.Add(5 * time.Second).Format(time.RFC850), 5 * time.Second},
		{"99999999999", 24 * time.Hour},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.v, now); got != tt.want {
			t.Errorf("retryAfter(%q): got %v, want %v", tt.v, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	c, _ := newTestClient(t, Config{Endpoints: []string{"http://127.0.0.1:1"}, BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second})
	tests := []struct {
		n   int
		max time.Duration
	}{{1, 100 * time.Millisecond}, {2, 200 * time.Millisecond}, {4, 800 * time.Millisecond}, {5, time.Second}, {40, time.Second}, {200, time.Second}}
	for _, tt := range tests {
		c.jitter = func(n int64) int64 { return n - 1 }
		if got := c.backoff(tt.n); got != tt.max {
			t.Errorf("backoff(%d) with the largest jitter: got %v, want %v", tt.n, got, tt.max)
		}
		c.jitter = func(int64) int64 { return 0 }
		if got := c.backoff(tt.n); got != 0 {
			t.Errorf("backoff(%d) with no jitter: got %v, want 0 (full jitter)", tt.n, got)
		}
	}
}

func TestNewConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // error text; "" for none
		eps  []string
	}{
		{"no endpoints", Config{APIKey: "k"}, "no endpoints", nil},
		{"no key", Config{Endpoints: []string{"https://a"}}, "no API key", nil},
		{"not a URL", Config{Endpoints: []string{"a b"}, APIKey: "k"}, "want an http or https URL", nil},
		{"ftp", Config{Endpoints: []string{"ftp://a/"}, APIKey: "k"}, "want an http or https URL", nil},
		{"MaxRecords", Config{Endpoints: []string{"https://a"}, APIKey: "k", MaxRecords: 5001}, "MaxRecords 5001", nil},
		{"paths", Config{Endpoints: []string{"https://ingest.example.com", "https://failover.example.com/", "http://127.0.0.1:8080/v1/records"}, APIKey: "k"}, "",
			[]string{"https://ingest.example.com/v1/records", "https://failover.example.com/v1/records", "http://127.0.0.1:8080/v1/records"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("New: got %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Endpoints(); !slices.Equal(got, tt.eps) {
				t.Errorf("endpoints: got %v, want %v", got, tt.eps)
			}
		})
	}
}

func TestNilHooks(t *testing.T) {
	var h *Hooks
	h.request(RequestEvent{})
	h.retry(RetryEvent{})
	h.failover(FailoverEvent{})
	h.batch(BatchEvent{})
	(&Hooks{}).batch(BatchEvent{})
}

// TestPartial: what a 503's body says is stored and what is sent again,
// for ingest's answer and other shapes (resend all when in doubt).
func TestPartial(t *testing.T) {
	req := []item{{id: "a", idx: 0}, {id: "b", idx: 1}, {id: "c", idx: 2}}
	tests := []struct {
		name   string
		status int
		body   string
		again  []string
	}{
		{"ingest's answer", 503, `{"error":"x","stored":["b"],"failed":[0,2],"failedIds":["a","c"]}`, []string{"a", "c"}},
		{"stored decides", 503, `{"stored":["a","b"],"failed":[0,2],"failedIds":["a","c"]}`, []string{"c"}},
		{"nothing stored", 503, `{"stored":[],"failed":[0,1,2],"failedIds":["a","b","c"]}`, []string{"a", "b", "c"}},
		{"stored names an unknown id", 503, `{"stored":["b","zz"]}`, []string{"a", "c"}},
		{"failedIds without stored", 503, `{"failedIds":["c"]}`, []string{"c"}},
		{"failed indices alone", 503, `{"failed":[1]}`, []string{"b"}},
		{"failedIds naming an unknown id", 503, `{"failedIds":["zz"]}`, []string{"a", "b", "c"}},
		{"index out of range", 503, `{"failed":[3]}`, []string{"a", "b", "c"}},
		{"failed as ids, not ingest's shape", 503, `{"failed":["a"]}`, []string{"a", "b", "c"}},
		{"stored of another shape, failedIds still read", 503, `{"stored":"b","failedIds":["a"]}`, []string{"a"}},
		{"no list", 503, `{"error":"cannot check API keys now, retry later"}`, []string{"a", "b", "c"}},
		{"not JSON", 503, `<html>503</html>`, []string{"a", "b", "c"}},
		{"a 500 says nothing of records", 500, `{"stored":["a","b"]}`, []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &answer{status: tt.status, body: []byte(tt.body)}
			a.parse()
			stored, again := a.partial(req)
			var got []string
			for _, it := range again {
				got = append(got, it.id)
			}
			if !slices.Equal(got, tt.again) || len(stored)+len(again) != len(req) {
				t.Errorf("again: got %v (stored %d), want %v and the rest stored", got, len(stored), tt.again)
			}
		})
	}
}

// TestSendConcurrent: Send from many goroutines at once, through faults and
// failovers between two endpoints: every record acknowledged once.
func TestSendConcurrent(t *testing.T) {
	var script []fault
	for i := range 40 {
		script = append(script, []fault{{status: 500}, {fail: []int{0}}, {reset: true}, {status: 503}, {}}[i%5])
	}
	p, s := newFake(t, script...), newFake(t, script...)
	ps, ss := p.start(), s.start()
	c, err := New(Config{Endpoints: []string{ps.URL, ss.URL}, APIKey: "k-1", BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, Cooldown: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var all []Record
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				recs := records(7)
				res, err := c.Send(context.Background(), recs)
				if err != nil {
					t.Errorf("Send: %v", err)
					return
				}
				if res.Acked != len(recs) {
					t.Errorf("acked %d of %d", res.Acked, len(recs))
				}
				mu.Lock()
				all = append(all, recs...)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	u := both(p, s)
	for _, r := range all {
		if len(u.stored[r.ID]) == 0 {
			t.Fatalf("id %s acknowledged, not stored", r.ID)
		}
	}
	if len(u.stored) != len(all) {
		t.Errorf("stored %d ids, want %d", len(u.stored), len(all))
	}
}
