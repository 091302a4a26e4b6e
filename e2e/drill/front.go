package drill

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/twinstream/twinstream/e2e/internal/standin"
)

// Invoker runs one synchronous Lambda invocation: event JSON in, the
// function's response JSON out. *standin.RIE is one; Pool spreads
// invocations over several.
type Invoker interface {
	Invoke(ctx context.Context, event []byte) ([]byte, error)
}

// InvokerFunc lets a function serve as an Invoker (fakes in tests).
type InvokerFunc func(ctx context.Context, event []byte) ([]byte, error)

// Invoke calls f.
func (f InvokerFunc) Invoke(ctx context.Context, event []byte) ([]byte, error) { return f(ctx, event) }

// Pool is a function with several execution environments: each invocation
// runs on a free invoker, never two at once on the same one, and waits
// (until ctx ends) while all are busy. Lambda would start another
// environment instead; the pool's size is the drill's concurrency limit.
type Pool struct {
	free chan Invoker
}

// NewPool returns a pool of the given invokers.
func NewPool(invokers ...Invoker) *Pool {
	p := &Pool{free: make(chan Invoker, len(invokers))}
	for _, inv := range invokers {
		p.free <- inv
	}
	return p
}

// errEmptyPool is returned by a pool without invokers: waiting would never end.
var errEmptyPool = errors.New("pool: no invokers")

// Invoke runs the event on the first free invoker.
func (p *Pool) Invoke(ctx context.Context, event []byte) ([]byte, error) {
	if cap(p.free) == 0 {
		return nil, errEmptyPool
	}
	select {
	case inv := <-p.free:
		defer func() { p.free <- inv }()
		return inv.Invoke(ctx, event)
	case <-ctx.Done():
		return nil, fmt.Errorf("pool: waiting for a free invoker: %w", ctx.Err())
	}
}

const (
	// frontTimeout bounds one request: ALB's default idle timeout. The
	// function's own timeout is enforced by the invoker (RIE).
	frontTimeout = 60 * time.Second
	// frontMaxBody is the ALB's limit on Lambda request and response bodies
	// ("1 MB"; read as 10^6 bytes, the smaller reading, as ingest does).
	frontMaxBody = 1_000_000
	// frontAccount is the account in the target group ARNs (events only).
	frontAccount = "123456789012"
	// frontNotFound is the listener's default action in the template: a 404
	// fixed response.
	frontNotFound = `{"error":"not found"}`
)

// front is a region's ALB listener with Lambda target groups.
type front struct {
	region  string
	routes  []Route // ascending priority
	fns     map[string]Invoker
	timeout time.Duration
}

// NewFront returns a region's ALB as an http.Handler: it picks the first
// route (in priority order) with a path pattern matching the request path,
// turns the request into the ALB Lambda event (multi-value headers off, as
// the target groups have them), invokes the route's function and writes its
// ALB response back. Like ALB it answers 404 {"error":"not found"} when no
// rule matches (the listener's default action), 413 for a request body over
// 1 MB, 502 when the invocation fails or the response is malformed or over
// 1 MB, 504 when the function or the request times out, and 503 when the
// route's function is not in fns (a target group without targets).
func NewFront(region string, routes []Route, fns map[string]Invoker) http.Handler {
	rs := append([]Route(nil), routes...)
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].Priority < rs[j].Priority })
	return &front{region: region, routes: rs, fns: fns, timeout: frontTimeout}
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	route, ok := f.match(path)
	if !ok {
		frontWrite(w, http.StatusNotFound, "application/json", frontNotFound)
		return
	}
	fn := f.fns[route.Function]
	if fn == nil {
		frontError(w, http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, frontMaxBody+1))
	if err != nil {
		frontError(w, http.StatusBadRequest)
		return
	}
	if len(body) > frontMaxBody {
		frontError(w, http.StatusRequestEntityTooLarge)
		return
	}
	event, err := json.Marshal(f.event(r, route.Function, body))
	if err != nil {
		frontError(w, http.StatusInternalServerError)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), f.timeout)
	defer cancel()
	out, err := fn.Invoke(ctx, event)
	if err != nil {
		if frontTimedOut(err) {
			frontError(w, http.StatusGatewayTimeout)
			return
		}
		frontError(w, http.StatusBadGateway)
		return
	}
	if err := frontRespond(w, out); err != nil {
		frontError(w, http.StatusBadGateway)
	}
}

// match returns the first route with a pattern matching path.
func (f *front) match(path string) (Route, bool) {
	for _, rt := range f.routes {
		for _, pat := range rt.Paths {
			if frontGlob(pat, path) {
				return rt, true
			}
		}
	}
	return Route{}, false
}

