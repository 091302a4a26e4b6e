package stacks

//lint:file-ignore SA1019 assertions.Annotations and the cloud assembly return cxapi.SynthesisMessage; aws-cdk-go v2.276 ships no replacement type

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// regionalVariant is one synthesized app of regional stacks.
type regionalVariant struct {
	cfg       *Config
	stacks    map[string]*RegionalStack // by region
	templates map[string]cfnTemplate    // by region
	raw       map[string]string         // template JSON by region
	missing   int                       // context lookups the CLI would have to make
	noTLS     map[string]int            // twinstream:no-tls warnings by region
	nag       map[string][]string       // unsuppressed cdk-nag findings by region
	protected map[string]bool           // the manifest's terminationProtection by region
}

// cfnTemplate is a synthesized template as plain Go values.
type cfnTemplate map[string]any

// The regional test apps, synthesized once per test binary.
var regional struct {
	once     sync.Once
	err      error
	variants map[string]*regionalVariant
}

const (
	variantDomain   = "domain"   // DefaultConfig: example.com domain
	variantNoDomain = "nodomain" // no domain: plain HTTP and a warning
	variantAccount  = "account"  // an account id: CDK would look AZs up unless told
	variantThree    = "three"    // three regions
)

func regionalConfigs() map[string]*Config {
	noDomain := DefaultConfig()
	noDomain.Domain = nil
	noDomain.RateLimitPerIP = -1
	noDomain.TerminationProtection = jsii.Bool(false)
	account := DefaultConfig()
	account.Account = "123456789012"
	account.AlarmEmail = "ops@example.com"
	account.RateLimitPerIP = 1000
	account.HealthRateLimitPerIP = -1
	account.IngestReservedConcurrency = 50
	account.HealthReservedConcurrency = -1
	three := DefaultConfig()
	three.Regions = []string{"us-east-1", "us-west-2", "eu-west-1"}
	return map[string]*Config{
		variantDomain:   DefaultConfig(),
		variantNoDomain: noDomain,
		variantAccount:  account,
		variantThree:    three,
	}
}

// regionalApps synthesizes each variant (both regions) once, with cdk.json's
// feature flags, as the CLI would.
func regionalApps(t *testing.T) map[string]*regionalVariant {
	t.Helper()
	regional.once.Do(func() {
		regional.variants, regional.err = synthRegional()
	})
	if regional.err != nil {
		t.Fatalf("synth: %v", regional.err)
	}
	return regional.variants
}

func synthRegional() (vs map[string]*regionalVariant, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	flags, err := cdkFeatureFlags()
	if err != nil {
		return nil, err
	}
	vs = map[string]*regionalVariant{}
	for name, cfg := range regionalConfigs() {
		if vs[name], err = synthVariant(cfg, flags); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return vs, nil
}

// synthVariant synthesizes both regional stacks of cfg in one app and keeps
// what the tests read in memory.
func synthVariant(cfg *Config, flags map[string]any) (*regionalVariant, error) {
	out, err := os.MkdirTemp("", "twinstream-regional-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(out)
	// aws:cdk:disable-asset-staging: the assembly points at the built
	// bootstraps instead of copying them into out.
	ctx := map[string]any{"aws:cdk:disable-asset-staging": true}
	for k, v := range flags {
		ctx[k] = v
	}
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(out)})
	v := &regionalVariant{cfg: cfg, stacks: map[string]*RegionalStack{}, templates: map[string]cfnTemplate{},
		raw: map[string]string{}, noTLS: map[string]int{}, nag: map[string][]string{}, protected: map[string]bool{}}
	for _, r := range cfg.Regions {
		env := &awscdk.Environment{Region: jsii.String(r)}
		sp := awscdk.StackProps{Env: env, CrossRegionReferences: jsii.Bool(true)}
		if cfg.Account != "" {
			env.Account = jsii.String(cfg.Account)
			// StackProps win over the configuration (which leaves
			// termination protection on here).
			sp.TerminationProtection = jsii.Bool(false)
		}
		v.stacks[r] = NewRegionalStack(app, StackID(cfg, r), &RegionalStackProps{
			StackProps: sp,
			Config:     cfg,
			Region:     r,
		})
	}
	// cdk-nag adds annotations, not resources. An unsuppressed error fails
	// synth itself (cdk.json's annotationsInValidationReport, and the report
	// names the rule); warnings are collected for TestRegionalNag.
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	asm := app.Synth(nil)
	for r, s := range v.stacks {
		art := asm.GetStackArtifact(s.ArtifactId())
		v.protected[r] = art.TerminationProtection() != nil && *art.TerminationProtection()
		for _, m := range *art.Messages() {
			text := strings.TrimSpace(fmt.Sprint(m.Entry.Data))
			if m.Level != cxapi.SynthesisMessageLevel_INFO && strings.HasPrefix(text, "AwsSolutions-") {
				v.nag[r] = append(v.nag[r], fmt.Sprintf("%s %s: %s", m.Level, *m.Id, text))
			}
		}
	}
	// The manifest lists the context lookups the CLI would make (with
	// credentials) before synthesizing again.
	b, err := os.ReadFile(filepath.Join(out, "manifest.json"))
	if err != nil {
		return nil, err
	}
	var manifest struct{ Missing []any }
	if err := json.Unmarshal(b, &manifest); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	v.missing = len(manifest.Missing)
	for r, s := range v.stacks {
		b, err := json.Marshal(assertions.Template_FromStack(s, nil).ToJSON())
		if err != nil {
			return nil, err
		}
		v.raw[r] = string(b)
		var tpl cfnTemplate
		if err := json.Unmarshal(b, &tpl); err != nil {
			return nil, err
		}
		v.templates[r] = tpl
		// Read while the assembly is on disk.
		v.noTLS[r] = len(*assertions.Annotations_FromStack(s).FindWarning(jsii.String("*"), noTLSWarning()))
	}
	return v, nil
}

// noTLSWarning matches the synth warning of a stack without a domain.
func noTLSWarning() assertions.Matcher {
	return assertions.Match_StringLikeRegexp(jsii.String("^no domain configured: the ALB and the accelerator listen on plain HTTP; set domain in cdk.json for TLS"))
}

// resources returns the resources of type typ by logical id.
func (tpl cfnTemplate) resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	rs, _ := tpl["Resources"].(map[string]any)
	for id, r := range rs {
		m, _ := r.(map[string]any)
		if m["Type"] == typ {
			out[id] = m
		}
	}
	return out
}

// props returns the properties of the resources of type typ.
func (tpl cfnTemplate) props(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range tpl.resources(typ) {
		p, _ := r["Properties"].(map[string]any)
		out[id] = p
	}
	return out
}

