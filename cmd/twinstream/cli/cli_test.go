package cli_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kinesistypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/twinstream/twinstream/cmd/twinstream/awsfake"
	"github.com/twinstream/twinstream/cmd/twinstream/cli"
	"github.com/twinstream/twinstream/cmd/twinstream/keys"
	"github.com/twinstream/twinstream/cmd/twinstream/pipeline"
	"github.com/twinstream/twinstream/cmd/twinstream/status"
)

// fakes is a pipeline deployed into the fakes from the golden templates.
type fakes struct {
	cf  *awsfake.CloudFormation
	ga  *awsfake.Accelerator
	r53 *awsfake.Route53
	sm  *awsfake.SecretsManager
	d   *awsfake.Deployment
}

func deploy(t *testing.T, skip ...string) *fakes {
	t.Helper()
	f := &fakes{cf: awsfake.NewCloudFormation(t), ga: awsfake.NewAccelerator(t), r53: awsfake.NewRoute53(t), sm: awsfake.NewSecretsManager(t)}
	d, err := awsfake.Deploy(f.cf, f.ga, f.r53, awsfake.DeployOptions{Name: "twinstream", Dir: awsfake.Golden(), GlobalRegion: pipeline.GlobalRegion, Skip: skip})
	if err != nil {
		t.Fatal(err)
	}
	f.d = d
	f.sm.Create("twinstream/api-keys", "us-east-1", []string{"us-west-2"}, `{"keys":[]}`)
	return f
}

// clients are SDK clients on the fakes; Kinesis, S3 and SQS (no fake in
// this module: the e2e module runs the stand-ins) answer an active stream,
// no spill and empty queues.
type clients struct {
	*cli.SDK
}

func (f *fakes) clients(cfg aws.Config) *clients {
	return &clients{&cli.SDK{Config: cfg, Endpoint: func(service, region string) string {
		switch service {
		case "cloudformation":
			return f.cf.URL()
		case "globalaccelerator":
			return f.ga.URL()
		case "route53":
			return f.r53.URL()
		case "secretsmanager":
			return f.sm.URL()
		}
		return "http://127.0.0.1:1" // nothing listens: a test that reaches it fails
	}}}
}

type kinesisFunc func(context.Context, *kinesis.DescribeStreamSummaryInput, ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)

func (f kinesisFunc) DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, o ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error) {
	return f(ctx, in, o...)
}

type s3Func func(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)

func (f s3Func) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, o ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	return f(ctx, in, o...)
}

type sqsFunc func(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)

func (f sqsFunc) GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, o ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	return f(ctx, in, o...)
}

func (c *clients) Kinesis(string) status.Kinesis {
	return kinesisFunc(func(_ context.Context, in *kinesis.DescribeStreamSummaryInput, _ ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error) {
		return &kinesis.DescribeStreamSummaryOutput{StreamDescriptionSummary: &kinesistypes.StreamDescriptionSummary{StreamName: in.StreamName, StreamStatus: "ACTIVE", OpenShardCount: aws.Int32(1)}}, nil
	})
}

func (c *clients) S3(string) status.S3 {
	return s3Func(func(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
		return &s3.ListObjectsV2Output{IsTruncated: aws.Bool(false)}, nil
	})
}

