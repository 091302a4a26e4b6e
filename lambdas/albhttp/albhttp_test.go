package albhttp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func loadEvent(t *testing.T, name string) events.ALBTargetGroupRequest {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.ALBTargetGroupRequest
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ev
}

func TestRequestFromFixtures(t *testing.T) {
	tests := []struct {
		file       string
		wantQuery  map[string][]string
		wantHeader map[string][]string
		wantBody   string
		wantCT     string
	}{
		{"alb-event.json",
			map[string][]string{"trace": {"a b"}, "mode": {"fast safe"}},
			map[string][]string{"Authorization": {"Bearer k-123"}, "X-Forwarded-Proto": {"https"}},
			`{"records":[{"data":{"n":1}}]}`, "application/json"},
		{"alb-event-multi.json",
			map[string][]string{"tag": {"a", "b&c"}, "x=y": {"1"}},
			map[string][]string{"Authorization": {"Bearer k-123"}, "X-Custom": {"one", "two"}},
			"{\"data\":1}\n{\"data\":2}\n", "application/x-ndjson"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			ev := loadEvent(t, tt.file)
			type key struct{}
			ctx := context.WithValue(context.Background(), key{}, "v")
			req, err := Request(ctx, ev)
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if req.Method != http.MethodPost || req.URL.Path != "/v1/records" {
				t.Errorf("got %s %s, want POST /v1/records", req.Method, req.URL.Path)
			}
			if got := map[string][]string(req.URL.Query()); !reflect.DeepEqual(got, tt.wantQuery) {
				t.Errorf("query: got %v, want %v", got, tt.wantQuery)
			}
			for k, want := range tt.wantHeader {
				if got := req.Header.Values(k); !reflect.DeepEqual(got, want) {
					t.Errorf("header %s: got %q, want %q", k, got, want)
				}
			}
			if got := req.Header.Get("Content-Type"); got != tt.wantCT {
				t.Errorf("content type: got %q, want %q", got, tt.wantCT)
			}
			if req.Host != "ingest.example.com" {
				t.Errorf("host: got %q, want %q", req.Host, "ingest.example.com")
			}
			if req.RemoteAddr != "203.0.113.9" {
				t.Errorf("remote addr: got %q, want the address ALB appended, %q", req.RemoteAddr, "203.0.113.9")
			}
			body, _ := io.ReadAll(req.Body)
			if string(body) != tt.wantBody {
				t.Errorf("body: got %q, want %q", body, tt.wantBody)
			}
			if req.ContentLength != int64(len(tt.wantBody)) {
				t.Errorf("content length: got %d, want %d", req.ContentLength, len(tt.wantBody))
			}
			if req.Context().Value(key{}) != "v" {
				t.Error("got a request without the caller's context, want it passed on")
			}
		})
	}
}

