package faultyingest_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twinstream/twinstream/e2e/internal/faultyingest"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	os.Exit(m.Run())
}

// TestFaults: each fault answers one request of four records as it says,
// and the stores keep what ingest wrote.
func TestFaults(t *testing.T) {
	tests := []struct {
		fault   faultyingest.Fault
		status  int // 0: no answer
		stored  int
		spilled int
	}{
		{faultyingest.Pass, 202, 4, 0},
		{faultyingest.TooMany, 429, 0, 0},
		{faultyingest.ALBPage, 503, 0, 0},
		{faultyingest.Status500, 500, 0, 0},
		{faultyingest.Status502, 502, 0, 0},
		{faultyingest.Partial, 503, 2, 0},
		{faultyingest.Spill, 202, 4, 4},
		{faultyingest.StorageDown, 503, 0, 0},
		{faultyingest.Reset, 0, 0, 0},
		{faultyingest.Lost, 0, 4, 0},
		{faultyingest.Hang, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(cmpName(tt.fault), func(t *testing.T) {
			t.Parallel()
			r := faultyingest.New(t, faultyingest.Config{Region: "eu-west-1", APIKey: "k", Producer: "p"})
			r.Set([]faultyingest.Fault{tt.fault}, faultyingest.Status502)
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			body := `{"records":[{"id":"a","data":1},{"id":"b","data":2},{"id":"c","data":3},{"id":"d","data":4}]}`
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL(), strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer k")
			req.Header.Set("Content-Type", "application/json")
			status := 0
			if resp, err := http.DefaultClient.Do(req); err == nil {
				status = resp.StatusCode
				if got := resp.Header.Get("X-Twinstream-Region"); got != "eu-west-1" {
					t.Errorf("X-Twinstream-Region: got %q, want eu-west-1", got)
				}
				resp.Body.Close()
			}
			if status != tt.status {
				t.Errorf("status: got %d, want %d", status, tt.status)
			}
			stored, spilled, requests := r.Snapshot()
			if len(stored) != tt.stored || spilled != tt.spilled || requests != 1 {
				t.Errorf("stored %d, spilled %d in %d requests; want %d, %d in 1", len(stored), spilled, requests, tt.stored, tt.spilled)
			}
			for id, envs := range stored {
				if envs[0].Producer != "p" {
					t.Errorf("id %s stored for %q, want p", id, envs[0].Producer)
				}
			}
			if got := r.Requests(); len(got) != 1 || !slices.Equal(got[0], []string{"a", "b", "c", "d"}) {
				t.Errorf("requests: got %v, want [[a b c d]]", got)
			}
		})
	}
}

func cmpName(f faultyingest.Fault) string {
	if f == faultyingest.Pass {
		return "pass"
	}
	return string(f)
}
