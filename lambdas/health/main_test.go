package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/twinstream/twinstream/lambdas/albhttp"
	"github.com/twinstream/twinstream/lambdas/env"
	"github.com/twinstream/twinstream/lambdas/health/health"
)

func reader(vars map[string]string) *env.Reader {
	return &env.Reader{Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
}

func okClient() health.PutRecordFunc {
	return func(context.Context, *kinesis.PutRecordInput, ...func(*kinesis.Options)) (*kinesis.PutRecordOutput, error) {
		return &kinesis.PutRecordOutput{}, nil
	}
}

func TestLoad(t *testing.T) {
	base := map[string]string{"STREAM_NAME": "twinstream", "AWS_REGION": "eu-west-1"}
	tests := []struct {
		name    string
		set     map[string]string
		unset   string
		wantErr string // "" for none
		check   func(health.Config) bool
	}{
		{name: "defaults", check: func(c health.Config) bool {
			return c.StreamName == "twinstream" && c.Region == "eu-west-1" && c.SecretID == "" && c.ProbeTimeout == time.Second &&
				c.CacheTTL == 5*time.Second && c.Window == time.Minute && c.UnhealthyAfter == 3 && c.HealthyAfter == 2
		}},
		{name: "all set", set: map[string]string{"PROBE_TIMEOUT": "800ms", "PROBE_CACHE_TTL": "2s", "PROBE_WINDOW": "30s", "UNHEALTHY_AFTER": "4", "HEALTHY_AFTER": "3"},
			check: func(c health.Config) bool {
				return c.ProbeTimeout == 800*time.Millisecond && c.CacheTTL == 2*time.Second && c.Window == 30*time.Second &&
					c.UnhealthyAfter == 4 && c.HealthyAfter == 3
			}},
		{name: "api keys secret", set: map[string]string{"API_KEYS_SECRET_ARN": "twinstream/api-keys"},
			check: func(c health.Config) bool { return c.SecretID == "twinstream/api-keys" }},
		{name: "empty api keys secret probes kinesis only", set: map[string]string{"API_KEYS_SECRET_ARN": ""},
			check: func(c health.Config) bool { return c.SecretID == "" }},
		{name: "no stream", unset: "STREAM_NAME", wantErr: "STREAM_NAME"},
		{name: "no region", unset: "AWS_REGION", wantErr: "AWS_REGION"},
		{name: "healthy-after 0", set: map[string]string{"HEALTHY_AFTER": "0"}, wantErr: "HEALTHY_AFTER"},
		{name: "unhealthy-after not a number", set: map[string]string{"UNHEALTHY_AFTER": "three"}, wantErr: "UNHEALTHY_AFTER"},
		{name: "bad window", set: map[string]string{"PROBE_WINDOW": "-1s"}, wantErr: "PROBE_WINDOW"},
		{name: "probe timeout beyond Route 53's limit", set: map[string]string{"PROBE_TIMEOUT": "3s"}, wantErr: "PROBE_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{}
			for k, v := range base {
				vars[k] = v
			}
			for k, v := range tt.set {
				vars[k] = v
			}
			delete(vars, tt.unset)
			cfg, err := load(reader(vars))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got error %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if !tt.check(cfg) {
				t.Errorf("got config %+v, want the values set", cfg)
			}
		})
	}
}

// TestLoadWindowTooShort: a window that cannot hold UNHEALTHY_AFTER probes is
// a configuration error that reaches main.
func TestLoadWindowTooShort(t *testing.T) {
	cfg, err := load(reader(map[string]string{"STREAM_NAME": "s", "AWS_REGION": "eu-west-1", "PROBE_WINDOW": "10s"}))
	if err != nil {
		t.Fatalf("load: got error %v, want nil", err)
	}
	cfg.Client = okClient()
	if _, err := health.New(cfg); err == nil || !strings.Contains(err.Error(), "window") {
		t.Errorf("got error %v, want one about the window", err)
	}
}

