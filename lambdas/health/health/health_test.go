package health

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/oklog/ulid/v2"

	"github.com/twinstream/twinstream/lambdas/metrics"
	"github.com/twinstream/twinstream/lambdas/record"
)

const testRegion = "eu-west-1"

// clock is a settable clock, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// kinesisFake answers PutRecord with the error next returns (nil: success)
// and keeps the inputs.
type kinesisFake struct {
	mu     sync.Mutex
	err    error
	inputs []*kinesis.PutRecordInput
}

func (k *kinesisFake) setErr(err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.err = err
}

func (k *kinesisFake) calls() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.inputs)
}

func (k *kinesisFake) client() PutRecordFunc {
	return func(ctx context.Context, in *kinesis.PutRecordInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordOutput, error) {
		k.mu.Lock()
		defer k.mu.Unlock()
		k.inputs = append(k.inputs, in)
		if k.err != nil {
			return nil, k.err
		}
		return &kinesis.PutRecordOutput{ShardId: aws.String("shardId-000000000000"), SequenceNumber: aws.String("1")}, nil
	}
}

func newHandler(t testing.TB, client PutRecordAPI, c *clock, edit func(*Config)) *Handler {
	t.Helper()
	cfg := Config{
		Client:     client,
		StreamName: "twinstream",
		Region:     testRegion,
		Now:        c.Now,
		Logger:     slog.New(slog.DiscardHandler),
	}
	if edit != nil {
		edit(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatalf("New: got error %v, want nil", err)
	}
	return h
}

func serve(h http.Handler, ctx context.Context, method, path string) *httptest.ResponseRecorder {
	req := httptest.NewRequestWithContext(ctx, method, path, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// snapshot returns the verdict and its details without probing.
func (h *Handler) snapshot() Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.status(false)
}

// publicBody is the only body PathDeep may answer with a given verdict.
func publicBody(verdict string) string {
	return `{"verdict":"` + verdict + `","region":"` + testRegion + `"}`
}

// deep serves one GET PathDeep, checks that its body is the public verdict
// and nothing more, and returns the status code with the details the answer
// came from.
func deep(t testing.TB, h *Handler) (int, Status) {
	t.Helper()
	rec := serve(h, context.Background(), http.MethodGet, PathDeep)
	st := h.snapshot()
	if want := publicBody(st.Verdict); rec.Body.String() != want {
		t.Fatalf("body: got %s, want %s", rec.Body, want)
	}
	return rec.Code, st
}

func TestDeepHysteresis(t *testing.T) {
	boom := errors.New("ProvisionedThroughputExceededException: boom")
	type step struct {
		advance  time.Duration // clock moves before the check; > cache TTL unless testing the cache
		err      error         // what Kinesis answers
		code     int
		failures int
		ok       int
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"healthy path", []step{
			{advance: 6 * time.Second, code: 200, ok: 1},
			{advance: 6 * time.Second, code: 200, ok: 2},
		}},
		{"one failure is still healthy", []step{
			{advance: 6 * time.Second, err: boom, code: 200, failures: 1},
		}},
		{"K failures answer 503", []step{
			{advance: 6 * time.Second, err: boom, code: 200, failures: 1},
			{advance: 6 * time.Second, err: boom, code: 200, failures: 2},
			{advance: 6 * time.Second, err: boom, code: 503, failures: 3},
		}},
		{"failures spread beyond the window stay healthy", []step{
			{advance: 31 * time.Second, err: boom, code: 200, failures: 1},
			{advance: 31 * time.Second, err: boom, code: 200, failures: 2},
			{advance: 31 * time.Second, err: boom, code: 200, failures: 2},
			{advance: 31 * time.Second, err: boom, code: 200, failures: 2},
		}},
		{"recovery after M good probes", []step{
			{advance: 6 * time.Second, err: boom, code: 200, failures: 1},
			{advance: 6 * time.Second, err: boom, code: 200, failures: 2},
			{advance: 6 * time.Second, err: boom, code: 503, failures: 3},
			{advance: 6 * time.Second, code: 503, failures: 3, ok: 1},
			{advance: 6 * time.Second, code: 200, failures: 0, ok: 2},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			start := c.Now()
			k := &kinesisFake{}
			h := newHandler(t, k.client(), c, nil)
			var lastErrAt, lastChange time.Time
			lastChange = start
			prevHealthy := true
			for i, s := range tt.steps {
				c.Add(s.advance)
				k.setErr(s.err)
				code, st := deep(t, h)
				now := c.Now()
				if code != s.code || st.Healthy != (s.code == 200) {
					t.Fatalf("step %d: got %d healthy=%v, want %d", i, code, st.Healthy, s.code)
				}
				wantVerdict := VerdictHealthy
				if s.code != 200 {
					wantVerdict = VerdictUnhealthy
				}
				if st.Verdict != wantVerdict {
					t.Errorf("step %d: verdict got %q, want %q", i, st.Verdict, wantVerdict)
				}
				if st.FailuresInWindow != s.failures || st.ConsecutiveOK != s.ok {
					t.Errorf("step %d: got failuresInWindow=%d consecutiveOK=%d, want %d and %d", i, st.FailuresInWindow, st.ConsecutiveOK, s.failures, s.ok)
				}
				if got := k.calls(); got != i+1 {
					t.Errorf("step %d: PutRecord calls: got %d, want %d", i, got, i+1)
				}
				if st.Region != testRegion || st.LastProbeOK != (s.err == nil) {
					t.Errorf("step %d: got region=%q lastProbeOK=%v, want %q, %v", i, st.Region, st.LastProbeOK, testRegion, s.err == nil)
				}
				if st.LastProbe == nil || !st.LastProbe.Equal(now) {
					t.Errorf("step %d: lastProbe got %v, want %v", i, st.LastProbe, now)
				}
				if s.err != nil {
					lastErrAt = now
				}
				if st.Healthy != prevHealthy {
					lastChange, prevHealthy = now, st.Healthy
				}
				if !st.Since.Equal(lastChange) {
					t.Errorf("step %d: since got %v, want %v", i, st.Since, lastChange)
				}
				switch {
				case lastErrAt.IsZero():
					if st.LastError != "" || st.LastErrorAt != nil {
						t.Errorf("step %d: got lastError %q at %v, want none", i, st.LastError, st.LastErrorAt)
					}
				case !strings.Contains(st.LastError, boom.Error()) || st.LastErrorAt == nil || !st.LastErrorAt.Equal(lastErrAt):
					t.Errorf("step %d: got lastError %q at %v, want it to contain %q at %v", i, st.LastError, st.LastErrorAt, boom, lastErrAt)
				}
			}
			if got, want := k.calls(), len(tt.steps); got != want {
				t.Errorf("PutRecord calls: got %d, want %d", got, want)
			}
		})
	}
}

func TestDeepCache(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name       string
		err        error
		at         []time.Duration // offsets of the checks from the first one
		wantCached []bool
		wantCalls  int
		wantFails  int // failuresInWindow after the last check
	}{
		{
			name:       "checks within the TTL share one probe",
			at:         []time.Duration{0, time.Second, 2 * time.Second, 5*time.Second - time.Millisecond},
			wantCached: []bool{false, true, true, true},
			wantCalls:  1,
		},
		{
			name:       "a check after the TTL probes again",
			at:         []time.Duration{0, 5 * time.Second, 9 * time.Second, 10 * time.Second},
			wantCached: []bool{false, false, true, false},
			wantCalls:  3,
		},
		{
			name:       "cached failures do not count as new probes",
			err:        boom,
			at:         []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second},
			wantCached: []bool{false, true, true, true, true},
			wantCalls:  1,
			wantFails:  1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			start := c.Now()
			k := &kinesisFake{err: tt.err}
			h := newHandler(t, k.client(), c, nil)
			var st Status
			for i, at := range tt.at {
				c.Add(start.Add(at).Sub(c.Now()))
				st = h.Check(context.Background())
				if !st.Healthy {
					t.Errorf("check %d: got unhealthy, want healthy", i)
				}
				if st.Cached != tt.wantCached[i] {
					t.Errorf("check %d: cached got %v, want %v", i, st.Cached, tt.wantCached[i])
				}
			}
			if got := k.calls(); got != tt.wantCalls {
				t.Errorf("PutRecord calls: got %d, want %d", got, tt.wantCalls)
			}
			if st.FailuresInWindow != tt.wantFails {
				t.Errorf("failuresInWindow: got %d, want %d", st.FailuresInWindow, tt.wantFails)
			}
		})
	}
}

