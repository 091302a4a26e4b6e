package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twinstream/twinstream/client/load"
	"github.com/twinstream/twinstream/cmd/twinstream/awsfake"
	"github.com/twinstream/twinstream/cmd/twinstream/cli"
	"github.com/twinstream/twinstream/cmd/twinstream/pipeline"
	"github.com/twinstream/twinstream/cmd/twinstream/send"
)

const testKey = "tsk_unit-test-key-0123456789"

// ingest fakes ingest's protocol: it checks the key, stores records by id
// and answers 202 with their ids, or status when set (after delay).
type ingest struct {
	srv    *httptest.Server
	status int
	delay  time.Duration

	mu       sync.Mutex
	requests int
	stored   map[string]int // id -> times stored
	bodies   []int          // body sizes
}

func newIngest(t *testing.T) *ingest {
	t.Helper()
	in := &ingest{stored: map[string]int{}}
	in.srv = httptest.NewServer(in)
	t.Cleanup(in.srv.Close)
	return in
}

func (in *ingest) url() string { return in.srv.URL + "/v1/records" }

func (in *ingest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	in.mu.Lock()
	in.requests++
	status := in.status
	in.mu.Unlock()
	time.Sleep(in.delay)
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path != "/v1/records":
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":"not found"}`)
		return
	case r.Header.Get("Authorization") != "Bearer "+testKey:
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"missing or unknown API key"}`)
		return
	case status != 0:
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":"failing on purpose"}`)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1_000_000)
	var req struct {
		Records []struct {
			ID           string          `json:"id"`
			PartitionKey string          `json:"partitionKey"`
			Data         json.RawMessage `json:"data"`
		} `json:"records"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		fmt.Fprintf(w, `{"error":%q}`, err.Error())
		return
	}
	ids := make([]string, len(req.Records))
	in.mu.Lock()
	in.bodies = append(in.bodies, int(r.ContentLength))
	for i, rec := range req.Records {
		ids[i] = rec.ID
		in.stored[rec.ID]++
	}
	in.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(map[string]any{"accepted": len(ids), "spilled": 0, "ids": ids})
}

func (in *ingest) fail(status int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.status = status
}

func (in *ingest) counts() (requests int, stored map[string]int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	stored = map[string]int{}
	for k, v := range in.stored {
		stored[k] = v
	}
	return in.requests, stored
}

// keyed is an environment with the key in $TWINSTREAM_API_KEY.
var keyed = map[string]string{"TWINSTREAM_API_KEY": testKey}

// runSend runs `send` with no AWS (a test reaching it fails).
func runSend(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	noAWS := func(context.Context, string) (cli.Clients, error) {
		t.Error("send with --url asked for AWS clients")
		return nil, fmt.Errorf("no AWS in this test")
	}
	r := runWith(t, env, noAWS, append([]string{"send"}, args...)...)
	if strings.Contains(r.stdout+r.stderr, testKey) {
		t.Errorf("the API key is in the output:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	return r
}

// TestSendUsage: hostile command lines get a usage error naming the
// problem, and nothing is sent.
func TestSendUsage(t *testing.T) {
	in := newIngest(t)
	u := in.url()
	long := strings.Repeat("k", 257)
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no key", nil, []string{"--url", u}, "no API key: set TWINSTREAM_API_KEY (or pass --key)"},
		{"empty --key", keyed, []string{"--url", u, "--key", ""}, "no API key"},
		{"key with a newline", map[string]string{"TWINSTREAM_API_KEY": testKey + "\n"}, []string{"--url", u}, "the API key holds a space, a control character (a pasted newline?)"},
		{"key too long", map[string]string{"TWINSTREAM_API_KEY": strings.Repeat("k", 2000)}, []string{"--url", u}, "the API key is 2000 bytes long: want at most 1024"},
		{"no scheme", keyed, []string{"--url", "ingest.example.com/v1/records"}, `URL "ingest.example.com/v1/records": want an http:// or https:// URL`},
		{"host:port", keyed, []string{"--url", "localhost:8080"}, `URL "localhost:8080": want an http:// or https:// URL`},
		{"ftp", keyed, []string{"--url", "ftp://ingest.example.com/v1/records"}, `URL "ftp://ingest.example.com/v1/records": want an http:// or https:// URL`},
		{"no host", keyed, []string{"--url", "https:///v1/records"}, `URL "https:///v1/records" has no host`},
		{"bad port", keyed, []string{"--url", "http://127.0.0.1:99999999999/v1/records"}, `URL "http://127.0.0.1:99999999999/v1/records": port 99999999999: want 1 to 65535`},
		{"port 0", keyed, []string{"--url", "http://127.0.0.1:0/v1/records"}, `port 0: want 1 to 65535`},
		{"password in the URL", keyed, []string{"--url", "https://user:s3cret@ingest.example.com/v1/records"}, `URL "https://user:xxxxx@ingest.example.com/v1/records" holds a user name or password`},
		{"empty URL in a list", keyed, []string{"--url", u + ",,"}, "empty URL"},
		{"a URL twice", keyed, []string{"--url", u + "," + u}, "given twice"},
		{"a URL twice, once without its path", keyed, []string{"--url", in.srv.URL + "/", "--url", u}, `--url "` + u + `" given twice`},
		{"negative rate", keyed, []string{"--url", u, "--rate", "-5"}, "--rate -5: want 0 (as fast as possible) to 1000000 records/s"},
		{"NaN rate", keyed, []string{"--url", u, "--rate", "NaN"}, "--rate NaN: want 0"},
		{"absurd rate", keyed, []string{"--url", u, "--rate", "1e9"}, "--rate 1e+09: want 0"},
		{"negative count", keyed, []string{"--url", u, "--count", "-1"}, "--count -1: want 0 (no bound) or more"},
		{"count not a number", keyed, []string{"--url", u, "--count", "lots"}, `invalid value "lots" for flag -count`},
		{"count overflows", keyed, []string{"--url", u, "--count", "99999999999999999999"}, `invalid value "99999999999999999999" for flag -count`},
		{"negative duration", keyed, []string{"--url", u, "--duration", "-1s"}, "--duration -1s: want 0 (no bound) or more"},
		{"size 0", keyed, []string{"--url", u, "--size", "0"}, "--size 0: want 18 to 999943 bytes"},
		{"size below the smallest record", keyed, []string{"--url", u, "--size", "17"}, "--size 17: want 18 to 999943"},
		{"size beyond the body limit", keyed, []string{"--url", u, "--size", "999944"}, "--size 999944: want 18 to 999943 bytes (a request holding one record alone must fit ingest's 1000000-byte body limit)"},
		{"size beyond it with an id prefix", keyed, []string{"--url", u, "--size", "999960", "--id-prefix", "smoke-", "--count", "1000"}, "--size 999960: want 18 to 999959 bytes"},
		{"size beyond it with a partition key", keyed, []string{"--url", u, "--size", "999943", "--partition-key", `a"b`}, "--size 999943: want 18 to 999921 bytes"},
		{"batch 0", keyed, []string{"--url", u, "--batch", "0"}, "--batch 0: want 1 to 10000 records"},
		{"batch absurd", keyed, []string{"--url", u, "--batch", "1000000"}, "--batch 1000000: want 1 to 10000"},
		{"concurrency 0", keyed, []string{"--url", u, "--concurrency", "0"}, "--concurrency 0: want 1 to 1024"},
		{"concurrency absurd", keyed, []string{"--url", u, "--concurrency", "100000"}, "--concurrency 100000: want 1 to 1024"},
		{"too much in flight", keyed, []string{"--url", u, "--batch", "10000", "--size", "900000", "--concurrency", "2"}, "holds 17166 MiB of records at once: want at most 1024 MiB"},
		{"partition key with a control character", keyed, []string{"--url", u, "--partition-key", "a\x01"}, "--partition-key: want 1-256 characters of printable UTF-8"},
		{"partition key too long", keyed, []string{"--url", u, "--partition-key", long}, "--partition-key: want 1-256"},
		{"partition key not UTF-8", keyed, []string{"--url", u, "--partition-key", "\xff"}, "--partition-key: want 1-256"},
		{"id prefix too long", keyed, []string{"--url", u, "--id-prefix", long[:238]}, "--id-prefix: want 1-237 bytes of printable UTF-8"},
		{"id prefix with a newline", keyed, []string{"--url", u, "--id-prefix", "a\n"}, "--id-prefix: want 1-237"},
		{"max-elapsed 0", keyed, []string{"--url", u, "--max-elapsed", "0"}, "--max-elapsed 0s: want more than 0"},
		{"quiet and progress", keyed, []string{"--url", u, "--quiet", "--progress"}, "--quiet and --progress: give one of them"},
		{"an argument", keyed, []string{"--url", u, "now"}, `unexpected argument "now"`},
		{"unknown flag", keyed, []string{"--url", u, "--records", "5"}, "flag provided but not defined: -records"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runSend(t, tc.env, tc.args...)
			r.want(t, cli.ExitUsage, nil, []string{tc.want})
			if r.stdout != "" {
				t.Errorf("stdout: got %q, want nothing", r.stdout)
			}
		})
	}
	if n, _ := in.counts(); n != 0 {
		t.Errorf("ingest got %d requests from bad command lines, want 0", n)
	}
	// The password given in a URL is not shown either.
	r := runSend(t, keyed, "--url", "https://user:s3cret@ingest.example.com/")
	if strings.Contains(r.stderr, "s3cret") {
		t.Errorf("stderr shows the URL's password: %s", r.stderr)
	}
}

