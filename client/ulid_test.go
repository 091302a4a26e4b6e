package client

import (
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// decodeTime reads the millisecond time of a ULID.
func decodeTime(t *testing.T, id string) uint64 {
	t.Helper()
	var ms uint64
	for _, c := range id[:10] {
		i := strings.IndexRune(crockford, c)
		if i < 0 {
			t.Fatalf("id %q: %q is not Crockford base32", id, c)
		}
		ms = ms<<5 | uint64(i)
	}
	return ms
}

func TestIDs(t *testing.T) {
	// The spec's example: time 1469918176385 is 01ARYZ6S41.
	at := time.UnixMilli(1469918176385)
	var g ids
	id := g.next(at)
	if len(id) != 26 || !strings.HasPrefix(id, "01ARYZ6S41") {
		t.Fatalf("id %q: want 26 characters starting 01ARYZ6S41", id)
	}
	if !validID(id) {
		t.Errorf("id %q is not an id ingest accepts", id)
	}
	tests := []struct {
		name string
		at   []time.Time
	}{
		{"same millisecond", []time.Time{at, at, at, at}},
		{"clock steps back", []time.Time{at, at.Add(-time.Hour), at.Add(-time.Millisecond), at}},
		{"later", []time.Time{at.Add(time.Millisecond), at.Add(time.Second), at.Add(time.Hour)}},
		{"before 1970: clamped", []time.Time{time.Unix(-5, 0), time.Unix(-5, 0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var g ids
			prev := ""
			for _, at := range tt.at {
				id := g.next(at)
				if id <= prev {
					t.Errorf("id %s after %s: want ids in increasing order", id, prev)
				}
				if ms := at.UnixMilli(); ms >= 0 && decodeTime(t, id) < uint64(ms) {
					t.Errorf("id %s holds time %d, want at least %d", id, decodeTime(t, id), ms)
				}
				prev = id
			}
		})
	}
}

// TestIDsConcurrent: ids made at once from many goroutines are unique, and
// each goroutine's are in increasing order.
func TestIDsConcurrent(t *testing.T) {
	var g ids
	const workers, each = 8, 20000
	out := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				out[w] = append(out[w], g.next(time.Now()))
			}
		}()
	}
	wg.Wait()
	seen := make(map[string]bool, workers*each)
	for w := range out {
		if !sort.StringsAreSorted(out[w]) {
			t.Errorf("worker %d's ids are not in increasing order", w)
		}
		for _, id := range out[w] {
			if seen[id] {
				t.Fatalf("id %s made twice", id)
			}
			seen[id] = true
		}
	}
}

// TestIDsOverflow: the random part running over moves to the next
// millisecond instead of repeating an id.
func TestIDsOverflow(t *testing.T) {
	at := time.UnixMilli(1469918176385)
	var g ids
	first := g.next(at)
	g.rhi, g.rlo = 0xffff, 0xffffffffffffffff
	over := g.next(at)
	if over <= first || decodeTime(t, over) != uint64(at.UnixMilli())+1 {
		t.Errorf("after the random part ran over: got %s (time %d), want a later id at the next millisecond", over, decodeTime(t, over))
	}
}