func (c *clients) SQS(string) status.SQS {
	return sqsFunc(func(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
		return &sqs.GetQueueAttributesOutput{Attributes: map[string]string{"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}}, nil
	})
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs a command line against f with the fakes' credentials.
func (f *fakes) run(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	return runWith(t, env, func(context.Context, string) (cli.Clients, error) { return f.clients(awsfake.Config("us-east-1")), nil }, args...)
}

func runWith(t *testing.T, env map[string]string, mk func(context.Context, string) (cli.Clients, error), args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	dir := env["DIR"]
	if dir == "" {
		dir = t.TempDir()
	}
	code := cli.Run(t.Context(), args, cli.Env{Stdout: &out, Stderr: &errb, Dir: dir, Clients: mk,
		Getenv: func(k string) string { return env[k] }})
	return result{code, out.String(), errb.String()}
}

func (r result) want(t *testing.T, code int, stdout, stderr []string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	for _, s := range stdout {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
		}
	}
	for _, s := range stderr {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
}

var named = map[string]string{"TWINSTREAM_NAME": "twinstream"}

func TestUsage(t *testing.T) {
	f := deploy(t)
	for _, tc := range []struct {
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{nil, cli.ExitUsage, nil, []string{"usage:"}},
		{[]string{"help"}, cli.ExitOK, []string{"usage:", "exit status:", "twinstream send [--url URL]...", "send flags:"}, nil},
		{[]string{"send", "--help"}, cli.ExitOK, nil, []string{"twinstream send [--url URL]..."}},
		{[]string{"frob"}, cli.ExitUsage, nil, []string{`unknown command "frob"`, "twinstream help"}},
		{[]string{"drain"}, cli.ExitUsage, nil, []string{"missing REGION"}},
		{[]string{"drain", "us-east-1", "us-west-2"}, cli.ExitUsage, nil, []string{`unexpected argument "us-west-2"`}},
		{[]string{"drain", "eu-north-1"}, cli.ExitUsage, nil, []string{"pipeline twinstream has no region eu-north-1 (its regions: us-east-1, us-west-2)"}},
		{[]string{"status", "--bogus"}, cli.ExitUsage, nil, []string{"flag provided but not defined: -bogus"}},
		{[]string{"restore", "us-east-1", "--force"}, cli.ExitUsage, nil, []string{"flag provided but not defined: -force"}},
		{[]string{"keys"}, cli.ExitUsage, nil, []string{"keys: want add NAME, list or revoke NAME"}},
		{[]string{"keys", "add"}, cli.ExitUsage, nil, []string{"missing NAME"}},
		{[]string{"keys", "add", "team\x07"}, cli.ExitUsage, nil, []string{"control characters"}},
		{[]string{"keys", "rotate", "a"}, cli.ExitUsage, nil, []string{`unknown subcommand "rotate"`}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f.run(t, named, tc.args...).want(t, tc.code, tc.stdout, tc.stderr)
		})
	}
}

func TestPipelineName(t *testing.T) {
	f := deploy(t)
	writeCDK := func(t *testing.T, body string) string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "cdk.json"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	for _, tc := range []struct {
		name   string
		env    map[string]string
		args   []string
		code   int
		stderr []string
	}{
		{"--name", nil, []string{"status", "--name", "twinstream"}, cli.ExitOK, nil},
		{"$TWINSTREAM_NAME", named, []string{"status"}, cli.ExitOK, nil},
		{"--name wins over the environment", map[string]string{"TWINSTREAM_NAME": "orders"}, []string{"status", "--name=twinstream"}, cli.ExitOK, nil},
		{"cdk.json", map[string]string{"DIR": writeCDK(t, `{"app":"go run .","context":{"twinstream":{"name":"twinstream","regions":["us-east-1","us-west-2"]}}}`)}, []string{"status"}, cli.ExitOK, nil},
		{"cdk.json without a name: the library's default", map[string]string{"DIR": writeCDK(t, `{"context":{"twinstream":{"regions":["us-east-1","us-west-2"]}}}`)}, []string{"status"}, cli.ExitOK, nil},
		{"cdk.json of another pipeline", map[string]string{"DIR": writeCDK(t, `{"context":{"twinstream":{"name":"orders"}}}`)}, []string{"status"}, cli.ExitFailure,
			[]string{"pipeline orders (name from ./cdk.json): stack orders-global: stack not found in us-west-2; pipelines deployed in this account: twinstream"}},
		{"cdk.json without twinstream", map[string]string{"DIR": writeCDK(t, `{"app":"x"}`)}, []string{"status"}, cli.ExitUsage, []string{"has no context.twinstream"}},
		{"no name anywhere", nil, []string{"status"}, cli.ExitUsage, []string{"no pipeline name: pass --name, set TWINSTREAM_NAME, or run in the app's folder (cdk.json)"}},
		{"invalid", map[string]string{"TWINSTREAM_NAME": "Orders!"}, []string{"status"}, cli.ExitUsage, []string{`pipeline name "Orders!"`, "(from $TWINSTREAM_NAME)"}},
		{"wrong --name", nil, []string{"drain", "us-east-1", "--name", "orders"}, cli.ExitFailure, []string{"stack orders-global: stack not found in us-west-2; pipelines deployed in this account: twinstream"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.run(t, tc.env, tc.args...).want(t, tc.code, nil, tc.stderr)
		})
	}
}

func TestNoCredentials(t *testing.T) {
	f := deploy(t)
	noCreds := func(context.Context, string) (cli.Clients, error) {
		cfg := awsfake.Config("us-east-1")
		cfg.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{}, errors.New("failed to refresh cached credentials, no EC2 IMDS role found")
		})
		return f.clients(cfg), nil
	}
	for _, args := range [][]string{{"status"}, {"drain", "us-east-1"}, {"keys", "list"}} {
		runWith(t, named, noCreds, args...).want(t, cli.ExitFailure, nil, []string{"no AWS credentials: set AWS_PROFILE (or --profile)", "no EC2 IMDS role found"})
	}
	if calls := len(f.cf.Calls()) + len(f.ga.Calls()) + len(f.sm.Calls()); calls != 0 {
		t.Errorf("%d AWS calls made without credentials, want 0", calls)
	}
}

