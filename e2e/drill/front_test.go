package drill

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/twinstream/twinstream/e2e/internal/standin"
)

// frontRoutes are the listener rules of the synthesized template.
var frontRoutes = []Route{
	{Priority: 10, Paths: []string{"/v1/records"}, Function: "ingest"},
	{Priority: 20, Paths: []string{"/health", "/health/*"}, Function: "health"},
}

// recordingInvoker answers with resp and keeps the events it got.
type recordingInvoker struct {
	mu     sync.Mutex
	events [][]byte
	resp   func(event []byte) ([]byte, error)
}

func (r *recordingInvoker) Invoke(ctx context.Context, event []byte) ([]byte, error) {
	r.mu.Lock()
	r.events = append(r.events, append([]byte(nil), event...))
	r.mu.Unlock()
	return r.resp(event)
}

func (r *recordingInvoker) got() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events
}

func okResponse(status int, body string) func([]byte) ([]byte, error) {
	return func([]byte) ([]byte, error) {
		return json.Marshal(events.ALBTargetGroupResponse{StatusCode: status, StatusDescription: fmt.Sprint(status),
			Headers: map[string]string{"Content-Type": "application/json"}, Body: body})
	}
}

var traceID = regexp.MustCompile(`"x-amzn-trace-id":"(Root=1-[0-9a-f]{8}-[0-9a-f]{24})"`)