// waiters returns how many checks wait for the running probe (-1: none runs).
func (h *Handler) waiters() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.flight == nil {
		return -1
	}
	return h.flight.waiters
}

func TestConcurrentChecksShareOneProbe(t *testing.T) {
	const n = 8
	var calls int
	var mu sync.Mutex
	started := make(chan struct{})
	release := make(chan struct{})
	client := PutRecordFunc(func(ctx context.Context, in *kinesis.PutRecordInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordOutput, error) {
		mu.Lock()
		calls++
		mu.Unlock()
		close(started) // a second call would panic: the test wants exactly one
		select {
		case <-release:
			return &kinesis.PutRecordOutput{}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	h := newHandler(t, client, newClock(), func(c *Config) { c.ProbeTimeout = time.Minute })

	var wg sync.WaitGroup
	statuses := make([]Status, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = h.Check(context.Background())
		}()
	}
	<-started
	for h.waiters() != n-1 {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()

	if calls != 1 {
		t.Errorf("PutRecord calls: got %d, want 1", calls)
	}
	uncached := 0
	for i := range n {
		if !statuses[i].Healthy || statuses[i].LastProbe == nil || !statuses[i].LastProbeOK {
			t.Errorf("check %d: got healthy=%v lastProbe=%v ok=%v, want healthy with the shared probe's result", i, statuses[i].Healthy, statuses[i].LastProbe, statuses[i].LastProbeOK)
		}
		if !statuses[i].Cached {
			uncached++
		}
	}
	if uncached != 1 {
		t.Errorf("checks that ran a probe: got %d, want 1", uncached)
	}
}

func TestCheckerHangingUpDoesNotFailTheProbe(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	client := PutRecordFunc(func(ctx context.Context, in *kinesis.PutRecordInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordOutput, error) {
		close(started)
		<-release
		return &kinesis.PutRecordOutput{}, ctx.Err()
	})
	h := newHandler(t, client, newClock(), func(c *Config) { c.UnhealthyAfter = 1; c.ProbeTimeout = time.Minute })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- serve(h, ctx, http.MethodGet, PathDeep) }()
	<-started
	cancel()
	close(release)
	rec := <-done
	if rec.Code != http.StatusOK {
		t.Errorf("got %d %s, want 200: the caller's cancel must not fail the shared probe", rec.Code, rec.Body)
	}
}

func TestHungKinesis(t *testing.T) {
	const timeout = 20 * time.Millisecond
	tests := []struct {
		name           string
		unhealthyAfter int
		want           int
	}{
		{"first failure is absorbed", 3, http.StatusOK},
		{"unhealthy at once when K is 1", 1, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The call may outlive the probe that gave up on it: its deadline
			// comes back over a channel.
			deadlines := make(chan time.Time, 1)
			client := PutRecordFunc(func(ctx context.Context, in *kinesis.PutRecordInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordOutput, error) {
				d, _ := ctx.Deadline()
				deadlines <- d
				<-ctx.Done() // Kinesis never answers
				return nil, ctx.Err()
			})
			h := newHandler(t, client, newClock(), func(c *Config) {
				c.ProbeTimeout = timeout
				c.UnhealthyAfter = tt.unhealthyAfter
				c.Now = nil // real clock: the deadline is real
			})
			before := time.Now()
			code, st := deep(t, h)
			if code != tt.want {
				t.Errorf("got %d, want %d", code, tt.want)
			}
			if deadline := <-deadlines; deadline.IsZero() || deadline.After(before.Add(timeout+time.Second)) {
				t.Errorf("probe deadline: got %v, want at most %v after the check began", deadline, timeout)
			}
			if st.LastProbeOK || !strings.Contains(st.LastError, "no answer within 20ms") || !strings.Contains(st.LastError, context.DeadlineExceeded.Error()) {
				t.Errorf("got lastProbeOK=%v lastError %q, want a failed probe naming the 20ms timeout", st.LastProbeOK, st.LastError)
			}
		})
	}
}

func TestCanaryRecord(t *testing.T) {
	c := newClock()
	k := &kinesisFake{}
	h := newHandler(t, k.client(), c, nil)
	const probes = 3
	for range probes {
		c.Add(6 * time.Second)
		if code, _ := deep(t, h); code != http.StatusOK {
			t.Fatalf("got %d, want 200", code)
		}
	}
	if len(k.inputs) != probes {
		t.Fatalf("PutRecord calls: got %d, want %d", len(k.inputs), probes)
	}
	keys := map[string]bool{}
	for i, in := range k.inputs {
		if aws.ToString(in.StreamName) != "twinstream" || in.StreamARN != nil {
			t.Errorf("probe %d: stream got name %q arn %v, want name twinstream", i, aws.ToString(in.StreamName), in.StreamARN)
		}
		e, err := record.Decode(in.Data)
		if err != nil {
			t.Fatalf("probe %d: record.Decode(%s): %v", i, in.Data, err)
		}
		if !e.Canary || e.Region != testRegion {
			t.Errorf("probe %d: got canary=%v region=%q, want true and %q", i, e.Canary, e.Region, testRegion)
		}
		if e.PartitionKey != aws.ToString(in.PartitionKey) {
			t.Errorf("probe %d: envelope partitionKey %q, PutRecord key %q, want equal", i, e.PartitionKey, aws.ToString(in.PartitionKey))
		}
		keys[e.PartitionKey] = true
		id, err := ulid.ParseStrict(e.ID)
		if err != nil {
			t.Errorf("probe %d: id %q: got %v, want a ULID", i, e.ID, err)
		}
		wantAt := c.Now().Add(time.Duration(i-probes+1) * 6 * time.Second)
		if !ulid.Time(id.Time()).Equal(wantAt) || !e.ReceivedAt.Equal(wantAt) {
			t.Errorf("probe %d: id time %v receivedAt %v, want %v", i, ulid.Time(id.Time()), e.ReceivedAt, wantAt)
		}
	}
	if len(keys) != probes {
		t.Errorf("distinct partition keys: got %d, want %d (one random key per probe)", len(keys), probes)
	}
}

func TestRoutes(t *testing.T) {
	tests := []struct {
		method, path string
		want         int
		wantBody     string // exact JSON; "" for HEAD
		wantAllow    string
		wantCalls    int
	}{
		{method: "GET", path: "/health", want: 200, wantBody: `{"status":"ok","region":"eu-west-1"}`},
		{method: "HEAD", path: "/health", want: 200},
		{method: "POST", path: "/health", want: 405, wantBody: `{"error":"method not allowed"}`, wantAllow: "GET, HEAD"},
		{method: "GET", path: "/health/deep", want: 200, wantBody: `{"verdict":"healthy","region":"eu-west-1"}`, wantCalls: 1},
		{method: "HEAD", path: "/health/deep", want: 200, wantCalls: 1},
		{method: "DELETE", path: "/health/deep", want: 405, wantBody: `{"error":"method not allowed"}`, wantAllow: "GET, HEAD"},
		{method: "GET", path: "/health/", want: 404, wantBody: `{"error":"not found"}`},
		{method: "GET", path: "/", want: 404, wantBody: `{"error":"not found"}`},
		{method: "POST", path: "/v1/records", want: 404, wantBody: `{"error":"not found"}`},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			k := &kinesisFake{}
			h := newHandler(t, k.client(), newClock(), nil)
			rec := serve(h, context.Background(), tt.method, tt.path)
			if rec.Code != tt.want {
				t.Errorf("status: got %d, want %d", rec.Code, tt.want)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type: got %q, want application/json", got)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control: got %q, want no-store", got)
			}
			if got := rec.Header().Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow: got %q, want %q", got, tt.wantAllow)
			}
			body := rec.Body.String()
			switch {
			case tt.method == http.MethodHead:
				if body != "" {
					t.Errorf("body: got %q, want none for HEAD", body)
				}
			case tt.wantBody != "":
				if body != tt.wantBody {
					t.Errorf("body: got %s, want %s", body, tt.wantBody)
				}
			}
			if got := k.calls(); got != tt.wantCalls {
				t.Errorf("PutRecord calls: got %d, want %d", got, tt.wantCalls)
			}
		})
	}
}

