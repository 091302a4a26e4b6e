// Package send_test runs `twinstream send` (cmd/twinstream, in-process and
// as a built binary) against the real ingest handler
// (lambdas/ingest/ingest) behind an HTTP server on 127.0.0.1
// (internal/faultyingest), with fakes of
// Kinesis, S3 and Secrets Manager that keep what ingest wrote, and a
// middleware that fails on purpose: the command's counts and ids must be
// what ingest stored.
package send_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twinstream/twinstream/cmd/twinstream/awsfake"
	"github.com/twinstream/twinstream/cmd/twinstream/cli"
	"github.com/twinstream/twinstream/cmd/twinstream/pipeline"
	"github.com/twinstream/twinstream/cmd/twinstream/send"
	"github.com/twinstream/twinstream/e2e/internal/faultyingest"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	os.Exit(m.Run())
}

const (
	apiKey   = "tsk_e2e-send-key"
	producer = "team-send"
)

// newRegion is ingest in region name, knowing this producer's key, behind
// the failing middleware.
func newRegion(t *testing.T, name string) *faultyingest.Region {
	return faultyingest.New(t, faultyingest.Config{Region: name, APIKey: apiKey, Producer: producer})
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs the command in-process with env; AWS, if asked for, is clients.
func run(t *testing.T, env map[string]string, clients func(context.Context, string) (cli.Clients, error), args ...string) result {
	t.Helper()
	if clients == nil {
		clients = func(context.Context, string) (cli.Clients, error) {
			t.Error("send asked for AWS clients")
			return nil, errors.New("no AWS in this test")
		}
	}
	var out, errb bytes.Buffer
	code := cli.Run(t.Context(), args, cli.Env{Stdout: &out, Stderr: &errb, Dir: t.TempDir(), Clients: clients,
		Getenv: func(k string) string { return env[k] }})
	r := result{code, out.String(), errb.String()}
	if strings.Contains(r.stdout+r.stderr, apiKey) {
		t.Errorf("the API key is in the output")
	}
	return r
}

var keyed = map[string]string{"TWINSTREAM_API_KEY": apiKey}

func summary(t *testing.T, r result) send.Summary {
	t.Helper()
	var s send.Summary
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("exit %d: send --json: %v\nstdout:\n%s\nstderr:\n%s", r.code, err, r.stdout, r.stderr)
	}
	return s
}

func readIDs(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// checkStored: the acknowledged ids are exactly what the regions stored,
// each once, from this producer, with data of size bytes.
func checkStored(t *testing.T, acked []string, size int, rs ...*faultyingest.Region) {
	t.Helper()
	all := faultyingest.Stores(rs...)
	if len(all) != len(acked) {
		t.Errorf("stored %d ids, want the %d acknowledged", len(all), len(acked))
	}
	seen := map[string]bool{}
	for _, id := range acked {
		if seen[id] {
			t.Errorf("id %s acknowledged twice", id)
		}
		seen[id] = true
		envs := all[id]
		if len(envs) != 1 {
			t.Errorf("id %s stored %d times, want once", id, len(envs))
			continue
		}
		if e := envs[0]; e.Producer != producer || len(e.Data) != size {
			t.Errorf("id %s stored for %q with %d bytes of data, want %q and %d", id, e.Producer, len(e.Data), producer, size)
		}
	}
}

// TestSendAgainstIngest: a clean run and one through ingest's partial
// 503s, the WAF's 429 with Retry-After, 502s and spills: every record
// acknowledged, and what send counts and lists is what ingest stored, once.
func TestSendAgainstIngest(t *testing.T) {
	for _, tt := range []struct {
		name   string
		script []faultyingest.Fault
	}{
		{"clean", nil},
		{"failing part of the time", func() []faultyingest.Fault {
			script := make([]faultyingest.Fault, 48)
			for i := range script {
				script[i] = []faultyingest.Fault{faultyingest.Pass, faultyingest.Partial, faultyingest.TooMany, faultyingest.Pass, faultyingest.Status502, faultyingest.Spill}[i%6]
			}
			return script
		}()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRegion(t, "us-east-1")
			r.Set(tt.script, faultyingest.Pass)
			ids := filepath.Join(t.TempDir(), "ids")
			res := run(t, keyed, nil, "send", "--url", r.URL(), "--count", "2000", "--batch", "100", "--concurrency", "4", "--size", "300",
				"--ids", ids, "--json")
			s := summary(t, res)
			if res.code != cli.ExitOK || s.Sent != 2000 || s.Acknowledged != 2000 || s.Failed != 0 {
				t.Fatalf("exit %d, sent %d, acknowledged %d, failed %d; want 0 and 2000 acknowledged\nstderr:\n%s", res.code, s.Sent, s.Acknowledged, s.Failed, res.stderr)
			}
			acked := readIDs(t, ids)
			checkStored(t, acked, 300, r)
			_, spilled, requests := r.Snapshot()
			if s.Spilled != spilled || s.Requests != requests {
				t.Errorf("spilled %d in %d requests, ingest spilled %d and got %d", s.Spilled, s.Requests, spilled, requests)
			}
			if tt.script != nil && (s.Statuses[503] == 0 || s.Statuses[429] == 0 || s.Statuses[502] == 0 || s.Spilled == 0 || s.Retries == 0) {
				t.Errorf("statuses %v, spilled %d, retries %d: want 503s, 429s, 502s, spills and retries", s.Statuses, s.Spilled, s.Retries)
			}
			if tt.script == nil && (s.Requests != 20 || s.Retries != 0) {
				t.Errorf("clean run: %d requests, %d retries; want 20 and none", s.Requests, s.Retries)
			}
			t.Logf("%s: stderr:\n%sstdout without --json:\n%s", tt.name, res.stderr, text(t, s))
		})
	}
}

