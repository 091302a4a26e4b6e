// Package client_test runs the producer client (module client) against the
// real ingest handler (lambdas/ingest/ingest) behind an HTTP server on
// 127.0.0.1 (internal/faultyingest), with fakes of Kinesis, S3 and Secrets
// Manager, and a middleware that fails on purpose: 429s, 5xx, ingest's own partial 503
// (Kinesis and the spill bucket failing for some records), dropped
// connections, lost answers and hangs.
package client_test

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twinstream/twinstream/client"
	"github.com/twinstream/twinstream/client/load"
	"github.com/twinstream/twinstream/e2e/internal/faultyingest"
	"github.com/twinstream/twinstream/lambdas/record"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	os.Exit(m.Run())
}

const (
	apiKey   = "ts-e2e-client-key"
	producer = "team-e2e"
)

// newRegion is ingest in region name, knowing this producer's key, behind
// the failing middleware; maxRecords 0 is ingest's default.
func newRegion(t *testing.T, name string, maxRecords int) *faultyingest.Region {
	return faultyingest.New(t, faultyingest.Config{Region: name, APIKey: apiKey, Producer: producer, MaxRecords: maxRecords})
}

// testRecords are n records: JSON and binary, some with ids of their own
// (prefix and number).
func testRecords(prefix string, n int) []client.Record {
	recs := make([]client.Record, n)
	for i := range recs {
		switch i % 4 {
		case 0:
			recs[i].Binary = []byte(fmt.Sprintf("binary-%d\x00\xff", i))
		case 1:
			recs[i].ID = fmt.Sprintf("%s-%d", prefix, i)
			recs[i].Data = json.RawMessage(fmt.Sprintf(`{ "order": %d, "note": "<&>" }`, i))
		default:
			recs[i].Data = json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))
		}
	}
	return recs
}

// checkStored: the records are stored under their ids and nothing else is:
// every copy of an id holds that record's payload, from this producer.
func checkStored(t *testing.T, recs []client.Record, stored map[string][]record.Envelope) {
	t.Helper()
	if len(stored) != len(recs) {
		t.Errorf("stored %d ids, want %d", len(stored), len(recs))
	}
	for i, r := range recs {
		envs := stored[r.ID]
		if len(envs) == 0 {
			t.Errorf("record %d (id %s) not stored", i, r.ID)
		}
		for _, e := range envs {
			var got []byte
			switch e.Encoding {
			case record.EncodingBase64:
				var s string
				_ = json.Unmarshal(e.Data, &s)
				got, _ = base64.StdEncoding.DecodeString(s)
				if !bytes.Equal(got, r.Binary) {
					t.Errorf("id %s stored with %q, want %q", r.ID, got, r.Binary)
				}
			default:
				var want bytes.Buffer
				_ = json.Compact(&want, r.Data)
				if string(e.Data) != want.String() {
					t.Errorf("id %s stored with %s, want %s", r.ID, e.Data, want.String())
				}
			}
			if e.Producer != producer {
				t.Errorf("id %s stored for producer %q, want %q", r.ID, e.Producer, producer)
			}
		}
	}
}

// checkAcked: every record acknowledged exactly once in the caller's view.
func checkAcked(t *testing.T, n int, res client.Result) {
	t.Helper()
	count := make([]int, n)
	for _, a := range res.Acks {
		for _, i := range a.Records {
			count[i]++
		}
	}
	for i, c := range count {
		if c != 1 {
			t.Errorf("record %d acknowledged %d times, want once", i, c)
		}
	}
	if res.Acked != n || len(res.Unacked) != 0 {
		t.Errorf("acked %d, unacked %v, want %d and none", res.Acked, res.Unacked, n)
	}
}

func clientConfig(endpoints ...string) client.Config {
	return client.Config{Endpoints: endpoints, APIKey: apiKey, AttemptTimeout: 500 * time.Millisecond,
		BackoffBase: time.Millisecond, BackoffMax: 20 * time.Millisecond, MaxRetryAfter: 50 * time.Millisecond}
}