func TestFrontEvent(t *testing.T) {
	tests := []struct {
		name        string
		method      string
		target      string // path and query
		contentType string
		body        []byte
		want        string // the event; PORT is the front's port, TRACE the trace id, ARN the target group
	}{
		{
			name: "text body", method: "POST", target: "/v1/records?trace=a%20b&mode=fast+safe&mode=x",
			contentType: "application/json", body: []byte(`{"records":[{"data":{"n":1}}]}`),
			want: `{"httpMethod":"POST","path":"/v1/records","queryStringParameters":{"mode":"x","trace":"a%20b"},` +
				`"headers":{"accept-encoding":"gzip","authorization":"Bearer k-123","content-length":"30","content-type":"application/json",` +
				`"host":"127.0.0.1:PORT","user-agent":"drill-test/1.0","x-amzn-trace-id":"TRACE","x-forwarded-for":"198.51.100.7, 127.0.0.1",` +
				`"x-forwarded-port":"PORT","x-forwarded-proto":"http"},"requestContext":{"elb":{"targetGroupArn":"ARN"}},` +
				`"isBase64Encoded":false,"body":"{\"records\":[{\"data\":{\"n\":1}}]}"}`,
		},
		{
			name: "NDJSON is not a text type for ALB", method: "POST", target: "/v1/records",
			contentType: "application/x-ndjson", body: []byte("{\"id\":\"a\"}\n"),
			want: `{"httpMethod":"POST","path":"/v1/records",` +
				`"headers":{"accept-encoding":"gzip","authorization":"Bearer k-123","content-length":"11","content-type":"application/x-ndjson",` +
				`"host":"127.0.0.1:PORT","user-agent":"drill-test/1.0","x-amzn-trace-id":"TRACE","x-forwarded-for":"198.51.100.7, 127.0.0.1",` +
				`"x-forwarded-port":"PORT","x-forwarded-proto":"http"},"requestContext":{"elb":{"targetGroupArn":"ARN"}},` +
				`"isBase64Encoded":true,"body":"eyJpZCI6ImEifQo="}`,
		},
		{
			name: "binary body", method: "POST", target: "/v1/records",
			contentType: "application/octet-stream", body: []byte{0xff, 0x00, 0x01},
			want: `{"httpMethod":"POST","path":"/v1/records",` +
				`"headers":{"accept-encoding":"gzip","authorization":"Bearer k-123","content-length":"3","content-type":"application/octet-stream",` +
				`"host":"127.0.0.1:PORT","user-agent":"drill-test/1.0","x-amzn-trace-id":"TRACE","x-forwarded-for":"198.51.100.7, 127.0.0.1",` +
				`"x-forwarded-port":"PORT","x-forwarded-proto":"http"},"requestContext":{"elb":{"targetGroupArn":"ARN"}},` +
				`"isBase64Encoded":true,"body":"/wAB"}`,
		},
		{
			name: "invalid UTF-8 in a text type", method: "POST", target: "/v1/records",
			contentType: "text/plain; charset=utf-8", body: []byte{'a', 0xff},
			want: `{"httpMethod":"POST","path":"/v1/records",` +
				`"headers":{"accept-encoding":"gzip","authorization":"Bearer k-123","content-length":"2","content-type":"text/plain; charset=utf-8",` +
				`"host":"127.0.0.1:PORT","user-agent":"drill-test/1.0","x-amzn-trace-id":"TRACE","x-forwarded-for":"198.51.100.7, 127.0.0.1",` +
				`"x-forwarded-port":"PORT","x-forwarded-proto":"http"},"requestContext":{"elb":{"targetGroupArn":"ARN"}},` +
				`"isBase64Encoded":true,"body":"Yf8="}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fn := &recordingInvoker{resp: okResponse(202, `{}`)}
			srv := httptest.NewServer(NewFront("us-east-1", frontRoutes, map[string]Invoker{"ingest": fn}))
			defer srv.Close()
			req, err := http.NewRequestWithContext(t.Context(), tt.method, srv.URL+tt.target, bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tt.contentType)
			req.Header.Set("Authorization", "Bearer k-123")
			req.Header.Set("User-Agent", "drill-test/1.0")
			req.Header.Set("X-Forwarded-For", "198.51.100.7")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 202 {
				t.Fatalf("status: got %d, want 202", resp.StatusCode)
			}
			evs := fn.got()
			if len(evs) != 1 {
				t.Fatalf("invocations: got %d, want 1", len(evs))
			}
			got := string(evs[0])
			m := traceID.FindStringSubmatch(got)
			if m == nil {
				t.Fatalf("event %s: no x-amzn-trace-id like Root=1-<8 hex>-<24 hex>", got)
			}
			u, _ := url.Parse(srv.URL)
			want := strings.NewReplacer("PORT", u.Port(), "TRACE", m[1], "ARN", frontTargetGroupARN("us-east-1", "ingest")).Replace(tt.want)
			if got != want {
				t.Errorf("event:\ngot  %s\nwant %s", got, want)
			}
			// The handlers' own ALB adapter reads it back to the same request.
			var ev events.ALBTargetGroupRequest
			if err := json.Unmarshal(evs[0], &ev); err != nil {
				t.Fatal(err)
			}
			body := []byte(ev.Body)
			if ev.IsBase64Encoded {
				body, _ = base64.StdEncoding.DecodeString(ev.Body)
			}
			if !bytes.Equal(body, tt.body) {
				t.Errorf("body: got %q, want %q", body, tt.body)
			}
		})
	}
}

func TestFrontTargetGroupARN(t *testing.T) {
	re := regexp.MustCompile(`^arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/twinstream-health/[0-9a-f]{16}$`)
	if got := frontTargetGroupARN("us-west-2", "health"); !re.MatchString(got) {
		t.Errorf("got %s, want a match for %s", got, re)
	}
	if frontTargetGroupARN("us-west-2", "health") == frontTargetGroupARN("us-east-1", "health") {
		t.Errorf("got the same ARN in two regions, want different ones")
	}
}

func TestFrontRoutes(t *testing.T) {
	tests := []struct {
		name   string
		routes []Route
		path   string
		want   string // function invoked, "" for the 404 default action
	}{
		{"records", frontRoutes, "/v1/records", "ingest"},
		{"records with query", frontRoutes, "/v1/records?x=1", "ingest"},
		{"health", frontRoutes, "/health", "health"},
		{"deep health", frontRoutes, "/health/deep", "health"},
		{"health wildcard", frontRoutes, "/health/deep/x", "health"},
		{"no prefix match", frontRoutes, "/healthz", ""},
		{"no sub path", frontRoutes, "/v1/records/x", ""},
		{"case-sensitive", frontRoutes, "/V1/records", ""},
		{"unknown", frontRoutes, "/", ""},
		{"priority, not list order", []Route{
			{Priority: 50, Paths: []string{"/v1/*"}, Function: "health"},
			{Priority: 5, Paths: []string{"/v1/records"}, Function: "ingest"},
		}, "/v1/records", "ingest"},
		{"lower priority still matches the rest", []Route{
			{Priority: 50, Paths: []string{"/v1/*"}, Function: "health"},
			{Priority: 5, Paths: []string{"/v1/records"}, Function: "ingest"},
		}, "/v1/other", "health"},
		{"question mark", []Route{{Priority: 1, Paths: []string{"/v?/records"}, Function: "ingest"}}, "/v2/records", "ingest"},
		{"question mark is one character", []Route{{Priority: 1, Paths: []string{"/v?/records"}, Function: "ingest"}}, "/v10/records", ""},
		{"star in the middle", []Route{{Priority: 1, Paths: []string{"/a/*/c"}, Function: "ingest"}}, "/a/b/b/c", "ingest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var called []string
			var mu sync.Mutex
			fns := map[string]Invoker{}
			for _, name := range []string{"ingest", "health"} {
				fns[name] = InvokerFunc(func(ctx context.Context, event []byte) ([]byte, error) {
					mu.Lock()
					called = append(called, name)
					mu.Unlock()
					return okResponse(200, `{"fn":"`+name+`"}`)(event)
				})
			}
			srv := httptest.NewServer(NewFront("us-east-1", tt.routes, fns))
			defer srv.Close()
			resp, err := srv.Client().Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if tt.want == "" {
				if resp.StatusCode != 404 || string(body) != `{"error":"not found"}` || resp.Header.Get("Content-Type") != "application/json" {
					t.Errorf("got %d %s %q, want 404 application/json {\"error\":\"not found\"}", resp.StatusCode, resp.Header.Get("Content-Type"), body)
				}
				if len(called) != 0 {
					t.Errorf("invoked %v, want nothing", called)
				}
				return
			}
			if resp.StatusCode != 200 || len(called) != 1 || called[0] != tt.want {
				t.Errorf("got %d, invoked %v, want 200 from %s", resp.StatusCode, called, tt.want)
			}
		})
	}
}

func TestFrontResponse(t *testing.T) {
	tests := []struct {
		name       string
		fn         Invoker // nil: the function is missing
		timeout    time.Duration
		body       []byte
		wantStatus int
		wantHeader http.Header
		wantBody   string
	}{
		{
			name: "headers and text body",
			fn: InvokerFunc(func(context.Context, []byte) ([]byte, error) {
				return []byte(`{"statusCode":202,"statusDescription":"202 Accepted","headers":{"Content-Type":"application/json","X-Request-Id":"r1"},"body":"{\"accepted\":1}","isBase64Encoded":false}`), nil
			}),
			wantStatus: 202,
			wantHeader: http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"r1"}},
			wantBody:   `{"accepted":1}`,
		},
		{
			name: "multi-value headers and base64 body",
			fn: InvokerFunc(func(context.Context, []byte) ([]byte, error) {
				return []byte(`{"statusCode":200,"multiValueHeaders":{"Set-Cookie":["a=1","b=2"],"Content-Type":["application/octet-stream"]},"body":"/wAB","isBase64Encoded":true}`), nil
			}),
			wantStatus: 200,
			wantHeader: http.Header{"Set-Cookie": {"a=1", "b=2"}, "Content-Type": {"application/octet-stream"}},
			wantBody:   "\xff\x00\x01",
		},
		{
			name: "503 from the function is passed on",
			fn: InvokerFunc(func(context.Context, []byte) ([]byte, error) {
				return []byte(`{"statusCode":503,"headers":{"Content-Type":"application/json"},"body":"{\"verdict\":\"unhealthy\"}"}`), nil
			}),
			wantStatus: 503,
			wantBody:   `{"verdict":"unhealthy"}`,
		},
		{
			name: "invoke error",
			fn: InvokerFunc(func(context.Context, []byte) ([]byte, error) {
				return nil, &standin.FunctionError{Type: "Panic", Message: "boom"}
			}),
			wantStatus: 502,
		},
		{
			name:       "not a response",
			fn:         InvokerFunc(func(context.Context, []byte) ([]byte, error) { return []byte(`"hello"`), nil }),
			wantStatus: 502,
		},
		{
			name:       "no status code",
			fn:         InvokerFunc(func(context.Context, []byte) ([]byte, error) { return []byte(`{"body":"x"}`), nil }),
			wantStatus: 502,
		},
		{
			name: "bad base64",
			fn: InvokerFunc(func(context.Context, []byte) ([]byte, error) {
				return []byte(`{"statusCode":200,"body":"!!","isBase64Encoded":true}`), nil
			}),
			wantStatus: 502,
		},
		{
			name: "response over 1 MB",
			fn: InvokerFunc(func(context.Context, []byte) ([]byte, error) {
				return json.Marshal(events.ALBTargetGroupResponse{StatusCode: 200, Body: strings.Repeat("x", frontMaxBody)})
			}),
			wantStatus: 502,
		},
		{
			name: "function timeout",
			fn: InvokerFunc(func(context.Context, []byte) ([]byte, error) {
				return []byte("Task timed out after 3.00 seconds"), fmt.Errorf("rie invoke: %w", standin.ErrFunctionTimeout)
			}),
			wantStatus: 504,
		},
		{
			name: "front timeout",
			fn: InvokerFunc(func(ctx context.Context, _ []byte) ([]byte, error) {
				<-ctx.Done()
				return nil, ctx.Err()
			}),
			timeout:    10 * time.Millisecond,
			wantStatus: 504,
		},
		{
			name:       "function missing",
			wantStatus: 503,
		},
		{
			name:       "request over 1 MB",
			fn:         InvokerFunc(func(context.Context, []byte) ([]byte, error) { return nil, errors.New("must not be invoked") }),
			body:       bytes.Repeat([]byte("x"), frontMaxBody+1),
			wantStatus: 413,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fns := map[string]Invoker{}
			if tt.fn != nil {
				fns["ingest"] = tt.fn
			}
			h := NewFront("us-east-1", frontRoutes, fns)
			if tt.timeout > 0 {
				h.(*front).timeout = tt.timeout
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			resp, err := srv.Client().Post(srv.URL+"/v1/records", "application/json", bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status: got %d, want %d (body %q)", resp.StatusCode, tt.wantStatus, body)
			}
			for k, vs := range tt.wantHeader {
				if got := resp.Header.Values(k); strings.Join(got, "|") != strings.Join(vs, "|") {
					t.Errorf("header %s: got %q, want %q", k, got, vs)
				}
			}
			if tt.wantBody != "" && string(body) != tt.wantBody {
				t.Errorf("body: got %q, want %q", body, tt.wantBody)
			}
			if tt.wantStatus >= 500 && tt.wantBody == "" && !strings.Contains(string(body), fmt.Sprint(tt.wantStatus)) {
				t.Errorf("error page: got %q, want ALB's page naming %d", body, tt.wantStatus)
			}
		})
	}
}

// busyInvoker fails the test if two invocations overlap on it, and waits on
// release before answering.
type busyInvoker struct {
	t       *testing.T
	busy    atomic.Bool
	calls   atomic.Int32
	started chan<- struct{}
	release <-chan struct{}
}

func (b *busyInvoker) Invoke(ctx context.Context, event []byte) ([]byte, error) {
	if !b.busy.CompareAndSwap(false, true) {
		b.t.Errorf("two invocations at once on one invoker")
		return nil, errors.New("busy")
	}
	defer b.busy.Store(false)
	b.calls.Add(1)
	b.started <- struct{}{}
	select {
	case <-b.release:
		return []byte(`{}`), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func TestPool(t *testing.T) {
	const n, calls = 3, 12
	started := make(chan struct{}, calls)
	release := make(chan struct{})
	var invs []Invoker
	var busy []*busyInvoker
	for range n {
		b := &busyInvoker{t: t, started: started, release: release}
		busy = append(busy, b)
		invs = append(invs, b)
	}
	pool := NewPool(invs...)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for range calls {
		wg.Go(func() {
			_, err := pool.Invoke(ctx, []byte(`{}`))
			errs <- err
		})
	}
	// All n invokers start at once while the other calls wait for them.
	for i := range n {
		select {
		case <-started:
		case <-ctx.Done():
			t.Fatalf("started %d invocations, want %d at once", i, n)
		}
	}
	select {
	case <-started:
		t.Fatalf("an invocation started while all %d invokers were busy", n)
	default:
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("invoke: %v", err)
		}
	}
	total := 0
	for _, b := range busy {
		total += int(b.calls.Load())
	}
	if total != calls {
		t.Errorf("invocations: got %d, want %d", total, calls)
	}
}

func TestPoolWaitsUntilContextEnds(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{}, 1)
	pool := NewPool(&busyInvoker{t: t, started: started, release: release})
	go pool.Invoke(t.Context(), nil)
	<-started
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := pool.Invoke(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("all busy, context cancelled: got %v, want context.Canceled", err)
	}
	if _, err := NewPool().Invoke(t.Context(), nil); err == nil {
		t.Errorf("empty pool: got no error, want one")
	}
}

// TestFrontHealthRIE serves GET /health/deep through the front to the real
// health bootstrap under aws-lambda-rie, probing a real kinesalite.
func TestFrontHealthRIE(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	const region, stream = "us-east-1", "drill-health"
	kin := standin.StartKinesis(t, standin.KinesisOptions{Region: region, InMemory: true})
	if err := kin.CreateStream(ctx, stream, 1); err != nil {
		t.Fatal(err)
	}
	env := append(standin.Env(region, kin), "STREAM_NAME="+stream)
	fn := standin.StartRIE(t, standin.BuildBootstrap(t, "./lambdas/health"), env)
	srv := httptest.NewServer(NewFront(region, frontRoutes, map[string]Invoker{"health": NewPool(fn)}))
	defer srv.Close()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/health/deep", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %s %s, want 200 application/json\nlogs:\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body, fn.Logs())
	}
	var st struct {
		Verdict string `json:"verdict"`
	}
	if err := json.Unmarshal(body, &st); err != nil || st.Verdict != "healthy" {
		t.Fatalf("body %s: got verdict %q (%v), want healthy", body, st.Verdict, err)
	}
	recs, err := kin.ReadAll(ctx, stream)
	if err != nil || len(recs) != 1 {
		t.Fatalf("canary records: got %d (%v), want 1", len(recs), err)
	}
}