// only returns the properties of the single resource of type typ.
func (tpl cfnTemplate) only(t *testing.T, typ string) (string, map[string]any) {
	t.Helper()
	ps := tpl.props(typ)
	if len(ps) != 1 {
		t.Fatalf("%s resources: got %d, want 1", typ, len(ps))
	}
	for id, p := range ps {
		return id, p
	}
	return "", nil
}

// js renders v as compact JSON for comparisons and messages.
func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(b)
}

// ref is CloudFormation's {"Ref": id}.
func ref(id string) map[string]any { return map[string]any{"Ref": id} }

// eachRegional runs f for every variant and region.
func eachRegional(t *testing.T, f func(t *testing.T, v *regionalVariant, region string, tpl cfnTemplate)) {
	vs := regionalApps(t)
	names := make([]string, 0, len(vs))
	for n := range vs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v := vs[n]
		for _, r := range v.cfg.Regions {
			t.Run(n+"/"+r, func(t *testing.T) { f(t, v, r, v.templates[r]) })
		}
	}
}

func TestRegionalVpcAZs(t *testing.T) {
	eachRegional(t, func(t *testing.T, v *regionalVariant, region string, tpl cfnTemplate) {
		var azs []string
		for _, p := range tpl.props("AWS::EC2::Subnet") {
			azs = append(azs, fmt.Sprint(p["AvailabilityZone"]))
		}
		sort.Strings(azs)
		if want := v.cfg.AZs(region); !slices.Equal(azs, want) {
			t.Errorf("subnet AZs: got %v, want %v", azs, want)
		}
		if strings.Contains(strings.ToLower(v.raw[region]), "dummy") {
			t.Errorf("template contains %q: got a dummy AZ or lookup value, want none", "dummy")
		}
		if v.missing != 0 {
			t.Errorf("context lookups left for the CLI: got %d, want 0", v.missing)
		}
		if n := len(tpl.resources("AWS::EC2::NatGateway")); n != 0 {
			t.Errorf("NAT gateways: got %d, want 0", n)
		}
		for id, p := range tpl.props("AWS::EC2::Subnet") {
			if p["MapPublicIpOnLaunch"] != true {
				t.Errorf("subnet %s MapPublicIpOnLaunch: got %v, want true (public subnets only)", id, p["MapPublicIpOnLaunch"])
			}
		}
	})
}

func TestRegionalFlowLog(t *testing.T) {
	eachRegional(t, func(t *testing.T, v *regionalVariant, region string, tpl cfnTemplate) {
		_, fl := tpl.only(t, "AWS::EC2::FlowLog")
		for k, want := range map[string]string{"TrafficType": "ALL", "ResourceType": "VPC", "LogDestinationType": "cloud-watch-logs"} {
			if got := fl[k]; got != want {
				t.Errorf("flow log %s: got %v, want %s", k, got, want)
			}
		}
		group, _ := fl["LogGroupName"].(map[string]any)
		lgID, _ := group["Ref"].(string)
		lg := tpl.props("AWS::Logs::LogGroup")[lgID]
		if lg == nil || lg["RetentionInDays"] == nil {
			t.Errorf("flow log group %q retention: got %v, want a retention", lgID, lg)
		}
	})
}

// lambdaTargetGroups returns the lambda target groups by health-check path.
func lambdaTargetGroups(t *testing.T, tpl cfnTemplate) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for id, p := range tpl.props("AWS::ElasticLoadBalancingV2::TargetGroup") {
		if p["TargetType"] != "lambda" {
			continue
		}
		p["_id"] = id
		out[fmt.Sprint(p["HealthCheckPath"])] = p
	}
	return out
}

func TestRegionalTargetGroupHealthChecks(t *testing.T) {
	eachRegional(t, func(t *testing.T, v *regionalVariant, region string, tpl cfnTemplate) {
		n := 0
		for id, p := range tpl.props("AWS::ElasticLoadBalancingV2::TargetGroup") {
			if p["TargetType"] != "lambda" {
				continue
			}
			n++
			if p["HealthCheckEnabled"] != true {
				t.Errorf("target group %s HealthCheckEnabled: got %v, want true", id, p["HealthCheckEnabled"])
			}
		}
		if n != 2 {
			t.Errorf("lambda target groups: got %d, want 2", n)
		}
		tgs := lambdaTargetGroups(t, tpl)
		want := map[string]map[string]any{
			"/health/deep": {"HealthCheckIntervalSeconds": 5.0, "HealthCheckTimeoutSeconds": 4.0, "HealthyThresholdCount": 2.0, "UnhealthyThresholdCount": 2.0},
			"/health":      {"HealthCheckIntervalSeconds": 30.0, "HealthCheckTimeoutSeconds": 5.0, "HealthyThresholdCount": 2.0, "UnhealthyThresholdCount": 2.0},
		}
		for path, w := range want {
			tg := tgs[path]
			if tg == nil {
				t.Errorf("target group checking %s: got none, want one", path)
				continue
			}
			for k, wv := range w {
				if tg[k] != wv {
					t.Errorf("%s target group %s: got %v, want %v", path, k, tg[k], wv)
				}
			}
		}
		st := v.stacks[region]
		if st.HealthTargetGroup == nil || st.IngestTargetGroup == nil {
			t.Errorf("exposed target groups: got health %v, ingest %v, want both set", st.HealthTargetGroup, st.IngestTargetGroup)
		}
	})
}

func TestRegionalListenerRules(t *testing.T) {
	eachRegional(t, func(t *testing.T, v *regionalVariant, region string, tpl cfnTemplate) {
		tgs := lambdaTargetGroups(t, tpl)
		ingest, health := fmt.Sprint(tgs["/health"]["_id"]), fmt.Sprint(tgs["/health/deep"]["_id"])
		want := map[float64]struct {
			paths []any
			tg    string
		}{
			10: {[]any{"/v1/records"}, ingest},
			20: {[]any{"/health", "/health/*"}, health},
		}
		rules := tpl.props("AWS::ElasticLoadBalancingV2::ListenerRule")
		if len(rules) != len(want) {
			t.Errorf("listener rules: got %d, want %d", len(rules), len(want))
		}
		// The rules hang off the serving listener: HTTPS with a domain.
		serving := "HTTP"
		if v.cfg.Domain != nil {
			serving = "HTTPS"
		}
		listeners := tpl.props("AWS::ElasticLoadBalancingV2::Listener")
		for id, r := range rules {
			prio, _ := r["Priority"].(float64)
			w, ok := want[prio]
			if !ok {
				t.Errorf("rule %s priority: got %v, want 10 or 20", id, r["Priority"])
				continue
			}
			wantCond := []any{map[string]any{"Field": "path-pattern", "PathPatternConfig": map[string]any{"Values": w.paths}}}
			if got := js(r["Conditions"]); got != js(wantCond) {
				t.Errorf("rule %v conditions: got %s, want %s", prio, got, js(wantCond))
			}
			wantAct := []any{map[string]any{"Type": "forward", "TargetGroupArn": ref(w.tg)}}
			if got := js(r["Actions"]); got != js(wantAct) {
				t.Errorf("rule %v actions: got %s, want %s", prio, got, js(wantAct))
			}
			l := fmt.Sprint(r["ListenerArn"].(map[string]any)["Ref"])
			if got := listeners[l]["Protocol"]; got != serving {
				t.Errorf("rule %v listener protocol: got %v, want %s", prio, got, serving)
			}
		}
		// Everything else: a JSON 404 from the serving listener.
		for _, l := range listeners {
			if l["Protocol"] != serving {
				continue
			}
			want := []any{map[string]any{"Type": "fixed-response", "FixedResponseConfig": map[string]any{
				"StatusCode": "404", "ContentType": "application/json", "MessageBody": `{"error":"not found"}`}}}
			if got := js(l["DefaultActions"]); got != js(want) {
				t.Errorf("default action: got %s, want %s", got, js(want))
			}
		}
	})
}

