package ingest

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/twinstream/twinstream/lambdas/record"
)

func TestSpillKey(t *testing.T) {
	at := time.Date(2024, 2, 3, 4, 5, 6, 0, time.FixedZone("x", 3600))
	tests := []struct{ id, want string }{
		{"01HZ", "spill/c1/region=eu-west-1/dt=2024-02-03/hr=03/01HZ.ndjson"},
		{"01KDZ8QF3E0000000000000000", "spill/dd/region=eu-west-1/dt=2024-02-03/hr=03/01KDZ8QF3E0000000000000000.ndjson"},
	}
	for _, tt := range tests {
		if got := SpillKey("spill", "eu-west-1", at, tt.id); got != tt.want {
			t.Errorf("SpillKey(%q) = %q, want %q", tt.id, got, tt.want)
		}
	}
	for id, want := range map[string]string{"": "c5", "a": "ed"} {
		if got := spillPartition(id); got != want {
			t.Errorf("spillPartition(%q) = %q, want %q", id, got, want)
		}
	}
}

// TestSpillPartitionSpread: the request ids ingest makes (ULIDs, many in
// one millisecond, which differ only in their last characters) fall evenly
// on the 256 partitions.
func TestSpillPartitionSpread(t *testing.T) {
	ids := record.NewIDs()
	at := time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)
	const n = 256 * 400
	counts := map[string]int{}
	for i := range n {
		p := spillPartition(ids.New(at.Add(time.Duration(i/1000) * time.Millisecond)))
		if len(p) != 2 || strings.Trim(p, "0123456789abcdef") != "" {
			t.Fatalf("partition %q, want two lower-case hex digits", p)
		}
		counts[p]++
	}
	if len(counts) != 256 {
		t.Fatalf("%d partitions used, want 256", len(counts))
	}
	// Chi-square with 255 degrees of freedom: its 99.9th percentile is
	// about 330; a skewed hash is far beyond.
	chi, mean := 0.0, float64(n)/256
	for _, c := range counts {
		chi += math.Pow(float64(c)-mean, 2) / mean
	}
	if chi > 330 {
		t.Errorf("chi-square %.0f over 256 partitions, want <= 330 (counts %v)", chi, fmt.Sprint(counts))
	}
}
