// Command twinstream operates a deployed twinstream pipeline: status,
// drain and restore of a region, producers' API keys, and a smoke or load
// test of its ingest API (send). Run `twinstream help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/twinstream/twinstream/cmd/twinstream/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal cancels ctx: the command winds down (send finishes
	// its batches in flight and prints its summary); a second one quits at
	// once, as without a handler.
	context.AfterFunc(ctx, stop)
	dir, _ := os.Getwd()
	code := cli.Run(ctx, os.Args[1:], cli.Env{
		Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Dir: dir, Clients: cli.SDKClients,
	})
	stop()
	os.Exit(code)
}