func TestRegionalListenersTLS(t *testing.T) {
	eachRegional(t, func(t *testing.T, v *regionalVariant, region string, tpl cfnTemplate) {
		listeners := map[string]map[string]any{}
		for _, l := range tpl.props("AWS::ElasticLoadBalancingV2::Listener") {
			listeners[fmt.Sprintf("%v %v", l["Protocol"], l["Port"])] = l
		}
		st := v.stacks[region]
		sgIngress := func() []string {
			_, sg := tpl.only(t, "AWS::EC2::SecurityGroup")
			var got []string
			for _, r := range sg["SecurityGroupIngress"].([]any) {
				m := r.(map[string]any)
				got = append(got, fmt.Sprintf("%v %v-%v", m["CidrIp"], m["FromPort"], m["ToPort"]))
			}
			sort.Strings(got)
			return got
		}

		if v.cfg.Domain == nil {
			if len(listeners) != 1 || listeners["HTTP 80"] == nil {
				t.Errorf("listeners: got %v, want only HTTP 80", slices.Sorted(maps.Keys(listeners)))
			}
			if n := len(tpl.resources("AWS::CertificateManager::Certificate")); n != 0 {
				t.Errorf("certificates: got %d, want 0", n)
			}
			if n := len(tpl.resources("AWS::Route53::RecordSet")); n != 0 {
				t.Errorf("record sets: got %d, want 0", n)
			}
			if v.noTLS[region] != 1 {
				t.Errorf("no-tls warnings: got %d, want 1", v.noTLS[region])
			}
			if st.RegionalName != nil || st.HealthCheckPort != 80 {
				t.Errorf("RegionalName, HealthCheckPort: got %v, %v, want nil, 80", st.RegionalName, st.HealthCheckPort)
			}
			if got, want := sgIngress(), []string{"0.0.0.0/0 80-80"}; !slices.Equal(got, want) {
				t.Errorf("ALB ingress: got %v, want %v", got, want)
			}
			return
		}

		regionalName := region + "." + v.cfg.Domain.RecordName
		if len(listeners) != 2 || listeners["HTTPS 443"] == nil || listeners["HTTP 80"] == nil {
			t.Fatalf("listeners: got %v, want HTTPS 443 and HTTP 80", slices.Sorted(maps.Keys(listeners)))
		}
		https := listeners["HTTPS 443"]
		if got := https["SslPolicy"]; got != "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09" {
			t.Errorf("SslPolicy: got %v, want ELBSecurityPolicy-TLS13-1-2-PQ-2025-09", got)
		}
		certID, cert := tpl.only(t, "AWS::CertificateManager::Certificate")
		if got := js(https["Certificates"]); got != js([]any{map[string]any{"CertificateArn": ref(certID)}}) {
			t.Errorf("HTTPS certificates: got %s, want the stack's certificate %s", got, certID)
		}
		if cert["DomainName"] != v.cfg.Domain.RecordName || cert["ValidationMethod"] != "DNS" {
			t.Errorf("certificate: got %v by %v, want %s by DNS", cert["DomainName"], cert["ValidationMethod"], v.cfg.Domain.RecordName)
		}
		if got, want := js(cert["SubjectAlternativeNames"]), js([]string{regionalName, v.cfg.Domain.FailoverName()}); got != want {
			t.Errorf("certificate SANs: got %s, want %s", got, want)
		}
		for _, o := range cert["DomainValidationOptions"].([]any) {
			if zone := o.(map[string]any)["HostedZoneId"]; zone != v.cfg.Domain.HostedZoneID {
				t.Errorf("validation zone: got %v, want %s", zone, v.cfg.Domain.HostedZoneID)
			}
		}
		redirect := []any{map[string]any{"Type": "redirect", "RedirectConfig": map[string]any{"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}}
		if got := js(listeners["HTTP 80"]["DefaultActions"]); got != js(redirect) {
			t.Errorf("HTTP 80 default action: got %s, want %s", got, js(redirect))
		}
		_, rec := tpl.only(t, "AWS::Route53::RecordSet")
		if rec["Name"] != regionalName+"." || rec["Type"] != "A" || rec["HostedZoneId"] != v.cfg.Domain.HostedZoneID || rec["AliasTarget"] == nil {
			t.Errorf("regional record: got %s, want alias A %s. in %s", js(rec), regionalName, v.cfg.Domain.HostedZoneID)
		}
		if v.noTLS[region] != 0 {
			t.Errorf("no-tls warnings: got %d, want 0", v.noTLS[region])
		}
		if st.RegionalName == nil || *st.RegionalName != regionalName || st.HealthCheckPort != 443 {
			t.Errorf("RegionalName, HealthCheckPort: got %v, %v, want %s, 443", st.RegionalName, st.HealthCheckPort, regionalName)
		}
		if got, want := sgIngress(), []string{"0.0.0.0/0 443-443", "0.0.0.0/0 80-80"}; !slices.Equal(got, want) {
			t.Errorf("ALB ingress: got %v, want %v", got, want)
		}
	})
}

// regionalFunctionEnv returns the functions' environments by logical id.
func regionalFunctionEnv(tpl cfnTemplate) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, p := range tpl.props("AWS::Lambda::Function") {
		env, _ := p["Environment"].(map[string]any)
		vars, _ := env["Variables"].(map[string]any)
		out[id] = vars
	}
	return out
}

// regionalSdkCall is an AwsCustomResource's call for one lifecycle event.
type regionalSdkCall struct {
	Service, Action          string
	Parameters               map[string]any
	IgnoreErrorCodesMatching string
	PhysicalResourceID       struct{ ID string } `json:"physicalResourceId"`
}

// regionalCalls returns the Create, Update and Delete calls of an
// AwsCustomResource (absent ones are nil).
func regionalCalls(t *testing.T, props map[string]any) map[string]*regionalSdkCall {
	t.Helper()
	out := map[string]*regionalSdkCall{}
	for _, ev := range []string{"Create", "Update", "Delete"} {
		raw, ok := props[ev].(string)
		if !ok {
			out[ev] = nil
			continue
		}
		var c regionalSdkCall
		if err := json.Unmarshal([]byte(raw), &c); err != nil {
			t.Fatalf("%s call %q: %v", ev, raw, err)
		}
		out[ev] = &c
	}
	return out
}

// regionalSecretArn is the ARN CloudFormation resolves for a secret name in
// region, plus suffix.
func regionalSecretArn(v *regionalVariant, region, name string) any {
	if v.cfg.Account != "" {
		return "arn:aws:secretsmanager:" + region + ":" + v.cfg.Account + ":secret:" + name
	}
	return map[string]any{"Fn::Join": []any{"", []any{"arn:aws:secretsmanager:" + region + ":", ref("AWS::AccountId"), ":secret:" + name}}}
}

// TestRegionalApiKeysSecret: the API-key secret is never a resource of the
// stacks (whose updates or replacements could write its value, and whose
// fixed name would block a redeploy after destroy). The primary region
// makes sure it exists: restore a secret scheduled for deletion, create it
// (tolerating an existing one, whose value is kept) with its replica,
// replicate an adopted one to the peer; nothing runs on delete. Both
// regions' ingest and health read it by name, GetSecretValue only.
func TestRegionalApiKeysSecret(t *testing.T) {
	eachRegional(t, func(t *testing.T, v *regionalVariant, region string, tpl cfnTemplate) {
		name := v.cfg.Name + "/api-keys"
		if n := len(tpl.resources("AWS::SecretsManager::Secret")); n != 0 {
			t.Errorf("AWS::SecretsManager::Secret resources: got %d, want 0", n)
		}
		// ingest and health: API_KEYS_SECRET_ARN is the name, and the role
		// may only GetSecretValue on the name's ARN pattern (the replica in
		// the peer has the primary's name and suffix).
		fns := map[string]string{}
		for id := range tpl.props("AWS::Lambda::Function") {
			for _, f := range []string{"Ingest", "Health"} {
				if strings.HasPrefix(id, "Pipeline"+f+"Function") {
					fns[f] = id
				}
			}
		}
		if len(fns) != 2 {
			t.Fatalf("ingest and health functions: got %v", fns)
		}
		env := regionalFunctionEnv(tpl)
		for f, id := range fns {
			if got := env[id]["API_KEYS_SECRET_ARN"]; got != name {
				t.Errorf("%s API_KEYS_SECRET_ARN: got %s, want %q", f, js(got), name)
			}
			role := tpl.props("AWS::Lambda::Function")[id]["Role"].(map[string]any)["Fn::GetAtt"].([]any)[0]
			var secretActions []string
			for _, p := range tpl.props("AWS::IAM::Policy") {
				if !strings.Contains(js(p["Roles"]), js(ref(role.(string)))) {
					continue
				}
				for _, st := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
					st := st.(map[string]any)
					for _, a := range stringsOf(st["Action"]) {
						if strings.HasPrefix(a, "secretsmanager:") {
							secretActions = append(secretActions, a)
							if want := regionalSecretArn(v, region, name+"-??????"); js(st["Resource"]) != js(want) {
								t.Errorf("%s %s on %s, want only on %s", f, a, js(st["Resource"]), js(want))
							}
						}
					}
				}
			}
			if !slices.Equal(secretActions, []string{"secretsmanager:GetSecretValue"}) {
				t.Errorf("%s secretsmanager actions: got %v, want [secretsmanager:GetSecretValue]", f, secretActions)
			}
		}

		steps := map[string]string{}
		for id, r := range tpl["Resources"].(map[string]any) {
			typ := r.(map[string]any)["Type"].(string)
			if strings.HasPrefix(typ, "Custom::ApiKeysSecret") {
				steps[typ] = id
			}
		}
		if region != v.cfg.Primary() {
			if len(steps) != 0 {
				t.Errorf("secret steps in the peer region: got %v, want none (the primary replicates)", steps)
			}
			if v.stacks[region].ApiKeysReady != nil {
				t.Error("ApiKeysReady in the peer region: got set, want nil")
			}
			return
		}
		peers := v.cfg.Peers(region)
		replicas := func(regions ...string) []any {
			var out []any
			for _, r := range regions {
				out = append(out, map[string]any{"Region": r})
			}
			return out
		}
		want := map[string]regionalSdkCall{
			"Custom::ApiKeysSecretRestore": {Service: "SecretsManager", Action: "RestoreSecret",
				Parameters:               map[string]any{"SecretId": name},
				IgnoreErrorCodesMatching: "^(ResourceNotFoundException|InvalidRequestException)$"},
			ApiKeysSecretResourceType: {Service: "SecretsManager", Action: "CreateSecret",
				Parameters: map[string]any{"Name": name, "SecretString": `{"keys":[]}`, "AddReplicaRegions": replicas(peers...),
					"Description": `twinstream twinstream API keys as SHA-256 hashes: {"keys":[{"id":"team-a","sha256":"<hex>"}]}`},
				IgnoreErrorCodesMatching: "^ResourceExistsException$"},
		}
		// One replica step per other region, the first with the id it had
		// with two regions.
		for i, peer := range peers {
			typ := "Custom::ApiKeysSecretReplica"
			if i > 0 {
				typ += "#" + peer
			}
			want[typ] = regionalSdkCall{Service: "SecretsManager", Action: "ReplicateSecretToRegions",
				Parameters:               map[string]any{"SecretId": name, "AddReplicaRegions": replicas(peer), "ForceOverwriteReplicaSecret": false},
				IgnoreErrorCodesMatching: "^(InvalidParameterException|InvalidRequestException)$"}
		}
		replicaIDs := map[string]string{}
		for id, r := range tpl["Resources"].(map[string]any) {
			r := r.(map[string]any)
			if r["Type"] != "Custom::ApiKeysSecretReplica" {
				continue
			}
			c := regionalCalls(t, r["Properties"].(map[string]any))["Create"]
			peer := fmt.Sprint(c.Parameters["AddReplicaRegions"].([]any)[0].(map[string]any)["Region"])
			typ := "Custom::ApiKeysSecretReplica"
			if peer != peers[0] {
				typ += "#" + peer
			}
			steps[typ] = id
			replicaIDs[peer] = id
		}
		if id := replicaIDs[peers[0]]; !regexp.MustCompile(`^ApiKeysReplica[0-9A-F]{8}$`).MatchString(id) {
			t.Errorf("replica step for %s: got logical id %s, want the two-region one (ApiKeysReplica<hash>)", peers[0], id)
		}
		if len(steps) != len(want) {
			t.Fatalf("secret steps: got %v, want %d", steps, len(want))
		}
		res := tpl["Resources"].(map[string]any)
		for typ, w := range want {
			id := steps[typ]
			r := res[id].(map[string]any)
			calls := regionalCalls(t, r["Properties"].(map[string]any))
			if calls["Delete"] != nil {
				t.Errorf("%s Delete: got %+v, want no call (the secret outlives the stack)", typ, calls["Delete"])
			}
			for _, ev := range []string{"Create", "Update"} {
				c := calls[ev]
				if c == nil {
					t.Errorf("%s %s: got no call, want %s", typ, ev, w.Action)
					continue
				}
				if c.Service != w.Service || c.Action != w.Action || js(c.Parameters) != js(w.Parameters) || c.IgnoreErrorCodesMatching != w.IgnoreErrorCodesMatching {
					t.Errorf("%s %s: got %s %s %s ignoring %q, want %s %s %s ignoring %q", typ, ev,
						c.Service, c.Action, js(c.Parameters), c.IgnoreErrorCodesMatching, w.Service, w.Action, js(w.Parameters), w.IgnoreErrorCodesMatching)
				}
				if c.PhysicalResourceID.ID == "" {
					t.Errorf("%s %s: got no fixed physical id, want one", typ, ev)
				}
			}
		}
		// In order: restore, then create, then replicate; ingest and health
		// start after the last.
		dependsOn := func(id string) []any { d, _ := res[id].(map[string]any)["DependsOn"].([]any); return d }
		deps := [][2]string{{ApiKeysSecretResourceType, "Custom::ApiKeysSecretRestore"}}
		for typ := range want {
			if strings.HasPrefix(typ, "Custom::ApiKeysSecretReplica") {
				deps = append(deps, [2]string{typ, ApiKeysSecretResourceType})
			}
		}
		for _, dep := range deps {
			if !slices.Contains(dependsOn(steps[dep[0]]), any(steps[dep[1]])) {
				t.Errorf("%s DependsOn: got %v, want %s", dep[0], dependsOn(steps[dep[0]]), steps[dep[1]])
			}
		}
		for f, id := range fns {
			for _, peer := range peers {
				if !slices.Contains(dependsOn(id), any(replicaIDs[peer])) {
					t.Errorf("%s DependsOn: got %v, want the replica step of %s (%s)", f, dependsOn(id), peer, replicaIDs[peer])
				}
			}
		}
		// The steps' rights: each its own action on the secret's ARNs;
		// replication only to the peer region.
		arns := []any{regionalSecretArn(v, region, name), regionalSecretArn(v, region, name+"-??????")}
		only := func(regions ...string) map[string]any {
			var rs []any
			for _, r := range regions {
				rs = append(rs, r)
			}
			return map[string]any{"ForAllValues:StringEquals": map[string]any{"secretsmanager:AddReplicaRegions": rs}}
		}
		wantPolicy := map[string]any{
			"Custom::ApiKeysSecretRestore": []any{map[string]any{"Action": "secretsmanager:RestoreSecret", "Effect": "Allow", "Resource": arns}},
			ApiKeysSecretResourceType: []any{map[string]any{"Action": []any{"secretsmanager:CreateSecret", "secretsmanager:ReplicateSecretToRegions"},
				"Condition": only(peers...), "Effect": "Allow", "Resource": arns}},
		}
		for i, peer := range peers {
			typ := "Custom::ApiKeysSecretReplica"
			if i > 0 {
				typ += "#" + peer
			}
			wantPolicy[typ] = []any{map[string]any{"Action": "secretsmanager:ReplicateSecretToRegions",
				"Condition": only(peer), "Effect": "Allow", "Resource": arns}}
		}
		for typ, w := range wantPolicy {
			id := steps[typ]
			var found bool
			for pid, p := range tpl.props("AWS::IAM::Policy") {
				if !slices.Contains(dependsOn(id), any(pid)) || !strings.HasPrefix(pid, strings.TrimSuffix(id, id[len(id)-8:])+"CustomResourcePolicy") {
					continue
				}
				found = true
				if got := p["PolicyDocument"].(map[string]any)["Statement"]; js(got) != js(w) {
					t.Errorf("%s policy: got %s, want %s", typ, js(got), js(w))
				}
			}
			if !found {
				t.Errorf("%s: got no policy of its own, want one", typ)
			}
		}
	})
}

// TestRegionalNoSecretValueWrites: nothing in any stack can write a secret's
// value, delete a secret or take its replica away, whatever the deploy
// (create, update, replacement, delete): no secret resources, no custom
// resource call but the create step's CreateSecret carries a value, and no
// IAM grant allows the writing actions.
func TestRegionalNoSecretValueWrites(t *testing.T) {
	writes := []string{"secretsmanager:PutSecretValue", "secretsmanager:UpdateSecret", "secretsmanager:DeleteSecret",
		"secretsmanager:RemoveRegionsFromReplication", "secretsmanager:StopReplicationToReplica", "secretsmanager:RotateSecret",
		"secretsmanager:UpdateSecretVersionStage", "secretsmanager:*", "*"}
	eachRegional(t, func(t *testing.T, v *regionalVariant, region string, tpl cfnTemplate) {
		for id, r := range tpl["Resources"].(map[string]any) {
			r := r.(map[string]any)
			typ := r["Type"].(string)
			if strings.HasPrefix(typ, "AWS::SecretsManager::") {
				t.Errorf("%s: got a %s, want no secret resources", id, typ)
			}
			if strings.HasPrefix(typ, "Custom::") {
				for ev, c := range regionalCalls(t, r["Properties"].(map[string]any)) {
					if c == nil || c.Service != "SecretsManager" {
						continue
					}
					if _, ok := c.Parameters["SecretString"]; ok && (c.Action != "CreateSecret" || ev == "Delete") {
						t.Errorf("%s %s: got %s with a SecretString, want values only in CreateSecret", id, ev, c.Action)
					}
					if c.Parameters["ForceOverwriteReplicaSecret"] == true {
						t.Errorf("%s %s: got ForceOverwriteReplicaSecret, want a peer secret never overwritten", id, ev)
					}
					if !slices.Contains([]string{"RestoreSecret", "CreateSecret", "ReplicateSecretToRegions"}, c.Action) {
						t.Errorf("%s %s: got call %s, want only RestoreSecret, CreateSecret, ReplicateSecretToRegions", id, ev, c.Action)
					}
				}
			}
		}
		for id, p := range tpl.props("AWS::IAM::Policy") {
			for _, st := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
				st := st.(map[string]any)
				for _, a := range stringsOf(st["Action"]) {
					if st["Effect"] == "Allow" && slices.Contains(writes, a) {
						t.Errorf("policy %s: got %s allowed, want no secret writes", id, a)
					}
				}
			}
		}
	})
}

