package drill

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestGate(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		io.WriteString(w, "ok "+r.URL.Path)
	}))
	defer srv.Close()
	defer close(release)
	g, err := StartGate(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()

	get := func(path string, timeout time.Duration) (string, error) {
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, g.URL()+path, nil)
		// A new connection per request, as after the gate closed the old ones.
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	set := func(mode string) {
		t.Helper()
		if err := g.Set(mode); err != nil {
			t.Fatal(err)
		}
		if got := g.Mode(); got != mode {
			t.Fatalf("mode: got %s, want %s", got, mode)
		}
	}

	if got, err := get("/a", 5*time.Second); err != nil || got != "ok /a" {
		t.Fatalf("open: got %q, %v, want ok /a", got, err)
	}

	// Refuse: an answer in flight fails, new connections are refused.
	inflight := make(chan error, 1)
	go func() { _, err := get("/slow", 5*time.Second); inflight <- err }()
	time.Sleep(100 * time.Millisecond)
	set(GateRefuse)
	select {
	case err := <-inflight:
		if err == nil {
			t.Errorf("request in flight when refusing: got an answer, want an error")
		}
	case <-time.After(3 * time.Second):
		t.Errorf("request in flight when refusing: still waiting, want it failed")
	}
	if _, err := get("/b", 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("refusing: got %v, want connection refused", err)
	}

	// Drop: nothing is answered; a request waits for its timeout.
	set(GateDrop)
	_, err = get("/c", 300*time.Millisecond)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("dropping: got %v, want a timeout", err)
	}
	// A request held while dropping is answered once the gate opens.
	held := make(chan string, 1)
	go func() { got, _ := get("/d", 5*time.Second); held <- got }()
	time.Sleep(200 * time.Millisecond)
	select {
	case got := <-held:
		t.Fatalf("dropping: got answer %q, want none", got)
	default:
	}
	set(GateOpen)
	select {
	case got := <-held:
		if got != "ok /d" {
			t.Errorf("held request after open: got %q, want ok /d", got)
		}
	case <-time.After(3 * time.Second):
		t.Errorf("held request after open: no answer")
	}
	if got, err := get("/e", 5*time.Second); err != nil || got != "ok /e" {
		t.Errorf("open again: got %q, %v, want ok /e", got, err)
	}
	if err := g.Set("sideways"); err == nil {
		t.Errorf("unknown mode: got no error, want one")
	}
}