// TestFixture runs the ALB health-check event through the Lambda adapter.
func TestFixture(t *testing.T) {
	b, err := os.ReadFile("health/testdata/alb-health-deep.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.ALBTargetGroupRequest
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("decode fixture: %v", err)
	}
	if ev.HTTPMethod != "GET" || ev.Path != health.PathDeep || ev.Headers["user-agent"] != "ELB-HealthChecker/2.0" {
		t.Fatalf("fixture: got %s %s user-agent %q, want an ALB health check of %s", ev.HTTPMethod, ev.Path, ev.Headers["user-agent"], health.PathDeep)
	}
	tests := []struct {
		name     string
		err      error
		want     int
		wantDesc string
		wantBody string
	}{
		{"kinesis takes the canary", nil, 200, "200 OK", `{"verdict":"healthy","region":"eu-west-1"}`},
		{"kinesis fails", errors.New("boom"), 503, "503 Service Unavailable", `{"verdict":"unhealthy","region":"eu-west-1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			h, err := health.New(health.Config{
				Client: health.PutRecordFunc(func(context.Context, *kinesis.PutRecordInput, ...func(*kinesis.Options)) (*kinesis.PutRecordOutput, error) {
					calls++
					return &kinesis.PutRecordOutput{}, tt.err
				}),
				StreamName: "twinstream", Region: "eu-west-1", UnhealthyAfter: 1,
				Logger: slog.New(slog.DiscardHandler),
			})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := albhttp.Handler(h)(context.Background(), ev)
			if err != nil {
				t.Fatalf("handler: got error %v, want nil", err)
			}
			if resp.StatusCode != tt.want || resp.StatusDescription != tt.wantDesc {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, resp.StatusDescription, tt.want, tt.wantDesc)
			}
			if resp.Headers["Cache-Control"] != "no-store" || resp.Headers["Content-Type"] != "application/json" || resp.IsBase64Encoded {
				t.Errorf("got headers %v base64=%v, want JSON, no-store, not base64", resp.Headers, resp.IsBase64Encoded)
			}
			if resp.Body != tt.wantBody || calls != 1 {
				t.Errorf("got body %s after %d probes, want %s after 1", resp.Body, calls, tt.wantBody)
			}
		})
	}
}

// TestClient checks the real SDK client as main builds it, against a local
// server: one probe is one HTTP attempt, and a Kinesis that never answers
// fails the probe at PROBE_TIMEOUT.
func TestClient(t *testing.T) {
	tests := []struct {
		name    string
		hang    bool
		wantErr string
	}{
		{name: "server error is not retried", wantErr: "InternalFailure"},
		{name: "hung server fails at the probe timeout", hang: true, wantErr: "no answer within 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int32
			stop := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				if tt.hang {
					select {
					case <-r.Context().Done():
					case <-stop:
					}
					return
				}
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write([]byte(`{"__type":"InternalFailure","message":"injected"}`))
			}))
			t.Cleanup(srv.Close)
			t.Cleanup(func() { close(stop) })
			client := newClient(aws.Config{
				Region:       "eu-west-1",
				Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
				BaseEndpoint: aws.String(srv.URL),
			})
			h, err := health.New(health.Config{
				Client: client, StreamName: "twinstream", Region: "eu-west-1",
				ProbeTimeout: 200 * time.Millisecond, UnhealthyAfter: 1,
				Logger: slog.New(slog.DiscardHandler),
			})
			if err != nil {
				t.Fatal(err)
			}
			st := h.Check(context.Background())
			if st.Healthy || !strings.Contains(st.LastError, tt.wantErr) {
				t.Errorf("got healthy=%v lastError %q, want unhealthy with %q", st.Healthy, st.LastError, tt.wantErr)
			}
			if got := hits.Load(); got != 1 {
				t.Errorf("HTTP attempts: got %d, want 1", got)
			}
		})
	}
}

// TestHostileEvents sends odd ALB events (as an outsider's requests arrive)
// through the Lambda adapter to a handler whose probe fails with an AWS error
// naming the account, role and stream: no answer carries any of it.
func TestHostileEvents(t *testing.T) {
	const account, role, stream = "123456789012", "twinstream-health-role-1A2B", "twinstream-stream-9Z8Y"
	leaky := errors.New("operation error Kinesis: PutRecord, api error AccessDeniedException: User: arn:aws:sts::" + account +
		":assumed-role/" + role + "/twinstream-health is not authorized to perform: kinesis:PutRecord on resource: arn:aws:kinesis:eu-west-1:" +
		account + ":stream/" + stream)
	markers := []string{account, role, stream, "arn:", "AccessDenied", "PutRecord", "2026", "lastError", "since", "failures"}
	const (
		unhealthy = `{"verdict":"unhealthy","region":"eu-west-1"}`
		notFound  = `{"error":"not found"}`
		notAllow  = `{"error":"method not allowed"}`
	)
	huge := strings.Repeat("A", 1<<20)
	tests := []struct {
		name     string
		ev       events.ALBTargetGroupRequest
		want     int
		wantBody string
	}{
		{"GET", events.ALBTargetGroupRequest{HTTPMethod: "GET", Path: "/health/deep"}, 503, unhealthy},
		{"HEAD", events.ALBTargetGroupRequest{HTTPMethod: "HEAD", Path: "/health/deep"}, 503, ""},
		{"POST with a body", events.ALBTargetGroupRequest{HTTPMethod: "POST", Path: "/health/deep", Body: `{"verbose":true}`}, 405, notAllow},
		{"OPTIONS", events.ALBTargetGroupRequest{HTTPMethod: "OPTIONS", Path: "/health/deep"}, 405, notAllow},
		{"query asking for detail", events.ALBTargetGroupRequest{HTTPMethod: "GET", Path: "/health/deep",
			QueryStringParameters: map[string]string{"verbose": "1", "lastError": "true", "format": "full"}}, 503, unhealthy},
		{"huge multi-value query", events.ALBTargetGroupRequest{HTTPMethod: "GET", Path: "/health/deep",
			MultiValueQueryStringParameters: map[string][]string{"debug": {huge, "%zz", ""}}}, 503, unhealthy},
		{"huge header", events.ALBTargetGroupRequest{HTTPMethod: "GET", Path: "/health/deep",
			Headers: map[string]string{"x-big": huge, "accept": "text/html", "x-debug": "1"}}, 503, unhealthy},
		{"huge multi-value headers", events.ALBTargetGroupRequest{HTTPMethod: "GET", Path: "/health/deep",
			MultiValueHeaders: map[string][]string{"x-big": {huge, huge}, "x-forwarded-for": {"10.0.0.1, 127.0.0.1"}}}, 503, unhealthy},
		{"encoded path", events.ALBTargetGroupRequest{HTTPMethod: "GET", Path: "/health/deep%2F..%2Fdebug"}, 404, notFound},
		{"trailing slash", events.ALBTargetGroupRequest{HTTPMethod: "GET", Path: "/health/deep/"}, 404, notFound},
		{"deeper path", events.ALBTargetGroupRequest{HTTPMethod: "GET", Path: "/health/deep/status"}, 404, notFound},
		{"huge path", events.ALBTargetGroupRequest{HTTPMethod: "GET", Path: "/health/" + huge}, 404, notFound},
		{"huge base64 body", events.ALBTargetGroupRequest{HTTPMethod: "GET", Path: "/health/deep", Body: huge, IsBase64Encoded: true}, 503, unhealthy},
	}
	calls := 0
	h, err := health.New(health.Config{
		Client: health.PutRecordFunc(func(context.Context, *kinesis.PutRecordInput, ...func(*kinesis.Options)) (*kinesis.PutRecordOutput, error) {
			calls++
			return nil, leaky
		}),
		StreamName: stream, Region: "eu-west-1", UnhealthyAfter: 1,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	handle := albhttp.Handler(h)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := handle(context.Background(), tt.ev)
			if err != nil {
				t.Fatalf("handler: got error %v, want nil", err)
			}
			if resp.StatusCode != tt.want || resp.Body != tt.wantBody {
				t.Errorf("got %d %.200s, want %d %s", resp.StatusCode, resp.Body, tt.want, tt.wantBody)
			}
			all := resp.Body
			for k, v := range resp.Headers {
				all += "\n" + k + ": " + v
			}
			for k, vs := range resp.MultiValueHeaders {
				all += "\n" + k + ": " + strings.Join(vs, ", ")
			}
			for _, m := range markers {
				if strings.Contains(all, m) {
					t.Errorf("answer leaks %q: %.300s", m, all)
				}
			}
		})
	}
	if st := h.Check(context.Background()); calls == 0 || !strings.Contains(st.LastError, account) {
		t.Errorf("got %d probes, lastError %q: want the leaky error seen, or the test proves nothing", calls, st.LastError)
	}
}

// TestSetup wires the handler from the environment, as main does, against a
// local server that stands in for Kinesis and Secrets Manager: with
// API_KEYS_SECRET_ARN the probe reads that secret (one HTTP attempt, within
// PROBE_TIMEOUT), without it only Kinesis is asked.
func TestSetup(t *testing.T) {
	const secretARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:twinstream/api-keys-AbCdEf"
	tests := []struct {
		name        string
		secretEnv   string // API_KEYS_SECRET_ARN; "" unset
		secret      string // "ok", "error" or "hang": how Secrets Manager answers
		wantHealthy bool
		wantErr     string
		wantSecrets int32 // GetSecretValue requests
	}{
		{name: "unset: kinesis only", secret: "error", wantHealthy: true},
		{name: "set: the secret is read", secretEnv: secretARN, secret: "ok", wantHealthy: true, wantSecrets: 1},
		{name: "set: a secrets manager error fails the probe without a retry", secretEnv: secretARN, secret: "error",
			wantErr: "secretsmanager: read api keys secret: operation error Secrets Manager: GetSecretValue", wantSecrets: 1},
		{name: "set: a hung secrets manager fails at the probe timeout", secretEnv: secretARN, secret: "hang",
			wantErr: "secretsmanager: read api keys secret: no answer within 200ms", wantSecrets: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var puts, gets atomic.Int32
			var secretID atomic.Value
			stop := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				switch target := r.Header.Get("X-Amz-Target"); target {
				case "Kinesis_20131202.PutRecord":
					puts.Add(1)
					_, _ = w.Write([]byte(`{"ShardId":"shardId-000000000000","SequenceNumber":"1"}`))
				case "secretsmanager.GetSecretValue":
					gets.Add(1)
					var in struct{ SecretId string }
					if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
						t.Errorf("GetSecretValue body: %v", err)
					}
					secretID.Store(in.SecretId)
					switch tt.secret {
					case "hang":
						select {
						case <-r.Context().Done():
						case <-stop:
						}
					case "error":
						w.WriteHeader(http.StatusInternalServerError)
						_, _ = w.Write([]byte(`{"__type":"InternalServiceError","message":"injected"}`))
					default:
						_, _ = w.Write([]byte(`{"ARN":"` + secretARN + `","Name":"twinstream/api-keys","SecretString":"{\"keys\":[]}"}`))
					}
				default:
					t.Errorf("unexpected call %q", target)
					w.WriteHeader(http.StatusBadRequest)
				}
			}))
			t.Cleanup(srv.Close)
			t.Cleanup(func() { close(stop) })
			vars := map[string]string{
				"STREAM_NAME": "twinstream", "AWS_REGION": "eu-west-1",
				"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "SECRET",
				"AWS_ENDPOINT_URL_KINESIS": srv.URL, "AWS_ENDPOINT_URL_SECRETS_MANAGER": srv.URL,
				"PROBE_TIMEOUT": "200ms", "UNHEALTHY_AFTER": "1",
			}
			if tt.secretEnv != "" {
				vars["API_KEYS_SECRET_ARN"] = tt.secretEnv
			}
			h, err := setup(context.Background(), reader(vars))
			if err != nil {
				t.Fatalf("setup: got error %v, want nil", err)
			}
			st := h.Check(context.Background())
			if st.Healthy != tt.wantHealthy || !strings.Contains(st.LastError, tt.wantErr) {
				t.Errorf("got healthy=%v lastError %q, want %v with %q", st.Healthy, st.LastError, tt.wantHealthy, tt.wantErr)
			}
			if p, g := puts.Load(), gets.Load(); p != 1 || g != tt.wantSecrets {
				t.Errorf("HTTP attempts: got PutRecord %d GetSecretValue %d, want 1 and %d", p, g, tt.wantSecrets)
			}
			if got, _ := secretID.Load().(string); got != tt.secretEnv {
				t.Errorf("SecretId: got %q, want %q", got, tt.secretEnv)
			}
		})
	}
}
