// Command drill replays the 2020 Kinesis outage on this machine: two local
// regions built from the synthesized app (cdk.out), producers sending
// through a harness accelerator, region A's Kinesis failing and coming back,
// replay draining the spill, and a report of what was sent, acknowledged,
// found and lost, with a timeline plot (SVG).
//
//	make drill   # synthesizes, then: go run ./drill/cmd/drill -cdk-out cdk.out -out drill-report
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/twinstream/twinstream/drill"
	"github.com/twinstream/twinstream/internal/standin"
)

func main() {
	var o drill.Options
	out := flag.String("out", "drill-report", "folder for report.txt and timeline.svg")
	flag.StringVar(&o.CDKOut, "cdk-out", "cdk.out", "the synthesized app")
	flag.StringVar(&o.Failure, "failure", drill.FailKill, "how Kinesis fails: kill (the process dies) or hang (it stops answering)")
	flag.StringVar(&o.Return, "return", drill.ReturnWithData, "how Kinesis comes back: data (with its records) or empty")
	flag.BoolVar(&o.Both, "both", false, "both regions' Kinesis fail")
	flag.DurationVar(&o.Warmup, "warmup", 10*time.Second, "steady load before the failure")
	flag.DurationVar(&o.Outage, "outage", 0, "longest outage (0: the failover bound + allowance + 10s; ends earlier once traffic moved)")
	flag.DurationVar(&o.MinOutageAfterMove, "after-move", 15*time.Second, "outage time kept after traffic moved")
	flag.DurationVar(&o.Recovery, "recovery", 30*time.Second, "load after Kinesis is back")
	flag.DurationVar(&o.Drain, "drain", 2*time.Minute, "longest wait for replay and processors after the load stops")
	flag.Float64Var(&o.Rate, "rate", 300, "records per second over all producers")
	flag.IntVar(&o.Producers, "producers", 6, "concurrent producers, half near each region")
	flag.IntVar(&o.BatchSize, "batch", 10, "records per request")
	flag.DurationVar(&o.MoveDelay, "move-delay", 0, "harness accelerator's delay before routing follows health (GA: ~30s)")
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
	fmt.Fprintf(os.Stderr, "drill: %s Kinesis %s, back %s; this takes a few minutes\n", map[bool]string{true: "both regions'", false: "region A's"}[o.Both], o.Failure, o.Return)
	res, err := drill.Run(s, ctx, o)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	table := res.Report.Table() + fmt.Sprintf("failover bound from the templates: %s (+ allowance %s)\n", res.Bound, res.Allowance)
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
	if res.Report.Lost > 0 {
		return fmt.Errorf("%d acknowledged records lost", res.Report.Lost)
	}
	return nil
}
