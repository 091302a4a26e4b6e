package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// batchLog gathers Hooks.Batch events.
type batchLog struct {
	mu     sync.Mutex
	events []BatchEvent
}

func (l *batchLog) hook(e BatchEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

// acked counts, per id, the acknowledgements the events report, and the
// records they report not acknowledged.
func (l *batchLog) acked() (map[string]int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := map[string]int{}
	unacked := 0
	for _, e := range l.events {
		for _, a := range e.Result.Acks {
			for _, i := range a.Records {
				n[e.Records[i].ID]++
			}
		}
		unacked += len(e.Result.Unacked)
	}
	return n, unacked
}

func TestAddConcurrent(t *testing.T) {
	tests := []struct {
		name   string
		script []fault
	}{
		{"all 202", nil},
		{"with a partial 503, a 500 and a reset", []fault{{fail: []int{0, 7, 9}}, {status: 500}, {reset: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.script...)
			srv := f.start()
			var log batchLog
			c, _ := newTestClient(t, Config{Endpoints: []string{srv.URL}, MaxRecords: 50, FlushInterval: time.Hour,
				Hooks: Hooks{Batch: log.hook}})
			const workers, each = 8, 300
			ids := make([][]string, workers)
			var wg sync.WaitGroup
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						r := Record{Data: json.RawMessage(fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))}
						if i%10 == 0 {
							r.ID = fmt.Sprintf("w%d-%d", w, i)
						}
						id, err := c.Add(context.Background(), r)
						if err != nil {
							t.Errorf("Add: %v", err)
							return
						}
						if r.ID != "" && id != r.ID {
							t.Errorf("Add: id %q, want the record's %q", id, r.ID)
						}
						ids[w] = append(ids[w], id)
					}
				}()
			}
			wg.Wait()
			if err := c.Flush(context.Background()); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			acked, unacked := log.acked()
			if unacked != 0 || len(acked) != workers*each {
				t.Errorf("acknowledged %d ids, %d not, want %d and 0", len(acked), unacked, workers*each)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			for w := range ids {
				for _, id := range ids[w] {
					if acked[id] != 1 {
						t.Errorf("id %s acknowledged %d times, want once", id, acked[id])
					}
					if len(f.stored[id]) == 0 {
						t.Errorf("id %s not stored", id)
					}
				}
			}
			if len(f.stored) != workers*each {
				t.Errorf("server stored %d ids, want %d", len(f.stored), workers*each)
			}
			// Size-triggered: full batches of 50, the last cut by Flush.
			full := 0
			for _, r := range f.requests {
				if len(r) == 50 {
					full++
				}
			}
			if full < workers*each/50-1 {
				t.Errorf("%d requests of 50 records, want at least %d (batches cut when full)", full, workers*each/50-1)
			}
		})
	}
}

func TestAddFlushInterval(t *testing.T) {
	f := newFake(t)
	srv := f.start()
	c, _ := newTestClient(t, Config{Endpoints: []string{srv.URL}, FlushInterval: 20 * time.Millisecond})
	for _, r := range records(3) {
		if _, err := c.Add(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		n := len(f.requests)
		f.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no request 5s after Add with FlushInterval 20ms, want the batch sent")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) != 1 || len(f.requests[0]) != 3 {
		t.Errorf("requests: got %v, want one of the 3 records", f.requests)
	}
}

// TestAddBackPressure: Add blocks while BufferRecords records are buffered
// or being sent, until there is room or its context ends.
func TestAddBackPressure(t *testing.T) {
	f := newFake(t)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		f.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c, _ := newTestClient(t, Config{Endpoints: []string{srv.URL}, BufferRecords: 4, MaxRecords: 2, FlushInterval: time.Hour})
	for _, r := range records(4) {
		if _, err := c.Add(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.Add(ctx, records(1)[0]); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Add with the buffer full: got %v, want context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took < 90*time.Millisecond {
		t.Errorf("Add returned after %v, want it to block until its context ended", took)
	}
	added := make(chan error, 1)
	go func() {
		_, err := c.Add(context.Background(), records(1)[0])
		added <- err
	}()
	select {
	case err := <-added:
		t.Fatalf("Add returned %v with the buffer full, want it to block", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-added; err != nil {
		t.Fatalf("Add after room was made: %v", err)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.stored) != 5 {
		t.Errorf("stored %d records, want 5", len(f.stored))
	}
}

func TestClose(t *testing.T) {
	f := newFake(t)
	srv := f.start()
	var log batchLog
	c, _ := newTestClient(t, Config{Endpoints: []string{srv.URL}, FlushInterval: time.Hour, Hooks: Hooks{Batch: log.hook}})
	for _, r := range records(10) {
		if _, err := c.Add(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	f.mu.Lock()
	n := len(f.stored)
	f.mu.Unlock()
	if acked, _ := log.acked(); n != 10 || len(acked) != 10 {
		t.Errorf("after Close: %d stored, %d acknowledged, want 10 and 10", n, len(acked))
	}
	for name, err := range map[string]error{
		"Add":   func() error { _, err := c.Add(context.Background(), records(1)[0]); return err }(),
		"Flush": c.Flush(context.Background()),
		"Close": c.Close(context.Background()),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: got %v, want ErrClosed", name, err)
		}
	}
	if _, err := c.Send(context.Background(), records(2)); err != nil {
		t.Errorf("Send after Close: %v, want it to work", err)
	}
}

// TestCloseDeadline: when Close's context ends first, the attempts in
// flight are cancelled and Close returns promptly, their records given up.
func TestCloseDeadline(t *testing.T) {
	f := newFake(t, fault{hang: true})
	srv := f.start()
	var log batchLog
	c, err := New(Config{Endpoints: []string{srv.URL}, APIKey: "k-1", FlushInterval: time.Hour, AttemptTimeout: time.Minute,
		Hooks: Hooks{Batch: log.hook}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range records(3) {
		if _, err := c.Add(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = c.Close(ctx)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Close took %v with a 200ms context, want promptly", took)
	}
	if err == nil || !errors.Is(err, context.Canceled) {
		t.Errorf("Close: got %v, want the records not acknowledged (cancelled)", err)
	}
	if acked, unacked := log.acked(); len(acked) != 0 || unacked != 3 {
		t.Errorf("batch events: %d acknowledged, %d not, want 0 and 3", len(acked), unacked)
	}
}

func TestFlushReject(t *testing.T) {
	f := newFake(t)
	srv := f.start()
	c, _ := newTestClient(t, Config{Endpoints: []string{srv.URL}, APIKey: "wrong", FlushInterval: time.Hour})
	for _, r := range records(3) {
		if _, err := c.Add(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	err := c.Flush(context.Background())
	var rej *RejectError
	if !errors.As(err, &rej) || rej.Status != http.StatusUnauthorized {
		t.Fatalf("Flush: got %v, want a *RejectError 401", err)
	}
	if want := "client: 3 of 3 records not acknowledged"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Flush: %q, want it to start %q", err, want)
	}
}
