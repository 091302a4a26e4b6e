// Command drill replays the 2020 Kinesis outage on this machine: two local
// regions built from the synthesized app (cdk.out), producers sending
// through a harness accelerator, region A's Kinesis failing and coming back
// (or another fault, -fault), replay draining the spill, and a report of
// what was sent, acknowledged, found and lost, with a timeline plot (SVG).
//
//	make drill   # synthesizes, then in e2e/: go run ./drill/cmd/drill -cdk-out ../cdk.out -out ../drill-report
//
// By default producers send 3,000 records/s in batches of 100 (-rate,
// -batch, -producers).
//
// It exits with status 1 when acknowledged records are lost that the
// design keeps (LOST in the report), or when the drill cannot run. Records
// a Kinesis stream lost itself, acknowledged and then gone when it came back
// empty (-return empty), are reported apart and do not change the status:
// the design does not promise against them.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/twinstream/twinstream/e2e/drill"
	"github.com/twinstream/twinstream/e2e/internal/standin"
)

func main() {
	var o drill.Options
	out := flag.String("out", "drill-report", "folder for report.txt and timeline.svg")
	flag.StringVar(&o.CDKOut, "cdk-out", "cdk.out", "the synthesized app")
	flag.StringVar(&o.Fault, "fault", drill.FaultKinesis, "what fails in region A: "+
		"kinesis (its Kinesis), spill (its Kinesis and its spill bucket), secrets (its Secrets Manager, with new ingest environments), "+
		"sink (its sink bucket) or unreachable (its front)")
	flag.StringVar(&o.Failure, "failure", "", "how it fails: kill (default) or hang for kinesis and spill, refuse (default) or drop for unreachable")
	flag.StringVar(&o.Return, "return", drill.ReturnWithData, "how Kinesis comes back (kinesis, spill): data (with its records) or empty")
	flag.BoolVar(&o.Both, "both", false, "both regions' Kinesis fail (fault kinesis)")
	flag.DurationVar(&o.Warmup, "warmup", 10*time.Second, "steady load before the failure")
	flag.DurationVar(&o.Outage, "outage", 0, "longest outage (0: the failover bound + allowance + 10s, ending earlier once traffic moved; 15s when traffic is to stay)")
	flag.DurationVar(&o.MinOutageAfterMove, "after-move", 15*time.Second, "outage time kept after traffic moved")
	flag.DurationVar(&o.Recovery, "recovery", 60*time.Second, "load after the fault ends (long enough to see traffic come back after the move delay)")
	flag.DurationVar(&o.Drain, "drain", 2*time.Minute, "longest wait for replay and processors after the load stops, from their last progress")
	flag.DurationVar(&o.DrainMax, "drain-max", 10*time.Minute, "longest wait for replay and processors after the load stops")
	// The project's promise: 3,000 records/s in batches of 100, none of
	// them lost. 12 producers keep that rate offered while the producers
	// near region A wait out its Kinesis budget (the report's "offered").
	flag.Float64Var(&o.Rate, "rate", 3000, "records per second over all producers")
	flag.IntVar(&o.Producers, "producers", 12, "concurrent producers, half near each region")
	flag.IntVar(&o.BatchSize, "batch", 100, "records per request")
	flag.DurationVar(&o.MoveDelay, "move-delay", 30*time.Second, "harness accelerator's delay before routing follows health, as Global Accelerator's ~30s")
	verbose := flag.Bool("v", false, "log the components")
	flag.Parse()
	if err := run(o, *out, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "drill:", err)
		os.Exit(1)
	}
}

func run(o drill.Options, out string, verbose bool) error {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	o.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	s := standin.NewSession(os.Stderr)
	defer s.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	fmt.Fprintf(os.Stderr, "drill: fault %s; this takes a few minutes\n", o.Fault)
	res, err := drill.Run(s, ctx, o)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	table := res.Report.Table() + summary(res)
	fmt.Print(table)
	if err := os.WriteFile(filepath.Join(out, "report.txt"), []byte(table), 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(out, "timeline.svg"))
	if err != nil {
		return err
	}
	defer f.Close()
	if err := res.Timeline.WriteSVG(f); err != nil {
		return err
	}
	fmt.Printf("plot: %s\n", filepath.Join(out, "timeline.svg"))
	return verdict(res.Report)
}

// verdict fails the run for records lost that the design keeps; what
// Kinesis lost itself is in the report only.
func verdict(r *drill.Report) error {
	if r.Lost > 0 {
		return fmt.Errorf("%d acknowledged records lost", r.Lost)
	}
	return nil
}

// summary says what routing was to do and the bound it had.
func summary(res *drill.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "routing expected: %s", res.Expect)
	if res.Expect != drill.ExpectStay {
		fmt.Fprintf(&b, "; failover bound from the templates: %s", res.Bound)
		if res.MoveDelay > 0 {
			fmt.Fprintf(&b, " (with the accelerator's move delay %s)", res.MoveDelay)
		}
		fmt.Fprintf(&b, " + allowance %s", res.Allowance)
	}
	b.WriteString("\n")
	return b.String()
}
