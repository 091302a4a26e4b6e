package client

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// fault is what the fake does with one attempt.
type fault struct {
	status     int           // answer with this status (0: store and answer 202)
	retryAfter string        // Retry-After header
	retryAt    time.Duration // Retry-After as an HTTP date this long after the fake's now
	body       string        // answer body ("" with a status: a JSON error)
	fail       []int         // partial 503: the indices in the request not stored (the rest are)
	noStored   bool          // partial 503 without "stored" (failedIds only)
	reset      bool          // close the connection without an answer
	lost       bool          // store, then close the connection (the answer is lost)
	hang       bool          // answer nothing until the request is cancelled
	bad        []int         // 400 naming these indices as bad records
	check      func(*testing.T, []wireRecord)
}

// wireRecord is a record as the fake received it.
type wireRecord struct {
	ID           string          `json:"id"`
	PartitionKey string          `json:"partitionKey,omitempty"`
	Data         json.RawMessage `json:"data,omitempty"`
	DataBase64   []byte          `json:"dataBase64,omitempty"`
}

// ingestFake speaks ingest's protocol: it checks every request against the
// API's limits (as ingest refuses them), stores the records by id, and
// follows a script of faults, one per request, then answers 202.
type ingestFake struct {
	t          *testing.T
	key        string
	maxRecords int
	region     string
	now        func() time.Time // for retryAt

	mu       sync.Mutex
	script   []fault
	requests [][]string // the ids of each request, in order of arrival
	stored   map[string][]json.RawMessage
	gz       int // gzipped requests
	sizes    []int
}

func newFake(t *testing.T, script ...fault) *ingestFake {
	return &ingestFake{t: t, key: "k-1", maxRecords: DefaultMaxRecords, script: script, stored: map[string][]json.RawMessage{}}
}

// start serves f on 127.0.0.1 until the test ends.
func (f *ingestFake) start() *httptest.Server {
	srv := httptest.NewServer(f)
	f.t.Cleanup(srv.Close)
	return srv
}

