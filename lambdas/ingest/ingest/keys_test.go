package ingest

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// TestKeysColdFailure: a new execution environment whose first fetch of
// the API keys fails answers 503 at once, with Retry-After counting down to
// the next fetch, instead of trying Secrets Manager on every request; a warm
// one keeps its stale keys.
func TestKeysColdFailure(t *testing.T) {
	var calls atomic.Int32
	var down atomic.Bool
	doc := string(readFile(t, "testdata/api-keys-secret.json"))
	sec := GetSecretValueFunc(func(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
		calls.Add(1)
		if down.Load() {
			return nil, errors.New("secrets manager: connection refused")
		}
		return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(doc)}, nil
	})
	tests := []struct {
		name       string
		failureTTL time.Duration
		wantTTL    string // Retry-After right after a failed fetch
	}{
		{"default", 0, "5"},
		{"configured", 2 * time.Second, "2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls.Store(0)
			c := &clock{t: t0}
			cfg := testConfig()
			cfg.KeysFailureTTL = tt.failureTTL
			ttl := cmp.Or(tt.failureTTL, DefaultKeysFailureTTL)
			h := newHandler(t, cfg, &kinesisFake{}, &spillFake{}, sec, c.Now)
			steps := []struct {
				name       string
				advance    time.Duration
				down       bool
				status     int
				retryAfter string
				wantCalls  int32
			}{
				{"first request fetches and fails", 0, true, 503, tt.wantTTL, 1},
				{"answered at once, no fetch", time.Second, true, 503, "", 1},
				{"still no fetch just before the TTL", ttl - time.Second - time.Millisecond, true, 503, "1", 1},
				{"fetched again after the TTL", time.Millisecond, true, 503, tt.wantTTL, 2},
				{"no fetch while Secrets Manager is back", time.Millisecond, false, 503, "", 2},
				{"loaded at the next try", ttl, false, 202, "", 3},
				{"warm: stale keys when the refresh fails", DefaultKeysTTL, true, 202, "", 4},
				{"warm: no refetch right after", time.Second, true, 202, "", 4},
			}
			for _, s := range steps {
				c.Add(s.advance)
				down.Store(s.down)
				r := serve(t, h, post(TypeJSON, bearerKey, jsonRecords(1)))
				if r.status != s.status {
					t.Errorf("%s: status %d, want %d: %s", s.name, r.status, s.status, r.raw)
				}
				if got := r.header.Get("Retry-After"); s.retryAfter != "" && got != s.retryAfter {
					t.Errorf("%s: Retry-After %q, want %q", s.name, got, s.retryAfter)
				}
				if s.status == 503 && r.header.Get("Retry-After") == "" {
					t.Errorf("%s: 503 without Retry-After", s.name)
				}
				if got := calls.Load(); got != s.wantCalls {
					t.Errorf("%s: %d secret fetches, want %d", s.name, got, s.wantCalls)
				}
			}
		})
	}
}

// TestKeysColdFailureConcurrent: concurrent requests share the one failing
// fetch, and those that come after it get its failure without fetching.
func TestKeysColdFailureConcurrent(t *testing.T) {
	var calls atomic.Int32
	entered, release := make(chan struct{}), make(chan struct{})
	sec := GetSecretValueFunc(func(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
		if calls.Add(1) == 1 {
			close(entered)
		}
		<-release
		return nil, errors.New("secrets manager: throttled")
	})
	c := &clock{t: t0}
	h := newHandler(t, testConfig(), &kinesisFake{}, &spillFake{}, sec, c.Now)
	codes := make([]int, 16)
	send := func(i int) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, post(TypeJSON, bearerKey, jsonRecords(1)))
		codes[i] = w.Code
	}
	var wg sync.WaitGroup
	wg.Go(func() { send(0) })
	<-entered
	for i := 1; i < 8; i++ {
		wg.Go(func() { send(i) })
	}
	close(release)
	wg.Wait()
	for i := 8; i < 16; i++ {
		wg.Go(func() { send(i) })
	}
	wg.Wait()
	for i, code := range codes {
		if code != http.StatusServiceUnavailable {
			t.Errorf("request %d: status %d, want 503", i, code)
		}
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("%d secret fetches for 16 requests, want 1", got)
	}
}
