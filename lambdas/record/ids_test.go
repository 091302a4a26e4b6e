package record

import (
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
)

func TestIDsStrictlyIncreasing(t *testing.T) {
	const n = 100_000
	g := NewIDs()
	seen := make(map[string]bool, n)
	prev := ""
	for i := range n {
		id := g.New(time.Now())
		if len(id) != ulid.EncodedSize {
			t.Fatalf("id %d: got %q (%d chars), want %d chars", i, id, len(id), ulid.EncodedSize)
		}
		if seen[id] {
			t.Fatalf("id %d: got duplicate %s", i, id)
		}
		seen[id] = true
		if id <= prev {
			t.Fatalf("id %d: got %s after %s, want a greater id", i, id, prev)
		}
		prev = id
	}
}

func TestIDsSameMillisecond(t *testing.T) {
	// Many ids in one millisecond: the monotonic entropy must keep them ordered.
	g := NewIDs()
	prev := ""
	for i := range 10_000 {
		id := g.New(t0)
		if id <= prev {
			t.Fatalf("id %d: got %s after %s, want a greater id", i, id, prev)
		}
		prev = id
	}
	u, err := ulid.ParseStrict(prev)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.Time(), uint64(t0.UnixMilli()); got != want {
		t.Errorf("time: got %d, want %d", got, want)
	}
}

func TestIDsConcurrent(t *testing.T) {
	const workers, per = 8, 5_000
	g := NewIDs()
	out := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids := make([]string, per)
			for i := range ids {
				ids[i] = g.New(time.Now())
			}
			out[w] = ids
		}()
	}
	wg.Wait()
	seen := make(map[string]bool, workers*per)
	for w, ids := range out {
		for i, id := range ids {
			if seen[id] {
				t.Fatalf("worker %d id %d: got duplicate %s", w, i, id)
			}
			seen[id] = true
			// Each goroutine sees its own ids in order, although the times it
			// passes may be earlier than another goroutine's last id.
			if i > 0 && id <= ids[i-1] {
				t.Fatalf("worker %d id %d: got %s after %s, want a greater id", w, i, id, ids[i-1])
			}
		}
	}
}

func TestIDsTimeOrdered(t *testing.T) {
	ms := func(id string) uint64 {
		t.Helper()
		u, err := ulid.ParseStrict(id)
		if err != nil {
			t.Fatalf("parse %q: %v", id, err)
		}
		return u.Time()
	}
	t1 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		first  time.Time
		second time.Time
		// wantMS are the ids' expected milliseconds
		wantMS [2]uint64
	}{
		{"one millisecond apart", t1, t1.Add(time.Millisecond),
			[2]uint64{uint64(t1.UnixMilli()), uint64(t1.UnixMilli()) + 1}},
		{"one year apart", t1, t1.AddDate(1, 0, 0),
			[2]uint64{uint64(t1.UnixMilli()), uint64(t1.AddDate(1, 0, 0).UnixMilli())}},
		{"sub-millisecond is truncated", t1.Add(100 * time.Microsecond), t1.Add(900 * time.Microsecond),
			[2]uint64{uint64(t1.UnixMilli()), uint64(t1.UnixMilli())}},
		{"clock going back keeps order", t1.Add(time.Hour), t1,
			[2]uint64{uint64(t1.Add(time.Hour).UnixMilli()), uint64(t1.Add(time.Hour).UnixMilli())}},
		{"zero time does not panic", time.Time{}, time.Time{}, [2]uint64{0, 0}},
		{"before 1970", time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), time.Unix(0, 0), [2]uint64{0, 0}},
		{"past the ulid range", time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(30000, 1, 1, 0, 0, 0, 0, time.UTC),
			[2]uint64{ulid.MaxTime(), ulid.MaxTime()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewIDs()
			a, b := g.New(tt.first), g.New(tt.second)
			if b <= a {
				t.Errorf("got %s then %s, want increasing", a, b)
			}
			if got := [2]uint64{ms(a), ms(b)}; got != tt.wantMS {
				t.Errorf("milliseconds: got %v, want %v", got, tt.wantMS)
			}
		})
	}
	// Different generators (other Lambda instances) still order by time.
	a := NewIDs().New(t1)
	b := NewIDs().New(t1.Add(time.Millisecond))
	if b <= a {
		t.Errorf("across generators: got %s then %s, want increasing", a, b)
	}
	// ...and do not collide within one millisecond.
	if x, y := NewIDs().New(t1), NewIDs().New(t1); x == y {
		t.Errorf("across generators: got %s twice, want distinct ids", x)
	}
}