func (f *ingestFake) answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	if f.region != "" {
		w.Header().Set("X-Twinstream-Region", f.region)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *ingestFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := f.t
	if r.Method != http.MethodPost || r.URL.Path != Path {
		t.Errorf("got %s %s, want POST %s", r.Method, r.URL.Path, Path)
		f.answer(w, http.StatusNotFound, map[string]string{"error": "not found"})
		return
	}
	if got, want := r.Header.Get("Authorization"), "Bearer "+f.key; got != want {
		f.answer(w, http.StatusUnauthorized, map[string]string{"error": "unknown API key"})
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type: got %q, want application/json", ct)
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	if len(raw) > MaxBody {
		t.Errorf("body of %d bytes, want at most %d", len(raw), MaxBody)
		f.answer(w, http.StatusRequestEntityTooLarge, map[string]any{"error": "body too large", "limit": MaxBody})
		return
	}
	body := raw
	gz := r.Header.Get("Content-Encoding") == "gzip"
	if gz {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err == nil {
			body, err = io.ReadAll(io.LimitReader(zr, MaxDecodedBody+1))
		}
		if err != nil || len(body) > MaxDecodedBody {
			t.Errorf("gzip body: %v, %d bytes decoded, want at most %d", err, len(body), MaxDecodedBody)
			f.answer(w, http.StatusRequestEntityTooLarge, map[string]any{"error": "decompressed body too large"})
			return
		}
	}
	var req struct {
		Records []wireRecord `json:"records"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || len(req.Records) == 0 {
		t.Errorf("body: %v, %d records: %.200s", err, len(req.Records), body)
		f.answer(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON body"})
		return
	}
	if n := len(req.Records); n > f.maxRecords {
		t.Errorf("request with %d records, want at most %d", n, f.maxRecords)
		f.answer(w, http.StatusBadRequest, map[string]any{"error": "too many records", "count": n, "limit": f.maxRecords})
		return
	}
	ids := make([]string, len(req.Records))
	seen := map[string]int{}
	size := answerAllowance
	for i, rec := range req.Records {
		if !validID(rec.ID) {
			t.Errorf("record %d: invalid id %q", i, rec.ID)
		}
		if j, dup := seen[rec.ID]; dup {
			t.Errorf("record %d repeats record %d's id %q", i, j, rec.ID)
		}
		seen[rec.ID] = i
		ids[i] = rec.ID
		size += answerCost(rec.ID, i)
	}
	if size > MaxResponse {
		t.Errorf("request whose answer could take %d bytes, want at most %d", size, MaxResponse)
		f.answer(w, http.StatusBadRequest, map[string]any{"error": "too many long ids"})
		return
	}

	f.mu.Lock()
	f.requests = append(f.requests, ids)
	f.sizes = append(f.sizes, len(raw))
	if gz {
		f.gz++
	}
	var ft fault
	if len(f.script) > 0 {
		ft, f.script = f.script[0], f.script[1:]
	}
	store := func(recs []wireRecord) {
		for _, rec := range recs {
			data := rec.Data
			if rec.DataBase64 != nil {
				data, _ = json.Marshal(rec.DataBase64)
			}
			f.stored[rec.ID] = append(f.stored[rec.ID], data)
		}
	}
	if ft.check != nil {
		ft.check(t, req.Records)
	}
	switch {
	case ft.reset, ft.lost:
		if ft.lost {
			store(req.Records)
		}
		f.mu.Unlock()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // a reset, not a clean close
			}
			conn.Close()
		}
		return
	case ft.hang:
		f.mu.Unlock()
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
			t.Errorf("hung request not cancelled within 30s")
		}
		return
	case ft.fail != nil:
		failed := map[int]bool{}
		for _, i := range ft.fail {
			failed[i] = true
		}
		var stored, failedIDs []string
		var idx []int
		var keep []wireRecord
		for i, rec := range req.Records {
			if failed[i] {
				failedIDs, idx = append(failedIDs, rec.ID), append(idx, i)
				continue
			}
			stored = append(stored, rec.ID)
			keep = append(keep, rec)
		}
		store(keep)
		f.mu.Unlock()
		w.Header().Set("Retry-After", "1")
		body := map[string]any{"error": "kinesis and the spill bucket did not take the records", "stored": stored, "failed": idx, "failedIds": failedIDs}
		if ft.noStored {
			delete(body, "stored")
		}
		f.answer(w, http.StatusServiceUnavailable, body)
		return
	case ft.bad != nil:
		f.mu.Unlock()
		var bad []map[string]any
		for _, i := range ft.bad {
			bad = append(bad, map[string]any{"index": i, "reason": "invalid id"})
		}
		f.answer(w, http.StatusBadRequest, map[string]any{"error": "invalid records", "records": bad})
		return
	case ft.status != 0:
		f.mu.Unlock()
		if ft.retryAfter != "" {
			w.Header().Set("Retry-After", ft.retryAfter)
		}
		if ft.retryAt != 0 {
			w.Header().Set("Retry-After", f.now().Add(ft.retryAt).UTC().Format(http.TimeFormat))
		}
		if ft.body != "" {
			w.WriteHeader(ft.status)
			io.WriteString(w, ft.body)
			return
		}
		f.answer(w, ft.status, map[string]string{"error": "fault " + strconv.Itoa(ft.status)})
		return
	}
	store(req.Records)
	f.mu.Unlock()
	f.answer(w, http.StatusAccepted, map[string]any{"accepted": len(ids), "spilled": 0, "ids": ids})
}

// fakeClock is the client's clock and sleep in tests: sleeping advances it
// at once and records the wait.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	waits []time.Duration
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.t = c.t.Add(d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *fakeClock) slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// newTestClient is a client of cfg on a fake clock whose jitter is the
// largest allowed (so waits are the backoff bound).
func newTestClient(t *testing.T, cfg Config) (*Client, *fakeClock) {
	t.Helper()
	if cfg.APIKey == "" {
		cfg.APIKey = "k-1"
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The fake clock starts at the real time (on a whole second, for
	// HTTP dates): contexts' deadlines are in real time.
	clk := &fakeClock{t: time.Now().Truncate(time.Second)}
	c.now, c.sleep = clk.now, clk.sleep
	c.jitter = func(n int64) int64 { return n - 1 }
	return c, clk
}

// records makes n records with JSON data naming their number.
func records(n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i].Data = json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))
	}
	return recs
}