// stringsOf is an IAM Action: one string or a list.
func stringsOf(v any) []string {
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

func TestRegionalAccessLogs(t *testing.T) {
	eachRegional(t, func(t *testing.T, v *regionalVariant, region string, tpl cfnTemplate) {
		_, alb := tpl.only(t, "AWS::ElasticLoadBalancingV2::LoadBalancer")
		if alb["Scheme"] != "internet-facing" {
			t.Errorf("ALB scheme: got %v, want internet-facing", alb["Scheme"])
		}
		attrs := map[string]any{}
		for _, a := range alb["LoadBalancerAttributes"].([]any) {
			m := a.(map[string]any)
			attrs[m["Key"].(string)] = m["Value"]
		}
		var logsBucket string
		for id, b := range tpl.props("AWS::S3::Bucket") {
			if js(b["LifecycleConfiguration"]) == js(map[string]any{"Rules": []any{map[string]any{"Id": "expire-logs", "ExpirationInDays": 90.0, "Status": "Enabled"}}}) {
				logsBucket = id
			}
		}
		if logsBucket == "" {
			t.Fatalf("logs bucket with a 90-day expiry: got none, want one")
		}
		want := map[string]any{
			"access_logs.s3.enabled":                          "true",
			"access_logs.s3.bucket":                           ref(logsBucket),
			"access_logs.s3.prefix":                           "alb",
			"routing.http.drop_invalid_header_fields.enabled": "true",
			"deletion_protection.enabled":                     "false",
		}
		for k, w := range want {
			if js(attrs[k]) != js(w) {
				t.Errorf("ALB attribute %s: got %s, want %s", k, js(attrs[k]), js(w))
			}
		}
		b := tpl.props("AWS::S3::Bucket")[logsBucket]
		sse := []any{map[string]any{"ServerSideEncryptionByDefault": map[string]any{"SSEAlgorithm": "AES256"}}}
		if got := js(b["BucketEncryption"].(map[string]any)["ServerSideEncryptionConfiguration"]); got != js(sse) {
			t.Errorf("logs bucket encryption: got %s, want SSE-S3 %s", got, js(sse))
		}
		pab := map[string]any{"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true}
		if got := js(b["PublicAccessBlockConfiguration"]); got != js(pab) {
			t.Errorf("logs bucket public access block: got %s, want %s", got, js(pab))
		}
		// ACLs disabled, whatever the feature flags: the logs arrive under
		// the bucket policy.
		if b["AccessControl"] != nil || js(b["OwnershipControls"]) != `{"Rules":[{"ObjectOwnership":"BucketOwnerEnforced"}]}` {
			t.Errorf("logs bucket: got AccessControl %v, OwnershipControls %s, want none and BucketOwnerEnforced", b["AccessControl"], js(b["OwnershipControls"]))
		}
		// enforceSSL: the bucket policy denies requests without TLS.
		ssl := false
		for _, p := range tpl.props("AWS::S3::BucketPolicy") {
			if js(p["Bucket"]) != js(ref(logsBucket)) {
				continue
			}
			ssl = strings.Contains(js(p["PolicyDocument"]), `"aws:SecureTransport":"false"`)
		}
		if !ssl {
			t.Errorf("logs bucket policy denies aws:SecureTransport false: got no, want yes")
		}
	})
}

// TestRegionalRateLimit: a WAF web ACL on each ALB answers 429 to a client
// IP over the limit on /v1/records, and over the separate, generous limit on
// /health paths; -1 turns either off, and the web ACL goes when both are.
func TestRegionalRateLimit(t *testing.T) {
	eachRegional(t, func(t *testing.T, v *regionalVariant, region string, tpl cfnTemplate) {
		type rule struct {
			limit int
			path  string
		}
		want := map[string]rule{}
		if l := v.cfg.RateLimit(); l > 0 {
			want["RateLimitPerIp"] = rule{l, "/v1/records"}
		}
		if l := v.cfg.HealthRateLimit(); l > 0 {
			want["HealthRateLimitPerIp"] = rule{l, "/health"}
		}
		aclID, acl := tpl.only(t, "AWS::WAFv2::WebACL")
		albID, _ := tpl.only(t, "AWS::ElasticLoadBalancingV2::LoadBalancer")
		_, assoc := tpl.only(t, "AWS::WAFv2::WebACLAssociation")
		if js(assoc["ResourceArn"]) != js(ref(albID)) || js(assoc["WebACLArn"]) != js(map[string]any{"Fn::GetAtt": []any{aclID, "Arn"}}) {
			t.Errorf("association: got %s -> %s, want the ALB %s -> %s", js(assoc["WebACLArn"]), js(assoc["ResourceArn"]), albID, aclID)
		}
		if acl["Scope"] != "REGIONAL" || js(acl["DefaultAction"]) != js(map[string]any{"Allow": map[string]any{}}) {
			t.Errorf("web ACL: got scope %v, default %s, want REGIONAL and allow", acl["Scope"], js(acl["DefaultAction"]))
		}
		rules := acl["Rules"].([]any)
		if len(rules) != len(want) {
			t.Fatalf("rules: got %d, want %d (%v)", len(rules), len(want), want)
		}
		priorities := map[any]bool{}
		for _, r := range rules {
			r := r.(map[string]any)
			name, _ := r["Name"].(string)
			w, ok := want[name]
			if !ok {
				t.Errorf("rule %q: got it, want only %v", name, want)
				continue
			}
			priorities[r["Priority"]] = true
			rate := r["Statement"].(map[string]any)["RateBasedStatement"].(map[string]any)
			if rate["Limit"] != float64(w.limit) || rate["AggregateKeyType"] != "IP" || rate["EvaluationWindowSec"] != 300.0 {
				t.Errorf("%s: got limit %v by %v over %v s, want %d by IP over 300 s", name, rate["Limit"], rate["AggregateKeyType"], rate["EvaluationWindowSec"], w.limit)
			}
			match := rate["ScopeDownStatement"].(map[string]any)["ByteMatchStatement"].(map[string]any)
			if match["SearchString"] != w.path || match["PositionalConstraint"] != "STARTS_WITH" || js(match["FieldToMatch"]) != `{"UriPath":{}}` {
				t.Errorf("%s scope: got %v %v of %s, want URI paths starting with %s", name, match["PositionalConstraint"], match["SearchString"], js(match["FieldToMatch"]), w.path)
			}
			block := r["Action"].(map[string]any)["Block"].(map[string]any)["CustomResponse"].(map[string]any)
			if block["ResponseCode"] != 429.0 || block["CustomResponseBodyKey"] != "rateLimited" {
				t.Errorf("%s blocked answer: got %v %v, want 429 rateLimited", name, block["ResponseCode"], block["CustomResponseBodyKey"])
			}
		}
		if len(priorities) != len(rules) {
			t.Errorf("rule priorities: got %v, want distinct ones", priorities)
		}
	})
}

// TestRegionalNoWebAclWithoutLimits: with both limits -1 there is no web ACL.
func TestRegionalNoWebAclWithoutLimits(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RateLimitPerIP, cfg.HealthRateLimitPerIP = -1, -1
	app := flaggedApp()
	s := NewRegionalStack(app, "NoLimits", &RegionalStackProps{Config: cfg, Region: cfg.Primary()})
	tpl := assertions.Template_FromStack(s.Stack, nil)
	for _, typ := range []string{"AWS::WAFv2::WebACL", "AWS::WAFv2::WebACLAssociation"} {
		if n := len(*tpl.FindResources(jsii.String(typ), nil)); n != 0 {
			t.Errorf("%s: got %d, want 0", typ, n)
		}
	}
	if s.WebACL != nil {
		t.Error("WebACL: got set, want nil")
	}
}

// TestRegionalTerminationProtection: on by default (the manifest, which the
// CLI reads, not the template), off with terminationProtection false, and
// StackProps.TerminationProtection wins over the configuration.
func TestRegionalTerminationProtection(t *testing.T) {
	eachRegional(t, func(t *testing.T, v *regionalVariant, region string, tpl cfnTemplate) {
		want := v.cfg.TerminationProtected()
		if v.cfg.Account != "" {
			want = false // synthVariant passes StackProps.TerminationProtection false
		}
		if got := v.protected[region]; got != want {
			t.Errorf("terminationProtection: got %v, want %v", got, want)
		}
	})
	if !DefaultConfig().TerminationProtected() {
		t.Error("DefaultConfig: got termination protection off, want on")
	}
}

// TestRegionalReservedConcurrency: the configuration's reserved concurrency
// reaches ingest and health (-1: none; unset: the Pipeline's defaults).
func TestRegionalReservedConcurrency(t *testing.T) {
	eachRegional(t, func(t *testing.T, v *regionalVariant, region string, tpl cfnTemplate) {
		want := map[string]any{"Ingest": float64(DefaultIngestReservedConcurrency), "Health": float64(DefaultHealthReservedConcurrency)}
		for f, c := range map[string]int{"Ingest": v.cfg.IngestReservedConcurrency, "Health": v.cfg.HealthReservedConcurrency} {
			switch {
			case c == -1:
				want[f] = nil
			case c > 0:
				want[f] = float64(c)
			}
		}
		for id, p := range tpl.props("AWS::Lambda::Function") {
			for f, w := range want {
				if strings.HasPrefix(id, "Pipeline"+f+"Function") && p["ReservedConcurrentExecutions"] != w {
					t.Errorf("%s ReservedConcurrentExecutions: got %v, want %v", f, p["ReservedConcurrentExecutions"], w)
				}
			}
		}
	})
}

// TestRegionalElbInvokePermissions: every permission letting Elastic Load
// Balancing invoke a function names this account (SourceAccount) and this
// account's target groups in this region (SourceArn), and each lambda
// target group DependsOn its function's permission (it registers the
// function when it is created).
func TestRegionalElbInvokePermissions(t *testing.T) {
	eachRegional(t, func(t *testing.T, v *regionalVariant, region string, tpl cfnTemplate) {
		var account, tgArn any = ref("AWS::AccountId"), map[string]any{"Fn::Join": []any{"", []any{
			"arn:aws:elasticloadbalancing:" + region + ":", ref("AWS::AccountId"), ":targetgroup/*"}}}
		if v.cfg.Account != "" {
			account, tgArn = v.cfg.Account, "arn:aws:elasticloadbalancing:"+region+":"+v.cfg.Account+":targetgroup/*"
		}
		permOf := map[string]string{} // function logical id -> permission
		for id, p := range tpl.props("AWS::Lambda::Permission") {
			if p["Principal"] != ElbPrincipal {
				continue
			}
			if js(p["SourceAccount"]) != js(account) || js(p["SourceArn"]) != js(tgArn) {
				t.Errorf("permission %s: got SourceAccount %s, SourceArn %s, want %s, %s", id, js(p["SourceAccount"]), js(p["SourceArn"]), js(account), js(tgArn))
			}
			fn := p["FunctionName"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
			if prev, ok := permOf[fn]; ok {
				t.Errorf("function %s: got permissions %s and %s, want one", fn, prev, id)
			}
			permOf[fn] = id
		}
		if len(permOf) != 2 {
			t.Errorf("functions Elastic Load Balancing may invoke: got %v, want ingest and health", permOf)
		}
		for id, r := range tpl.resources("AWS::ElasticLoadBalancingV2::TargetGroup") {
			p := r["Properties"].(map[string]any)
			if p["TargetType"] != "lambda" {
				continue
			}
			fn := p["Targets"].([]any)[0].(map[string]any)["Id"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
			deps, _ := r["DependsOn"].([]any)
			if perm, ok := permOf[fn]; !ok || !slices.Contains(deps, any(perm)) {
				t.Errorf("target group %s (function %s) DependsOn: got %v, want its permission %q", id, fn, deps, perm)
			}
		}
	})
}

func TestRegionalAlarms(t *testing.T) {
	eachRegional(t, func(t *testing.T, v *regionalVariant, region string, tpl cfnTemplate) {
		topicID, topic := tpl.only(t, "AWS::SNS::Topic")
		if topic["KmsMasterKeyId"] == nil {
			t.Errorf("alarm topic KmsMasterKeyId: got none, want a KMS key")
		}
		_, pol := tpl.only(t, "AWS::SNS::TopicPolicy")
		if got := js(pol["Topics"]); got != js([]any{ref(topicID)}) {
			t.Errorf("topic policy topics: got %s, want the alarm topic", got)
		}
		doc := js(pol["PolicyDocument"])
		if !strings.Contains(doc, `"aws:SecureTransport":"false"`) {
			t.Errorf("alarm topic policy denying aws:SecureTransport false: got %s, want one", doc)
		}
		// The policy replaces SNS's default one: CloudWatch must be allowed
		// to publish, for this account's alarms only.
		var allow map[string]any
		for _, st := range pol["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			if m := st.(map[string]any); m["Sid"] == "AllowAlarmsOfThisAccount" {
				allow = m
			}
		}
		var account, alarms any = ref("AWS::AccountId"), map[string]any{"Fn::Join": []any{"", []any{
			"arn:aws:cloudwatch:" + region + ":", ref("AWS::AccountId"), ":alarm:*"}}}
		if v.cfg.Account != "" {
			account, alarms = v.cfg.Account, "arn:aws:cloudwatch:"+region+":"+v.cfg.Account+":alarm:*"
		}
		want := map[string]any{
			"Sid": "AllowAlarmsOfThisAccount", "Effect": "Allow", "Action": "sns:Publish",
			"Principal": map[string]any{"Service": "cloudwatch.amazonaws.com"},
			"Resource":  ref(topicID),
			"Condition": map[string]any{"ArnLike": map[string]any{"aws:SourceArn": alarms}, "StringEquals": map[string]any{"aws:SourceAccount": account}},
		}
		if js(allow) != js(want) {
			t.Errorf("topic policy statement for CloudWatch: got %s, want %s", js(allow), js(want))
		}
		subs := tpl.props("AWS::SNS::Subscription")
		if v.cfg.AlarmEmail == "" && len(subs) != 0 {
			t.Errorf("subscriptions without alarmEmail: got %d, want 0", len(subs))
		}
		if v.cfg.AlarmEmail != "" {
			want := map[string]any{"Protocol": "email", "Endpoint": v.cfg.AlarmEmail, "TopicArn": ref(topicID)}
			_, sub := tpl.only(t, "AWS::SNS::Subscription")
			for k, w := range want {
				if js(sub[k]) != js(w) {
					t.Errorf("subscription %s: got %s, want %s", k, js(sub[k]), js(w))
				}
			}
		}

		// What each alarm watches and how it treats missing data:
		// TestRegionalAlarmsMissingData.
	})
}

func TestRegionalOutputs(t *testing.T) {
	eachRegional(t, func(t *testing.T, v *regionalVariant, region string, tpl cfnTemplate) {
		outs, _ := tpl["Outputs"].(map[string]any)
		albID, _ := tpl.only(t, "AWS::ElasticLoadBalancingV2::LoadBalancer")
		dns := map[string]any{"Fn::GetAtt": []any{albID, "DNSName"}}
		if got := js(outs["LoadBalancerDnsName"].(map[string]any)["Value"]); got != js(dns) {
			t.Errorf("LoadBalancerDnsName output: got %s, want %s", got, js(dns))
		}
		var want any = map[string]any{"Fn::Join": []any{"", []any{"http://", dns, "/v1/records"}}}
		if v.cfg.Domain != nil {
			want = "https://" + region + "." + v.cfg.Domain.RecordName + "/v1/records"
		}
		if got := js(outs["EndpointUrl"].(map[string]any)["Value"]); got != js(want) {
			t.Errorf("EndpointUrl output: got %s, want %s", got, js(want))
		}
	})
}

func TestRegionalNag(t *testing.T) {
	eachRegional(t, func(t *testing.T, v *regionalVariant, region string, tpl cfnTemplate) {
		for _, m := range v.nag[region] {
			t.Errorf("got unsuppressed cdk-nag finding %s, want none", m)
		}
	})
}

// TestRegionalPlaceholderDomainRule: with cdk.json's placeholder hosted
// zone the template carries a CloudFormation rule whose assertion is false,
// so CloudFormation refuses the change set with a message naming the fix;
// without a domain, or with a real zone, there is no rule.
func TestRegionalPlaceholderDomainRule(t *testing.T) {
	eachRegional(t, func(t *testing.T, v *regionalVariant, region string, tpl cfnTemplate) {
		rule := globalMap(globalMap(tpl["Rules"])[PlaceholderDomainRuleID])
		if v.cfg.Domain == nil {
			if rule != nil {
				t.Errorf("rule %s without a domain: got %s, want none", PlaceholderDomainRuleID, js(rule))
			}
			return
		}
		checkPlaceholderRule(t, rule)
	})
	cfg := DefaultConfig()
	cfg.Domain.HostedZoneID = "Z1D633PJN98FT9"
	s := NewRegionalStack(flaggedApp(), "RealZone", &RegionalStackProps{Config: cfg, Region: cfg.Primary()})
	if r := globalMap(cfnTemplateOf(t, s.Stack)["Rules"])[PlaceholderDomainRuleID]; r != nil {
		t.Errorf("rule with a real zone: got %s, want none", js(r))
	}
}

// checkPlaceholderRule checks the placeholder rule: one assertion, false
// (the placeholder compared with itself), with the message.
func checkPlaceholderRule(t *testing.T, rule map[string]any) {
	t.Helper()
	want := map[string]any{"Assertions": []any{map[string]any{
		"Assert":            map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{PlaceholderHostedZoneID, PlaceholderHostedZoneID}}}},
		"AssertDescription": placeholderDomainMessage(DefaultConfig().Domain),
	}}}
	if js(rule) != js(want) {
		t.Errorf("rule %s: got %s, want %s", PlaceholderDomainRuleID, js(rule), js(want))
	}
	if msg := placeholderDomainMessage(DefaultConfig().Domain); !strings.Contains(msg, PlaceholderHostedZoneID) || !strings.Contains(msg, "remove domain") {
		t.Errorf("message %q: want the zone id and what to do", msg)
	}
}