// summary parses `send --json`.
func summary(t *testing.T, r result) send.Summary {
	t.Helper()
	var s send.Summary
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("send --json: %v\nstdout:\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
	}
	return s
}

func TestSendCounts(t *testing.T) {
	in := newIngest(t)
	ids := filepath.Join(t.TempDir(), "ids")
	r := runSend(t, keyed, "--url", in.url(), "--count", "250", "--batch", "40", "--concurrency", "3", "--size", "64", "--id-prefix", "t-", "--ids", ids, "--json")
	r.want(t, cli.ExitOK, nil, nil)
	s := summary(t, r)
	requests, stored := in.counts()
	if s.Sent != 250 || s.Acknowledged != 250 || s.Failed != 0 || s.Batches != 7 || s.Requests != requests || s.Statuses[202] != requests {
		t.Errorf("summary: got %+v, want 250 sent and acknowledged in 7 batches, %d requests", s, requests)
	}
	if s.Latency.Request.N != requests || s.Latency.Batch.N != 7 || s.Latency.Request.P50 <= 0 || s.Latency.Request.P99 < s.Latency.Request.P50 {
		t.Errorf("latency: got %+v", s.Latency)
	}
	if s.Rate <= 0 || s.ElapsedSeconds <= 0 || s.RecordBytes != 64 {
		t.Errorf("rate %v over %vs, record bytes %d", s.Rate, s.ElapsedSeconds, s.RecordBytes)
	}
	b, err := os.ReadFile(ids)
	if err != nil {
		t.Fatal(err)
	}
	acked := strings.Fields(string(b))
	if len(acked) != 250 || len(stored) != 250 {
		t.Fatalf("--ids lists %d ids, ingest stored %d, want 250 each", len(acked), len(stored))
	}
	for _, id := range acked {
		if stored[id] != 1 {
			t.Errorf("id %s stored %d times, want once", id, stored[id])
		}
	}
	for i := 1; i <= 250; i++ {
		if id := "t-" + strconv.Itoa(i); stored[id] != 1 {
			t.Errorf("id %s stored %d times, want once", id, stored[id])
		}
	}
	if r.stderr != "" {
		t.Errorf("stderr not a terminal, no --progress: got %q, want nothing", r.stderr)
	}

	// --url repeated and comma-separated: endpoints in the order given.
	b1, b2 := newIngest(t), newIngest(t)
	s = summary(t, runSend(t, keyed, "--url", in.url()+", "+b1.url(), "--url", b2.srv.URL, "--count", "1", "--json"))
	if want := []string{in.url(), b1.url(), b2.srv.URL + "/v1/records"}; !slices.Equal(s.Endpoints, want) {
		t.Errorf("endpoints: got %v, want %v", s.Endpoints, want)
	}

	// The text summary.
	r = runSend(t, keyed, "--url", in.url(), "--count", "30", "--batch", "10")
	r.want(t, cli.ExitOK, []string{"endpoints     " + in.url(), "sent          30 records of 100 bytes in 3 batches", "acknowledged  30 (spilled 0)",
		"failed        0", "requests      3: 3 × 202 Accepted", "retries       0", "records/s acknowledged over", "latency       per request p50 ", "per batch   p50 "}, nil)
}

