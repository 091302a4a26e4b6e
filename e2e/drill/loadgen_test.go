package drill

import (
	"bufio"
	"bytes"
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
// and 2 only: as ingest answers, by index and id with the stored ids
// ("503"), or by id alone ("503-ids").
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
	var ids []string
	var body bytes.Buffer
	body.ReadFrom(r.Body)
	sc := bufio.NewScanner(&body)
	for sc.Scan() {
		var line struct {
			ID   string `json:"id"`
			Data struct {
				N   int    `json:"n"`
				Pad string `json:"pad"`
			} `json:"data"`
		}
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&line); err != nil || line.ID == "" || line.Data.N <= 0 || line.Data.Pad == "" {
			f.t.Errorf("bad NDJSON line %q: %v", sc.Text(), err)
		}
		if !strings.HasSuffix(line.ID, "-"+strconv.Itoa(line.Data.N)) {
			f.t.Errorf("line %q: n is not the id's sequence number", sc.Text())
		}
		ids = append(ids, line.ID)
	}
	if got := r.Header.Get("Content-Type"); got != "application/x-ndjson" {
		f.t.Errorf("Content-Type: got %q, want application/x-ndjson", got)
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
		if f.fail == "503-ids" {
			body = map[string]any{"error": "no", "failed": failed}
		}
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
		{name: "503 by id: only the failed records again", fail: "503-ids", retries: 3, producers: 2, batch: 3},
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
				Retries: tt.retries, Timeout: 5 * time.Second, IDPrefix: "t",
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
					least := lgBackoffBase / 2
					if strings.HasPrefix(tt.fail, "503-") || tt.fail == "503" {
						if tt.fail != "503-opaque" {
							least = time.Second // the answer's Retry-After
						}
					}
					if gap := f.arrived[key][i+1].Sub(f.arrived[key][i]); gap < least {
						t.Errorf("batch %s retried %v after the failure, want a backoff of at least %v", key, gap, least)
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
			// Producers spread over the targets: every producer sent.
			for p := range tt.producers {
				prefix := "t-" + strconv.Itoa(p) + "-"
				if !slices.ContainsFunc(res.Sent, func(id string) bool { return strings.HasPrefix(id, prefix) }) {
					t.Errorf("producer %d sent nothing", p)
				}
			}
		})
	}
}

func TestLgFailed(t *testing.T) {
	ids := []string{"a", "b", "c"}
	tests := []struct {
		name string
		body string
		want []bool // nil: resend all
	}{
		{"indices with stored ids", `{"stored":["b"],"failed":[0,2]}`, []bool{true, false, true}},
		{"ids", `{"failed":["c"]}`, []bool{false, false, true}},
		{"failedIds beside failed, as ingest answers", `{"stored":["b"],"failed":[0,2],"failedIds":["a","c"]}`, []bool{true, false, true}},
		{"failedIds win over indices", `{"failed":[0],"failedIds":["c"]}`, []bool{false, false, true}},
		{"failedIds naming an unknown id", `{"failed":[0],"failedIds":["zz"]}`, nil},
		{"objects", `{"failed":[{"index":0,"id":"a"},{"index":1}]}`, []bool{true, true, false}},
		{"object id wins over its index", `{"failed":[{"index":0,"id":"b"}]}`, []bool{false, true, false}},
		{"not in stored is not stored", `{"stored":["b"],"failed":[0]}`, []bool{true, false, true}},
		{"unknown id", `{"failed":["zz"]}`, nil},
		{"index out of range", `{"failed":[3]}`, nil},
		{"negative index", `{"failed":[-1]}`, nil},
		{"null entry", `{"failed":[null]}`, nil},
		{"stored names an unknown id", `{"stored":["zz"],"failed":[0]}`, nil},
		{"no failed list", `{"stored":["a"]}`, nil},
		{"empty failed list", `{"failed":[]}`, nil},
		{"not JSON", `<html>503</html>`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lgFailed([]byte(tt.body), ids); !slices.Equal(got, tt.want) {
				t.Errorf("lgFailed(%s): got %v, want %v", tt.body, got, tt.want)
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

func TestLgBackoff(t *testing.T) {
	tests := []struct {
		n        int
		min, max time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 100 * time.Millisecond, 200 * time.Millisecond},
		{5, 800 * time.Millisecond, 1600 * time.Millisecond},
		{6, time.Second, 2 * time.Second},
		{60, time.Second, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.n), func(t *testing.T) {
			for range 200 {
				if d := lgBackoff(tt.n); d < tt.min || d > tt.max {
					t.Fatalf("lgBackoff(%d) = %v, want %v to %v", tt.n, d, tt.min, tt.max)
				}
			}
		})
	}
}
