// Package cli_test runs the twinstream command (cmd/twinstream, its own
// module, required here through a replace) against the stand-ins
// (kinesalite, gofakes3, local-aws-sqs, the ingest handler in-process) and
// the command's own fakes of CloudFormation, Global Accelerator, Route 53 and
// Secrets Manager: what the command reads from the regions and what it
// writes, as ingest sees it.
package cli_test

import (
	"flag"
	"io"
	"log/slog"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Verbose() {
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	os.Exit(m.Run())
}