// text is the summary as `send` prints it without --json.
func text(t *testing.T, s send.Summary) string {
	var b strings.Builder
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestSendWrongKey: a key ingest does not know ends the run at once with
// exit status 1 and says so; nothing is stored.
func TestSendWrongKey(t *testing.T) {
	r := newRegion(t, "us-east-1")
	res := run(t, map[string]string{"TWINSTREAM_API_KEY": "tsk_revoked-long-ago"}, nil, "send", "--url", r.URL(), "--count", "500", "--batch", "50")
	if res.code != cli.ExitFailure {
		t.Errorf("exit %d, want %d", res.code, cli.ExitFailure)
	}
	want := "twinstream: API key refused (401 Unauthorized from " + r.URL() + "): ingest does not know the key from $TWINSTREAM_API_KEY, or it was revoked"
	if !strings.Contains(res.stderr, want) || !strings.Contains(res.stdout, "acknowledged  0") {
		t.Errorf("stderr lacks %q, or stdout the summary\nstdout:\n%s\nstderr:\n%s", want, res.stdout, res.stderr)
	}
	if strings.Contains(res.stdout+res.stderr, "tsk_revoked-long-ago") {
		t.Error("the key is in the output")
	}
	t.Logf("exit %d\nstdout:\n%sstderr:\n%s", res.code, res.stdout, res.stderr)
	stored, _, requests := r.Snapshot()
	if len(stored) != 0 || requests > 4 {
		t.Errorf("stored %d records in %d requests, want none, in at most one request per sender", len(stored), requests)
	}
}

// deploy puts the golden templates into a CloudFormation fake, the global
// stack's ProducerUrl and FailoverUrl outputs set to producerURL and
// failoverURL, and returns the AWS clients send discovers them with.
func deploy(t *testing.T, producerURL, failoverURL string) func(context.Context, string) (cli.Clients, error) {
	t.Helper()
	dir := t.TempDir()
	files, err := filepath.Glob(filepath.Join(awsfake.Golden(), "twinstream-*.template.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("golden templates: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, "-global.template.json") {
			var tpl map[string]any
			if err := json.Unmarshal(b, &tpl); err != nil {
				t.Fatal(err)
			}
			outs := tpl["Outputs"].(map[string]any)
			outs["ProducerUrl"] = map[string]any{"Value": producerURL}
			outs["FailoverUrl"] = map[string]any{"Value": failoverURL}
			if b, err = json.Marshal(tpl); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cf := awsfake.NewCloudFormation(t)
	if _, err := awsfake.Deploy(cf, nil, nil, awsfake.DeployOptions{Name: "twinstream", Dir: dir, GlobalRegion: pipeline.GlobalRegion}); err != nil {
		t.Fatal(err)
	}
	return func(context.Context, string) (cli.Clients, error) {
		return &cli.SDK{Config: awsfake.Config("us-east-1"), Endpoint: func(service, _ string) string {
			if service == "cloudformation" {
				return cf.URL()
			}
			return "http://127.0.0.1:1" // nothing listens: only CloudFormation is asked
		}}, nil
	}
}

// TestSendDiscoveryFailover: without --url, send finds the pipeline's
// producer and failover URLs in its global stack; the producer URL's
// ingest cannot store anything (503), so the records go to the failover
// URL's, where each is stored once.
func TestSendDiscoveryFailover(t *testing.T) {
	a, b := newRegion(t, "us-east-1"), newRegion(t, "us-west-2")
	a.Set(nil, faultyingest.StorageDown)
	clients := deploy(t, a.URL(), b.URL())
	ids := filepath.Join(t.TempDir(), "ids")
	res := run(t, map[string]string{"TWINSTREAM_NAME": "twinstream", "TWINSTREAM_API_KEY": apiKey}, clients,
		"send", "--count", "600", "--batch", "100", "--concurrency", "2", "--ids", ids, "--json")
	s := summary(t, res)
	if res.code != cli.ExitOK || s.Acknowledged != 600 || s.Failovers < 1 {
		t.Fatalf("exit %d, acknowledged %d, failovers %d; want 0, 600, at least one\nstderr:\n%s", res.code, s.Acknowledged, s.Failovers, res.stderr)
	}
	if want := "sending to " + a.URL() + ", then " + b.URL() + " (pipeline twinstream: its ProducerUrl and FailoverUrl outputs of stack twinstream-global)"; !strings.Contains(res.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
	}
	checkStored(t, readIDs(t, ids), 100, a, b)
	if stored, _, requests := a.Snapshot(); len(stored) != 0 || requests < 2 {
		t.Errorf("the producer URL's ingest stored %d in %d requests, want none, and at least 2 tries", len(stored), requests)
	}
	t.Logf("\n%s", text(t, s))
}