func TestNewRegionalStackInvalid(t *testing.T) {
	cfg := DefaultConfig
	bad := DefaultConfig()
	bad.Regions = []string{"us-east-1"}
	tests := []struct {
		name  string
		props *RegionalStackProps
		want  string
	}{
		{"nil props", nil, "props.Config is required"},
		{"nil config", &RegionalStackProps{Region: "us-east-1"}, "props.Config is required"},
		{"invalid config", &RegionalStackProps{Config: bad, Region: "us-east-1"}, "config: regions"},
		{"region not configured", &RegionalStackProps{Config: cfg(), Region: "eu-west-1"}, `region "eu-west-1" is not one of the configured regions [us-east-1 us-west-2]`},
		{"env region mismatch", &RegionalStackProps{Config: cfg(), Region: "us-east-1",
			StackProps: awscdk.StackProps{Env: &awscdk.Environment{Region: jsii.String("us-west-2")}}}, `StackProps.Env.Region must be "us-east-1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			func() {
				defer func() { got = fmt.Sprint(recover()) }()
				// Panics come before any construct is added to scope.
				NewRegionalStack(nil, "x", tt.props)
			}()
			if !strings.Contains(got, tt.want) {
				t.Errorf("panic: got %q, want it to contain %q", got, tt.want)
			}
		})
	}
}