// frontGlob matches an ALB path pattern: case-sensitive, '*' matches any
// run of characters (including '/'), '?' exactly one.
func frontGlob(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			// Let the last '*' take one more character and try again.
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// event builds the ALB event as the load balancer sends it with
// multi-value headers disabled: header names lower-cased, one value each
// (the last one sent), the query string's parameters as sent (still
// URL-encoded, the last value of a repeated name), and the X-Forwarded-*
// headers ALB adds.
func (f *front) event(r *http.Request, fn string, body []byte) events.ALBTargetGroupRequest {
	ev := events.ALBTargetGroupRequest{
		HTTPMethod: r.Method,
		Path:       r.URL.EscapedPath(),
		Headers:    map[string]string{},
		RequestContext: events.ALBTargetGroupRequestContext{
			ELB: events.ELBContext{TargetGroupArn: frontTargetGroupARN(f.region, fn)},
		},
	}
	if r.URL.RawQuery != "" {
		ev.QueryStringParameters = map[string]string{}
		for _, kv := range strings.Split(r.URL.RawQuery, "&") {
			if kv == "" {
				continue
			}
			k, v, _ := strings.Cut(kv, "=")
			ev.QueryStringParameters[k] = v
		}
	}
	for k, vs := range r.Header {
		if len(vs) > 0 {
			ev.Headers[strings.ToLower(k)] = vs[len(vs)-1]
		}
	}
	if r.Host != "" {
		ev.Headers["host"] = r.Host
	}
	client, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		client = r.RemoteAddr
	}
	if xff := strings.Join(r.Header.Values("X-Forwarded-For"), ", "); xff != "" {
		ev.Headers["x-forwarded-for"] = xff + ", " + client
	} else {
		ev.Headers["x-forwarded-for"] = client
	}
	ev.Headers["x-forwarded-proto"] = "http"
	if r.TLS != nil {
		ev.Headers["x-forwarded-proto"] = "https"
	}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, port, err := net.SplitHostPort(la.String()); err == nil {
			ev.Headers["x-forwarded-port"] = port
		}
	}
	if ev.Headers["x-amzn-trace-id"] == "" {
		ev.Headers["x-amzn-trace-id"] = fmt.Sprintf("Root=1-%08x-%012x%012x", time.Now().Unix(), rand.Uint64()>>16, rand.Uint64()>>16)
	}
	if frontTextBody(r.Header.Get("Content-Type"), body) {
		ev.Body = string(body)
	} else {
		ev.Body = base64.StdEncoding.EncodeToString(body)
		ev.IsBase64Encoded = true
	}
	return ev
}

// frontTextBody reports whether ALB passes the body as is: for the content
// types text/*, application/json, application/javascript and
// application/xml; every other body is base64-encoded. A "text" body that
// is not UTF-8 is encoded too, since JSON cannot carry it unchanged.
func frontTextBody(contentType string, body []byte) bool {
	if len(body) == 0 {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	text := strings.HasPrefix(mt, "text/") || mt == "application/json" || mt == "application/javascript" || mt == "application/xml"
	return text && utf8.Valid(body)
}

// frontTargetGroupARN names the target group of a function in a region,
// stable across runs.
func frontTargetGroupARN(region, fn string) string {
	h := fnv.New64a()
	io.WriteString(h, region+"/"+fn)
	return fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:targetgroup/twinstream-%s/%016x", region, frontAccount, fn, h.Sum64())
}

// frontTimedOut tells a timeout (504) from other invocation failures (502).
func frontTimedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, standin.ErrFunctionTimeout) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// frontRespond writes the function's ALB response. It fails, writing
// nothing, on what ALB answers with 502: not a response object, no status
// code, a body that is not valid base64 though said to be, or over 1 MB.
func frontRespond(w http.ResponseWriter, out []byte) error {
	if len(out) > frontMaxBody {
		return fmt.Errorf("response of %d bytes: over 1 MB", len(out))
	}
	var resp events.ALBTargetGroupResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		return fmt.Errorf("response: %w", err)
	}
	if resp.StatusCode < 100 || resp.StatusCode > 599 {
		return fmt.Errorf("response: status code %d", resp.StatusCode)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			return fmt.Errorf("response body: %w", err)
		}
		body = b
	}
	h := w.Header()
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		h.Del(k)
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	// The server frames the body itself.
	h.Del("Content-Length")
	h.Del("Transfer-Encoding")
	h.Del("Connection")
	w.WriteHeader(resp.StatusCode)
	w.Write(body)
	return nil
}

// frontError writes ALB's own error page for status.
func frontError(w http.ResponseWriter, status int) {
	text := fmt.Sprintf("%d %s", status, http.StatusText(status))
	frontWrite(w, status, "text/html", "<html>\r\n<head><title>"+text+"</title></head>\r\n<body>\r\n<center><h1>"+text+"</h1></center>\r\n</body>\r\n</html>\r\n")
}

func frontWrite(w http.ResponseWriter, status int, contentType, body string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Server", "awselb/2.0")
	w.WriteHeader(status)
	io.WriteString(w, body)
}
