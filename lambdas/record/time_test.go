package record

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestAppendTime: appendTime writes what AppendFormat writes for the
// envelope's layout, for any instant and zone, at the edges of the years it
// formats itself and beyond them.
func TestAppendTime(t *testing.T) {
	const layout = "2006-01-02T15:04:05.000Z07:00"
	zone := time.FixedZone("x", -(9*3600 + 30*60))
	times := []time.Time{
		{}, time.Unix(0, 0), time.Date(2025, 11, 25, 13, 4, 5, 678_900_000, time.UTC),
		time.Date(2025, 12, 31, 23, 59, 59, 999_999_999, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 1, zone),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 2, 29, 9, 8, 7, 6_000_000, zone),
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 10000 {
		times = append(times, time.Unix(rng.Int64N(400_000_000_000)-200_000_000_000, rng.Int64N(1e9)).In(zone))
	}
	for _, tm := range times {
		if got, want := string(appendTime([]byte("x"), tm)), "x"+tm.UTC().Format(layout); got != want {
			t.Errorf("appendTime(%v) = %q, want %q", tm, got, want)
		}
	}
}