// TestDeepBody pins the public answer of PathDeep: the verdict and the
// region, whatever the probe saw.
func TestDeepBody(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code int
		want string
	}{
		{"healthy", nil, http.StatusOK, `{"verdict":"healthy","region":"eu-west-1"}`},
		{"unhealthy", errors.New("boom"), http.StatusServiceUnavailable, `{"verdict":"unhealthy","region":"eu-west-1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := &kinesisFake{err: tt.err}
			h := newHandler(t, k.client(), newClock(), func(c *Config) { c.UnhealthyAfter = 1 })
			rec := serve(h, context.Background(), http.MethodGet, PathDeep)
			if rec.Code != tt.code || rec.Body.String() != tt.want {
				t.Errorf("got %d %s, want %d %s", rec.Code, rec.Body, tt.code, tt.want)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	client := (&kinesisFake{}).client()
	tests := []struct {
		name string
		edit func(*Config)
		want string // "" for no error
	}{
		{"defaults", func(*Config) {}, ""},
		{"no client", func(c *Config) { c.Client = nil }, "client"},
		{"no stream", func(c *Config) { c.StreamName = "" }, "stream"},
		{"secret id without a client", func(c *Config) { c.SecretID = testSecretID }, "secret"},
		{"secrets client without an id", func(c *Config) { c.Secrets = GetSecretValueFunc(nil) }, "secret"},
		{"secret id and client", func(c *Config) { c.SecretID, c.Secrets = testSecretID, GetSecretValueFunc(nil) }, ""},
		{"negative healthy-after", func(c *Config) { c.HealthyAfter = -1 }, "negative"},
		{"negative timeout", func(c *Config) { c.ProbeTimeout = -time.Second }, "negative"},
		{"window too short for K probes", func(c *Config) { c.Window = 10 * time.Second }, "window"},
		{"window just long enough", func(c *Config) { c.Window = 10*time.Second + time.Millisecond }, ""},
		{"K of 1 needs only a positive window", func(c *Config) { c.UnhealthyAfter = 1; c.Window = time.Millisecond }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Client: client, StreamName: "s", Region: testRegion}
			tt.edit(&cfg)
			_, err := New(cfg)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got error %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func BenchmarkDeepCached(b *testing.B) {
	h := newHandler(b, (&kinesisFake{}).client(), newClock(), nil)
	req := httptest.NewRequest(http.MethodGet, PathDeep, nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("got %d, want 200", rec.Code)
		}
	}
}

// errLeaky is what AWS answers a probe from a misconfigured role: it names the
// account, the role and the stream. None of it may reach an answer.
var errLeaky = errors.New("operation error Kinesis: PutRecord, https response error StatusCode: 400, RequestID: 5f1c0ffe, " +
	"api error AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/twinstream-health-role-1A2B/twinstream-health " +
	"is not authorized to perform: kinesis:PutRecord on resource: arn:aws:kinesis:eu-west-1:123456789012:stream/twinstream-stream-9Z8Y")

// leakMarkers are pieces of errLeaky, of the test clock's times ("2026") and
// of the Status field names that must never appear in an answer.
var leakMarkers = []string{"123456789012", "arn:", "health-role", "AccessDenied", "RequestID", "5f1c0ffe",
	"stream-9Z8Y", "PutRecord", "kinesis", "2026", "lastError", "failures", "consecutive", "since", "cached"}

// leaks returns the markers found in s, ignoring case.
func leaks(s string) []string {
	var found []string
	for _, m := range leakMarkers {
		if strings.Contains(strings.ToLower(s), strings.ToLower(m)) {
			found = append(found, m)
		}
	}
	return found
}

// TestHostileRequests sends what an outsider might try (every method, odd
// paths, query strings asking for detail, huge and odd headers) to a handler
// whose probe fails with errLeaky: every answer is one of the fixed bodies,
// and neither body nor headers carry anything of the error.
func TestHostileRequests(t *testing.T) {
	const (
		deepRoute    = "deep"
		shallowRoute = "shallow"
	)
	methods := []string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND", "get"}
	paths := []struct {
		target string
		route  string // "" for not found
	}{
		{"/health/deep", deepRoute},
		{"/health/deep?verbose=1&debug=true&lastError=1&format=full", deepRoute},
		{"/health/deep?" + strings.Repeat("a=b&", 4096), deepRoute},
		{"/health/deep?%zz&=&&", deepRoute},
		{"/health", shallowRoute},
		{"/health?detail=all", shallowRoute},
		{"/health/deep/", ""},
		{"/health/deep/..", ""},
		{"/health/deep/details", ""},
		{"/health/deep;lastError", ""},
		{"/HEALTH/DEEP", ""},
		{"/health//deep", ""},
		{"/health/deep%2Fx", ""},
		{"/" + strings.Repeat("x", 8192), ""},
		{"/", ""},
		{"*", ""},
	}
	headers := []struct {
		name string
		h    http.Header
	}{
		{"no headers", nil},
		{"huge header", http.Header{"X-Big": {strings.Repeat("A", 1<<20)}}},
		{"many headers", func() http.Header {
			h := http.Header{}
			for i := range 2000 {
				h.Add("X-H", strings.Repeat("v", i%64))
			}
			return h
		}()},
		{"asks for detail", http.Header{"Accept": {"text/html, application/xml"}, "X-Debug": {"1"}, "Prefer": {"verbose"},
			"X-Forwarded-For": {"10.0.0.1, 127.0.0.1"}, "Authorization": {"Bearer x"}}},
	}
	k := &kinesisFake{err: errLeaky}
	h := newHandler(t, k.client(), newClock(), func(c *Config) { c.UnhealthyAfter = 1 })
	for _, p := range paths {
		for _, m := range methods {
			for _, hd := range headers {
				t.Run(m+" "+fmt.Sprintf("%.40q", p.target)+" "+hd.name, func(t *testing.T) {
					req, err := http.NewRequestWithContext(context.Background(), m, "http://example.com", nil)
					if err != nil {
						t.Fatal(err)
					}
					req.URL, err = url.ParseRequestURI(p.target)
					if err != nil {
						t.Fatal(err)
					}
					req.RequestURI = p.target
					for name, vs := range hd.h {
						req.Header[name] = vs
					}
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)

					wantCode, wantBody := http.StatusNotFound, `{"error":"not found"}`
					switch {
					case p.route == "":
					case m != http.MethodGet && m != http.MethodHead:
						wantCode, wantBody = http.StatusMethodNotAllowed, `{"error":"method not allowed"}`
					case p.route == deepRoute:
						wantCode, wantBody = http.StatusServiceUnavailable, publicBody(VerdictUnhealthy)
					default:
						wantCode, wantBody = http.StatusOK, `{"status":"ok","region":"eu-west-1"}`
					}
					if m == http.MethodHead {
						wantBody = ""
					}
					if rec.Code != wantCode || rec.Body.String() != wantBody {
						t.Errorf("got %d %.200s, want %d %s", rec.Code, rec.Body, wantCode, wantBody)
					}
					if found := leaks(rec.Body.String()); len(found) > 0 {
						t.Errorf("body %.200s: leaks %q", rec.Body, found)
					}
					for name, vs := range rec.Header() {
						for _, v := range vs {
							if found := leaks(name + ": " + v); len(found) > 0 {
								t.Errorf("header %s: %s: leaks %q", name, v, found)
							}
						}
					}
					if got := rec.Header().Get("Cache-Control"); got != "no-store" {
						t.Errorf("Cache-Control: got %q, want no-store", got)
					}
				})
			}
		}
	}
	// The answers above came from a handler that did see the error.
	if st := h.snapshot(); !strings.Contains(st.LastError, "123456789012") || k.calls() == 0 {
		t.Errorf("got lastError %q after %d probes, want the leaky error: the test would prove nothing", st.LastError, k.calls())
	}
}

// logLines decodes the JSON log lines in b.
func logLines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var lines []map[string]any
	dec := json.NewDecoder(strings.NewReader(string(b)))
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("log %s: %v", b, err)
		}
		lines = append(lines, m)
	}
	return lines
}

// TestDetailsGoToTheLog: what the answers leave out is logged, whole: every
// failed probe and every verdict change, with the full AWS error.
func TestDetailsGoToTheLog(t *testing.T) {
	var buf syncBuffer
	c := newClock()
	k := &kinesisFake{}
	h := newHandler(t, k.client(), c, func(cfg *Config) {
		cfg.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
		cfg.UnhealthyAfter = 2
		cfg.HealthyAfter = 1
	})
	steps := []error{nil, errLeaky, errLeaky, nil}
	for _, err := range steps {
		c.Add(6 * time.Second)
		k.setErr(err)
		if _, st := deep(t, h); st.LastProbeOK != (err == nil) {
			t.Fatalf("got lastProbeOK=%v, want %v", st.LastProbeOK, err == nil)
		}
	}
	var failed, changes []map[string]any
	for _, l := range logLines(t, buf.Bytes()) {
		switch l["msg"] {
		case msgProbeFailed:
			failed = append(failed, l)
		case msgVerdictChanged:
			changes = append(changes, l)
		}
	}
	if len(failed) != 2 {
		t.Fatalf("failed-probe lines: got %d, want 2\n%s", len(failed), buf.Bytes())
	}
	for i, l := range failed {
		if got, _ := l["err"].(string); !strings.Contains(got, errLeaky.Error()) || l["level"] != "WARN" {
			t.Errorf("failed probe %d: got %v %q, want WARN with the full error", i, l["level"], got)
		}
	}
	wantVerdicts := []string{VerdictUnhealthy, VerdictHealthy}
	if len(changes) != len(wantVerdicts) {
		t.Fatalf("verdict-change lines: got %d, want %d\n%s", len(changes), len(wantVerdicts), buf.Bytes())
	}
	for i, l := range changes {
		got, _ := l["lastError"].(string)
		if l["verdict"] != wantVerdicts[i] || !strings.Contains(got, errLeaky.Error()) || l["region"] != testRegion {
			t.Errorf("verdict change %d: got verdict %v region %v lastError %q, want %s, %s, the full error", i, l["verdict"], l["region"], got, wantVerdicts[i], testRegion)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string { return string(b.Bytes()) }

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

const (
	testSecretID = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:twinstream/api-keys-AbCdEf"
	// secretValue stands for the key hashes: it must never leave the call.
	secretValue = `{"keys":[{"id":"team-a","sha256":"5ec7e75ec7e7"}]}`
)

func secretOK(context.Context) (*secretsmanager.GetSecretValueOutput, error) {
	return &secretsmanager.GetSecretValueOutput{ARN: aws.String(testSecretID), SecretString: aws.String(secretValue)}, nil
}

// waitForDeadline is a dependency that never answers but honours its context.
func waitForDeadline(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestSecretProbe(t *testing.T) {
	denied := errors.New("api error AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/health-role/x is not authorized to perform: secretsmanager:GetSecretValue")
	throttled := errors.New("api error ProvisionedThroughputExceededException: Rate exceeded")
	// Long enough for the fakes that answer at once on a loaded machine.
	const timeout = 250 * time.Millisecond
	tests := []struct {
		name    string
		kinesis func(context.Context) error // nil: takes the canary
		// secret is the fake Secrets Manager; nil: API_KEYS_SECRET_ARN unset.
		secret      func(context.Context) (*secretsmanager.GetSecretValueOutput, error)
		wantFailed  []string // dependencies the log names; nil: a good probe
		wantErr     []string // in LastError and the log's err
		wantSecrets int      // GetSecretValue calls
	}{
		{name: "both answer", secret: secretOK, wantSecrets: 1},
		{name: "kinesis ok, secret fails",
			secret:     func(context.Context) (*secretsmanager.GetSecretValueOutput, error) { return nil, denied },
			wantFailed: []string{DepSecretsManager}, wantErr: []string{"secretsmanager: read api keys secret: " + denied.Error()}, wantSecrets: 1},
		{name: "secret ok, kinesis fails",
			kinesis: func(context.Context) error { return throttled }, secret: secretOK,
			wantFailed: []string{DepKinesis}, wantErr: []string{"kinesis: put canary record: " + throttled.Error()}, wantSecrets: 1},
		{name: "both fail",
			kinesis:    func(context.Context) error { return throttled },
			secret:     func(context.Context) (*secretsmanager.GetSecretValueOutput, error) { return nil, denied },
			wantFailed: []string{DepKinesis, DepSecretsManager}, wantErr: []string{throttled.Error(), denied.Error()}, wantSecrets: 1},
		{name: "secret slow past the timeout",
			secret: func(ctx context.Context) (*secretsmanager.GetSecretValueOutput, error) {
				return nil, waitForDeadline(ctx)
			},
			wantFailed: []string{DepSecretsManager}, wantErr: []string{"read api keys secret: no answer within 250ms", context.DeadlineExceeded.Error()}, wantSecrets: 1},
		{name: "kinesis slow past the timeout, secret ok",
			kinesis: waitForDeadline, secret: secretOK,
			wantFailed: []string{DepKinesis}, wantErr: []string{"put canary record: no answer within 250ms"}, wantSecrets: 1},
		{name: "secret without SecretString",
			secret: func(context.Context) (*secretsmanager.GetSecretValueOutput, error) {
				return &secretsmanager.GetSecretValueOutput{SecretBinary: []byte(secretValue)}, nil
			},
			wantFailed: []string{DepSecretsManager}, wantErr: []string{"no SecretString"}, wantSecrets: 1},
		{name: "secret call panics",
			secret:     func(context.Context) (*secretsmanager.GetSecretValueOutput, error) { panic("injected") },
			wantFailed: []string{DepSecretsManager}, wantErr: []string{"read api keys secret: panic: injected"}, wantSecrets: 1},
		{name: "kinesis call panics",
			kinesis: func(context.Context) error { panic("injected") }, secret: secretOK,
			wantFailed: []string{DepKinesis}, wantErr: []string{"put canary record: panic: injected"}, wantSecrets: 1},
		{name: "secret unset, kinesis ok"},
		{name: "secret unset, kinesis fails",
			kinesis:    func(context.Context) error { return throttled },
			wantFailed: []string{DepKinesis}, wantErr: []string{"kinesis: put canary record: " + throttled.Error()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var secretCalls int
			var secretDeadline time.Time
			var secretIDs []string
			kinesisClient := PutRecordFunc(func(ctx context.Context, in *kinesis.PutRecordInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordOutput, error) {
				if tt.kinesis != nil {
					if err := tt.kinesis(ctx); err != nil {
						return nil, err
					}
				}
				return &kinesis.PutRecordOutput{}, nil
			})
			var buf syncBuffer
			before := time.Now()
			h := newHandler(t, kinesisClient, newClock(), func(c *Config) {
				c.ProbeTimeout = timeout
				c.UnhealthyAfter = 1
				c.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
				if tt.secret == nil {
					return
				}
				c.SecretID = testSecretID
				c.Secrets = GetSecretValueFunc(func(ctx context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
					mu.Lock()
					secretCalls++
					secretDeadline, _ = ctx.Deadline()
					secretIDs = append(secretIDs, aws.ToString(in.SecretId))
					mu.Unlock()
					return tt.secret(ctx)
				})
			})
			code, st := deep(t, h)

			wantCode := http.StatusOK
			if tt.wantFailed != nil {
				wantCode = http.StatusServiceUnavailable
			}
			if code != wantCode || st.LastProbeOK != (tt.wantFailed == nil) {
				t.Errorf("got %d lastProbeOK=%v, want %d", code, st.LastProbeOK, wantCode)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(st.LastError, w) {
					t.Errorf("lastError: got %q, want it to contain %q", st.LastError, w)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if secretCalls != tt.wantSecrets {
				t.Errorf("GetSecretValue calls: got %d, want %d", secretCalls, tt.wantSecrets)
			}
			for _, id := range secretIDs {
				if id != testSecretID {
					t.Errorf("SecretId: got %q, want %q", id, testSecretID)
				}
			}
			if secretCalls > 0 && (secretDeadline.IsZero() || secretDeadline.After(before.Add(timeout+time.Second))) {
				t.Errorf("secret call deadline: got %v, want at most %v after the check began", secretDeadline, timeout)
			}

			var failed []map[string]any
			for _, l := range logLines(t, buf.Bytes()) {
				if l["msg"] == msgProbeFailed {
					failed = append(failed, l)
				}
			}
			if tt.wantFailed == nil {
				if len(failed) != 0 {
					t.Errorf("got failed-probe log lines %v, want none", failed)
				}
			} else {
				if len(failed) != 1 {
					t.Fatalf("failed-probe log lines: got %d, want 1\n%s", len(failed), buf.Bytes())
				}
				l := failed[0]
				var deps []string
				for _, d := range l["failed"].([]any) {
					deps = append(deps, d.(string))
				}
				if !slices.Equal(deps, tt.wantFailed) {
					t.Errorf("log failed: got %q, want %q", deps, tt.wantFailed)
				}
				msg, _ := l["err"].(string)
				for _, w := range tt.wantErr {
					if !strings.Contains(msg, w) {
						t.Errorf("log err: got %q, want it to contain %q", msg, w)
					}
				}
				if wantSecret := tt.secret != nil; (l["secret"] == testSecretID) != wantSecret {
					t.Errorf("log secret: got %v, want the secret id logged: %v", l["secret"], wantSecret)
				}
			}
			// The value is read, never parsed, logged or kept in the verdict.
			for _, where := range []string{buf.String(), st.LastError} {
				if strings.Contains(where, "5ec7e75ec7e7") || strings.Contains(where, "team-a") {
					t.Errorf("the secret's value escaped the call: %s", where)
				}
			}
		})
	}
}

// TestSecretAndKinesisProbedAtOnce: the two calls of a probe run at the same
// time, so together they take one ProbeTimeout, not two. Each fake answers
// only once the other has started; one after the other, the first would time
// out.
func TestSecretAndKinesisProbedAtOnce(t *testing.T) {
	kinesisStarted, secretStarted := make(chan struct{}), make(chan struct{})
	meet := func(ctx context.Context, mine, other chan struct{}) error {
		close(mine)
		select {
		case <-other:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	h := newHandler(t, PutRecordFunc(func(ctx context.Context, in *kinesis.PutRecordInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordOutput, error) {
		return &kinesis.PutRecordOutput{}, meet(ctx, kinesisStarted, secretStarted)
	}), newClock(), func(c *Config) {
		c.UnhealthyAfter = 1
		c.SecretID = testSecretID
		c.Secrets = GetSecretValueFunc(func(ctx context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
			if err := meet(ctx, secretStarted, kinesisStarted); err != nil {
				return nil, err
			}
			return secretOK(ctx)
		})
	})
	if st := h.Check(context.Background()); !st.Healthy || !st.LastProbeOK {
		t.Errorf("got healthy=%v lastError %q, want a good probe", st.Healthy, st.LastError)
	}
}

// TestSecretIgnoringItsContext: a call that does not return at the deadline
// still fails the probe at ProbeTimeout instead of holding the answer.
func TestSecretIgnoringItsContext(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	h := newHandler(t, (&kinesisFake{}).client(), newClock(), func(c *Config) {
		c.UnhealthyAfter = 1
		c.ProbeTimeout = 20 * time.Millisecond
		c.SecretID = testSecretID
		c.Secrets = GetSecretValueFunc(func(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
			<-release
			return secretOK(context.Background())
		})
	})
	done := make(chan Status, 1)
	go func() { done <- h.Check(context.Background()) }()
	select {
	case st := <-done:
		if st.Healthy || !strings.Contains(st.LastError, "secretsmanager: read api keys secret: no answer within 20ms") {
			t.Errorf("got healthy=%v lastError %q, want unhealthy naming the secret's 20ms timeout", st.Healthy, st.LastError)
		}
	case <-time.After(10 * time.Second): // a safety net, not a speed target
		t.Fatal("Check still waits for a call that ignores its context")
	}
}

// TestSecretFailuresFeedTheHysteresis: a failed secret read counts like a
// failed canary: UnhealthyAfter of them turn the region, HealthyAfter good
// probes bring it back.
func TestSecretFailuresFeedTheHysteresis(t *testing.T) {
	var mu sync.Mutex
	var secretErr error
	c := newClock()
	h := newHandler(t, (&kinesisFake{}).client(), c, func(cfg *Config) {
		cfg.SecretID = testSecretID
		cfg.Secrets = GetSecretValueFunc(func(ctx context.Context, _ *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
			mu.Lock()
			defer mu.Unlock()
			if secretErr != nil {
				return nil, secretErr
			}
			return secretOK(ctx)
		})
	})
	down := errors.New("api error InternalServiceError")
	steps := []struct {
		err  error
		want int
	}{{nil, 200}, {down, 200}, {down, 200}, {down, 503}, {nil, 503}, {nil, 200}}
	for i, s := range steps {
		mu.Lock()
		secretErr = s.err
		mu.Unlock()
		c.Add(6 * time.Second)
		if code, st := deep(t, h); code != s.want {
			t.Errorf("step %d: got %d (lastError %q), want %d", i, code, st.LastError, s.want)
		}
	}
}

// TestProbeMetrics: every probe writes one line with its metrics in EMF
// (the verdict, each call's time and failure), checks answered from the
// cache write none, and the answers are the same with metrics off.
func TestProbeMetrics(t *testing.T) {
	const ns = "Twinstream/test/test-eu-west-1"
	const timeout = 100 * time.Millisecond
	tests := []struct {
		name    string
		kinesis func(context.Context, *clock) error
		secret  bool
		// want per probe: RegionHealthy, KinesisProbeFailures,
		// SecretsProbeFailures (-1: no secret metrics), KinesisProbeLatency
		// in ms (-1: not checked)
		want [][4]float64
	}{
		{"healthy, kinesis takes 40ms", func(_ context.Context, c *clock) error { c.Add(40 * time.Millisecond); return nil }, true,
			[][4]float64{{1, 0, 0, 40}, {1, 0, 0, 40}, {1, 0, 0, 40}}},
		{"kinesis fails: unhealthy at the third", func(context.Context, *clock) error { return errLeaky }, false,
			[][4]float64{{1, 1, -1, 0}, {1, 1, -1, 0}, {0, 1, -1, 0}}},
		{"kinesis hangs: the probe timeout", func(ctx context.Context, _ *clock) error { return waitForDeadline(ctx) }, true,
			[][4]float64{{1, 1, 0, float64(timeout.Milliseconds())}}},
	}
	emitted := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answers := func(namespace string) ([]string, []byte) {
				var buf syncBuffer
				c := newClock()
				client := PutRecordFunc(func(ctx context.Context, _ *kinesis.PutRecordInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordOutput, error) {
					if err := tt.kinesis(ctx, c); err != nil {
						return nil, err
					}
					return &kinesis.PutRecordOutput{ShardId: aws.String("shardId-000000000000"), SequenceNumber: aws.String("1")}, nil
				})
				h := newHandler(t, client, c, func(cfg *Config) {
					cfg.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
					cfg.MetricsNamespace = namespace
					cfg.ProbeTimeout = timeout
					if tt.secret {
						cfg.SecretID = testSecretID
						cfg.Secrets = GetSecretValueFunc(func(ctx context.Context, _ *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
							return secretOK(ctx)
						})
					}
				})
				var out []string
				for range tt.want {
					c.Add(6 * time.Second)
					// Two checks: the second is answered from the cache.
					for range 2 {
						rec := serve(h, context.Background(), http.MethodGet, PathDeep)
						out = append(out, fmt.Sprint(rec.Code, " ", rec.Body))
					}
				}
				return out, buf.Bytes()
			}
			on, log := answers(ns)
			if off, _ := answers(""); !slices.Equal(on, off) {
				t.Errorf("answers: got %q with metrics, %q without", on, off)
			}
			var lines [][]byte
			for _, l := range bytes.Split(bytes.TrimSpace(log), []byte("\n")) {
				if bytes.Contains(l, []byte(`"_aws"`)) {
					lines = append(lines, l)
				}
			}
			if len(lines) != len(tt.want) {
				t.Fatalf("got %d lines with metrics for %d probes, want one each:\n%s", len(lines), len(tt.want), log)
			}
			for i, l := range lines {
				data, err := metrics.Extract(l)
				if err != nil {
					t.Fatal(err)
				}
				got := map[string]float64{}
				for _, d := range data {
					if m, ok := metrics.Named(d.Name); !ok || m.Handler != metrics.Health || m.Unit != d.Unit || len(d.Dimensions) != 0 || d.Namespace != ns {
						t.Errorf("%s (%s, %v, %s): not one of health's metrics", d.Name, d.Unit, d.Dimensions, d.Namespace)
					}
					got[d.Name] = d.Values[0]
					emitted[d.Name] = true
				}
				w := tt.want[i]
				want := map[string]float64{"RegionHealthy": w[0], "KinesisProbeFailures": w[1], "KinesisProbeLatency": w[3]}
				if w[2] >= 0 {
					want["SecretsProbeFailures"] = w[2]
					if s, ok := got["SecretsProbeLatency"]; !ok || s < 0 || s > float64(timeout.Milliseconds()) {
						t.Errorf("probe %d: SecretsProbeLatency %v, %v, want 0 to %v", i+1, s, ok, timeout)
					}
					want["SecretsProbeLatency"] = got["SecretsProbeLatency"]
				}
				if !maps.Equal(got, want) {
					t.Errorf("probe %d: got %v\nwant %v", i+1, got, want)
				}
				msg := msgProbe
				if w[1]+max(w[2], 0) > 0 {
					msg = msgProbeFailed
				}
				if !bytes.Contains(l, []byte(`"msg":"`+msg+`"`)) {
					t.Errorf("probe %d: got %s, want the message %q", i+1, l, msg)
				}
			}
		})
	}
	for _, m := range metrics.All() {
		if m.Handler == metrics.Health && !emitted[m.Name] {
			t.Errorf("%s: in the catalogue as health's, never written", m.Name)
		}
	}
}