func TestRequest(t *testing.T) {
	tests := []struct {
		name        string
		ev          events.ALBTargetGroupRequest
		wantMethod  string
		wantPath    string
		wantRawPath string
		wantURI     string
		wantQuery   map[string][]string
		wantRemote  string
		wantBody    string
		wantErr     string
	}{
		{name: "empty path and method", ev: events.ALBTargetGroupRequest{},
			wantMethod: "GET", wantPath: "/", wantURI: "/", wantQuery: map[string][]string{}},
		{name: "health", ev: events.ALBTargetGroupRequest{HTTPMethod: "GET", Path: "/health/deep"},
			wantMethod: "GET", wantPath: "/health/deep", wantURI: "/health/deep", wantQuery: map[string][]string{}},
		{name: "encoded path", ev: events.ALBTargetGroupRequest{HTTPMethod: "GET", Path: "/a%20b/c%2Fd"},
			wantMethod: "GET", wantPath: "/a b/c/d", wantRawPath: "/a%20b/c%2Fd", wantURI: "/a%20b/c%2Fd", wantQuery: map[string][]string{}},
		{name: "bad escape kept literally", ev: events.ALBTargetGroupRequest{HTTPMethod: "GET", Path: "/a%zz"},
			wantMethod: "GET", wantPath: "/a%zz", wantURI: "/a%25zz", wantQuery: map[string][]string{}},
		{name: "double slash is a path, not a host", ev: events.ALBTargetGroupRequest{HTTPMethod: "GET", Path: "//evil.example/x"},
			wantMethod: "GET", wantPath: "//evil.example/x", wantURI: "//evil.example/x", wantQuery: map[string][]string{}},
		{name: "single-value query", ev: events.ALBTargetGroupRequest{HTTPMethod: "GET", Path: "/q",
			QueryStringParameters: map[string]string{"a": "1%2B1", "b": "x+y", "c": "%zz", "": "empty"}},
			wantMethod: "GET", wantPath: "/q", wantURI: "/q?=empty&a=1%2B1&b=x+y&c=%25zz",
			wantQuery: map[string][]string{"a": {"1+1"}, "b": {"x y"}, "c": {"%zz"}, "": {"empty"}}},
		{name: "multi-value query wins", ev: events.ALBTargetGroupRequest{HTTPMethod: "GET", Path: "/q",
			QueryStringParameters:           map[string]string{"a": "ignored"},
			MultiValueQueryStringParameters: map[string][]string{"a": {"1", "2"}, "b": {""}}},
			wantMethod: "GET", wantPath: "/q", wantURI: "/q?a=1&a=2&b=",
			wantQuery: map[string][]string{"a": {"1", "2"}, "b": {""}}},
		{name: "base64 body", ev: events.ALBTargetGroupRequest{HTTPMethod: "POST", Path: "/v1/records",
			IsBase64Encoded: true, Body: base64.StdEncoding.EncodeToString([]byte{0, 0xff, '\n'})},
			wantMethod: "POST", wantPath: "/v1/records", wantURI: "/v1/records", wantQuery: map[string][]string{}, wantBody: "\x00\xff\n"},
		{name: "plain body", ev: events.ALBTargetGroupRequest{HTTPMethod: "PUT", Path: "/", Body: "héllo"},
			wantMethod: "PUT", wantPath: "/", wantURI: "/", wantQuery: map[string][]string{}, wantBody: "héllo"},
		{name: "x-forwarded-for single", ev: events.ALBTargetGroupRequest{Headers: map[string]string{"x-forwarded-for": " 192.0.2.1 "}},
			wantMethod: "GET", wantPath: "/", wantURI: "/", wantQuery: map[string][]string{}, wantRemote: "192.0.2.1"},
		{name: "x-forwarded-for repeated header", ev: events.ALBTargetGroupRequest{MultiValueHeaders: map[string][]string{
			"x-forwarded-for": {"10.0.0.1, 10.0.0.2", "192.0.2.9"}}},
			wantMethod: "GET", wantPath: "/", wantURI: "/", wantQuery: map[string][]string{}, wantRemote: "192.0.2.9"},
		{name: "bad base64", ev: events.ALBTargetGroupRequest{HTTPMethod: "POST", IsBase64Encoded: true, Body: "!!not base64"},
			wantErr: "request body is not valid base64"},
		{name: "bad method", ev: events.ALBTargetGroupRequest{HTTPMethod: "GE T", Path: "/"},
			wantErr: "build request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := Request(context.Background(), tt.ev)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if req.Method != tt.wantMethod {
				t.Errorf("method: got %q, want %q", req.Method, tt.wantMethod)
			}
			if req.URL.Path != tt.wantPath || req.URL.RawPath != tt.wantRawPath {
				t.Errorf("path, raw path: got %q, %q, want %q, %q", req.URL.Path, req.URL.RawPath, tt.wantPath, tt.wantRawPath)
			}
			if req.RequestURI != tt.wantURI {
				t.Errorf("request URI: got %q, want %q", req.RequestURI, tt.wantURI)
			}
			if req.URL.Host != "" {
				t.Errorf("URL host: got %q, want none", req.URL.Host)
			}
			if got := map[string][]string(req.URL.Query()); !reflect.DeepEqual(got, tt.wantQuery) {
				t.Errorf("query: got %v, want %v", got, tt.wantQuery)
			}
			if req.RemoteAddr != tt.wantRemote {
				t.Errorf("remote addr: got %q, want %q", req.RemoteAddr, tt.wantRemote)
			}
			body, _ := io.ReadAll(req.Body)
			if string(body) != tt.wantBody || req.ContentLength != int64(len(tt.wantBody)) {
				t.Errorf("body: got %q (length %d), want %q", body, req.ContentLength, tt.wantBody)
			}
		})
	}
}

