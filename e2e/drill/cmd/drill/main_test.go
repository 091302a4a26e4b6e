package main

import (
	"testing"

	"github.com/twinstream/twinstream/e2e/drill"
)

func TestVerdict(t *testing.T) {
	tests := []struct {
		name string
		r    drill.Report
		fail bool
	}{
		{"nothing lost", drill.Report{Acked: 10, FoundInSinks: 10}, false},
		{"lost by Kinesis itself only", drill.Report{Acked: 10, FoundInSinks: 3, LostByKinesis: 7, HeldChecked: true}, false},
		{"lost", drill.Report{Acked: 10, FoundInSinks: 9, Lost: 1}, true},
		{"lost besides Kinesis's losses", drill.Report{Acked: 10, FoundInSinks: 2, Lost: 1, LostByKinesis: 7}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := verdict(&tt.r); (err != nil) != tt.fail {
				t.Errorf("got %v, want failure %v", err, tt.fail)
			}
		})
	}
}