// TestSendBounds: --duration alone has no count; --rate paces.
func TestSendBounds(t *testing.T) {
	in := newIngest(t)
	start := time.Now()
	s := summary(t, runSend(t, keyed, "--url", in.url(), "--duration", "600ms", "--rate", "200", "--batch", "10", "--json"))
	took := time.Since(start)
	// 200/s for 0.6s: about 120 records, more than the default count.
	if s.Sent < 60 || s.Sent > 160 || s.Acknowledged != s.Sent || took < 500*time.Millisecond {
		t.Errorf("--duration 600ms --rate 200: sent %d, acknowledged %d in %v; want about 120, all acknowledged", s.Sent, s.Acknowledged, took)
	}
	if s := summary(t, runSend(t, keyed, "--url", in.url(), "--json")); s.Sent != 100 || s.Acknowledged != 100 {
		t.Errorf("defaults: sent %d, acknowledged %d, want 100", s.Sent, s.Acknowledged)
	}
}

// TestSendSizeLimit: the largest --size accepted is one the client and
// ingest's body limit take.
func TestSendSizeLimit(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--id-prefix", "big-"},
		{"--partition-key", `quote"back\slash`},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			in := newIngest(t)
			o := send.Options{Count: 2, IDPrefix: "", PartitionKey: ""}
			if len(args) > 0 && args[0] == "--id-prefix" {
				o.IDPrefix = args[1]
			}
			if len(args) > 0 && args[0] == "--partition-key" {
				o.PartitionKey = args[1]
			}
			most := o.MaxSize()
			args = append(args, "--url", in.url(), "--count", "2", "--batch", "1", "--json", "--size")
			s := summary(t, runSend(t, keyed, append(args, strconv.Itoa(most))...))
			if s.Acknowledged != 2 {
				t.Errorf("--size %d: acknowledged %d, want 2", most, s.Acknowledged)
			}
			in.mu.Lock()
			for _, n := range in.bodies {
				if n != 1_000_000 {
					t.Errorf("a request of %d bytes, want exactly 1000000 (the largest record)", n)
				}
			}
			in.mu.Unlock()
			runSend(t, keyed, append(args, strconv.Itoa(most+1))...).want(t, cli.ExitUsage, nil, []string{"--size " + strconv.Itoa(most+1)})
		})
	}
}

