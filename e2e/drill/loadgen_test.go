package drill

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// lgFake is an ingest fake: it fails the first attempt of every third batch
// and answers 202 otherwise, saying spilled for every other batch. It fails
// with a dropped connection ("drop"), a 503 saying nothing about single
// records ("503-opaque", as ALB's own page), or ingest's 503 for records 0
// and 2 only, by index and id with the stored ids ("503").
type lgFake struct {
	t      *testing.T
	fail   string
	stopAt int // cancel the run while answering this many-th 202
	cancel context.CancelFunc

	mu       sync.Mutex
	attempts map[string][]string // batch (its first id) -> ids of each attempt, joined
	arrived  map[string][]time.Time
	acked    map[string]bool   // ids answered 202, or stored in a 503
	spilled  map[string]bool   // ids answered 202 with spilled > 0
	in503    map[string]bool   // ids stored in a 503
	retry    map[string]string // batch -> the ids a retry must carry, joined
	requests int
	failed   int      // answers that were not 202
	oks      int      // 202 answers
	stopIDs  []string // the batch in flight when the run was cancelled
}

func (f *lgFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Records []struct {
			ID   string `json:"id"`
			Data struct {
				Seq int    `json:"seq"`
				Pad string `json:"pad"`
			} `json:"data"`
		} `json:"records"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		f.t.Errorf("body: %v", err)
	}
	var ids []string
	for _, rec := range req.Records {
		if rec.ID == "" || rec.Data.Seq <= 0 || rec.Data.Pad == "" {
			f.t.Errorf("bad record %+v", rec)
		}
		if !strings.HasSuffix(rec.ID, "-"+strconv.Itoa(rec.Data.Seq)) {
			f.t.Errorf("record %+v: seq is not the id's sequence number", rec)
		}
		ids = append(ids, rec.ID)
	}
	if got := r.Header.Get("Content-Type"); got != "application/json" {
		f.t.Errorf("Content-Type: got %q, want application/json", got)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer k-123" {
		f.t.Errorf("Authorization: got %q, want Bearer k-123", got)
	}
	if r.Method != http.MethodPost || len(ids) == 0 {
		f.t.Errorf("got %s with %d records, want POST with records", r.Method, len(ids))
		w.WriteHeader(http.StatusBadRequest)
		return
	}

	f.mu.Lock()
	f.requests++
	key := ids[0]
	attempt := len(f.attempts[key])
	f.attempts[key] = append(f.attempts[key], strings.Join(ids, ","))
	f.arrived[key] = append(f.arrived[key], time.Now())
	seq, _ := strconv.Atoi(key[strings.LastIndexByte(key, '-')+1:])
	batch := (seq - 1) / len(ids) // the producer's batch number, from 0
	if attempt == 0 && batch%3 == 0 {
		f.failed++
		switch f.fail {
		case "drop":
			f.retry[key] = strings.Join(ids, ",")
			f.mu.Unlock()
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		case "503-opaque":
			f.retry[key] = strings.Join(ids, ",")
			f.mu.Unlock()
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "<html><body>503 Service Temporarily Unavailable</body></html>")
			return
		}
		var failed, stored []string
		var failedIdx []int
		for i, id := range ids {
			if i == 0 || i == 2 {
				failed, failedIdx = append(failed, id), append(failedIdx, i)
				continue
			}
			stored = append(stored, id)
			f.acked[id], f.in503[id] = true, true
		}
		f.retry[key] = strings.Join(failed, ",")
		f.mu.Unlock()
		body := map[string]any{"error": "no", "stored": stored, "failed": failedIdx, "failedIds": failed}
		w.Header().Set(HeaderRegion, "fake-1")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(body)
		return
	}
	spilled := 0
	if batch%2 == 1 {
		spilled = len(ids)
	}
	for _, id := range ids {
		f.acked[id] = true
		f.spilled[id] = spilled > 0
	}
	f.oks++
	if f.oks == f.stopAt {
		// The run ends while this answer is on its way: it must still count.
		f.cancel()
		f.stopIDs = ids
	}
	f.mu.Unlock()
	w.Header().Set(HeaderRegion, "fake-1")
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(map[string]any{"accepted": len(ids), "spilled": spilled, "ids": ids})
}

func TestLoadGen(t *testing.T) {
	tests := []struct {
		name      string
		fail      string
		retries   int
		producers int
		batch     int
	}{
		{name: "503 by index and id with stored ids: only the failed records again", fail: "503", retries: 3, producers: 3, batch: 4},
		{name: "503 without a list: the whole batch again", fail: "503-opaque", retries: 3, producers: 2, batch: 4},
		{name: "dropped connection first, then 202 on a retry", fail: "drop", retries: 2, producers: 2, batch: 5},
		{name: "no retries: failed records stay unacknowledged", fail: "503", retries: 0, producers: 2, batch: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// The fake cancels after enough 202s; the timeout is a safety net
			// so a broken LoadGen fails the test instead of hanging it.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			f := &lgFake{t: t, fail: tt.fail, stopAt: 20, cancel: cancel,
				attempts: map[string][]string{}, arrived: map[string][]time.Time{}, acked: map[string]bool{}, spilled: map[string]bool{},
				in503: map[string]bool{}, retry: map[string]string{}}
			srv := httptest.NewServer(f)
			defer srv.Close()
			g := &LoadGen{
				Targets:   []Target{{URL: srv.URL + "/v1/records", Location: "east"}, {URL: srv.URL + "/v1/records", Location: "west"}},
				Producers: tt.producers, Rate: 2000, BatchSize: tt.batch, APIKey: "k-123",
				MaxAttempts: tt.retries + 1, Timeout: 5 * time.Second, IDPrefix: "t",
			}
			res := g.Run(ctx)
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.oks < f.stopAt {
				t.Fatalf("the run ended after %d answers 202, want it to run until the %d-th", f.oks, f.stopAt)
			}

			// Sent: unique ids in whole batches.
			if len(res.Sent)%tt.batch != 0 || len(res.Sent) == 0 {
				t.Fatalf("sent %d ids, want a positive multiple of %d", len(res.Sent), tt.batch)
			}
			seen := map[string]bool{}
			for _, id := range res.Sent {
				if seen[id] {
					t.Errorf("id %s offered twice", id)
				}
				seen[id] = true
			}
			// Acked: exactly the ids the fake answered 202 or stored in a
			// 503, each once, with that answer's region and flags.
			if len(res.Acked) != len(f.acked) {
				t.Errorf("acked %d ids, want %d (the fake's 202s and stored in 503s)", len(res.Acked), len(f.acked))
			}
			for id := range f.acked {
				ack, ok := res.Acked[id]
				if !ok {
					t.Errorf("id %s answered 202 but not acked", id)
					continue
				}
				if !seen[id] {
					t.Errorf("id %s acked but not in Sent", id)
				}
				if ack.Spilled != f.spilled[id] || ack.In503 != f.in503[id] || ack.Region != "fake-1" || ack.At.IsZero() {
					t.Errorf("ack of %s: got %+v, want spilled %v, in503 %v, region fake-1, a time", id, ack, f.spilled[id], f.in503[id])
				}
			}
			for _, id := range f.stopIDs {
				if _, ok := res.Acked[id]; !ok {
					t.Errorf("id %s of the request in flight when the run ended: not acked, want acked", id)
				}
			}
			// Retries carry the ids of the first attempt not stored, and
			// stay within Retries.
			batches, retried := 0, 0
			for key, att := range f.attempts {
				batches++
				if len(att) > 1+tt.retries {
					t.Errorf("batch %s: %d attempts, want at most %d", key, len(att), 1+tt.retries)
				}
				for i, a := range att[1:] {
					retried++
					if a != f.retry[key] {
						t.Errorf("batch %s retried with ids %s, want %s", key, a, f.retry[key])
					}
					// A lower bound: sleeps never end early, so it cannot flake.
					// (Full jitter: no bound but the answer's Retry-After.)
					if least := time.Second; tt.fail == "503" {
						if gap := f.arrived[key][i+1].Sub(f.arrived[key][i]); gap < least {
							t.Errorf("batch %s retried %v after the failure, want a backoff of at least %v", key, gap, least)
						}
					}
				}
			}
			if batches > len(res.Sent)/tt.batch {
				t.Errorf("fake saw %d batches, want at most the %d offered", batches, len(res.Sent)/tt.batch)
			}
			if res.Requests != f.requests || res.Retries != retried || res.Errors != f.failed || len(res.Failures) != f.failed {
				t.Errorf("got requests %d retries %d errors %d failures %d, want %d %d %d %d", res.Requests, res.Retries, res.Errors, len(res.Failures), f.requests, retried, f.failed, f.failed)
			}
			wantStatus := map[string]int{"drop": 0}[tt.fail]
			if tt.fail != "drop" {
				wantStatus = http.StatusServiceUnavailable
			}
			for _, fl := range res.Failures {
				if fl.Status != wantStatus || fl.At.IsZero() {
					t.Errorf("failure: got %+v, want status %d and a time", fl, wantStatus)
					break
				}
			}
			if f.failed == 0 || (tt.retries > 0 && retried == 0) {
				t.Errorf("fake failed %d and saw %d retries: the case does not exercise retries", f.failed, retried)
			}
			if tt.retries == 0 && len(res.Acked) >= len(res.Sent) {
				t.Errorf("no retries: acked %d of %d, want the failed batches unacknowledged", len(res.Acked), len(res.Sent))
			}
			// Every answered attempt has its latency; sending ended when the
			// fake cancelled, after it began.
			answered := f.requests
			if tt.fail == "drop" {
				answered -= f.failed // a dropped connection has no answer
			}
			if len(res.Latencies) != answered {
				t.Errorf("latencies: got %d, want one per answered attempt, %d", len(res.Latencies), answered)
			}
			if res.Started.IsZero() || !res.Stopped.After(res.Started) {
				t.Errorf("sending from %v to %v, want a start and a later stop", res.Started, res.Stopped)
			}
			// Producers spread over the targets: every target got records.
			for p := range 2 {
				prefix := "t-" + strconv.Itoa(p) + "-"
				if !slices.ContainsFunc(res.Sent, func(id string) bool { return strings.HasPrefix(id, prefix) }) {
					t.Errorf("target %d got nothing", p)
				}
			}
		})
	}
}

func TestLoadGenNoTargets(t *testing.T) {
	res := (&LoadGen{}).Run(context.Background())
	if len(res.Sent) != 0 || len(res.Acked) != 0 || res.Requests != 0 {
		t.Errorf("got %v, want nothing sent", res)
	}
}
