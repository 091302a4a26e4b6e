// Package client_test runs the producer client (module client) against the
// real ingest handler (lambdas/ingest/ingest) behind an HTTP server on
// 127.0.0.1, with fakes of Kinesis, S3 and Secrets Manager, and a
// middleware that fails on purpose: 429s, 5xx, ingest's own partial 503
// (Kinesis and the spill bucket failing for some records), dropped
// connections, lost answers and hangs.
package client_test

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/twinstream/twinstream/client"
	"github.com/twinstream/twinstream/client/load"
	"github.com/twinstream/twinstream/lambdas/ingest/ingest"
	"github.com/twinstream/twinstream/lambdas/record"
	"github.com/twinstream/twinstream/lambdas/stream"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	os.Exit(m.Run())
}

const (
	apiKey   = "ts-e2e-client-key"
	producer = "team-e2e"
)

// fault is what the middleware does with one request.
type fault string

const (
	pass        fault = ""        // to ingest
	tooMany     fault = "429"     // the WAF's 429, Retry-After: 1
	albPage     fault = "503-alb" // the ALB's own 503 page, not JSON
	status500   fault = "500"     // a 5xx without an ingest answer
	status502   fault = "502"     // the ALB: the function failed
	partial     fault = "partial" // to ingest, whose Kinesis fails the odd records and whose spill bucket fails: ingest's partial 503
	spill       fault = "spill"   // to ingest, whose Kinesis fails every record: it spills (202, spilled)
	storageDown fault = "storage" // to ingest, whose Kinesis and spill bucket fail: 503, nothing stored
	reset       fault = "reset"   // the connection is reset before ingest sees the request
	lost        fault = "lost"    // ingest stores the records, then the connection is closed: the answer is lost
	hang        fault = "hang"    // no answer until the client gives up the attempt
)

type faultKey struct{}

// region is one ingest behind a failing middleware, with its stores.
type region struct {
	t    *testing.T
	name string
	h    *ingest.Handler
	srv  *httptest.Server

	mu       sync.Mutex
	script   []fault
	always   fault      // after the script; pass by default
	requests [][]string // ids of each request that reached the middleware, decoded
	stored   map[string][]record.Envelope
	spilled  int // envelopes in spill objects
}

func newRegion(t *testing.T, name string, maxRecords int) *region {
	t.Helper()
	r := &region{t: t, name: name, stored: map[string][]record.Envelope{}}
	sum := sha256.Sum256([]byte(apiKey))
	secret := fmt.Sprintf(`{"keys":[{"id":%q,"sha256":%q}]}`, producer, hex.EncodeToString(sum[:]))
	h, err := ingest.New(ingest.Config{Region: name, SpillBucket: "spill", KeysSecretARN: "arn:keys", MaxRecords: maxRecords, BreakerAfter: -1},
		ingest.Deps{
			Kinesis: ingest.PutFunc(r.put),
			S3:      ingest.PutObjectFunc(r.putObject),
			Secrets: ingest.GetSecretValueFunc(func(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
				return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(secret)}, nil
			}),
		})
	if err != nil {
		t.Fatal(err)
	}
	r.h = h
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *region) url() string { return r.srv.URL + ingest.Path }

func (r *region) keep(envs ...record.Envelope) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range envs {
		r.stored[e.ID] = append(r.stored[e.ID], e)
	}
}

// put is Kinesis: it takes the entries, or fails some as the request's
// fault says.
func (r *region) put(ctx context.Context, entries []stream.Entry) stream.Result {
	f, _ := ctx.Value(faultKey{}).(fault)
	var res stream.Result
	res.Calls = 1
	for i, e := range entries {
		if f == spill || f == storageDown || (f == partial && i%2 == 1) {
			res.Failed = append(res.Failed, i)
			continue
		}
		env, err := record.Decode(e.Data)
		if err != nil {
			r.t.Errorf("kinesis got an invalid envelope: %v", err)
		}
		r.keep(env)
	}
	if len(res.Failed) > 0 {
		res.Faults, res.Err = 1, errors.New("kinesis: connection refused")
	}
	return res
}