func TestSendKeyRefused(t *testing.T) {
	in := newIngest(t)
	wrong := map[string]string{"TWINSTREAM_API_KEY": "tsk_not-the-key"}
	r := runSend(t, wrong, "--url", in.url(), "--count", "50", "--batch", "10", "--concurrency", "1")
	r.want(t, cli.ExitFailure, []string{"sent          10 records", "acknowledged  0", "failed        10", "stopped       API key refused"},
		[]string{"twinstream: API key refused (401 Unauthorized from " + in.url() + "): ingest does not know the key from $TWINSTREAM_API_KEY, or it was revoked", "twinstream keys add NAME"})
	if strings.Contains(r.stdout+r.stderr, "tsk_not-the-key") {
		t.Errorf("the key is in the output")
	}
	// The first refusal stops the run: one batch, not five.
	if n, _ := in.counts(); n != 1 {
		t.Errorf("ingest got %d requests, want 1: the run stops at the refusal", n)
	}
	runSend(t, nil, "--url", in.url(), "--key", "tsk_not-the-key", "--count", "1").want(t, cli.ExitFailure, nil, []string{"the key from --key"})

	in.fail(http.StatusForbidden)
	runSend(t, keyed, "--url", in.url(), "--count", "1").want(t, cli.ExitFailure, nil, []string{"request forbidden (403 Forbidden from "})
	in.fail(http.StatusBadRequest)
	runSend(t, keyed, "--url", in.url(), "--count", "1").want(t, cli.ExitFailure, nil, []string{"ingest refused a request (400 Bad Request from ", "failing on purpose", "the run stopped"})
	in.fail(0)
	runSend(t, keyed, "--url", in.srv.URL+"/v2/records", "--count", "1").want(t, cli.ExitFailure, nil, []string{"not an ingest URL (404 Not Found from " + in.srv.URL + "/v2/records)"})
}

