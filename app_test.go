package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/twinstream/twinstream/stacks"
	"github.com/twinstream/twinstream/stacks/stackstest"
)

var update = flag.Bool("update", false, "rewrite the golden templates in testdata/")

// synthApp is one app, synthesized once for all tests (with the cdk-nag
// AwsSolutions checks applied, which add annotations, not resources, and
// with CDK's built-in CloudFormation validation, which app.go skips).
type synthApp struct {
	name      string
	outdir    string
	stacks    *stacks.Deployment
	assembly  cxapi.CloudAssembly
	templates map[string][]byte // stack id -> template JSON as the CLI writes it
}

// The apps: cdk.json's (the default), the same with three regions, and the
// default configuration under CDK's default feature flags (no flag in the
// context at all).
var synthesized, threeRegion, noFlags synthApp

// apps are the synthesized apps.
func apps() []*synthApp { return []*synthApp{&synthesized, &threeRegion, &noFlags} }

// threeRegions is the three-region app's configuration.
var threeRegions = []any{"us-east-1", "us-west-2", "eu-west-1"}

func TestMain(m *testing.M) {
	flag.Parse()
	code := func() int {
		// The assemblies stay on disk until the tests end: assertions read
		// them.
		ctx, err := cdkContext()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		three := maps.Clone(ctx)
		cfg := maps.Clone(ctx[stacks.ContextKey].(map[string]any))
		cfg["regions"] = threeRegions
		three[stacks.ContextKey] = cfg
		for _, a := range []struct {
			app *synthApp
			ctx map[string]any
		}{
			{&synthesized, ctx},
			{&threeRegion, three},
			{&noFlags, map[string]any{stacks.ContextKey: ctx[stacks.ContextKey]}},
		} {
			out, err := os.MkdirTemp("", "twinstream-synth-")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer os.RemoveAll(out)
			if err := a.app.synth(a.ctx, out); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		synthesized.name, threeRegion.name, noFlags.name = "default", "three-region", "no-flags"
		return m.Run()
	}()
	jsii.Close()
	os.Exit(code)
}

// cdkContext is cdk.json's context: the configuration and feature flags the
// CLI gives the app, so tests synthesize exactly what `cdk synth` does.
func cdkContext() (map[string]any, error) {
	b, err := os.ReadFile("cdk.json")
	if err != nil {
		return nil, err
	}
	var c struct{ Context map[string]any }
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("cdk.json: %w", err)
	}
	return c.Context, nil
}

func newApp(ctx map[string]any, outdir string) awscdk.App {
	m := map[string]any{}
	for k, v := range ctx {
		m[k] = v
	}
	return awscdk.NewApp(&awscdk.AppProps{Context: &m, Outdir: jsii.String(outdir)})
}

// synth builds the app as app.go does, from ctx, into out.
func (a *synthApp) synth(ctx map[string]any, out string) error {
	a.outdir = out
	app := newApp(ctx, out)
	cfg, err := stacks.LoadConfig(app)
	if err != nil {
		return err
	}
	a.stacks = stacks.NewDeployment(app, &stacks.DeploymentProps{Config: cfg})
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	a.assembly = app.Synth(nil)
	a.templates = map[string][]byte{}
	for _, s := range a.all() {
		b, err := os.ReadFile(filepath.Join(out, *s.TemplateFile()))
		if err != nil {
			return err
		}
		a.templates[*s.StackName()] = b
	}
	return nil
}

// all are the app's stacks: the regional ones, then the global one.
func (a *synthApp) all() []awscdk.Stack {
	var out []awscdk.Stack
	for _, r := range a.stacks.Regional {
		out = append(out, r.Stack)
	}
	return append(out, a.stacks.Global.Stack)
}

func allStacks() []awscdk.Stack { return synthesized.all() }