// putObject is the spill bucket.
func (r *region) putObject(ctx context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if f, _ := ctx.Value(faultKey{}).(fault); f == partial || f == storageDown {
		return nil, errors.New("s3: service unavailable")
	}
	sc := bufio.NewScanner(in.Body)
	sc.Buffer(nil, 2<<20)
	for sc.Scan() {
		env, err := record.Decode(sc.Bytes())
		if err != nil {
			r.t.Errorf("spill object with an invalid envelope: %v", err)
		}
		r.keep(env)
		r.mu.Lock()
		r.spilled++
		r.mu.Unlock()
	}
	return &s3.PutObjectOutput{}, sc.Err()
}

// serve is the failing middleware in front of ingest.
func (r *region) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return
	}
	r.mu.Lock()
	f := r.always
	if len(r.script) > 0 {
		f, r.script = r.script[0], r.script[1:]
	}
	r.requests = append(r.requests, requestIDs(r.t, req.Header, body))
	r.mu.Unlock()
	req.Body = io.NopCloser(bytes.NewReader(body))
	req = req.WithContext(context.WithValue(req.Context(), faultKey{}, f))
	w.Header().Set("X-Twinstream-Region", r.name)
	switch f {
	case tooMany:
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
	case albPage:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "<html><body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>")
	case status500:
		w.WriteHeader(http.StatusInternalServerError)
	case status502:
		w.WriteHeader(http.StatusBadGateway)
	case reset, lost:
		if f == lost {
			r.h.ServeHTTP(httptest.NewRecorder(), req)
		}
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		conn.Close()
	case hang:
		<-req.Context().Done()
	default:
		r.h.ServeHTTP(w, req)
	}
}