func TestResponse(t *testing.T) {
	single := events.ALBTargetGroupRequest{Headers: map[string]string{"host": "h"}}
	multi := events.ALBTargetGroupRequest{MultiValueHeaders: map[string][]string{"host": {"h"}}}
	hdr := http.Header{"Content-Type": {"application/json"}, "Set-Cookie": {"a=1", "b=2"}}
	tests := []struct {
		name   string
		ev     events.ALBTargetGroupRequest
		status int
		header http.Header
		body   []byte
		want   events.ALBTargetGroupResponse
	}{
		{"single-value headers", single, 202, hdr, []byte(`{"accepted":1}`),
			events.ALBTargetGroupResponse{StatusCode: 202, StatusDescription: "202 Accepted",
				Headers: map[string]string{"Content-Type": "application/json", "Set-Cookie": "a=1, b=2"}, Body: `{"accepted":1}`}},
		{"multi-value headers", multi, 503, hdr, []byte(`{}`),
			events.ALBTargetGroupResponse{StatusCode: 503, StatusDescription: "503 Service Unavailable",
				MultiValueHeaders: map[string][]string{"Content-Type": {"application/json"}, "Set-Cookie": {"a=1", "b=2"}}, Body: `{}`}},
		{"binary body is base64", single, 200, nil, []byte{0xff, 0xfe, 0},
			events.ALBTargetGroupResponse{StatusCode: 200, StatusDescription: "200 OK", Headers: map[string]string{},
				Body: "//4A", IsBase64Encoded: true}},
		{"empty body", single, 204, nil, nil,
			events.ALBTargetGroupResponse{StatusCode: 204, StatusDescription: "204 No Content", Headers: map[string]string{}}},
		{"unicode text stays text", single, 200, nil, []byte("日本語"),
			events.ALBTargetGroupResponse{StatusCode: 200, StatusDescription: "200 OK", Headers: map[string]string{}, Body: "日本語"}},
		{"unknown status", single, 299, nil, nil,
			events.ALBTargetGroupResponse{StatusCode: 299, StatusDescription: "299", Headers: map[string]string{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Response(tt.ev, tt.status, tt.header, tt.body)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if tt.body != nil && got.IsBase64Encoded {
				if b, _ := base64.StdEncoding.DecodeString(got.Body); string(b) != string(tt.body) {
					t.Errorf("decoded body: got %q, want %q", b, tt.body)
				}
			}
		})
	}
	// The response must not share slices with the handler's header.
	got := Response(multi, 200, hdr, nil)
	got.MultiValueHeaders["Set-Cookie"][0] = "changed"
	if hdr["Set-Cookie"][0] != "a=1" {
		t.Errorf("header after changing the response: got %q, want %q", hdr["Set-Cookie"][0], "a=1")
	}
}

// echo is a small handler: it answers with what it saw.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/bytes":
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write([]byte{0, 1, 0xff})
		return
	case r.URL.Path == "/late-header":
		w.WriteHeader(http.StatusTeapot)
		w.Header().Set("X-Late", "ignored") // after the status: not sent
		return
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Add("X-Seen", r.Header.Get("Content-Type"))
	w.Header().Add("X-Seen", r.URL.Query().Get("tag"))
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, `{"len":%d,"remote":%q,"host":%q}`, len(body), r.RemoteAddr, r.Host)
})

