package main

import (
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/twinstream/twinstream/stacks"
	"github.com/twinstream/twinstream/stacks/stackstest"
)

var update = flag.Bool("update", false, "rewrite the golden templates in testdata/")

// synthesized is the app as `cdk synth` builds it from cdk.json, with
// cdk-nag's AwsSolutions checks, synthesized once for all tests.
var synthesized struct {
	outdir string
	d      *stacks.Deployment
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := func() int {
		out, err := os.MkdirTemp("", "orders-synth-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(out)
		c, err := readCdkJSON()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		app := awscdk.NewApp(&awscdk.AppProps{Context: &c.Context, Outdir: jsii.String(out)})
		d, err := deployment(app)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
		app.Synth(nil)
		synthesized.outdir, synthesized.d = out, d
		return m.Run()
	}()
	jsii.Close()
	os.Exit(code)
}

type cdkJSON struct {
	App     string         `json:"app"`
	Context map[string]any `json:"context"`
}

func readCdkJSON() (*cdkJSON, error) {
	b, err := os.ReadFile("cdk.json")
	if err != nil {
		return nil, err
	}
	var c cdkJSON
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("cdk.json: %w", err)
	}
	return &c, nil
}

func allStacks() []awscdk.Stack {
	var out []awscdk.Stack
	for _, r := range synthesized.d.Regional {
		out = append(out, r.Stack)
	}
	return append(out, synthesized.d.Global.Stack)
}