// requestIDs reads the ids of a request as ingest would (gzip undone).
func requestIDs(t *testing.T, h http.Header, body []byte) []string {
	if h.Get("Content-Encoding") == "gzip" {
		zr, err := gzipReader(body)
		if err != nil {
			t.Errorf("gzip body: %v", err)
			return nil
		}
		body = zr
	}
	var req struct {
		Records []struct {
			ID string `json:"id"`
		} `json:"records"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Errorf("request body: %v", err)
	}
	ids := make([]string, len(req.Records))
	for i, rec := range req.Records {
		ids[i] = rec.ID
	}
	return ids
}

func (r *region) set(script []fault, always fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.script, r.always = script, always
}

func (r *region) seen() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
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

// stores merges the regions' stores.
func stores(rs ...*region) map[string][]record.Envelope {
	all := map[string][]record.Envelope{}
	for _, r := range rs {
		r.mu.Lock()
		for id, envs := range r.stored {
			all[id] = append(all[id], envs...)
		}
		r.mu.Unlock()
	}
	return all
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
		script []fault
		// resent: the request after the first carries only the records at
		// these indices of the first (nil: all of them)
		resent   []int
		spilled  bool
		requests int // in all; default len(script)+1
	}{
		{name: "202 at once"},
		{name: "429 from the WAF", script: []fault{tooMany}},
		{name: "the ALB's 503 page", script: []fault{albPage}},
		{name: "500 then 502", script: []fault{status500, status502}},
		{name: "ingest's partial 503: only the failed records again", script: []fault{partial}, resent: []int{1, 3, 5, 7, 9, 11}},
		{name: "ingest's partial 503 twice", script: []fault{partial, partial}, resent: []int{1, 3, 5, 7, 9, 11}},
		{name: "ingest's 503, nothing stored", script: []fault{storageDown, storageDown}},
		{name: "Kinesis down: spilled, 202", script: []fault{spill}, spilled: true, requests: 1},
		{name: "connection reset", script: []fault{reset}},
		{name: "answer lost after storing: a copy under the same ids", script: []fault{lost}},
		{name: "hang", script: []fault{hang}},
		{name: "everything at once", script: []fault{partial, tooMany, reset, status502, partial, lost, hang, spill}, spilled: true, requests: 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, mode := range []string{"Send", "Add"} {
				t.Run(mode, func(t *testing.T) {
					r := newRegion(t, "us-east-1", 0)
					r.set(slices.Clone(tt.script), pass)
					var mu sync.Mutex
					var batches []client.BatchEvent
					cfg := clientConfig(r.url())
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
					checkStored(t, recs, stores(r))
					reqs := r.seen()
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
		fail func(a *region)
	}{
		{"5xx", func(a *region) { a.set(nil, status502) }},
		{"ingest's 503", func(a *region) { a.set(nil, storageDown) }},
		{"hangs", func(a *region) { a.set(nil, hang) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, b := newRegion(t, "us-east-1", 0), newRegion(t, "us-west-2", 0)
			tt.fail(a)
			var mu sync.Mutex
			var moves []client.FailoverEvent
			cfg := clientConfig(a.url(), b.url())
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
			if got := stores(b); len(got) != len(first) {
				t.Errorf("region B stored %d, want all %d after the failover", len(got), len(first))
			}
			for _, ack := range res.Acks {
				if got := ack.Header.Get("X-Twinstream-Region"); got != "us-west-2" || ack.Endpoint != b.url() {
					t.Errorf("acknowledged by %s (%s), want region B", got, ack.Endpoint)
				}
			}
			// A works again; after the cool-down the client returns to it.
			a.set(nil, pass)
			time.Sleep(cfg.Cooldown)
			second := testRecords("second", 8)
			res, err = c.Send(t.Context(), second)
			if err != nil {
				t.Fatal(err)
			}
			checkAcked(t, len(second), res)
			for _, ack := range res.Acks {
				if ack.Endpoint != a.url() {
					t.Errorf("after the cool-down acknowledged by %s, want region A", ack.Endpoint)
				}
			}
			checkStored(t, append(first, second...), stores(a, b))
			mu.Lock()
			defer mu.Unlock()
			if len(moves) != 2 || moves[0].To != b.url() || moves[1].Reason != "cool-down" || moves[1].To != a.url() {
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
			cfg := clientConfig(r.url())
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
			checkStored(t, tt.recs, stores(r))
			mu.Lock()
			defer mu.Unlock()
			if statuses[202] != res.Requests || res.Requests < tt.minReqs {
				t.Errorf("answers %v in %d requests, want only 202s, at least %d requests", statuses, res.Requests, tt.minReqs)
			}
			if reqs := r.seen(); tt.first > 0 && len(reqs[0]) != tt.first {
				t.Errorf("first request: %d records, want %d", len(reqs[0]), tt.first)
			}
		})
	}
}

func gzipReader(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// TestLoadAgainstIngest: client/load's counts and ids match what ingest
// stored, through partial 503s, lost answers and spills.
func TestLoadAgainstIngest(t *testing.T) {
	r := newRegion(t, "us-east-1", 0)
	script := make([]fault, 60)
	for i := range script {
		script[i] = []fault{pass, partial, pass, lost, spill, tooMany}[i%6]
	}
	r.set(script, pass)
	rep, err := load.Run(t.Context(), load.Config{Client: clientConfig(r.url()), Count: 3000, BatchSize: 70, Concurrency: 4, RecordSize: 300})
	if err != nil {
		t.Fatal(err)
	}
	stored := stores(r)
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
	r.mu.Lock()
	spilled := r.spilled
	r.mu.Unlock()
	if rep.Spilled != spilled {
		t.Errorf("spilled: got %d, want the %d records in spill objects", rep.Spilled, spilled)
	}
	if rep.Spilled == 0 || rep.Retries == 0 || rep.Statuses[503] == 0 || rep.Statuses[429] == 0 || rep.Statuses[0] == 0 {
		t.Errorf("report %v: want spills, retries, 503s, 429s and lost answers", rep)
	}
	t.Logf("%v", rep)
}