func TestHandler(t *testing.T) {
	h := Handler(echo)
	multi := loadEvent(t, "alb-event-multi.json")
	get := loadEvent(t, "alb-event.json")
	get.HTTPMethod = "GET"
	bytesEv := loadEvent(t, "alb-event.json")
	bytesEv.Path = "/bytes"
	late := loadEvent(t, "alb-event.json")
	late.Path = "/late-header"
	badB64 := loadEvent(t, "alb-event.json")
	badB64.IsBase64Encoded, badB64.Body = true, "%%%"
	badB64Multi := loadEvent(t, "alb-event-multi.json")
	badB64Multi.Body = "%%%"

	tests := []struct {
		name       string
		ev         events.ALBTargetGroupRequest
		wantStatus int
		wantDesc   string
		wantBody   string // prefix
		wantHeader map[string]string
		wantMulti  map[string][]string
		wantB64    bool
	}{
		{name: "single-value event", ev: loadEvent(t, "alb-event.json"), wantStatus: 202, wantDesc: "202 Accepted",
			wantBody:   `{"len":30,"remote":"203.0.113.9","host":"ingest.example.com"}`,
			wantHeader: map[string]string{"Content-Type": "application/json", "X-Seen": "application/json, "}},
		{name: "multi-value event", ev: multi, wantStatus: 202, wantDesc: "202 Accepted",
			wantBody:  `{"len":22,"remote":"203.0.113.9","host":"ingest.example.com"}`,
			wantMulti: map[string][]string{"Content-Type": {"application/json"}, "X-Seen": {"application/x-ndjson", "a"}}},
		{name: "handler error answer", ev: get, wantStatus: 405, wantDesc: "405 Method Not Allowed",
			wantBody: "method not allowed", wantHeader: map[string]string{"Allow": "POST"}},
		{name: "binary answer", ev: bytesEv, wantStatus: 200, wantDesc: "200 OK", wantBody: "AAH/", wantB64: true,
			wantHeader: map[string]string{"Content-Type": "application/octet-stream"}},
		{name: "header set after the status is not sent", ev: late, wantStatus: 418, wantDesc: "418 I'm a teapot",
			wantHeader: map[string]string{"X-Late": ""}},
		{name: "bad base64 body", ev: badB64, wantStatus: 400, wantDesc: "400 Bad Request",
			wantBody:   `{"error":"request body is not valid base64`,
			wantHeader: map[string]string{"Content-Type": "application/json"}},
		{name: "bad base64 body, multi-value", ev: badB64Multi, wantStatus: 400, wantDesc: "400 Bad Request",
			wantBody:  `{"error":"request body is not valid base64`,
			wantMulti: map[string][]string{"Content-Type": {"application/json"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := h(context.Background(), tt.ev)
			if err != nil {
				t.Fatalf("got error %v, want nil (errors become ALB 502s)", err)
			}
			if resp.StatusCode != tt.wantStatus || resp.StatusDescription != tt.wantDesc {
				t.Errorf("status: got %d %q, want %d %q", resp.StatusCode, resp.StatusDescription, tt.wantStatus, tt.wantDesc)
			}
			if !strings.HasPrefix(resp.Body, tt.wantBody) {
				t.Errorf("body: got %q, want it to start with %q", resp.Body, tt.wantBody)
			}
			if resp.IsBase64Encoded != tt.wantB64 {
				t.Errorf("base64: got %v, want %v", resp.IsBase64Encoded, tt.wantB64)
			}
			for k, want := range tt.wantHeader {
				if got := resp.Headers[k]; got != want {
					t.Errorf("header %s: got %q, want %q", k, got, want)
				}
			}
			for k, want := range tt.wantMulti {
				if got := resp.MultiValueHeaders[k]; !reflect.DeepEqual(got, want) {
					t.Errorf("multi-value header %s: got %q, want %q", k, got, want)
				}
			}
			// ALB needs the response in the form the request came in.
			if multiReq := len(tt.ev.MultiValueHeaders) > 0; multiReq != (resp.MultiValueHeaders != nil) || multiReq == (resp.Headers != nil) {
				t.Errorf("got headers %v and multi-value headers %v, want only the request's form", resp.Headers, resp.MultiValueHeaders)
			}
			if strings.HasPrefix(tt.wantBody, "{") && !tt.wantB64 && !json.Valid([]byte(resp.Body)) {
				t.Errorf("body: got invalid JSON %q", resp.Body)
			}
		})
	}
}

// The error answer is JSON whatever the message holds.
func TestErrorResponseJSON(t *testing.T) {
	for _, msg := range []string{"plain", `quote " and \ backslash`, "ctl \x00\x1f", "\U000E0001 tag", "bad \xff utf-8", "\u2028"} {
		resp := errorResponse(events.ALBTargetGroupRequest{}, 400, msg)
		var got struct{ Error string }
		if err := json.Unmarshal([]byte(resp.Body), &got); err != nil {
			t.Errorf("errorResponse(%q): got invalid JSON %q: %v", msg, resp.Body, err)
			continue
		}
		if want := strings.ToValidUTF8(msg, "\uFFFD"); got.Error != want {
			t.Errorf("errorResponse(%q): got message %q, want %q", msg, got.Error, want)
		}
	}
}