func TestClientAgainstIngest(t *testing.T) {
	tests := []struct {
		name   string
		script []faultyingest.Fault
		// resent: the request after the first carries only the records at
		// these indices of the first (nil: all of them)
		resent   []int
		spilled  bool
		requests int // in all; default len(script)+1
	}{
		{name: "202 at once"},
		{name: "429 from the WAF", script: []faultyingest.Fault{faultyingest.TooMany}},
		{name: "the ALB's 503 page", script: []faultyingest.Fault{faultyingest.ALBPage}},
		{name: "500 then 502", script: []faultyingest.Fault{faultyingest.Status500, faultyingest.Status502}},
		{name: "ingest's partial 503: only the failed records again", script: []faultyingest.Fault{faultyingest.Partial}, resent: []int{1, 3, 5, 7, 9, 11}},
		{name: "ingest's partial 503 twice", script: []faultyingest.Fault{faultyingest.Partial, faultyingest.Partial}, resent: []int{1, 3, 5, 7, 9, 11}},
		{name: "ingest's 503, nothing stored", script: []faultyingest.Fault{faultyingest.StorageDown, faultyingest.StorageDown}},
		{name: "Kinesis down: spilled, 202", script: []faultyingest.Fault{faultyingest.Spill}, spilled: true, requests: 1},
		{name: "connection reset", script: []faultyingest.Fault{faultyingest.Reset}},
		{name: "answer lost after storing: a copy under the same ids", script: []faultyingest.Fault{faultyingest.Lost}},
		{name: "hang", script: []faultyingest.Fault{faultyingest.Hang}},
		{name: "everything at once", script: []faultyingest.Fault{faultyingest.Partial, faultyingest.TooMany, faultyingest.Reset, faultyingest.Status502, faultyingest.Partial, faultyingest.Lost, faultyingest.Hang, faultyingest.Spill}, spilled: true, requests: 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, mode := range []string{"Send", "Add"} {
				t.Run(mode, func(t *testing.T) {
					r := newRegion(t, "us-east-1", 0)
					r.Set(slices.Clone(tt.script), faultyingest.Pass)
					var mu sync.Mutex
					var batches []client.BatchEvent
					cfg := clientConfig(r.URL())
					cfg.FlushInterval = time.Hour
					cfg.Hooks.Batch = func(e client.BatchEvent) { mu.Lock(); batches = append(batches, e); mu.Unlock() }
					c, err := client.New(cfg)
					if err != nil {
						t.Fatal(err)
					}
					recs := testRecords("order", 12)
					var res client.Result
					switch mode {
					case "Send":
						if res, err = c.Send(t.Context(), recs); err != nil {
							t.Fatalf("Send: %v", err)
						}
					case "Add":
						for i := range recs {
							if recs[i].ID, err = c.Add(t.Context(), recs[i]); err != nil {
								t.Fatal(err)
							}
						}
						if err := c.Close(t.Context()); err != nil {
							t.Fatalf("Close: %v", err)
						}
						mu.Lock()
						if len(batches) != 1 {
							t.Fatalf("got %d batch events, want 1", len(batches))
						}
						res = batches[0].Result
						mu.Unlock()
					}
					checkAcked(t, len(recs), res)
					checkStored(t, recs, faultyingest.Stores(r))
					reqs := r.Requests()
					if want := cmp.Or(tt.requests, len(tt.script)+1); len(reqs) != want || res.Requests != want {
						t.Errorf("requests: got %d (the client says %d), want %d", len(reqs), res.Requests, want)
					}
					if tt.resent != nil && len(reqs) > 1 {
						var want []string
						for _, i := range tt.resent {
							want = append(want, reqs[0][i])
						}
						if !slices.Equal(reqs[1], want) {
							t.Errorf("request 1 carried %v, want the failed ones %v", reqs[1], want)
						}
					}
					// Every attempt carried the records' ids, no other.
					for k, ids := range reqs {
						for _, id := range ids {
							if !slices.Contains(res.IDs, id) {
								t.Errorf("request %d carried id %s, not a record's", k, id)
							}
						}
					}
					if spilled := res.Spilled > 0; spilled != tt.spilled {
						t.Errorf("spilled %d, want spilled: %v", res.Spilled, tt.spilled)
					}
				})
			}
		})
	}
}

