// Command benchtargets reads `go test -bench` output (make bench's
// bench.txt) and prints each figure issue 10 set a target for, the median
// and range over the runs, the target and whether the median meets it,
// plus the figures quoted beside them. It exits 1 when a target's
// benchmark is missing from the input (a renamed benchmark must not go
// unnoticed), not when a figure misses its target: benchmarks on a shared
// machine are noisy, and the README quotes what a run measured.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Target is one figure: the benchmark (a regexp over its name without the
// -GOMAXPROCS suffix), the metric (its unit) and the bound, if any.
type Target struct {
	What   string
	Bench  *regexp.Regexp
	Unit   string
	Bound  float64 // 0: quoted, no target
	AtMost bool    // the bound is a maximum
}

// Targets are issue 10's (and the figures quoted with them).
var Targets = []Target{
	{"Kinesis GB billed per million 200-byte JSON records, packed, 500 per request", regexp.MustCompile(`^BenchmarkBilled/packed/500$`), "billedGB/Mrec", 0.1, true},
	{"Kinesis GB billed per million, packing off (before)", regexp.MustCompile(`^BenchmarkBilled/plain/500$`), "billedGB/Mrec", 0, false},
	{"records per Kinesis record, packed, 500 per request", regexp.MustCompile(`^BenchmarkBilled/packed/500$`), "rec/kinesisrec", 0, false},
	{"records/s one shard takes, packed, 500 per request", regexp.MustCompile(`^BenchmarkBilled/packed/500$`), "rec/s/shard", 0, false},
	{"records/s one shard takes, packing off", regexp.MustCompile(`^BenchmarkBilled/plain/500$`), "rec/s/shard", 0, false},
	{"ingest through the ALB event adapter, records per CPU-second", regexp.MustCompile(`^BenchmarkALB/.+$`), "records/cpu-s", 500_000, false},
	{"processor, plain envelopes, records per CPU-second", regexp.MustCompile(`^BenchmarkProcess$`), "records/cpu-s", 400_000, false},
	{"processor, packed records (unpacking included), records per CPU-second", regexp.MustCompile(`^BenchmarkProcessPacked$`), "records/cpu-s", 200_000, false},
	{"replay drain, records/s per invocation", regexp.MustCompile(`^BenchmarkReplayDrain/.+$`), "records/s", 0, false},
	{"replay drain, objects/s per invocation", regexp.MustCompile(`^BenchmarkReplayDrain/.+$`), "objects/s", 0, false},
	{"bootstrap init duration under aws-lambda-rie, ms", regexp.MustCompile(`^BenchmarkInit/.+$`), "init-ms", 50, true},
}

var procs = regexp.MustCompile(`-\d+$`)

// Parse returns, per benchmark name and unit, the values of every run.
func Parse(r io.Reader) (map[string]map[string][]float64, error) {
	out := map[string]map[string][]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue // not a result line
		}
		name := procs.ReplaceAllString(f[0], "")
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			if out[name] == nil {
				out[name] = map[string][]float64{}
			}
			out[name][f[i+1]] = append(out[name][f[i+1]], v)
		}
	}
	return out, sc.Err()
}

// Row is one printed line.
type Row struct {
	What, Bench       string
	Median, Low, High float64
	Runs              int
	Target, Verdict   string
}

// Report matches the targets against the parsed results.
func Report(res map[string]map[string][]float64) (rows []Row, missing []string) {
	names := make([]string, 0, len(res))
	for n := range res {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, t := range Targets {
		found := false
		for _, n := range names {
			vs := res[n][t.Unit]
			if !t.Bench.MatchString(n) || len(vs) == 0 {
				continue
			}
			found = true
			s := slices.Clone(vs)
			slices.Sort(s)
			row := Row{What: t.What, Bench: n, Median: median(s), Low: s[0], High: s[len(s)-1], Runs: len(s), Target: "-", Verdict: ""}
			if t.Bound != 0 {
				ok := row.Median >= t.Bound
				row.Target = ">= " + num(t.Bound)
				if t.AtMost {
					ok = row.Median <= t.Bound
					row.Target = "<= " + num(t.Bound)
				}
				row.Verdict = map[bool]string{true: "met", false: "MISSED"}[ok]
			}
			rows = append(rows, row)
		}
		if !found {
			missing = append(missing, t.What+" ("+t.Bench.String()+", "+t.Unit+")")
		}
	}
	return rows, missing
}

func median(s []float64) float64 {
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func num(v float64) string {
	switch {
	case v >= 1000:
		return strconv.FormatFloat(v/1000, 'f', 0, 64) + "k"
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

func main() {
	res, err := Parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtargets:", err)
		os.Exit(1)
	}
	rows, missing := Report(res)
	fmt.Println("\nissue 10's figures (median of the runs, [lowest, highest]):")
	for _, r := range rows {
		fmt.Printf("  %-72s %-34s %9s [%s, %s] n=%d  target %s %s\n", r.What, r.Bench, num(r.Median), num(r.Low), num(r.High), r.Runs, r.Target, r.Verdict)
	}
	if len(missing) > 0 {
		for _, m := range missing {
			fmt.Fprintln(os.Stderr, "benchtargets: no result for", m)
		}
		os.Exit(1)
	}
}
