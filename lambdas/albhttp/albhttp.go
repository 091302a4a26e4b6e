// Package albhttp runs a net/http Handler as an ALB Lambda target: it turns
// the ALB event into an *http.Request and the handler's answer into the ALB
// response. The handler packages stay free of Lambda types, and the same
// handler can be served over plain HTTP in tests and the local drill.
package albhttp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// Func is the Lambda handler of an ALB target group (see Handler). Given to
// lambda.Start, it is a lambda.Handler: Lambda's Go runtime (aws-lambda-go)
// calls its Invoke method with the event's bytes instead of decoding the
// event by reflection with encoding/json, which scans a large body three
// times byte by byte.
type Func func(context.Context, events.ALBTargetGroupRequest) (events.ALBTargetGroupResponse, error)

// Invoke decodes the ALB event in payload (decodeEvent), calls f and
// encodes its response as the runtime's reflection path does (encoding/json,
// no HTML escaping, no final newline; see appendResponse): the same bytes
// and the same errors.
func (f Func) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	ev, err := decodeEvent(payload)
	if err != nil {
		return nil, err
	}
	resp, err := f(ctx, ev)
	if err != nil {
		return nil, err
	}
	return appendResponse(make([]byte, 0, len(resp.Body)+len(resp.Body)/8+512), resp), nil
}

// Handler returns a Lambda handler for an ALB target group that serves h.
func Handler(h http.Handler) Func {
	return func(ctx context.Context, ev events.ALBTargetGroupRequest) (events.ALBTargetGroupResponse, error) {
		req, err := Request(ctx, ev)
		if err != nil {
			return errorResponse(ev, http.StatusBadRequest, err.Error()), nil
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		// Result's header is the one sent with the status, as on a real
		// server; changes the handler makes after writing do not count.
		res := rec.Result()
		return Response(ev, res.StatusCode, res.Header, rec.Body.Bytes()), nil
	}
}

// Request builds the http.Request an ALB event describes, as net/http's
// server would: ALB passes the path and query string as the client sent them
// (still URL-encoded). RemoteAddr is the client IP that ALB appended to
// X-Forwarded-For (the last entry; earlier ones come from the client).
func Request(ctx context.Context, ev events.ALBTargetGroupRequest) (*http.Request, error) {
	// A text body is read where it is, not copied.
	var body io.Reader = strings.NewReader(ev.Body)
	size := len(ev.Body)
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return nil, fmt.Errorf("request body is not valid base64: %w", err)
		}
		body, size = bytes.NewReader(b), len(b)
	}
	u := &url.URL{Path: ev.Path}
	if p, err := url.PathUnescape(ev.Path); err == nil && p != ev.Path {
		u.Path, u.RawPath = p, ev.Path
	}
	if u.Path == "" {
		u.Path = "/"
	}
	q := url.Values{}
	if len(ev.MultiValueQueryStringParameters) > 0 {
		for k, vs := range ev.MultiValueQueryStringParameters {
			for _, v := range vs {
				q.Add(unescape(k), unescape(v))
			}
		}
	} else {
		for k, v := range ev.QueryStringParameters {
			q.Add(unescape(k), unescape(v))
		}
	}
	u.RawQuery = q.Encode()
	method := ev.HTTPMethod
	if method == "" {
		method = http.MethodGet
	}
	// Build from "/" and set the URL afterwards: formatting u and parsing it
	// again would read a path such as "//host/x" as a host.
	req, err := http.NewRequestWithContext(ctx, method, "/", body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.URL = u
	req.RequestURI = u.RequestURI()
	if len(ev.MultiValueHeaders) > 0 {
		for k, vs := range ev.MultiValueHeaders {
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}
	} else {
		for k, v := range ev.Headers {
			req.Header.Set(k, v)
		}
	}
	req.Host = req.Header.Get("Host")
	req.ContentLength = int64(size)
	req.RemoteAddr = lastForwarded(req.Header.Values("X-Forwarded-For"))
	return req, nil
}

func unescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// lastForwarded returns the last X-Forwarded-For entry: ALB appends the
// address it saw, anything before it is whatever the client claimed.
func lastForwarded(xff []string) string {
	if len(xff) == 0 {
		return ""
	}
	last := xff[len(xff)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	return strings.TrimSpace(last)
}

// Response builds the ALB response. It answers with multi-value headers when
// the target group sent them (ALB requires the response to match), and
// base64-encodes bodies that are not UTF-8 text.
func Response(ev events.ALBTargetGroupRequest, status int, header http.Header, body []byte) events.ALBTargetGroupResponse {
	resp := events.ALBTargetGroupResponse{
		StatusCode:        status,
		StatusDescription: strings.TrimSpace(fmt.Sprintf("%d %s", status, http.StatusText(status))),
	}
	if len(ev.MultiValueHeaders) > 0 {
		resp.MultiValueHeaders = map[string][]string{}
		for k, vs := range header {
			resp.MultiValueHeaders[k] = append([]string(nil), vs...)
		}
	} else {
		resp.Headers = map[string]string{}
		for k, vs := range header {
			resp.Headers[k] = strings.Join(vs, ", ")
		}
	}
	if utf8.Valid(body) {
		resp.Body = string(body)
	} else {
		resp.Body = base64.StdEncoding.EncodeToString(body)
		resp.IsBase64Encoded = true
	}
	return resp
}

func errorResponse(ev events.ALBTargetGroupRequest, status int, msg string) events.ALBTargetGroupResponse {
	// json.Marshal, not %q: Go quoting is not JSON for every string.
	body, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	return Response(ev, status, http.Header{"Content-Type": {"application/json"}}, body)
}
