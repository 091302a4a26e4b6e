package main

import (
	"strings"
	"testing"
)

const sample = `goos: linux
BenchmarkBilled/plain/500         	      12	  95806 ns/op	         1.024 billedGB/Mrec	      1000 rec/s/shard	         1.000 rec/kinesisrec	  390.0 sentB/rec	 5218 records/s
BenchmarkBilled/packed/500        	      10	 105806 ns/op	         0.04300 billedGB/Mrec	     24470 rec/s/shard	       500.0 rec/kinesisrec	  42.85 sentB/rec	 4725 records/s
BenchmarkBilled/packed/500        	      10	 105806 ns/op	         0.04500 billedGB/Mrec	     24470 rec/s/shard	       500.0 rec/kinesisrec	  42.85 sentB/rec	 4725 records/s
BenchmarkBilled/packed/500        	      10	 105806 ns/op	         0.2 billedGB/Mrec	     24470 rec/s/shard	       500.0 rec/kinesisrec	  42.85 sentB/rec	 4725 records/s
BenchmarkALB/json 	 1000	 1000000 ns/op	 480000 records/cpu-s
BenchmarkALB/json 	 1000	 1000000 ns/op	 520000 records/cpu-s
BenchmarkALB/json 	 1000	 1000000 ns/op	 530000 records/cpu-s
BenchmarkProcess 	 100	 1 ns/op	 458000 records/cpu-s
BenchmarkProcessPacked 	 100	 1 ns/op	 150000 records/cpu-s
BenchmarkReplayDrain/500 	 5	 1 ns/op	 8.4 objects/s	 4200 records/s
BenchmarkInit/ingest-2 	 10	 1 ns/op	 6.5 init-ms	 30 max-init-ms
PASS
`

func TestReport(t *testing.T) {
	res, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	rows, missing := Report(res)
	if len(missing) != 0 {
		t.Errorf("missing: got %v, want none", missing)
	}
	got := map[string]Row{}
	for _, r := range rows {
		got[r.What+"|"+r.Bench] = r
	}
	tests := []struct {
		key            string
		median, lo, hi float64
		verdict        string
	}{
		{"Kinesis GB billed per million 200-byte JSON records, packed, 500 per request|BenchmarkBilled/packed/500", 0.045, 0.043, 0.2, "met"},
		{"ingest through the ALB event adapter, records per CPU-second|BenchmarkALB/json", 520000, 480000, 530000, "met"},
		{"processor, packed records (unpacking included), records per CPU-second|BenchmarkProcessPacked", 150000, 150000, 150000, "MISSED"},
		{"bootstrap init duration under aws-lambda-rie, ms|BenchmarkInit/ingest", 6.5, 6.5, 6.5, "met"},
		{"replay drain, records/s per invocation|BenchmarkReplayDrain/500", 4200, 4200, 4200, ""},
	}
	for _, tt := range tests {
		r, ok := got[tt.key]
		if !ok {
			t.Errorf("%s: no row", tt.key)
			continue
		}
		if r.Median != tt.median || r.Low != tt.lo || r.High != tt.hi || r.Verdict != tt.verdict {
			t.Errorf("%s: got median %v [%v, %v] %q, want %v [%v, %v] %q", tt.key, r.Median, r.Low, r.High, r.Verdict, tt.median, tt.lo, tt.hi, tt.verdict)
		}
	}
}

func TestReportMissing(t *testing.T) {
	res, err := Parse(strings.NewReader("BenchmarkProcess \t 1\t 1 ns/op\t 5 records/cpu-s\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, missing := Report(res)
	if len(missing) != len(Targets)-1 {
		t.Errorf("got %d missing, want %d (all but the processor's)", len(missing), len(Targets)-1)
	}
}