// normalize is stackstest.Normalize for a test.
func normalize(t *testing.T, b []byte) []byte {
	t.Helper()
	out, err := stackstest.Normalize(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestGoldenTemplates compares the templates with testdata/ (cdk.json's
// app) and testdata/three-region/ (the same with three regions); -update
// rewrites them.
func TestGoldenTemplates(t *testing.T) {
	for _, a := range []struct {
		app *synthApp
		dir string
	}{{&synthesized, "testdata"}, {&threeRegion, filepath.Join("testdata", "three-region")}} {
		for _, s := range a.app.all() {
			name := *s.StackName()
			t.Run(a.app.name+"/"+name, func(t *testing.T) {
				if err := stackstest.Golden(filepath.Join(a.dir, name+".template.json"), a.app.templates[name], *update); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

// TestCdkNag: cdk-nag's AwsSolutions pack finds no unsuppressed error, and
// every suppression says why.
func TestCdkNag(t *testing.T) {
	for _, a := range apps() {
		for _, s := range a.all() {
			t.Run(a.name+"/"+*s.StackName(), func(t *testing.T) {
				if err := stackstest.Nag(s); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

// TestCloudFormationValidation: CDK's built-in CloudFormation validation
// (which `cdk synth` skips for speed, see app.go) finds nothing in the app's
// templates; a stack with a known finding shows the validation really runs.
func TestCloudFormationValidation(t *testing.T) {
	violations := func(t *testing.T, dir string) []string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, "validation-report.json"))
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			PluginReports []struct {
				PluginName string
				Violations []struct {
					RuleName    string
					Description string
					Severity    string
				}
			}
		}
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range r.PluginReports {
			for _, v := range p.Violations {
				out = append(out, fmt.Sprintf("%s %s %s: %s", p.PluginName, v.Severity, v.RuleName, v.Description))
			}
		}
		return out
	}
	for _, a := range apps() {
		for _, v := range violations(t, a.outdir) {
			t.Errorf("%s app: got finding %s, want none", a.name, v)
		}
	}
	// The control: a subnet in a hard-coded AZ is a known warning (W3010).
	dir := t.TempDir()
	app := newApp(nil, dir)
	stack := awscdk.NewStack(app, jsii.String("Control"), &awscdk.StackProps{Env: &awscdk.Environment{Region: jsii.String("us-east-1")}})
	awscdk.NewCfnResource(stack, jsii.String("Subnet"), &awscdk.CfnResourceProps{Type: jsii.String("AWS::EC2::Subnet"),
		Properties: &map[string]any{"VpcId": "vpc-12345678", "CidrBlock": "10.0.0.0/24", "AvailabilityZone": "us-east-1a"}})
	app.Synth(nil)
	if got := violations(t, dir); len(got) == 0 {
		t.Error("control stack: got no finding, want the hard-coded AZ reported (is the validation running?)")
	}
}

// TestNoDummyAZs: no template names a made-up availability zone, with or
// without an account (an explicit account makes CDK look AZs up, and without
// credentials it would fall back to dummy ones).
func TestNoDummyAZs(t *testing.T) {
	for name, b := range allTemplates() {
		if bytes.Contains(b, []byte("dummy")) {
			t.Errorf("template %s mentions a dummy availability zone", name)
		}
	}
}

// TestNoWildcardActions: no IAM policy (roles' inline policies, policies,
// managed policies) in any template allows "*" or a service wildcard like
// "s3:*". Key and bucket policies are not IAM grants: the stream key's
// default policy gives the account root kms:*, and enforceSSL denies s3:*.
func TestNoWildcardActions(t *testing.T) {
	for name, b := range allTemplates() {
		var tpl struct {
			Resources map[string]struct {
				Type       string
				Properties map[string]any
			}
		}
		if err := json.Unmarshal(b, &tpl); err != nil {
			t.Fatal(err)
		}
		for id, r := range tpl.Resources {
			switch r.Type {
			case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy":
				checkActions(t, name+" "+id, r.Properties["PolicyDocument"])
			case "AWS::IAM::Role":
				checkActions(t, name+" "+id, r.Properties["Policies"])
			}
		}
	}
}

// allTemplates are every app's templates, by "<app>/<stack>".
func allTemplates() map[string][]byte {
	out := map[string][]byte{}
	for _, a := range apps() {
		for name, b := range a.templates {
			out[a.name+"/"+name] = b
		}
	}
	return out
}

func checkActions(t *testing.T, where string, doc any) {
	t.Helper()
	walkStatements(doc, func(path string, st map[string]any) {
		if st["Effect"] != "Allow" {
			return
		}
		for _, a := range stringList(st["Action"]) {
			if a == "*" || strings.HasSuffix(a, ":*") {
				t.Errorf("%s%s: got action %q, want no wildcard", where, path, a)
			}
		}
	})
}

func walkStatements(v any, f func(where string, st map[string]any)) {
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch t := v.(type) {
		case map[string]any:
			if sts, ok := t["Statement"].([]any); ok {
				for _, s := range sts {
					if m, ok := s.(map[string]any); ok {
						f(path, m)
					}
				}
			}
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(path+"/"+k, t[k])
			}
		case []any:
			for i, x := range t {
				walk(fmt.Sprintf("%s[%d]", path, i), x)
			}
		}
	}
	walk("", v)
}

func stringList(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, x := range t {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// TestStackNamesAndRegions: `cdk deploy twinstream-us-east-1` etc.
func TestStackNamesAndRegions(t *testing.T) {
	var got []string
	for _, s := range allStacks() {
		got = append(got, *s.StackName()+"@"+*s.Region())
	}
	want := []string{"twinstream-us-east-1@us-east-1", "twinstream-us-west-2@us-west-2", "twinstream-global@us-west-2"}
	if !slices.Equal(got, want) {
		t.Errorf("stacks: got %v, want %v", got, want)
	}
}

// TestTerminationProtection: with cdk.json's configuration every stack is
// protected, as the cloud assembly tells the CLI (the manifest's
// terminationProtection, not part of the template).
func TestTerminationProtection(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(synthesized.outdir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Artifacts map[string]struct {
			Type       string
			Properties struct {
				StackName             string
				TerminationProtection *bool
			}
		}
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var got []string
	for id, a := range m.Artifacts {
		if a.Type != "aws:cloudformation:stack" {
			continue
		}
		got = append(got, id)
		if tp := a.Properties.TerminationProtection; tp == nil || !*tp {
			t.Errorf("%s terminationProtection: got %v, want true", id, tp)
		}
		if s := synthesized.assembly.GetStackArtifact(jsii.String(id)); s.TerminationProtection() == nil || !*s.TerminationProtection() {
			t.Errorf("%s: the assembly's stack artifact is not protected", id)
		}
	}
	slices.Sort(got)
	if want := []string{"twinstream-global", "twinstream-us-east-1", "twinstream-us-west-2"}; !slices.Equal(got, want) {
		t.Errorf("stacks in the manifest: got %v, want %v", got, want)
	}
}

// TestBadConfiguration: the app refuses invalid configuration with a message
// naming the key, the value and what is allowed.
func TestBadConfiguration(t *testing.T) {
	tests := []struct {
		name string
		cfg  any
		want string
	}{
		{"no config", nil, `context key "twinstream" is missing`},
		{"one region", map[string]any{"name": "twinstream", "regions": []any{"us-east-1"}}, `config: regions = ["us-east-1"]: want 2 to 3 regions`},
		{"bad name", map[string]any{"name": "Twin Stream", "regions": []any{"us-east-1", "us-west-2"}}, `config: name = "Twin Stream": want 3-24 lowercase letters`},
		{"bad account", map[string]any{"name": "twinstream", "regions": []any{"us-east-1", "us-west-2"}, "account": "12"}, `config: account = "12": want a 12-digit AWS account id`},
		{"bad email", map[string]any{"name": "twinstream", "regions": []any{"us-east-1", "us-west-2"}, "alarmEmail": "nobody"}, `config: alarmEmail = "nobody": want an email address`},
		{"bad health rate limit", map[string]any{"name": "twinstream", "regions": []any{"us-east-1", "us-west-2"}, "healthRateLimitPerIp": 3}, `config: healthRateLimitPerIp = 3: want requests per 5 minutes per client IP from 10 to 2000000000, or -1 for no limit`},
		{"negative ingest concurrency", map[string]any{"name": "twinstream", "regions": []any{"us-east-1", "us-west-2"}, "ingestReservedConcurrency": -3}, `config: ingestReservedConcurrency = -3: want concurrent executions from 1 to 100000`},
		{"termination protection as text", map[string]any{"name": "twinstream", "regions": []any{"us-east-1", "us-west-2"}, "terminationProtection": "on"}, `context key "twinstream"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := map[string]any{}
			if tt.cfg != nil {
				ctx[stacks.ContextKey] = tt.cfg
			}
			_, err := stacks.LoadConfig(newApp(ctx, t.TempDir()))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestAccountFromCLI: with CDK_DEFAULT_ACCOUNT set (the CLI sets it from the
// credentials) the stacks get that account; AZs stay explicit.
func TestAccountFromCLI(t *testing.T) {
	t.Setenv("CDK_DEFAULT_ACCOUNT", "123456789012")
	ctx, err := cdkContext()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := stacks.LoadConfig(newApp(ctx, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Account != "123456789012" {
		t.Errorf("account: got %q, want 123456789012", cfg.Account)
	}
}

// TestCLISynth runs the pinned CDK CLI on this checkout as the README's
// `make synth` does, and checks it writes the three templates.
func TestCLISynth(t *testing.T) {
	cdk := filepath.Join("node_modules", ".bin", "cdk")
	if _, err := os.Stat(cdk); err != nil {
		t.Fatalf("%v: run npm ci (make test does)", err)
	}
	out := t.TempDir()
	cmd := exec.Command(cdk, "synth", "--quiet", "--no-notices", "--no-version-reporting", "--output", out)
	cmd.Env = append(os.Environ(), "CDK_DEFAULT_ACCOUNT=")
	start := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cdk synth: %v\n%s", err, b)
	}
	t.Logf("cdk synth through the CLI: %s", time.Since(start).Round(100*time.Millisecond))
	for _, name := range []string{"twinstream-us-east-1", "twinstream-us-west-2", "twinstream-global"} {
		b, err := os.ReadFile(filepath.Join(out, name+".template.json"))
		if err != nil {
			t.Fatal(err)
		}
		if d := stackstest.Diff(normalize(t, b), normalize(t, synthesized.templates[name])); d != "" {
			t.Errorf("%s: the CLI's template differs from the test's synth %s", name, d)
		}
	}
}

// BenchmarkSynth reports the app's warm synth time (Go build cache and
// handler bundles warm, a new process each time, as `cdk synth` runs it) next
// to a one-resource Go CDK app's, the jsii floor, and their ratio. The app
// skips CDK's built-in CloudFormation validation (the tests run it); the
// floor is a default app, which runs it, so the floor is also measured
// without it (floor-noval) for the like-for-like ratio (ratio-noval):
//
//	go test -run '^$' -bench Synth -benchtime 3x .
func BenchmarkSynth(b *testing.B) {
	dir := b.TempDir()
	bins := map[string]string{"app": ".", "floor": "./testdata/floorapp"}
	for name, pkg := range bins {
		out := filepath.Join(dir, name)
		if msg, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			b.Fatalf("go build %s: %v\n%s", pkg, err, msg)
		}
		bins[name] = out
	}
	ctx, err := cdkContext()
	if err != nil {
		b.Fatal(err)
	}
	ctxJSON, err := json.Marshal(ctx)
	if err != nil {
		b.Fatal(err)
	}
	run := func(bin string, env ...string) time.Duration {
		out := b.TempDir()
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), "CDK_OUTDIR="+out, "CDK_CONTEXT_JSON="+string(ctxJSON),
			"CDK_DEFAULT_ACCOUNT=")
		cmd.Env = append(cmd.Env, env...)
		start := time.Now()
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s: %v\n%s", bin, err, msg)
		}
		return time.Since(start)
	}
	run(bins["app"]) // warm the handler bundles
	var app, floor, floorNoVal time.Duration
	b.ResetTimer()
	for range b.N {
		floor += run(bins["floor"])
		floorNoVal += run(bins["floor"], "CDK_VALIDATION=false")
		app += run(bins["app"])
	}
	n := float64(b.N)
	b.ReportMetric(app.Seconds()/n, "app-s/op")
	b.ReportMetric(floor.Seconds()/n, "floor-s/op")
	b.ReportMetric(floorNoVal.Seconds()/n, "floor-noval-s/op")
	b.ReportMetric(app.Seconds()/floor.Seconds(), "ratio")
	b.ReportMetric(app.Seconds()/floorNoVal.Seconds(), "ratio-noval")
}

// tplOf parses a template.
func tplOf(t *testing.T, b []byte) map[string]any {
	t.Helper()
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

// TestDefaultFeatureFlags: the app synthesized with no feature flag in its
// context (CDK's defaults, as a team's fresh app may run) has the same
// stacks, resources and outputs as under cdk.json's ~90 flags, and what
// security rests on is set explicitly: every bucket has ACLs disabled
// (BucketOwnerEnforced, no AccessControl) and is byte for byte the same,
// bucket policies included; the HTTPS listeners keep their TLS 1.3/1.2
// post-quantum policy; the global stack's references to the regions are
// strong; the placeholder rule is there. (cdk-nag and CloudFormation
// validation run over this app too: TestCdkNag, TestCloudFormationValidation.)
// What differs is harmless: ARNs built with the partition pseudo parameter
// instead of "aws", IAM statements not merged and sorted (the same
// permissions), and stack-level tags besides the resource tags.
func TestDefaultFeatureFlags(t *testing.T) {
	for name, flagged := range synthesized.templates {
		bare, ok := noFlags.templates[name]
		if !ok {
			t.Errorf("stack %s: missing under default flags", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			want, got := tplOf(t, flagged), tplOf(t, bare)
			ids := func(tpl map[string]any) []string {
				var out []string
				for id, r := range dig(tpl, "Resources").(map[string]any) {
					out = append(out, id+" "+fmt.Sprint(dig(r, "Type")))
				}
				slices.Sort(out)
				return out
			}
			if g, w := ids(got), ids(want); !slices.Equal(g, w) {
				t.Errorf("resources:\ngot  %v\nwant %v", g, w)
			}
			if g, w := slices.Sorted(maps.Keys(dig(got, "Outputs").(map[string]any))), slices.Sorted(maps.Keys(dig(want, "Outputs").(map[string]any))); !slices.Equal(g, w) {
				t.Errorf("outputs: got %v, want %v", g, w)
			}
			for id, r := range dig(got, "Resources").(map[string]any) {
				switch dig(r, "Type") {
				case "AWS::S3::Bucket", "AWS::S3::BucketPolicy":
					g, _ := json.Marshal(partitionLiterals(r))
					w, _ := json.Marshal(partitionLiterals(dig(want, "Resources", id)))
					if string(g) != string(w) {
						t.Errorf("%s %s:\ngot  %s\nwant %s", dig(r, "Type"), id, g, w)
					}
					if dig(r, "Type") == "AWS::S3::Bucket" {
						if dig(r, "Properties", "AccessControl") != nil || fmt.Sprint(dig(r, "Properties", "OwnershipControls")) != "map[Rules:[map[ObjectOwnership:BucketOwnerEnforced]]]" {
							t.Errorf("bucket %s: got AccessControl %v, OwnershipControls %v, want none and BucketOwnerEnforced", id, dig(r, "Properties", "AccessControl"), dig(r, "Properties", "OwnershipControls"))
						}
					}
				case "AWS::ElasticLoadBalancingV2::Listener":
					if dig(r, "Properties", "Protocol") == "HTTPS" && dig(r, "Properties", "SslPolicy") != "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09" {
						t.Errorf("listener %s SslPolicy: got %v, want ELBSecurityPolicy-TLS13-1-2-PQ-2025-09", id, dig(r, "Properties", "SslPolicy"))
					}
				}
			}
			if strings.Contains(string(bare), "Fn::GetStackOutput") {
				t.Errorf("got Fn::GetStackOutput, want strong references only")
			}
			if dig(got, "Rules", stacks.PlaceholderDomainRuleID) == nil {
				t.Errorf("rule %s: got none, want it (cdk.json's placeholder domain)", stacks.PlaceholderDomainRuleID)
			}
		})
	}
}

// partitionLiterals rewrites what CDK writes without the
// enablePartitionLiterals flag, {"Fn::Join": ["", ["arn:", {"Ref":
// "AWS::Partition"}, ":..."]]}, as the literal the flag gives ("arn:aws:..."),
// so templates compare equal where the flag is all that differs.
func partitionLiterals(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if j, ok := x["Fn::Join"].([]any); ok && len(j) == 2 && j[0] == "" {
			var parts []any
			for _, p := range j[1].([]any) {
				p = partitionLiterals(p)
				if m, ok := p.(map[string]any); ok && m["Ref"] == "AWS::Partition" {
					p = "aws"
				}
				if s, ok := p.(string); ok && len(parts) > 0 {
					if prev, ok := parts[len(parts)-1].(string); ok {
						parts[len(parts)-1] = prev + s
						continue
					}
				}
				parts = append(parts, p)
			}
			if len(parts) == 1 {
				return parts[0]
			}
			return map[string]any{"Fn::Join": []any{"", parts}}
		}
		out := map[string]any{}
		for k, e := range x {
			out[k] = partitionLiterals(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = partitionLiterals(e)
		}
		return out
	}
	return v
}

// TestPlaceholderDomainRule: every stack of cdk.json's app carries the rule
// that makes CloudFormation refuse the placeholder hosted zone before
// touching a resource (next to CDK's bootstrap-version rule); a
// configuration with a real zone has none.
func TestPlaceholderDomainRule(t *testing.T) {
	for name, b := range synthesized.templates {
		tpl := tplOf(t, b)
		for _, rule := range []string{stacks.PlaceholderDomainRuleID, "CheckBootstrapVersion"} {
			if dig(tpl, "Rules", rule) == nil {
				t.Errorf("%s: got no rule %s, want it", name, rule)
			}
		}
		assert := dig(tpl, "Rules", stacks.PlaceholderDomainRuleID, "Assertions").([]any)[0]
		if got := fmt.Sprint(dig(assert, "AssertDescription")); !strings.Contains(got, stacks.PlaceholderHostedZoneID) {
			t.Errorf("%s: AssertDescription %q, want it to name %s", name, got, stacks.PlaceholderHostedZoneID)
		}
	}
	ctx, err := cdkContext()
	if err != nil {
		t.Fatal(err)
	}
	cfg := maps.Clone(ctx[stacks.ContextKey].(map[string]any))
	cfg["domain"] = map[string]any{"hostedZoneId": "Z1D633PJN98FT9", "zoneName": "example.com", "recordName": "ingest.example.com"}
	ctx = maps.Clone(ctx)
	ctx[stacks.ContextKey] = cfg
	app := newApp(ctx, t.TempDir())
	c, err := stacks.LoadConfig(app)
	if err != nil {
		t.Fatal(err)
	}
	d := stacks.NewDeployment(app, &stacks.DeploymentProps{Config: c})
	for _, s := range append([]awscdk.Stack{d.Global.Stack}, d.Regional[0].Stack) {
		b, err := json.Marshal(assertions.Template_FromStack(s, nil).ToJSON())
		if err != nil {
			t.Fatal(err)
		}
		if rule := dig(tplOf(t, b), "Rules", stacks.PlaceholderDomainRuleID); rule != nil {
			t.Errorf("%s with a real zone: got rule %v, want none", *s.StackName(), rule)
		}
	}
}

// TestThreeRegions: the three-region app has a stack per region and the
// global stack, which gives each region an endpoint group, a health check,
// a latency record (a failover pair takes two) and a replication
// configuration with a rule per other region. (The stacks package's tests
// check what each points at.)
func TestThreeRegions(t *testing.T) {
	var got []string
	for _, s := range threeRegion.all() {
		got = append(got, *s.StackName()+"@"+*s.Region())
	}
	want := []string{"twinstream-us-east-1@us-east-1", "twinstream-us-west-2@us-west-2", "twinstream-eu-west-1@eu-west-1", "twinstream-global@us-west-2"}
	if !slices.Equal(got, want) {
		t.Errorf("stacks: got %v, want %v", got, want)
	}
	global := tplOf(t, threeRegion.templates["twinstream-global"])
	count := map[string]int{}
	latency := map[string]bool{}
	for _, r := range dig(global, "Resources").(map[string]any) {
		typ := fmt.Sprint(dig(r, "Type"))
		count[typ]++
		if region := dig(r, "Properties", "Region"); typ == "AWS::Route53::RecordSet" && region != nil {
			latency[fmt.Sprint(region)] = true
		}
		if typ == "Custom::BucketReplication" {
			// Create is a JSON string built with Fn::Join: count the rules
			// by their ids.
			create, _ := json.Marshal(dig(r, "Properties", "Create"))
			if n := strings.Count(string(create), `\"ID\":\"to-`); n != 2 {
				t.Errorf("replication %s: got %d rules, want 2 (one per other region)", create, n)
			}
		}
	}
	for typ, n := range map[string]int{"AWS::GlobalAccelerator::EndpointGroup": 3, "AWS::Route53::HealthCheck": 3, "Custom::BucketReplication": 3} {
		if count[typ] != n {
			t.Errorf("%s: got %d, want %d", typ, count[typ], n)
		}
	}
	if len(latency) != 3 {
		t.Errorf("latency records' regions: got %v, want the three regions", latency)
	}
}