// template is a stack's synthesized template.
func template(t *testing.T, s awscdk.Stack) map[string]any {
	t.Helper()
	b, err := stackstest.Template(s)
	if err != nil {
		t.Fatal(err)
	}
	var tpl map[string]any
	if err := json.Unmarshal(b, &tpl); err != nil {
		t.Fatal(err)
	}
	return tpl
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

// resources are a template's resources of one type, by logical id.
func resources(tpl map[string]any, typ string) map[string]any {
	out := map[string]any{}
	for id, r := range dig(tpl, "Resources").(map[string]any) {
		if dig(r, "Type") == typ {
			out[id] = r
		}
	}
	return out
}

// TestGoldenTemplates compares each stack's template with
// testdata/<stack>.template.json; go test -run Golden -update rewrites them.
func TestGoldenTemplates(t *testing.T) {
	for _, s := range allStacks() {
		t.Run(*s.StackName(), func(t *testing.T) {
			b, err := stackstest.Template(s)
			if err == nil {
				err = stackstest.Golden(filepath.Join("testdata", *s.StackName()+".template.json"), b, *update)
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
}

// TestCdkNag: cdk-nag's AwsSolutions pack finds nothing unsuppressed, and
// every suppression says why.
func TestCdkNag(t *testing.T) {
	for _, s := range allStacks() {
		t.Run(*s.StackName(), func(t *testing.T) {
			if err := stackstest.Nag(s); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestStacks: a stack per region and the global one, under their
// `cdk deploy` names; the dev stage's stacks can be destroyed.
func TestStacks(t *testing.T) {
	var got []string
	for _, s := range allStacks() {
		got = append(got, *s.StackName()+"@"+*s.Region())
		if tp := s.TerminationProtection(); tp == nil || *tp {
			t.Errorf("%s termination protection: got %v, want false (dev stage)", *s.StackName(), fmt.Sprint(tp != nil && *tp))
		}
	}
	want := []string{"orders-eu-west-1@eu-west-1", "orders-eu-central-1@eu-central-1", "orders-global@us-west-2"}
	if !slices.Equal(got, want) {
		t.Errorf("stacks: got %v, want %v", got, want)
	}
}

// TestProcessor: in each region the pipeline's processor is the team's
// handler, built from this module for linux/arm64 (not the library's
// default processor), with its environment and memory, and the stream's
// event source mapping invokes it; the library's own handlers build in the
// library's module.
func TestProcessor(t *testing.T) {
	for _, r := range synthesized.d.Regional {
		t.Run(*r.StackName(), func(t *testing.T) {
			tpl := template(t, r.Stack)
			fn := function(t, r.Stack, tpl, r.Pipeline.ProcessorFunction)
			checkBinary(t, fn, "github.com/acme/orders/lambdas/processor", "github.com/acme/orders")
			checkBinary(t, function(t, r.Stack, tpl, r.Pipeline.IngestFunction), stacks.HandlerIngest, "github.com/twinstream/twinstream")

			env := dig(fn, "Environment", "Variables")
			for k, want := range map[string]any{"ORDERS_PREFIX": "orders/v1", "CURRENCIES": "EUR,GBP,USD"} {
				if got := dig(env, k); got != want {
					t.Errorf("processor environment %s: got %v, want %v", k, got, want)
				}
			}
			if got, want := fmt.Sprint(dig(env, "SINK_BUCKET")), fmt.Sprint(r.Resolve(r.Pipeline.SinkBucket.BucketName())); got != want {
				t.Errorf("processor SINK_BUCKET: got %s, want %s", got, want)
			}
			if got := dig(fn, "MemorySize"); got != 512.0 {
				t.Errorf("processor memory: got %v, want 512", got)
			}
			stream := fmt.Sprint(r.Resolve(r.Pipeline.Stream.StreamArn()))
			var targets []string
			for _, m := range resources(tpl, "AWS::Lambda::EventSourceMapping") {
				if fmt.Sprint(dig(m, "Properties", "EventSourceArn")) == stream {
					targets = append(targets, fmt.Sprint(dig(m, "Properties", "FunctionName")))
				}
			}
			if want := []string{fmt.Sprint(r.Resolve(r.Pipeline.ProcessorFunction.FunctionName()))}; !slices.Equal(targets, want) {
				t.Errorf("functions the stream invokes: got %v, want %v", targets, want)
			}
		})
	}
}

// function returns the properties of fn's resource in tpl, stack's template.
func function(t *testing.T, stack awscdk.Stack, tpl map[string]any, fn awslambda.IFunction) any {
	t.Helper()
	ref := stack.Resolve(fn.FunctionName())
	props := dig(tpl, "Resources", fmt.Sprint(dig(ref, "Ref")), "Properties")
	if props == nil {
		t.Fatalf("function %v: not in the template", ref)
	}
	return props
}

// checkBinary: the function's code, as synth put it in the cloud assembly,
// is Go package pkg of module mod, built for Lambda's arm64.
func checkBinary(t *testing.T, fn any, pkg, mod string) {
	t.Helper()
	hash := strings.TrimSuffix(fmt.Sprint(dig(fn, "Code", "S3Key")), ".zip")
	bin := filepath.Join(synthesized.outdir, "asset."+hash, "bootstrap")
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatalf("%s: %v", pkg, err)
	}
	if bi.Path != pkg || bi.Main.Path != mod {
		t.Errorf("asset %s: got package %s of module %s, want %s of %s", hash, bi.Path, bi.Main.Path, pkg, mod)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 {
		t.Errorf("%s: got machine %v, want %v", pkg, f.Machine, elf.EM_AARCH64)
	}
	if got := fmt.Sprint(dig(fn, "Architectures")); got != "[arm64]" {
		t.Errorf("%s: got architectures %s, want [arm64]", pkg, got)
	}
}

// TestDevStage: the dev stage's data goes with its stacks (nothing left
// billing after cdk destroy).
func TestDevStage(t *testing.T) {
	for _, r := range synthesized.d.Regional {
		tpl := template(t, r.Stack)
		for _, typ := range []string{"AWS::Kinesis::Stream", "AWS::S3::Bucket", "AWS::KMS::Key", "AWS::Logs::LogGroup"} {
			rs := resources(tpl, typ)
			if len(rs) == 0 {
				t.Errorf("%s: got no %s", *r.StackName(), typ)
			}
			for id, res := range rs {
				if got := dig(res, "DeletionPolicy"); got != "Delete" {
					t.Errorf("%s %s %s: got DeletionPolicy %v, want Delete", *r.StackName(), typ, id, got)
				}
			}
		}
	}
}

// TestGlobal: the accelerator has an endpoint group per region, and Route
// 53 a health check per region.
func TestGlobal(t *testing.T) {
	tpl := template(t, synthesized.d.Global.Stack)
	for typ, key := range map[string]string{
		"AWS::GlobalAccelerator::EndpointGroup": "EndpointGroupRegion",
		"AWS::Route53::HealthCheck":             "",
	} {
		var got []string
		for _, r := range resources(tpl, typ) {
			v := fmt.Sprint(dig(r, "Properties", key))
			if key == "" {
				// A health check's region is in its FQDN: <region>.<record>.
				v, _, _ = strings.Cut(fmt.Sprint(dig(r, "Properties", "HealthCheckConfig", "FullyQualifiedDomainName")), ".")
			}
			got = append(got, v)
		}
		slices.Sort(got)
		if want := []string{"eu-central-1", "eu-west-1"}; !slices.Equal(got, want) {
			t.Errorf("%s per region: got %v, want %v", typ, got, want)
		}
	}
}

// TestCdkJSON: cdk.json runs this module's app, and its context holds the
// configuration and the stage only: no feature flag, so the app is tested
// as CDK's defaults build it.
func TestCdkJSON(t *testing.T) {
	c, err := readCdkJSON()
	if err != nil {
		t.Fatal(err)
	}
	if c.App != "go run ." {
		t.Errorf("app: got %q, want %q", c.App, "go run .")
	}
	for k := range c.Context {
		if k != stacks.ContextKey && k != "stage" {
			t.Errorf("context key %q: want only %q and \"stage\" (no feature flags)", k, stacks.ContextKey)
		}
	}
}

// TestCLISynth: `cdk synth` runs cdk.json's app (go run .) in this module
// and writes the templates the tests checked. The CDK CLI is the one on
// PATH (the repository's Makefile puts its pinned one first).
func TestCLISynth(t *testing.T) {
	cdk, err := exec.LookPath("cdk")
	if err != nil {
		t.Fatalf("%v: install the CDK CLI (npm ci in the repository root, with node_modules/.bin on PATH)", err)
	}
	out := t.TempDir()
	cmd := exec.Command(cdk, "synth", "--quiet", "--no-notices", "--no-version-reporting", "--output", out)
	cmd.Env = append(os.Environ(), "CDK_DEFAULT_ACCOUNT=")
	start := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cdk synth: %v\n%s", err, b)
	}
	t.Logf("cdk synth through the CLI: %s", time.Since(start).Round(100*time.Millisecond))
	for _, s := range allStacks() {
		b, err := os.ReadFile(filepath.Join(out, *s.TemplateFile()))
		if err != nil {
			t.Fatal(err)
		}
		want, err := stackstest.Template(s)
		if err != nil {
			t.Fatal(err)
		}
		if d := stackstest.Diff(normalize(t, b), normalize(t, want)); d != "" {
			t.Errorf("%s: the CLI's template differs from the test's synth %s", *s.StackName(), d)
		}
	}
}

func normalize(t *testing.T, b []byte) []byte {
	t.Helper()
	out, err := stackstest.Normalize(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestStages: a stage other than dev (cdk deploy -c stage=prod), or none,
// keeps the production defaults: stacks protected, data retained. (The
// apps are built, not synthesized: these are settings of the constructs.)
func TestStages(t *testing.T) {
	c, err := readCdkJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, stage := range []any{"prod", nil} {
		ctx := map[string]any{stacks.ContextKey: c.Context[stacks.ContextKey]}
		if stage != nil {
			ctx["stage"] = stage
		}
		d, err := deployment(awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(t.TempDir())}))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range append([]awscdk.Stack{d.Global.Stack}, d.Regional[0].Stack, d.Regional[1].Stack) {
			if tp := s.TerminationProtection(); tp == nil || !*tp {
				t.Errorf("stage %v, %s: got termination protection %v, want true", stage, *s.StackName(), tp != nil && *tp)
			}
		}
		for _, r := range d.Regional {
			stream := r.Pipeline.Stream.Node().DefaultChild().(awscdk.CfnResource)
			if got := stream.CfnOptions().DeletionPolicy(); got != awscdk.CfnDeletionPolicy_RETAIN {
				t.Errorf("stage %v, %s: got the stream's deletion policy %v, want %v", stage, *r.StackName(), got, awscdk.CfnDeletionPolicy_RETAIN)
			}
		}
	}
}