func TestAWSErrorHints(t *testing.T) {
	for _, tc := range []struct{ code, hint string }{
		{"ExpiredToken", "the AWS credentials have expired"},
		{"AccessDenied", "lack a permission"},
		{"InvalidClientTokenId", "not valid for this account"},
	} {
		t.Run(tc.code, func(t *testing.T) {
			f := deploy(t)
			f.cf.Fail("DescribeStacks", &awsfake.APIError{Status: 403, Code: tc.code, Message: "cloudformation:DescribeStacks"})
			f.run(t, named, "status").want(t, cli.ExitFailure, nil, []string{"describe stack twinstream-global in us-west-2", tc.code, "hint: ", tc.hint})
		})
	}
}

func TestStatusCommand(t *testing.T) {
	f := deploy(t)
	f.run(t, named, "status").want(t, cli.ExitOK, []string{"pipeline twinstream", "traffic dial", "all regions healthy"}, nil)

	r := f.run(t, named, "status", "--json")
	r.want(t, cli.ExitOK, nil, nil)
	var doc status.Report
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Pipeline != "twinstream" || len(doc.Regions) != 2 {
		t.Errorf("status --json: got %v, %+v", err, doc)
	}

	f.run(t, named, "drain", "us-west-2", "--wait", "0").want(t, cli.ExitOK, nil, nil)
	f.run(t, named, "status").want(t, cli.ExitAttention, []string{"attention:", "us-west-2 is drained"}, nil)

	f.cf.Delete("us-east-1", "twinstream-us-east-1")
	f.run(t, named, "status").want(t, cli.ExitFailure, []string{"could not read:", "us-east-1: stack twinstream-us-east-1: stack not found in us-east-1"}, nil)
}