// TestClientFailover: region A failing (5xx from its front, or refusing
// connections) sends the client to region B; after the cool-down it goes
// back to A, which works again.
func TestClientFailover(t *testing.T) {
	for _, tt := range []struct {
		name string
		fail func(a *faultyingest.Region)
	}{
		{"5xx", func(a *faultyingest.Region) { a.Set(nil, faultyingest.Status502) }},
		{"ingest's 503", func(a *faultyingest.Region) { a.Set(nil, faultyingest.StorageDown) }},
		{"hangs", func(a *faultyingest.Region) { a.Set(nil, faultyingest.Hang) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, b := newRegion(t, "us-east-1", 0), newRegion(t, "us-west-2", 0)
			tt.fail(a)
			var mu sync.Mutex
			var moves []client.FailoverEvent
			cfg := clientConfig(a.URL(), b.URL())
			cfg.Cooldown = 500 * time.Millisecond
			cfg.Hooks.Failover = func(e client.FailoverEvent) { mu.Lock(); moves = append(moves, e); mu.Unlock() }
			c, err := client.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			first := testRecords("first", 8)
			res, err := c.Send(t.Context(), first)
			if err != nil {
				t.Fatal(err)
			}
			checkAcked(t, len(first), res)
			if got := faultyingest.Stores(b); len(got) != len(first) {
				t.Errorf("region B stored %d, want all %d after the failover", len(got), len(first))
			}
			for _, ack := range res.Acks {
				if got := ack.Header.Get("X-Twinstream-Region"); got != "us-west-2" || ack.Endpoint != b.URL() {
					t.Errorf("acknowledged by %s (%s), want region B", got, ack.Endpoint)
				}
			}
			// A works again; after the cool-down the client returns to it.
			a.Set(nil, faultyingest.Pass)
			time.Sleep(cfg.Cooldown)
			second := testRecords("second", 8)
			res, err = c.Send(t.Context(), second)
			if err != nil {
				t.Fatal(err)
			}
			checkAcked(t, len(second), res)
			for _, ack := range res.Acks {
				if ack.Endpoint != a.URL() {
					t.Errorf("after the cool-down acknowledged by %s, want region A", ack.Endpoint)
				}
			}
			checkStored(t, append(first, second...), faultyingest.Stores(a, b))
			mu.Lock()
			defer mu.Unlock()
			if len(moves) != 2 || moves[0].To != b.URL() || moves[1].Reason != "cool-down" || moves[1].To != a.URL() {
				t.Errorf("failovers: got %+v, want to B, then back to A after the cool-down", moves)
			}
		})
	}
}

