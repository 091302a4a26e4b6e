// Package awsfake holds in-process fakes of the AWS APIs the twinstream
// command calls and no local stand-in serves: CloudFormation (query
// protocol), Global Accelerator (JSON 1.1), Route 53 (REST-XML) and Secrets
// Manager (JSON 1.1, with versions and staging labels). Each is an
// httptest.Server on 127.0.0.1 speaking the service's wire protocol with
// only the operations the command uses, so tests drive the real SDK clients
// (pointed at it through BaseEndpoint) and its serializers check the fakes.
//
// One server answers every region: it reads the region from the request's
// SigV4 credential scope, as AWS's regional endpoints would imply.
package awsfake

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
)

// T is the part of testing.TB the fakes use.
type T interface {
	Helper()
	Cleanup(func())
}

// scopeRE finds the region and service of a SigV4 Authorization header:
// Credential=AKID/20260101/us-east-1/cloudformation/aws4_request.
var scopeRE = regexp.MustCompile(`Credential=[^/]+/[0-9]{8}/([^/]+)/([^/]+)/aws4_request`)

// signedRegion returns the region r was signed for ("" when unsigned).
func signedRegion(r *http.Request) string {
	m := scopeRE.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return ""
	}
	return m[1]
}

// server is what every fake shares: the HTTP server and a log of calls.
type server struct {
	srv *httptest.Server

	mu    sync.Mutex
	calls []Call
	fail  map[string]APIError // by operation
}

// Call is one request a fake served.
type Call struct {
	Region    string
	Operation string
}

// APIError is an error a fake answers with instead of serving an operation
// (see FailNext).
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (s *server) start(t T, h http.HandlerFunc) {
	t.Helper()
	s.srv = httptest.NewServer(h)
	t.Cleanup(s.srv.Close)
}

// URL is the fake's base URL (an SDK client's BaseEndpoint).
func (s *server) URL() string { return s.srv.URL }

// Calls returns the operations served so far, in order.
func (s *server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Fail makes every later call of op answer err (until Fail(op, nil)).
func (s *server) Fail(op string, err *APIError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail == nil {
		s.fail = map[string]APIError{}
	}
	if err == nil {
		delete(s.fail, op)
		return
	}
	s.fail[op] = *err
}

// record logs a call and returns the error to answer with, if any.
func (s *server) record(region, op string) (APIError, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, Call{Region: region, Operation: op})
	e, ok := s.fail[op]
	return e, ok
}

// writeJSON answers a JSON-protocol request.
func writeJSON(w http.ResponseWriter, contentType string, status int, v any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// jsonError answers a JSON-protocol error (__type is the error code).
func jsonError(w http.ResponseWriter, contentType string, e APIError) {
	if e.Status == 0 {
		e.Status = http.StatusBadRequest
	}
	writeJSON(w, contentType, e.Status, map[string]string{"__type": e.Code, "Message": e.Message})
}