func TestDrainRestoreCommands(t *testing.T) {
	f := deploy(t)
	dial := func(region string) float32 {
		t.Helper()
		for k, arn := range f.d.Physical {
			if strings.HasPrefix(k, "twinstream-global/AcceleratorListenerEndpointGroup"+pipeline.RegionID(region)) {
				g, _ := f.ga.Group(arn)
				return g.Dial
			}
		}
		t.Fatalf("no endpoint group for %s", region)
		return -1
	}
	f.run(t, named, "drain", "us-east-1", "--dry-run").want(t, cli.ExitOK, []string{"traffic dial 100 -> 0", "dry run: nothing changed"}, nil)
	if dial("us-east-1") != 100 {
		t.Fatal("--dry-run changed the dial")
	}
	f.run(t, named, "drain", "--wait=0", "us-east-1").want(t, cli.ExitOK, []string{"changed: traffic dial 0", "changed: health check path /health/drained"}, nil)
	f.run(t, named, "drain", "us-west-2", "--wait", "0").want(t, cli.ExitRefused, nil,
		[]string{"refused: us-west-2 is the last region taking traffic (us-east-1: traffic dial 0); pass --force to drain it anyway"})
	if dial("us-west-2") != 100 {
		t.Fatal("a refused drain changed the dial")
	}
	f.run(t, named, "drain", "us-west-2", "--force", "--wait", "0").want(t, cli.ExitOK, []string{"warning: us-west-2 is the last region taking traffic"}, nil)
	f.run(t, named, "restore", "us-west-2", "--wait", "0").want(t, cli.ExitOK, []string{"traffic dial 0 -> 100"}, nil)
	f.run(t, named, "restore", "us-east-1", "--wait", "0").want(t, cli.ExitOK, []string{"path /health/drained -> /health/deep"}, nil)
	if dial("us-east-1") != 100 || dial("us-west-2") != 100 {
		t.Errorf("after restore: dials %v, %v, want 100", dial("us-east-1"), dial("us-west-2"))
	}
}

func TestKeysCommands(t *testing.T) {
	f := deploy(t)
	secret := func() *keys.Set {
		v, _ := f.sm.Value("twinstream/api-keys")
		s, err := keys.Parse(v)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	r := f.run(t, named, "keys", "add", "team-a")
	r.want(t, cli.ExitOK, nil, []string{"added a key for team-a", "in us-east-1", "shown once", "API_KEYS_TTL"})
	key1 := strings.TrimSuffix(r.stdout, "\n")
	if strings.Contains(key1, "\n") || !strings.HasPrefix(key1, keys.KeyPrefix) {
		t.Fatalf("stdout: got %q, want the key alone on one line", r.stdout)
	}
	sum := sha256.Sum256([]byte(key1))
	if s := secret(); len(s.Keys) != 1 || s.Keys[0].ID != "team-a" || s.Keys[0].SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("secret: got %+v, want team-a with the key's SHA-256", s.Keys)
	}
	if v, _ := f.sm.Value("twinstream/api-keys"); strings.Contains(v, key1) {
		t.Fatal("the key itself is in the secret")
	}

	r = f.run(t, named, "keys", "add", "team-a")
	r.want(t, cli.ExitOK, nil, []string{"team-a now has 2 keys", "twinstream keys revoke team-a --sha256"})
	if strings.TrimSpace(r.stdout) == key1 {
		t.Fatal("the rotation printed the same key")
	}
	f.run(t, named, "keys", "list").want(t, cli.ExitOK, []string{"secret twinstream/api-keys, primary us-east-1", "replica us-west-2: InSync", "team-a", hex.EncodeToString(sum[:])[:16], "2 keys, 1 producers"}, nil)

	f.run(t, named, "keys", "revoke", "team-a", "--sha256", hex.EncodeToString(sum[:])[:12]).want(t, cli.ExitOK, []string{"revoked team-a sha256 " + hex.EncodeToString(sum[:])[:16]}, nil)
	if s := secret(); len(s.Keys) != 1 || s.Keys[0].SHA256 == hex.EncodeToString(sum[:]) {
		t.Errorf("after revoking the first key: got %+v", s.Keys)
	}
	r = f.run(t, named, "keys", "list", "--json")
	r.want(t, cli.ExitOK, nil, nil)
	var doc struct {
		Secret, PrimaryRegion string
		Keys                  []struct{ ID, SHA256 string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Secret != "twinstream/api-keys" || doc.PrimaryRegion != "us-east-1" || len(doc.Keys) != 1 {
		t.Errorf("keys list --json: got %v, %s", err, r.stdout)
	}
	f.run(t, named, "keys", "revoke", "team-a").want(t, cli.ExitOK, []string{"revoked team-a"}, nil)
	f.run(t, named, "keys", "revoke", "team-a").want(t, cli.ExitFailure, nil, []string{`no key is named "team-a"`})
	if s := secret(); len(s.Keys) != 0 {
		t.Errorf("after revoking team-a: got %+v, want no key", s.Keys)
	}
}