// TestClientLimits: requests the client builds are within every limit the
// real ingest enforces (no 400, 413): MAX_RECORDS, the body limit counted
// on the exact bytes, gzip's decompressed limit, and the answer-size rule
// with long ids that need escaping.
func TestClientLimits(t *testing.T) {
	big := func(n, size int) []client.Record {
		recs := make([]client.Record, n)
		for i := range recs {
			recs[i].Data = json.RawMessage(fmt.Sprintf(`{"i":%d,"s":"%s"}`, i, strings.Repeat(`\"`, size/2)))
		}
		return recs
	}
	longIDs := func(n int) []client.Record {
		recs := make([]client.Record, n)
		for i := range recs {
			// 256 bytes, each '"' escaped twice in the answer: 4 bytes.
			recs[i].ID = fmt.Sprintf("%s%06d", strings.Repeat(`"`, 250), i)
			recs[i].Data = json.RawMessage(`1`)
		}
		return recs
	}
	// Two records whose body, {"records":[{"id":"a","data":"…"},{"id":"b","data":"…"}]},
	// takes exactly size bytes: 55 bytes besides the strings' contents,
	// half of them escaped quotes (\", 2 bytes each).
	exactly := func(size int) []client.Record {
		k1 := 500_000
		k2 := size - 55 - k1
		return []client.Record{
			{ID: "a", Data: json.RawMessage(`"` + strings.Repeat(`\"`, k1/2) + `"`)},
			{ID: "b", Data: json.RawMessage(`"` + strings.Repeat("y", k2) + `"`)},
		}
	}
	tests := []struct {
		name       string
		maxRecords int // server and client
		gzip       bool
		recs       []client.Record
		minReqs    int
		first      int // records in the first request, when it says how full requests are
	}{
		{"MAX_RECORDS 50", 50, false, testRecords("order", 120), 3, 50},
		{"bodies near 1,000,000 bytes, escapes counted", 500, false, big(40, 99_000), 4, 0},
		{"a body of exactly 1,000,000 bytes: one request", 500, false, exactly(1_000_000), 1, 2},
		{"1,000,001 bytes: two", 500, false, exactly(1_000_001), 2, 1},
		{"gzip: 5 MiB decompressed", 500, true, big(100, 99_000), 2, 0},
		// 984 ids of 250 '"' and 6 digits fill ingest's answer bound:
		// 1024 + 984*1012 + the indices' digits (2,839) = 999,674 bytes.
		{"answer limit with MAX_RECORDS 5000", 5000, false, longIDs(2500), 3, 984},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRegion(t, "us-east-1", tt.maxRecords)
			cfg := clientConfig(r.URL())
			cfg.MaxRecords, cfg.Gzip = tt.maxRecords, tt.gzip
			// Generous: under -race on a busy 2-core machine ingest took
			// over 10 s to decode 5 MiB, the client timed out and
			// retried (correctly) and "only 202s" failed.
			cfg.AttemptTimeout = 2 * time.Minute
			var mu sync.Mutex
			statuses := map[int]int{}
			cfg.Hooks.Request = func(e client.RequestEvent) { mu.Lock(); statuses[e.Status]++; mu.Unlock() }
			c, err := client.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Send(t.Context(), tt.recs)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			checkAcked(t, len(tt.recs), res)
			checkStored(t, tt.recs, faultyingest.Stores(r))
			mu.Lock()
			defer mu.Unlock()
			if statuses[202] != res.Requests || res.Requests < tt.minReqs {
				t.Errorf("answers %v in %d requests, want only 202s, at least %d requests", statuses, res.Requests, tt.minReqs)
			}
			if reqs := r.Requests(); tt.first > 0 && len(reqs[0]) != tt.first {
				t.Errorf("first request: %d records, want %d", len(reqs[0]), tt.first)
			}
		})
	}
}

// TestLoadAgainstIngest: client/load's counts and ids match what ingest
// stored, through partial 503s, lost answers and spills.
func TestLoadAgainstIngest(t *testing.T) {
	r := newRegion(t, "us-east-1", 0)
	script := make([]faultyingest.Fault, 60)
	for i := range script {
		script[i] = []faultyingest.Fault{faultyingest.Pass, faultyingest.Partial, faultyingest.Pass, faultyingest.Lost, faultyingest.Spill, faultyingest.TooMany}[i%6]
	}
	r.Set(script, faultyingest.Pass)
	rep, err := load.Run(t.Context(), load.Config{Client: clientConfig(r.URL()), Count: 3000, BatchSize: 70, Concurrency: 4, RecordSize: 300})
	if err != nil {
		t.Fatal(err)
	}
	stored := faultyingest.Stores(r)
	if rep.Sent != 3000 || rep.Accepted != 3000 || rep.Failed != 0 || len(rep.IDs) != 3000 || len(stored) != 3000 {
		t.Fatalf("sent %d, accepted %d, failed %d, %d ids; stored %d: want 3000 each and none failed", rep.Sent, rep.Accepted, rep.Failed, len(rep.IDs), len(stored))
	}
	for _, id := range rep.IDs {
		envs, ok := stored[id]
		if !ok {
			t.Fatalf("id %s acknowledged, not stored", id)
		}
		if len(envs[0].Data) != 300 {
			t.Errorf("id %s: %d bytes of data, want 300", id, len(envs[0].Data))
		}
	}
	_, spilled, _ := r.Snapshot()
	if rep.Spilled != spilled {
		t.Errorf("spilled: got %d, want the %d records in spill objects", rep.Spilled, spilled)
	}
	if rep.Spilled == 0 || rep.Retries == 0 || rep.Statuses[503] == 0 || rep.Statuses[429] == 0 || rep.Statuses[0] == 0 {
		t.Errorf("report %v: want spills, retries, 503s, 429s and lost answers", rep)
	}
	t.Logf("%v", rep)
}
