package load

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twinstream/twinstream/client"
)

// ingest is a fake of ingest's protocol that stores records by id. Every
// fail-th request is answered 503 with the records at odd positions not
// stored (as ingest says when Kinesis and the spill bucket fail), every
// spill-th 202 says its records were spilled, and each answer waits delay.
type ingest struct {
	t     *testing.T
	fail  int
	spill int
	delay time.Duration

	mu       sync.Mutex
	n        int
	stored   map[string]json.RawMessage
	copies   int
	spilled  int
	failed   int // answers but 202
	accepted int // 202s
}

func (f *ingest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer key-1" {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"unknown API key"}`)
		return
	}
	var req struct {
		Records []struct {
			ID   string          `json:"id"`
			Data json.RawMessage `json:"data"`
		} `json:"records"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Records) == 0 {
		f.t.Errorf("bad request: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	time.Sleep(f.delay)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	store := func(id string, d json.RawMessage) {
		if _, ok := f.stored[id]; ok {
			f.copies++
		}
		f.stored[id] = d
	}
	w.Header().Set("Content-Type", "application/json")
	if f.fail > 0 && f.n%f.fail == 0 {
		f.failed++
		var stored, failedIDs []string
		var failed []int
		for i, rec := range req.Records {
			if i%2 == 1 {
				failed, failedIDs = append(failed, i), append(failedIDs, rec.ID)
				continue
			}
			stored = append(stored, rec.ID)
			store(rec.ID, rec.Data)
		}
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": "not stored", "stored": stored, "failed": failed, "failedIds": failedIDs})
		return
	}
	f.accepted++
	spilled := 0
	if f.spill > 0 && f.accepted%f.spill == 0 {
		spilled = len(req.Records)
		f.spilled += spilled
	}
	for _, rec := range req.Records {
		store(rec.ID, rec.Data)
	}
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]any{"accepted": len(req.Records), "spilled": spilled})
}

func serve(t *testing.T, f *ingest) string {
	f.t = t
	f.stored = map[string]json.RawMessage{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv.URL
}

func clientConfig(url string) client.Config {
	return client.Config{Endpoints: []string{url}, APIKey: "key-1", BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond}
}

func TestRun(t *testing.T) {
	tests := []struct {
		name string
		f    *ingest
		cfg  Config
	}{
		{"all 202", &ingest{}, Config{Count: 1000, BatchSize: 50, Concurrency: 4, RecordSize: 200}},
		{"partial 503s and spills", &ingest{fail: 3, spill: 2}, Config{Count: 999, BatchSize: 40, Concurrency: 3, RecordSize: 64}},
		{"ids of our own", &ingest{fail: 4}, Config{Count: 120, BatchSize: 7, Concurrency: 2, IDPrefix: "run-1-"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.cfg.Client = clientConfig(serve(t, tt.f))
			var mu sync.Mutex
			var hooked int
			tt.cfg.Client.Hooks.Request = func(client.RequestEvent) { mu.Lock(); hooked++; mu.Unlock() }
			var progress []Progress
			tt.cfg.Progress = func(p Progress) { progress = append(progress, p) }
			tt.cfg.ProgressEvery = time.Millisecond
			rep, err := Run(context.Background(), tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			f := tt.f
			f.mu.Lock()
			defer f.mu.Unlock()
			n := tt.cfg.Count
			if rep.Sent != n || rep.Accepted != n || rep.Failed != 0 || len(rep.IDs) != n {
				t.Errorf("sent %d, accepted %d, failed %d, ids %d; want %d, %d, 0, %d", rep.Sent, rep.Accepted, rep.Failed, len(rep.IDs), n, n, n)
			}
			if rep.Spilled != f.spilled {
				t.Errorf("spilled: got %d, want the server's %d", rep.Spilled, f.spilled)
			}
			// The ids acknowledged are the ids stored, each once.
			ids := slices.Clone(rep.IDs)
			slices.Sort(ids)
			if len(slices.Compact(ids)) != n || len(f.stored) != n || f.copies != 0 {
				t.Errorf("ids: %d unique acknowledged, %d stored, %d copies; want %d, %d, 0", len(slices.Compact(ids)), len(f.stored), f.copies, n, n)
			}
			for _, id := range rep.IDs {
				d, ok := f.stored[id]
				if !ok {
					t.Fatalf("id %s acknowledged, not stored", id)
				}
				if tt.cfg.IDPrefix != "" && !strings.HasPrefix(id, tt.cfg.IDPrefix) {
					t.Errorf("id %s: want the prefix %s", id, tt.cfg.IDPrefix)
				}
				if want := cmp.Or(tt.cfg.RecordSize, DefaultRecordSize); len(d) != want {
					t.Errorf("record %s: %d bytes of data, want %d", id, len(d), want)
				}
			}
			if rep.Requests != f.n || rep.FailedRequests != f.failed || rep.Statuses[202] != f.accepted || rep.Statuses[503] != f.failed || hooked != f.n {
				t.Errorf("requests %d (failed %d, statuses %v, hooked %d), want %d (failed %d)", rep.Requests, rep.FailedRequests, rep.Statuses, hooked, f.n, f.failed)
			}
			if rep.Retries != f.failed {
				t.Errorf("retries: got %d, want one per failed answer, %d", rep.Retries, f.failed)
			}
			wantBatches := (n + tt.cfg.BatchSize - 1) / tt.cfg.BatchSize
			if rep.Batches != wantBatches || rep.BatchLatency.N != wantBatches || rep.RequestLatency.N != f.n {
				t.Errorf("batches %d, latencies of %d batches and %d requests; want %d, %d, %d", rep.Batches, rep.BatchLatency.N, rep.RequestLatency.N, wantBatches, wantBatches, f.n)
			}
			if l := rep.BatchLatency; l.P50 <= 0 || l.P50 > l.P90 || l.P90 > l.P99 || l.P99 > l.Max {
				t.Errorf("batch latency %v: want 0 < p50 <= p90 <= p99 <= max", l)
			}
			last := progress[len(progress)-1]
			if !last.Done || last.Fraction() != 1 || last.Accepted != n || last.InFlight != 0 {
				t.Errorf("last progress %+v: want done, all accepted", last)
			}
			for i := 1; i < len(progress); i++ {
				if progress[i].Sent < progress[i-1].Sent || progress[i].Accepted < progress[i-1].Accepted {
					t.Errorf("progress went back: %+v after %+v", progress[i], progress[i-1])
				}
			}
		})
	}
}

// TestRunRate: the pacer keeps to the rate (an upper bound that cannot
// flake: slots are never early).
func TestRunRate(t *testing.T) {
	f := &ingest{}
	cfg := Config{Client: clientConfig(serve(t, f)), Rate: 400, Duration: 500 * time.Millisecond, BatchSize: 10, Concurrency: 4}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Slots start at once: 400/s for 0.5 s is 200 records, plus the batch
	// whose slot is the start.
	if rep.Sent > 210 || rep.Sent < 20 {
		t.Errorf("sent %d records at 400/s in 0.5s, want at most 210", rep.Sent)
	}
	if rep.Accepted != rep.Sent {
		t.Errorf("accepted %d of %d", rep.Accepted, rep.Sent)
	}
}

// TestRunEnds: a run ended by its context lets the Sends in flight finish
// within Grace (their answers count), or cancels them without.
func TestRunEnds(t *testing.T) {
	tests := []struct {
		name     string
		grace    time.Duration
		accepted bool // every record sent is accepted
		err      string
	}{
		{"grace: the answers on their way count", time.Minute, true, ""},
		{"no grace: cancelled", -1, false, "cancelled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &ingest{delay: 300 * time.Millisecond}
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			start := time.Now()
			rep, err := Run(ctx, Config{Client: clientConfig(serve(t, f)), BatchSize: 5, Concurrency: 2, Grace: tt.grace})
			if err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("run took %v, want it to end soon after its context", took)
			}
			if rep.Sent != 10 {
				t.Errorf("sent %d, want the 10 of the two Sends in flight", rep.Sent)
			}
			if (rep.Accepted == rep.Sent) != tt.accepted || rep.Accepted+rep.Failed != rep.Sent {
				t.Errorf("accepted %d, failed %d of %d, want all accepted: %v", rep.Accepted, rep.Failed, rep.Sent, tt.accepted)
			}
			if tt.err != "" {
				found := false
				for e, n := range rep.Errors {
					found = found || (strings.HasPrefix(e, tt.err) && n == rep.Failed)
				}
				if !found {
					t.Errorf("errors %v: want %d records %q", rep.Errors, rep.Failed, tt.err)
				}
			}
		})
	}
}

// TestRunRefused: a refused request (a wrong key) stops the run: every
// request would be refused.
func TestRunRefused(t *testing.T) {
	f := &ingest{}
	cfg := Config{Client: clientConfig(serve(t, f)), Count: 100000, BatchSize: 10, Concurrency: 2}
	cfg.Client.APIKey = "wrong"
	rep, err := Run(context.Background(), cfg)
	var rej *client.RejectError
	if !errors.As(err, &rej) || rej.Status != http.StatusUnauthorized {
		t.Fatalf("Run: got %v, want the *client.RejectError 401", err)
	}
	if rep.Sent > 20 || rep.Accepted != 0 || rep.Failed != rep.Sent || rep.Errors["refused: 401 unknown API key"] != rep.Sent {
		t.Errorf("sent %d, accepted %d, errors %v: want at most 20 sent, all refused", rep.Sent, rep.Accepted, rep.Errors)
	}
}

func TestRunConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Client: clientConfig("http://127.0.0.1:1"), Rate: -1},
		{Client: clientConfig("http://127.0.0.1:1"), Count: -1},
		{Client: client.Config{APIKey: "k"}},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("Run(%+v): got no error, want one", cfg)
		}
	}
}

func TestData(t *testing.T) {
	for _, tt := range []struct {
		seq  int64
		size int
		want int
	}{{1, 100, 100}, {123456, 1000, 1000}, {7, 0, 18}, {7, 18, 18}, {7, 19, 19}, {1, 1 << 20, 1 << 20}} {
		d := data(tt.seq, tt.size)
		var v struct {
			Seq int64  `json:"seq"`
			Pad string `json:"pad"`
		}
		if err := json.Unmarshal(d, &v); err != nil || v.Seq != tt.seq || len(d) != tt.want {
			t.Errorf("data(%d, %d) = %.40s (%d bytes, %v), want %d bytes of JSON with seq", tt.seq, tt.size, d, len(d), err, tt.want)
		}
	}
}

func TestLatency(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		d := make([]time.Duration, len(ns))
		for i, n := range ns {
			d[i] = time.Duration(n) * time.Millisecond
		}
		return d
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100..1, unsorted
	}
	for _, tt := range []struct {
		in   []time.Duration
		want Latency
	}{
		{nil, Latency{}},
		{ms(5), Latency{1, 5 * time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond}},
		{ms(hundred...), Latency{100, 50 * time.Millisecond, 90 * time.Millisecond, 99 * time.Millisecond, 100 * time.Millisecond}},
		{ms(1, 2, 3, 4), Latency{4, 2 * time.Millisecond, 4 * time.Millisecond, 4 * time.Millisecond, 4 * time.Millisecond}},
	} {
		if got := latency(tt.in); got != tt.want {
			t.Errorf("latency(%v): got %+v, want %+v", tt.in, got, tt.want)
		}
	}
}
