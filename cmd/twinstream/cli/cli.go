// Package cli is the twinstream command: parsing, the pipeline's name, the
// AWS clients, and the subcommands built on the packages beside it
// (pipeline, status, traffic, keys, send). `send` is the producer
// client's load generator (client/load) pointed at any ingest URL, or at
// the pipeline's own, read from its global stack's outputs.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/twinstream/twinstream/cmd/twinstream/pipeline"
)

// Exit statuses.
const (
	ExitOK        = 0
	ExitFailure   = 1 // an AWS error, no credentials, a stack or secret not found, conflicting updates; send: a request refused (a wrong key)
	ExitUsage     = 2 // bad arguments or flags
	ExitRefused   = 3 // drain of the last region taking traffic without --force
	ExitAttention = 4 // status: something needs an operator; send: records not acknowledged
)

// Usage is the command's help.
const Usage = `twinstream: operate a deployed twinstream pipeline

usage:
  twinstream status [--json]
  twinstream drain REGION [--dry-run] [--force] [--wait 5m]
  twinstream restore REGION [--dry-run] [--wait 5m]
  twinstream keys add NAME
  twinstream keys list [--json]
  twinstream keys revoke NAME [--sha256 PREFIX]
  twinstream send [--url URL]... [--count N | --duration D] [--rate R] [--size BYTES]
                  [--batch N] [--concurrency N] [--partition-key K] [--id-prefix P]
                  [--max-elapsed D] [--gzip] [--ids FILE] [--json] [--quiet | --progress]

  status       per region: the accelerator endpoint's health and traffic dial, the Route 53
               health check's verdict and path (drift from the template marked), the Kinesis
               stream, the spill backlog waiting for replay, the replay dead-letter and
               processor failure queues
  drain        set REGION's traffic dial to 0 (Global Accelerator, us-west-2) and point its
               Route 53 health check at /health/drained, which answers 404, so that neither
               path sends it new producers; refuses the last region taking traffic
  restore      set REGION's traffic dial and health check path back to the template's
               (100, /health/deep)
  keys add     generate a key for producer NAME (another for the same NAME rotates) and print
               it once on stdout; only its SHA-256 goes into the API-key secret, in the
               primary region
  keys list    the producers' key hashes, the secret's primary region and replicas
  keys revoke  remove NAME's keys, or with --sha256 the one whose hash starts with PREFIX
  send         a smoke or load test: send generated records to ingest through the producer
               client (batches, retries, failover), with a progress line on stderr when it is
               a terminal, then print what was sent, acknowledged (and spilled) and failed,
               requests, retries, failovers, the rate and latency p50/p90/p99 per request and
               per batch; the API key is $TWINSTREAM_API_KEY (or --key, which leaves it in
               the shell's history), never printed

flags:
  --json       print JSON (status, keys list, send)
  --dry-run    print what would change, change nothing (drain, restore)
  --force      drain the last region taking traffic all the same (drain)
  --wait D     wait up to D for Global Accelerator to deploy the change and, draining, for
               Route 53 to fail the region's check; 0: do not wait (drain, restore; default 5m)
  --name NAME  the pipeline (every command; default: $TWINSTREAM_NAME, else
               context.twinstream.name in ./cdk.json, "twinstream" when that key has no name)
  --profile P  AWS shared config profile (every command; default: the SDK's chain:
               AWS_PROFILE, environment, SSO, instance role)
  --timeout D  deadline of each AWS call (every command; default 10s)

send flags:
  --url URL          ingest URL, in failover order: repeat it or separate URLs with commas; a
                     URL without a path gets /v1/records (default: the global stack's
                     ProducerUrl output, then FailoverUrl, found by --name)
  --key KEY          the API key (default: $TWINSTREAM_API_KEY)
  --count N          records to send; 0: no bound (default 100, or no bound with --duration)
  --duration D       stop sending after D (default: no bound)
  --rate R           records per second over all senders; 0: as fast as they go (default 0)
  --size BYTES       each record's JSON data, {"seq":N,"pad":"xx..."} (default 100; 18 up to
                     what fits ingest's 1,000,000-byte body alone: 999943 with ULIDs)
  --batch N          records per batch, sent in requests of at most min(N, 500) records: keep
                     N within ingest's MAX_RECORDS if that is below 500 (default 100; 1-10000)
  --concurrency N    batches in flight at once (default 4; 1-1024)
  --partition-key K  every record's partition key (default: the record's id)
  --id-prefix P      ids P1, P2, ... (default: ULIDs the client assigns)
  --max-elapsed D    stop retrying a request after D; its records count as failed (default 2m)
  --gzip             send request bodies gzipped
  --ids FILE         write the acknowledged ids to FILE, one a line
  --progress         the progress line even when stderr is not a terminal (a line a second)
  --quiet            no progress line, no notes on stderr
  Ctrl-C stops sending; the batches in flight get 10s to finish (Ctrl-C again quits at
  once), then the summary is printed.

The pipeline is found by name from its CloudFormation stacks: <name>-global in us-west-2 and
<name>-<region> in each region. No ARN is typed by hand.

exit status: 0 done (status: all well; send: every record sent was acknowledged); 1 failed
(AWS error, no credentials, stack or secret not found, conflicting updates; send: the API key
refused (401, 403) or a request refused (4xx), the run stopped); 2 usage error; 3 drain
refused (last region taking traffic); 4 status: something needs attention (listed); send:
records not acknowledged (retries gave up, or cut short by Ctrl-C)
`