// TestSendNotAcknowledged: records retrying gave up on give exit status 4
// and are counted as failed with why.
func TestSendNotAcknowledged(t *testing.T) {
	in := newIngest(t)
	in.fail(http.StatusServiceUnavailable)
	r := runSend(t, keyed, "--url", in.url(), "--count", "20", "--batch", "10", "--max-elapsed", "300ms")
	r.want(t, cli.ExitAttention, []string{"acknowledged  0", "failed        20", "20: gave up; last: 503 Service Unavailable from " + in.url() + ": failing on purpose"},
		[]string{"twinstream: 20 of 20 records not acknowledged"})
	if n, _ := in.counts(); n < 4 {
		t.Errorf("ingest got %d requests, want retries", n)
	}
	// Each kind of failure retried is named once, as it first happens.
	if note := "retrying: 503 Service Unavailable from " + in.url() + "\n"; strings.Count(r.stderr, note) != 1 {
		t.Errorf("stderr: want %q once:\n%s", note, r.stderr)
	}

	// Nothing listens: the connection refused is named at once, not after
	// --max-elapsed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String() + "/v1/records"
	l.Close()
	r = runSend(t, keyed, "--url", dead, "--count", "5", "--max-elapsed", "300ms")
	r.want(t, cli.ExitAttention, []string{"failed        5", "5: gave up; last: dial tcp " + l.Addr().String() + ": connect: connection refused", "requests      "},
		[]string{"retrying: no answer from " + dead + ": dial tcp " + l.Addr().String() + ": connect: connection refused\n", "twinstream: 5 of 5 records not acknowledged"})
	if n := strings.Count(r.stderr, "retrying:"); n != 1 {
		t.Errorf("stderr: %d retry notes, want 1:\n%s", n, r.stderr)
	}
	// --quiet: none.
	r = runSend(t, keyed, "--url", dead, "--count", "5", "--max-elapsed", "100ms", "--quiet")
	if strings.Contains(r.stderr, "retrying") {
		t.Errorf("--quiet: stderr %q, want no retry notes", r.stderr)
	}
}

func TestSendProgress(t *testing.T) {
	in := newIngest(t)
	in.delay = 250 * time.Millisecond
	r := runSend(t, keyed, "--url", in.url(), "--count", "60", "--batch", "10", "--concurrency", "1", "--progress")
	r.want(t, cli.ExitOK, nil, []string{"in flight 10", "[####################] 100%  sent 60  acknowledged 60 (spilled 0)  failed 0"})
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) < 2 || strings.Contains(r.stderr, "\r") || strings.Contains(r.stderr, "\x1b") {
		t.Errorf("--progress off a terminal: want plain lines, a line a second and the last:\n%q", r.stderr)
	}
	for _, quiet := range [][]string{nil, {"--quiet"}} {
		in.delay = 0
		r := runSend(t, keyed, append([]string{"--url", in.url(), "--count", "10"}, quiet...)...)
		r.want(t, cli.ExitOK, []string{"acknowledged  10"}, nil)
		if r.stderr != "" {
			t.Errorf("%v: stderr %q, want nothing", quiet, r.stderr)
		}
	}
}

func TestProgressLine(t *testing.T) {
	for _, tc := range []struct {
		p    load.Progress
		want string
	}{
		{load.Progress{Sent: 50, Accepted: 40, Spilled: 2, Failed: 5, InFlight: 5, Count: 100, Elapsed: 2 * time.Second},
			"[#########...........]  45%  sent 50  acknowledged 40 (spilled 2)  failed 5  in flight 5  20/s  2.0s"},
		{load.Progress{Sent: 10, Accepted: 10, Retries: 3, Failovers: 1, Elapsed: 90 * time.Second},
			"sent 10  acknowledged 10 (spilled 0)  failed 0  retries 3  failovers 1  0/s  1m30s"},
		{load.Progress{Duration: 10 * time.Second, Elapsed: 5 * time.Second},
			"[##########..........]  50%  sent 0  acknowledged 0 (spilled 0)  failed 0  0/s  5.0s"},
	} {
		if got := send.Line(tc.p); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

// TestSendInterrupted: Ctrl-C (the context) stops sending; what was sent
// is waited for, acknowledged and summarized.
func TestSendInterrupted(t *testing.T) {
	in := newIngest(t)
	in.delay = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(400*time.Millisecond, cancel)
	var out, errb strings.Builder
	code := cli.Run(ctx, []string{"send", "--url", in.url(), "--count", "0", "--batch", "5", "--json", "--progress"}, cli.Env{Stdout: &out, Stderr: &errb, Dir: t.TempDir(),
		Getenv: func(k string) string { return keyed[k] }})
	var s send.Summary
	if err := json.Unmarshal([]byte(out.String()), &s); err != nil {
		t.Fatalf("exit %d: %v\n%s\n%s", code, err, out.String(), errb.String())
	}
	_, stored := in.counts()
	if code != cli.ExitOK || !s.Interrupted || s.Sent == 0 || s.Acknowledged != s.Sent || len(stored) != s.Sent {
		t.Errorf("interrupted: exit %d, %+v, stored %d; want 0, all sent acknowledged and stored", code, s, len(stored))
	}
	if !strings.Contains(errb.String(), "interrupted: the batches in flight get up to 10s to finish") {
		t.Errorf("stderr lacks the interruption note:\n%s", errb.String())
	}
}

// deployWithURLs deploys the golden templates with the global stack's
// ProducerUrl and FailoverUrl outputs set to urls (an empty one left out).
func deployWithURLs(t *testing.T, producer, failover string) *fakes {
	t.Helper()
	dir := t.TempDir()
	files, err := filepath.Glob(filepath.Join(awsfake.Golden(), "twinstream-*.template.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("golden templates: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, "-global.template.json") {
			var tpl map[string]any
			if err := json.Unmarshal(b, &tpl); err != nil {
				t.Fatal(err)
			}
			outs := tpl["Outputs"].(map[string]any)
			for name, v := range map[string]string{"ProducerUrl": producer, "FailoverUrl": failover} {
				if v == "" {
					delete(outs, name)
				} else {
					outs[name] = map[string]any{"Value": v}
				}
			}
			if b, err = json.Marshal(tpl); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := &fakes{cf: awsfake.NewCloudFormation(t), ga: awsfake.NewAccelerator(t), r53: awsfake.NewRoute53(t), sm: awsfake.NewSecretsManager(t)}
	if f.d, err = awsfake.Deploy(f.cf, f.ga, f.r53, awsfake.DeployOptions{Name: "twinstream", Dir: dir, GlobalRegion: pipeline.GlobalRegion}); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestSendDiscovery: without --url, send goes to the global stack's
// ProducerUrl, and fails over to its FailoverUrl.
func TestSendDiscovery(t *testing.T) {
	primary, failover := newIngest(t), newIngest(t)
	env := map[string]string{"TWINSTREAM_NAME": "twinstream", "TWINSTREAM_API_KEY": testKey}
	f := deployWithURLs(t, primary.url(), failover.url())
	r := f.run(t, env, "send", "--count", "20", "--batch", "10", "--id-prefix", "d-")
	r.want(t, cli.ExitOK, []string{"endpoints     " + primary.url() + ", then " + failover.url(), "acknowledged  20"},
		[]string{"sending to " + primary.url() + ", then " + failover.url() + " (pipeline twinstream: its ProducerUrl and FailoverUrl outputs of stack twinstream-global)"})
	if _, stored := primary.counts(); len(stored) != 20 {
		t.Errorf("the producer URL stored %d, want 20", len(stored))
	}

	// The producer URL fails: the failover URL takes the records.
	primary.fail(http.StatusBadGateway)
	s := summary(t, f.run(t, env, "send", "--count", "20", "--batch", "10", "--id-prefix", "f-", "--json", "--quiet"))
	_, stored := failover.counts()
	if s.Acknowledged != 20 || s.Failovers < 1 || s.Statuses[502] < 2 || stored["f-1"] != 1 || stored["f-20"] != 1 {
		t.Errorf("failover: got %+v, the failover URL stored %d; want 20 acknowledged there after a failover", s, len(stored))
	}

	// Discovery errors are the other commands'.
	f.run(t, map[string]string{"TWINSTREAM_API_KEY": testKey}, "send", "--name", "orders").want(t, cli.ExitFailure, nil,
		[]string{"stack orders-global: stack not found in us-west-2; pipelines deployed in this account: twinstream"})
	f.run(t, map[string]string{"TWINSTREAM_API_KEY": testKey}, "send").want(t, cli.ExitUsage, nil, []string{"no pipeline name"})
	// A bad command line is refused before AWS is asked.
	calls := len(f.cf.Calls())
	f.run(t, env, "send", "--size", "5").want(t, cli.ExitUsage, nil, []string{"--size 5"})
	f.run(t, map[string]string{"TWINSTREAM_NAME": "twinstream"}, "send").want(t, cli.ExitUsage, nil, []string{"no API key"})
	if got := len(f.cf.Calls()); got != calls {
		t.Errorf("CloudFormation got %d calls for bad command lines, want 0", got-calls)
	}

	// A stack without the output: pass --url.
	g := deployWithURLs(t, "", "")
	g.run(t, env, "send").want(t, cli.ExitFailure, nil, []string{"stack twinstream-global in us-west-2 has no ProducerUrl output: pass --url"})
	// Without FailoverUrl (no domain): the producer URL alone.
	h := deployWithURLs(t, primary.url(), "")
	primary.fail(0)
	h.run(t, env, "send", "--count", "1").want(t, cli.ExitOK, []string{"endpoints     " + primary.url() + "\n"}, []string{"its ProducerUrl output of stack"})
	// An output that is not a URL.
	k := deployWithURLs(t, "ingest.example.com", "")
	k.run(t, env, "send").want(t, cli.ExitFailure, nil, []string{`stack twinstream-global: URL "ingest.example.com": want an http:// or https:// URL`})
	// Names the endpoints in order.
	if !slices.Equal(s.Endpoints, []string{primary.url(), failover.url()}) {
		t.Errorf("endpoints: got %v", s.Endpoints)
	}
}