// Env is what the command runs with.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Dir is the working directory (cdk.json).
	Dir string
	// Clients returns the AWS clients; only commands calling AWS call it.
	Clients func(ctx context.Context, profile string) (Clients, error)
}

// SDKClients loads the AWS SDK's configuration: Env.Clients for main.
func SDKClients(ctx context.Context, profile string) (Clients, error) {
	return LoadSDK(ctx, profile)
}

// usageError is a bad command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// exitError carries an exit status other than ExitFailure.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Run runs the command line args and returns the exit status.
func Run(ctx context.Context, args []string, env Env) int {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, Usage)
		return ExitUsage
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(env.Stdout, Usage)
		return ExitOK
	case "status":
		err = runStatus(ctx, rest, env)
	case "drain", "restore":
		err = runSwitch(ctx, cmd, rest, env)
	case "keys":
		err = runKeys(ctx, rest, env)
	case "send":
		err = runSend(ctx, rest, env)
	default:
		err = usagef("unknown command %q", cmd)
	}
	var ue *usageError
	var ee *exitError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.As(err, &ue):
		fmt.Fprintf(env.Stderr, "twinstream: %v\nrun `twinstream help` for usage\n", err)
		return ExitUsage
	case errors.As(err, &ee) && ee.err == nil:
		return ee.code
	}
	fmt.Fprintf(env.Stderr, "twinstream: %v\n", err)
	if h := hint(err); h != "" {
		fmt.Fprintf(env.Stderr, "hint: %s\n", h)
	}
	if errors.As(err, &ee) {
		return ee.code
	}
	return ExitFailure
}

// common holds the flags every command takes.
type common struct {
	name, profile string
	timeout       time.Duration
}

func newFlags(name string, env Env, c *common) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.StringVar(&c.name, "name", "", "pipeline name (default: $TWINSTREAM_NAME, else ./cdk.json's context.twinstream.name)")
	fs.StringVar(&c.profile, "profile", "", "AWS shared config profile")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "deadline of each AWS call")
	fs.Usage = func() { fmt.Fprint(env.Stderr, Usage) }
	return fs
}

// parse parses flags wherever they are among the positional arguments
// (`drain us-east-1 --dry-run`), and returns the positional ones.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

// pipelineName resolves the pipeline's name: --name, $TWINSTREAM_NAME, or
// cdk.json's context.twinstream.name in the working directory (the
// library's default "twinstream" when that key has no name). It says where
// the name came from.
func pipelineName(c *common, env Env) (name, from string, err error) {
	switch {
	case c.name != "":
		name, from = c.name, "--name"
	case env.Getenv("TWINSTREAM_NAME") != "":
		name, from = env.Getenv("TWINSTREAM_NAME"), "$TWINSTREAM_NAME"
	default:
		path := filepath.Join(env.Dir, "cdk.json")
		b, rerr := os.ReadFile(path)
		if errors.Is(rerr, os.ErrNotExist) {
			return "", "", usagef("no pipeline name: pass --name, set TWINSTREAM_NAME, or run in the app's folder (cdk.json)")
		}
		if rerr != nil {
			return "", "", rerr
		}
		var doc struct {
			Context map[string]json.RawMessage `json:"context"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return "", "", fmt.Errorf("%s: %w", path, err)
		}
		raw, ok := doc.Context["twinstream"]
		if !ok {
			return "", "", usagef("no pipeline name: %s has no context.twinstream; pass --name or set TWINSTREAM_NAME", path)
		}
		var cfg struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return "", "", fmt.Errorf("%s: context.twinstream: %w", path, err)
		}
		name, from = cfg.Name, "./cdk.json"
		if name == "" {
			name = "twinstream"
		}
	}
	if err := pipeline.ValidName(name); err != nil {
		return "", "", usagef("%v (from %s)", err, from)
	}
	return name, from, nil
}

// session is what a command that calls AWS starts with.
type session struct {
	common
	from    string
	clients Clients
	disc    *pipeline.Discoverer
}

func start(ctx context.Context, c common, env Env) (*session, error) {
	name, from, err := pipelineName(&c, env)
	if err != nil {
		return nil, err
	}
	c.name = name
	clients, err := env.Clients(ctx, c.profile)
	if err != nil {
		return nil, err
	}
	if err := clients.Check(ctx); err != nil {
		return nil, err
	}
	return &session{common: c, from: from, clients: clients,
		disc: &pipeline.Discoverer{CloudFormation: clients.CloudFormation, Timeout: c.timeout}}, nil
}

// global discovers the pipeline's global stack, naming where the name came
// from when it is not found.
func (s *session) global(ctx context.Context) (*pipeline.Pipeline, error) {
	p, err := s.disc.Global(ctx, s.name)
	if errors.Is(err, pipeline.ErrStackMissing) && s.from != "--name" {
		return nil, fmt.Errorf("pipeline %s (name from %s): %w", s.name, s.from, err)
	}
	return p, err
}

// all discovers the global and the regional stacks.
func (s *session) all(ctx context.Context) (*pipeline.Pipeline, error) {
	p, err := s.global(ctx)
	if err != nil {
		return nil, err
	}
	// A regional stack that cannot be read is reported by the command.
	_ = s.disc.Regional(ctx, p)
	return p, nil
}

func onlyArgs(pos []string, n int, what string) error {
	if len(pos) != n {
		if len(pos) < n {
			return usagef("missing %s", what)
		}
		return usagef("unexpected argument %q", pos[n])
	}
	return nil
}

func join(list []string) string { return strings.Join(list, ", ") }
