package stacks

//lint:file-ignore SA1019 assertions.Annotations and the cloud assembly return cxapi.SynthesisMessage; aws-cdk-go v2.276 ships no replacement type

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
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

// globalFixture is one synthesized app: two RegionalStacks and the
// GlobalStack, with every stack's template as plain JSON.
type globalFixture struct {
	name    string
	cfg     *Config
	regions []*RegionalStack
	global  *GlobalStack
	// templates by stack name.
	templates map[string]map[string]any
	// messages are the synth annotations on the global stack.
	messages []string
	// protected is the manifest's terminationProtection by stack name.
	protected map[string]bool
	// nag is cdk-nag's AwsSolutions report on the global stack, a header
	// and one row per rule and resource (only the "domain" fixture runs it).
	nag [][]string
}

var (
	globalOnce     sync.Once
	globalFixtures []*globalFixture
	globalErr      error
)

// globalSynth synthesizes, once per test binary, the app with the default
// configuration (a domain), a variant without a domain and one with three
// regions.
func globalSynth(t *testing.T) []*globalFixture {
	t.Helper()
	globalOnce.Do(func() {
		plain := DefaultConfig()
		plain.Domain = nil
		plain.TerminationProtection = jsii.Bool(false)
		three := DefaultConfig()
		three.Regions = []string{"us-east-1", "us-west-2", "eu-west-1"}
		for _, v := range []struct {
			name string
			cfg  *Config
			nag  bool
		}{{"domain", DefaultConfig(), true}, {"no-domain", plain, false}, {"three-region", three, true}} {
			fx, err := globalBuild(v.name, v.cfg, v.nag)
			if err != nil {
				globalErr = err
				return
			}
			globalFixtures = append(globalFixtures, fx)
		}
	})
	if globalErr != nil {
		t.Fatal(globalErr)
	}
	return globalFixtures
}

func globalBuild(name string, cfg *Config, nag bool) (fx *globalFixture, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("synth %s: %v", name, r)
		}
	}()
	fx = &globalFixture{name: name, cfg: cfg, templates: map[string]map[string]any{}, protected: map[string]bool{}}
	app := flaggedApp()
	if nag {
		awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	}
	// The stacks exactly as the app builds them (app.go).
	st := NewDeployment(app, &DeploymentProps{Config: cfg})
	fx.regions, fx.global = st.Regional, st.Global
	asm := app.Synth(nil)
	stacks := []awscdk.Stack{fx.global.Stack}
	for _, rs := range fx.regions {
		stacks = append(stacks, rs.Stack)
	}
	for _, s := range stacks {
		// Template_FromStack reuses the assembly synthesized above.
		b, err := json.Marshal(assertions.Template_FromStack(s, nil).ToJSON())
		if err != nil {
			return nil, err
		}
		var tmpl map[string]any
		if err := json.Unmarshal(b, &tmpl); err != nil {
			return nil, err
		}
		fx.templates[*s.StackName()] = tmpl
		tp := asm.GetStackArtifact(s.ArtifactId()).TerminationProtection()
		fx.protected[*s.StackName()] = tp != nil && *tp
	}
	for _, m := range *asm.GetStackArtifact(fx.global.ArtifactId()).Messages() {
		fx.messages = append(fx.messages, fmt.Sprintf("%s %s %v", m.Level, *m.Id, m.Entry.Data))
	}
	if nag {
		// cdk-nag writes one report per stack: every rule it checked on
		// every resource, compliant, suppressed or not.
		f, err := os.Open(filepath.Join(*asm.Directory(), "AwsSolutions--"+fx.globalName()+"-NagReport.csv"))
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if fx.nag, err = csv.NewReader(f).ReadAll(); err != nil {
			return nil, err
		}
	}
	return fx, nil
}

func (fx *globalFixture) globalName() string { return *fx.global.StackName() }

func (fx *globalFixture) globalTemplate() map[string]any { return fx.templates[fx.globalName()] }

// resources returns the global stack's resources of type typ, by logical id.
func (fx *globalFixture) resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range globalMap(fx.globalTemplate()["Resources"]) {
		if rm := globalMap(r); rm["Type"] == typ {
			out[id] = rm
		}
	}
	return out
}

func globalMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func globalProps(r map[string]any) map[string]any { return globalMap(r["Properties"]) }

// ref and att name a resource the way render does: "<stack:LogicalId>"
// for a Ref, "<stack:LogicalId.Attr>" for an Fn::GetAtt.
func globalRef(stack, id string) string      { return "<" + stack + ":" + id + ">" }
func globalAtt(stack, id, att string) string { return "<" + stack + ":" + id + "." + att + ">" }

func (fx *globalFixture) albRef(rs *RegionalStack) string {
	return globalRef(*rs.StackName(), globalLogicalID(rs.Stack, rs.LoadBalancer))
}

func (fx *globalFixture) albAtt(rs *RegionalStack, att string) string {
	return globalAtt(*rs.StackName(), globalLogicalID(rs.Stack, rs.LoadBalancer), att)
}

func (fx *globalFixture) sinkRef(rs *RegionalStack) string {
	return globalRef(*rs.StackName(), globalLogicalID(rs.Stack, rs.Pipeline.SinkBucket))
}

func (fx *globalFixture) sinkArn(rs *RegionalStack) string {
	return globalAtt(*rs.StackName(), globalLogicalID(rs.Stack, rs.Pipeline.SinkBucket), "Arn")
}

// render flattens a CloudFormation value of the global stack into a string,
// naming each reference by the stack that owns the resource. It follows
// CDK's same-region references (Fn::ImportValue -> the producer's Output)
// and cross-region references (ExportsReader attribute -> the producer's
// Custom::CrossRegionExportWriter entry), so a test sees which stack and
// resource a value really comes from.
func (fx *globalFixture) render(v any) (string, error) {
	return fx.renderIn(fx.globalName(), v)
}

func (fx *globalFixture) renderIn(stack string, v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case float64, bool:
		return fmt.Sprint(x), nil
	case map[string]any:
		if len(x) != 1 {
			break
		}
		if ref, ok := x["Ref"].(string); ok {
			if strings.HasPrefix(ref, "AWS::") {
				return "${" + ref + "}", nil
			}
			return globalRef(stack, ref), nil
		}
		if ga, ok := x["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
			id, _ := ga[0].(string)
			att, _ := ga[1].(string)
			res := globalMap(globalMap(fx.templates[stack]["Resources"])[id])
			if res == nil {
				return "", fmt.Errorf("Fn::GetAtt of unknown resource %s in %s", id, stack)
			}
			if res["Type"] != "Custom::CrossRegionExportReader" {
				return globalAtt(stack, id, att), nil
			}
			imports := globalMap(globalMap(globalProps(res)["ReaderProps"])["imports"])
			if _, ok := imports[att]; !ok {
				return "", fmt.Errorf("export reader %s in %s does not import %s", id, stack, att)
			}
			return fx.fromWriter(att)
		}
		if name, ok := x["Fn::ImportValue"].(string); ok {
			return fx.fromExport(name)
		}
		if gso, ok := x["Fn::GetStackOutput"].(map[string]any); ok {
			return fx.fromStackOutput(gso)
		}
		if j, ok := x["Fn::Join"].([]any); ok && len(j) == 2 {
			sep, _ := j[0].(string)
			parts, _ := j[1].([]any)
			var out []string
			for _, p := range parts {
				s, err := fx.renderIn(stack, p)
				if err != nil {
					return "", err
				}
				out = append(out, s)
			}
			return strings.Join(out, sep), nil
		}
	}
	b, _ := json.Marshal(v)
	return "", fmt.Errorf("cannot render %s", b)
}

// fromStackOutput renders the output Fn::GetStackOutput reads (cdk.json's
// recommended flags make CDK use it for cross-region references), after
// checking it names the producing stack's own region.
func (fx *globalFixture) fromStackOutput(gso map[string]any) (string, error) {
	stack, _ := gso["StackName"].(string)
	output, _ := gso["OutputName"].(string)
	tmpl, ok := fx.templates[stack]
	if !ok {
		return "", fmt.Errorf("Fn::GetStackOutput of unknown stack %q", stack)
	}
	for _, rs := range fx.regions {
		if *rs.StackName() == stack && gso["Region"] != *rs.Region() {
			return "", fmt.Errorf("Fn::GetStackOutput reads %s in region %v, want %s", stack, gso["Region"], *rs.Region())
		}
	}
	out := globalMap(globalMap(tmpl["Outputs"])[output])
	if out == nil {
		return "", fmt.Errorf("stack %s has no output %s", stack, output)
	}
	return fx.renderIn(stack, out["Value"])
}

// fromWriter finds the regional stack whose CrossRegionExportWriter writes
// the SSM parameter name, and renders the value it writes there.
func (fx *globalFixture) fromWriter(param string) (string, error) {
	for stack, tmpl := range fx.templates {
		for _, r := range globalMap(tmpl["Resources"]) {
			rm := globalMap(r)
			if rm["Type"] != "Custom::CrossRegionExportWriter" {
				continue
			}
			wp := globalMap(globalProps(rm)["WriterProps"])
			if v, ok := globalMap(wp["exports"])[param]; ok {
				if wp["region"] != GlobalRegion {
					return "", fmt.Errorf("%s writes %s to region %v, want %s", stack, param, wp["region"], GlobalRegion)
				}
				return fx.renderIn(stack, v)
			}
		}
	}
	return "", fmt.Errorf("no stack writes the cross-region export %s", param)
}

// fromExport finds the stack exporting name and renders the exported value.
func (fx *globalFixture) fromExport(name string) (string, error) {
	for stack, tmpl := range fx.templates {
		for _, o := range globalMap(tmpl["Outputs"]) {
			om := globalMap(o)
			if globalMap(om["Export"])["Name"] == name {
				return fx.renderIn(stack, om["Value"])
			}
		}
	}
	return "", fmt.Errorf("no stack exports %s", name)
}

func (fx *globalFixture) mustRender(t *testing.T, v any) string {
	t.Helper()
	s, err := fx.render(v)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// globalList returns a string or a list of values as a list.
func globalList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

// globalStatement is an IAM statement with its values rendered.
type globalStatement struct {
	Effect    string
	Actions   []string
	Resources []string
}

func (fx *globalFixture) statements(t *testing.T, doc any) []globalStatement {
	t.Helper()
	var out []globalStatement
	for _, s := range globalList(globalMap(doc)["Statement"]) {
		sm := globalMap(s)
		st := globalStatement{Effect: fmt.Sprint(sm["Effect"])}
		for _, a := range globalList(sm["Action"]) {
			st.Actions = append(st.Actions, fmt.Sprint(a))
		}
		for _, r := range globalList(sm["Resource"]) {
			st.Resources = append(st.Resources, fx.mustRender(t, r))
		}
		sort.Strings(st.Actions)
		sort.Strings(st.Resources)
		out = append(out, st)
	}
	return out
}

func TestGlobalEndpointGroups(t *testing.T) {
	for _, fx := range globalSynth(t) {
		t.Run(fx.name, func(t *testing.T) {
			groups := fx.resources("AWS::GlobalAccelerator::EndpointGroup")
			if len(groups) != len(fx.regions) {
				t.Fatalf("got %d endpoint groups, want %d (one per region)", len(groups), len(fx.regions))
			}
			listeners := fx.resources("AWS::GlobalAccelerator::Listener")
			var listenerID string
			for id := range listeners {
				listenerID = id
			}
			for _, rs := range fx.regions {
				region := *rs.Region()
				var found []map[string]any
				for _, g := range groups {
					if globalProps(g)["EndpointGroupRegion"] == region {
						found = append(found, globalProps(g))
					}
				}
				if len(found) != 1 {
					t.Fatalf("%s: got %d endpoint groups with EndpointGroupRegion %s, want 1", region, len(found), region)
				}
				p := found[0]
				eps := globalList(p["EndpointConfigurations"])
				if len(eps) != 1 {
					t.Fatalf("%s: got %d endpoints, want 1", region, len(eps))
				}
				ep := globalMap(eps[0])
				if got, want := fx.mustRender(t, ep["EndpointId"]), fx.albRef(rs); got != want {
					t.Errorf("%s: endpoint id is %s, want %s (that region's ALB)", region, got, want)
				}
				if got := ep["ClientIPPreservationEnabled"]; got != true {
					t.Errorf("%s: ClientIPPreservationEnabled = %v, want true", region, got)
				}
				if got := p["TrafficDialPercentage"]; got != 100.0 {
					t.Errorf("%s: TrafficDialPercentage = %v, want 100", region, got)
				}
				if got, want := fx.mustRender(t, p["ListenerArn"]), globalAtt(fx.globalName(), listenerID, "ListenerArn"); got != want {
					t.Errorf("%s: ListenerArn = %s, want %s", region, got, want)
				}
				// GA ignores its own health checks for ALB endpoints: none
				// may be configured, so nobody relies on them.
				for k := range p {
					if strings.HasPrefix(k, "HealthCheck") || k == "ThresholdCount" {
						t.Errorf("%s: endpoint group sets %s, want no GA health-check settings", region, k)
					}
				}
			}
		})
	}
}

func TestGlobalAcceleratorAndListener(t *testing.T) {
	for _, fx := range globalSynth(t) {
		t.Run(fx.name, func(t *testing.T) {
			accs := fx.resources("AWS::GlobalAccelerator::Accelerator")
			if len(accs) != 1 {
				t.Fatalf("got %d accelerators, want 1", len(accs))
			}
			for _, a := range accs {
				if got := globalProps(a)["IpAddressType"]; got != "IPV4" {
					t.Errorf("IpAddressType = %v, want IPV4", got)
				}
			}
			ls := fx.resources("AWS::GlobalAccelerator::Listener")
			if len(ls) != 1 {
				t.Fatalf("got %d listeners, want 1", len(ls))
			}
			want := 80.0
			if fx.cfg.Domain != nil {
				want = 443
			}
			for _, l := range ls {
				p := globalProps(l)
				if got := p["Protocol"]; got != "TCP" {
					t.Errorf("Protocol = %v, want TCP", got)
				}
				if got := p["ClientAffinity"]; got != "NONE" {
					t.Errorf("ClientAffinity = %v, want NONE", got)
				}
				pr := globalList(p["PortRanges"])
				if len(pr) != 1 || globalMap(pr[0])["FromPort"] != want || globalMap(pr[0])["ToPort"] != want {
					t.Errorf("PortRanges = %v, want one range %v-%v", pr, want, want)
				}
			}
		})
	}
}

func TestGlobalHealthChecks(t *testing.T) {
	for _, fx := range globalSynth(t) {
		t.Run(fx.name, func(t *testing.T) {
			hcs := fx.resources("AWS::Route53::HealthCheck")
			if len(hcs) != len(fx.regions) {
				t.Fatalf("got %d health checks, want %d (one per region)", len(hcs), len(fx.regions))
			}
			for _, rs := range fx.regions {
				region := *rs.Region()
				hc := fx.global.HealthChecks[region]
				if hc == nil {
					t.Fatalf("HealthChecks[%s] is nil", region)
				}
				r := hcs[*fx.global.GetLogicalId(hc)]
				if r == nil {
					t.Fatalf("%s: health check %s not in the template", region, *fx.global.GetLogicalId(hc))
				}
				c := globalMap(globalProps(r)["HealthCheckConfig"])
				got := map[string]any{}
				for k, v := range c {
					if k == "FullyQualifiedDomainName" {
						v = fx.mustRender(t, v)
					}
					got[k] = v
				}
				want := map[string]any{
					"Type":                     "HTTP",
					"FullyQualifiedDomainName": fx.albAtt(rs, "DNSName"),
					"Port":                     80.0,
					"ResourcePath":             "/health/deep",
					"RequestInterval":          10.0,
					"FailureThreshold":         3.0,
					"MeasureLatency":           false,
				}
				if fx.cfg.Domain != nil {
					want["Type"] = "HTTPS"
					want["FullyQualifiedDomainName"] = region + "." + fx.cfg.Domain.RecordName
					want["Port"] = 443.0
					want["EnableSNI"] = true
				}
				if g, w := globalJSON(got), globalJSON(want); g != w {
					t.Errorf("%s: HealthCheckConfig\ngot  %s\nwant %s", region, g, w)
				}
				// The regional stack names the same endpoint.
				if rs.RegionalName != nil && *rs.RegionalName != got["FullyQualifiedDomainName"] {
					t.Errorf("%s: health check probes %v, want the regional stack's RegionalName %s", region, got["FullyQualifiedDomainName"], *rs.RegionalName)
				}
				if rs.HealthCheckPort != 0 && rs.HealthCheckPort != got["Port"] {
					t.Errorf("%s: health check port %v, want the regional stack's HealthCheckPort %v", region, got["Port"], rs.HealthCheckPort)
				}
				tags := globalList(globalProps(r)["HealthCheckTags"])
				nameTag := map[string]any{"Key": "Name", "Value": fx.cfg.Name + "-" + region + "-deep"}
				if !slices.ContainsFunc(tags, func(tag any) bool { return globalJSON(tag) == globalJSON(nameTag) }) {
					t.Errorf("%s: tags %s, want one of them %s", region, globalJSON(tags), globalJSON(nameTag))
				}
			}
		})
	}
}

func globalJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestGlobalRecords(t *testing.T) {
	for _, fx := range globalSynth(t) {
		t.Run(fx.name, func(t *testing.T) {
			recs := fx.resources("AWS::Route53::RecordSet")
			d := fx.cfg.Domain
			if d == nil {
				if len(recs) != 0 {
					t.Fatalf("got %d record sets without a domain, want 0", len(recs))
				}
				return
			}
			if len(recs) != 1+len(fx.regions) {
				t.Fatalf("got %d record sets, want %d (accelerator alias + one per region)", len(recs), 1+len(fx.regions))
			}
			var accID string
			for id := range fx.resources("AWS::GlobalAccelerator::Accelerator") {
				accID = id
			}
			byName := map[string][]map[string]any{}
			for _, r := range recs {
				p := globalProps(r)
				if p["HostedZoneId"] != d.HostedZoneID {
					t.Errorf("record %v in zone %v, want %s", p["Name"], p["HostedZoneId"], d.HostedZoneID)
				}
				if p["Type"] != "A" {
					t.Errorf("record %v has type %v, want A", p["Name"], p["Type"])
				}
				byName[fmt.Sprint(p["Name"])] = append(byName[fmt.Sprint(p["Name"])], p)
			}
			alias := byName[d.RecordName+"."]
			if len(alias) != 1 {
				t.Fatalf("got %d records named %s., want 1", len(alias), d.RecordName)
			}
			at := globalMap(alias[0]["AliasTarget"])
			if got, want := fx.mustRender(t, at["DNSName"]), globalAtt(fx.globalName(), accID, "DnsName"); got != want {
				t.Errorf("alias target %s, want the accelerator's %s", got, want)
			}
			// Z2BJ6XQ5FK7U4H is Global Accelerator's fixed hosted zone id.
			if got := at["HostedZoneId"]; got != "Z2BJ6XQ5FK7U4H" {
				t.Errorf("alias hosted zone %v, want Z2BJ6XQ5FK7U4H", got)
			}
			// With two regions, a failover pair; with more, latency records
			// (Route 53 takes one PRIMARY and one SECONDARY only). Either
			// way each region's record is gated by that region's health
			// check and aliases that region's ALB.
			pair := byName["failover."+d.RecordName+"."]
			if len(pair) != len(fx.regions) {
				t.Fatalf("got %d records named failover.%s., want %d", len(pair), d.RecordName, len(fx.regions))
			}
			for i, rs := range fx.regions {
				region := *rs.Region()
				idx := slices.IndexFunc(pair, func(p map[string]any) bool { return p["SetIdentifier"] == region })
				if idx < 0 {
					t.Fatalf("no record with SetIdentifier %s", region)
				}
				p := pair[idx]
				if len(fx.regions) == 2 {
					if role := []string{"PRIMARY", "SECONDARY"}[i]; p["Failover"] != role || p["Region"] != nil {
						t.Errorf("%s: got Failover %v, Region %v, want %s and no latency region", region, p["Failover"], p["Region"], role)
					}
				} else if p["Region"] != region || p["Failover"] != nil {
					t.Errorf("%s: got Region %v, Failover %v, want latency routing to %s", region, p["Region"], p["Failover"], region)
				}
				if got, want := fx.mustRender(t, p["HealthCheckId"]), globalAtt(fx.globalName(), *fx.global.GetLogicalId(fx.global.HealthChecks[region]), "HealthCheckId"); got != want {
					t.Errorf("%s: HealthCheckId %s, want %s (%s's check)", region, got, want, region)
				}
				at := globalMap(p["AliasTarget"])
				if got, want := fx.mustRender(t, at["DNSName"]), fx.albAtt(rs, "DNSName"); got != want {
					t.Errorf("%s: alias DNSName %s, want %s", region, got, want)
				}
				if got, want := fx.mustRender(t, at["HostedZoneId"]), fx.albAtt(rs, "CanonicalHostedZoneID"); got != want {
					t.Errorf("%s: alias HostedZoneId %s, want %s", region, got, want)
				}
				if at["EvaluateTargetHealth"] != true {
					t.Errorf("%s: EvaluateTargetHealth %v, want true", region, at["EvaluateTargetHealth"])
				}
			}
		})
	}
}

// globalSdkCall is an AwsCustomResource call as the provider receives it.
type globalSdkCall struct {
	Service            string
	Action             string
	Region             string
	Parameters         map[string]any
	PhysicalResourceID struct{ ID string } `json:"physicalResourceId"`
}

func (fx *globalFixture) sdkCall(t *testing.T, v any) globalSdkCall {
	t.Helper()
	s := fx.mustRender(t, v)
	var c globalSdkCall
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		t.Fatalf("sdk call %s: %v", s, err)
	}
	return c
}

func TestGlobalReplication(t *testing.T) {
	for _, fx := range globalSynth(t) {
		t.Run(fx.name, func(t *testing.T) {
			crs := fx.resources("Custom::BucketReplication")
			if len(crs) != len(fx.regions) {
				t.Fatalf("got %d Custom::BucketReplication, want %d (one per source region)", len(crs), len(fx.regions))
			}
			roles := fx.resources("AWS::IAM::Role")
			policies := fx.resources("AWS::IAM::Policy")
			seen := map[string]bool{}
			for crID, cr := range crs {
				p := globalProps(cr)
				create := fx.sdkCall(t, p["Create"])
				src := slices.IndexFunc(fx.regions, func(rs *RegionalStack) bool { return *rs.Region() == create.Region })
				if src < 0 {
					t.Fatalf("create call in region %q, want one of %v", create.Region, fx.cfg.Regions)
				}
				srcRS := fx.regions[src]
				var dsts []*RegionalStack
				for _, rs := range fx.regions {
					if rs != srcRS {
						dsts = append(dsts, rs)
					}
				}
				seen[create.Region] = true
				// Named after the first other region: the ids of a
				// two-region deployment stay when a region is added.
				if prefix := "Replication" + globalRegionID(create.Region) + "To" + globalRegionID(*dsts[0].Region()); !strings.HasPrefix(crID, prefix) {
					t.Errorf("%s: custom resource %s, want the logical id %s<hash>", create.Region, crID, prefix)
				}
				if want := fmt.Sprintf("%s-sink-replication-%s-to-%s", fx.cfg.Name, create.Region, *dsts[0].Region()); create.PhysicalResourceID.ID != want {
					t.Errorf("%s: physical id %q, want %q", create.Region, create.PhysicalResourceID.ID, want)
				}
				if create.Service != "S3" || create.Action != "putBucketReplication" {
					t.Errorf("create calls %s.%s, want S3.putBucketReplication", create.Service, create.Action)
				}
				if got, want := create.Parameters["Bucket"], fx.sinkRef(srcRS); got != want {
					t.Errorf("%s: Bucket %v, want the %s sink %s", create.Region, got, create.Region, want)
				}
				rc := globalMap(create.Parameters["ReplicationConfiguration"])
				roleRef, _ := rc["Role"].(string)
				rules := globalList(rc["Rules"])
				if len(rules) != len(dsts) {
					t.Fatalf("%s: got %d rules, want %d (one per other region)", create.Region, len(rules), len(dsts))
				}
				for i, dst := range dsts {
					wantRule := map[string]any{
						"ID":                      "to-" + *dst.Region(),
						"Status":                  "Enabled",
						"Priority":                float64(i + 1),
						"Filter":                  map[string]any{"Prefix": ""},
						"DeleteMarkerReplication": map[string]any{"Status": "Enabled"},
						"Destination":             map[string]any{"Bucket": fx.sinkArn(dst), "StorageClass": "STANDARD"},
					}
					if g, w := globalJSON(rules[i]), globalJSON(wantRule); g != w {
						t.Errorf("%s: rule %d\ngot  %s\nwant %s", create.Region, i, g, w)
					}
				}
				if update := fx.sdkCall(t, p["Update"]); globalJSON(update) != globalJSON(create) {
					t.Errorf("%s: update call %s differs from create call %s", create.Region, globalJSON(update), globalJSON(create))
				}
				del := fx.sdkCall(t, p["Delete"])
				if del.Action != "deleteBucketReplication" || del.Region != create.Region || del.Parameters["Bucket"] != fx.sinkRef(srcRS) {
					t.Errorf("%s: delete call %s, want deleteBucketReplication of the same bucket in the same region", create.Region, globalJSON(del))
				}
				if p["InstallLatestAwsSdk"] != false {
					t.Errorf("%s: InstallLatestAwsSdk %v, want false", create.Region, p["InstallLatestAwsSdk"])
				}

				// The replication role: assumed by S3, least privilege.
				var roleID string
				for id := range roles {
					if roleRef == globalAtt(fx.globalName(), id, "Arn") {
						roleID = id
					}
				}
				if roleID == "" {
					t.Fatalf("%s: role %s is not a role of the global stack", create.Region, roleRef)
				}
				rp := globalProps(roles[roleID])
				if trust := fx.statements(t, rp["AssumeRolePolicyDocument"]); len(trust) != 1 || globalJSON(globalMap(globalList(globalMap(rp["AssumeRolePolicyDocument"])["Statement"])[0])["Principal"]) != `{"Service":"s3.amazonaws.com"}` {
					t.Errorf("%s: role trust %s, want s3.amazonaws.com only", create.Region, globalJSON(rp["AssumeRolePolicyDocument"]))
				}
				var got []globalStatement
				for _, pol := range globalList(rp["Policies"]) {
					got = append(got, fx.statements(t, globalMap(pol)["PolicyDocument"])...)
				}
				for _, pol := range policies {
					for _, r := range globalList(globalProps(pol)["Roles"]) {
						if globalJSON(r) == globalJSON(map[string]any{"Ref": roleID}) {
							got = append(got, fx.statements(t, globalProps(pol)["PolicyDocument"])...)
						}
					}
				}
				if len(globalList(rp["ManagedPolicyArns"])) != 0 {
					t.Errorf("%s: replication role has managed policies %v, want none", create.Region, rp["ManagedPolicyArns"])
				}
				var dstObjects []string
				for _, dst := range dsts {
					dstObjects = append(dstObjects, fx.sinkArn(dst)+"/*")
				}
				sort.Strings(dstObjects)
				want := []globalStatement{
					{"Allow", []string{"s3:GetReplicationConfiguration", "s3:ListBucket"}, []string{fx.sinkArn(srcRS)}},
					{"Allow", []string{"s3:GetObjectVersionAcl", "s3:GetObjectVersionForReplication", "s3:GetObjectVersionTagging"}, []string{fx.sinkArn(srcRS) + "/*"}},
					{"Allow", []string{"s3:ReplicateDelete", "s3:ReplicateObject", "s3:ReplicateTags"}, dstObjects},
				}
				if g, w := globalJSON(got), globalJSON(want); g != w {
					t.Errorf("%s: replication role statements\ngot  %s\nwant %s", create.Region, g, w)
				}

				// What the custom resource's provider may do for this
				// bucket: the policy it depends on.
				var crStatements []globalStatement
				for _, dep := range globalList(cr["DependsOn"]) {
					if pol, ok := policies[fmt.Sprint(dep)]; ok {
						crStatements = append(crStatements, fx.statements(t, globalProps(pol)["PolicyDocument"])...)
					}
				}
				wantCR := []globalStatement{
					{"Allow", []string{"s3:GetReplicationConfiguration", "s3:PutReplicationConfiguration"}, []string{fx.sinkArn(srcRS)}},
					{"Allow", []string{"iam:PassRole"}, []string{roleRef}},
				}
				if g, w := globalJSON(crStatements), globalJSON(wantCR); g != w {
					t.Errorf("%s: custom resource policy\ngot  %s\nwant %s", create.Region, g, w)
				}
			}
			if len(seen) != len(fx.regions) {
				t.Errorf("replication configured from regions %v, want all of %v", seen, fx.cfg.Regions)
			}
		})
	}
}

// TestGlobalNoWildcardActions: no IAM statement of the global stack allows
// "*" actions (a service wildcard like "s3:*" included).
func TestGlobalNoWildcardActions(t *testing.T) {
	for _, fx := range globalSynth(t) {
		t.Run(fx.name, func(t *testing.T) {
			var docs []any
			for _, r := range fx.resources("AWS::IAM::Policy") {
				docs = append(docs, globalProps(r)["PolicyDocument"])
			}
			for _, r := range fx.resources("AWS::IAM::Role") {
				for _, p := range globalList(globalProps(r)["Policies"]) {
					docs = append(docs, globalMap(p)["PolicyDocument"])
				}
				for _, arn := range globalList(globalProps(r)["ManagedPolicyArns"]) {
					if strings.Contains(globalJSON(arn), "FullAccess") {
						t.Errorf("managed policy %s, want no FullAccess policy", globalJSON(arn))
					}
				}
			}
			if len(docs) < 4 {
				t.Fatalf("got %d policy documents, want at least 4 (2 replication roles, 2 custom resource policies)", len(docs))
			}
			for _, d := range docs {
				for _, s := range globalList(globalMap(d)["Statement"]) {
					for _, a := range globalList(globalMap(s)["Action"]) {
						if strings.Contains(fmt.Sprint(a), "*") {
							t.Errorf("statement allows action %v, want no wildcard actions: %s", a, globalJSON(s))
						}
					}
				}
			}
		})
	}
}

var globalAppliesTo = regexp.MustCompile(`^\[[^\]]*\] `)

// TestGlobalNag: cdk-nag AwsSolutions leaves no unsuppressed error on the
// global stack, and each suppression carries a reason.
func TestGlobalNag(t *testing.T) {
	checked := 0
	for _, fx := range globalSynth(t) {
		if fx.nag == nil {
			continue
		}
		checked++
		t.Run(fx.name, func(t *testing.T) { globalCheckNag(t, fx) })
	}
	if checked < 2 {
		t.Errorf("fixtures checked by cdk-nag: got %d, want the two- and three-region ones", checked)
	}
}

func globalCheckNag(t *testing.T, fx *globalFixture) {
	if fx.cfg.Domain == nil || len(fx.nag) < 2 {
		t.Fatalf("the %s fixture has %d report lines, want cdk-nag's report on the full shape", fx.name, len(fx.nag))
	}
	col := map[string]int{}
	for i, h := range fx.nag[0] {
		col[h] = i
	}
	for _, h := range []string{"Rule ID", "Resource ID", "Compliance", "Exception Reason", "Rule Level"} {
		if _, ok := col[h]; !ok {
			t.Fatalf("report header %v has no %q column", fx.nag[0], h)
		}
	}
	suppressed := 0
	for _, row := range fx.nag[1:] {
		rule, res, level := row[col["Rule ID"]], row[col["Resource ID"]], row[col["Rule Level"]]
		switch row[col["Compliance"]] {
		case "Non-Compliant":
			if level == "Error" {
				t.Errorf("unsuppressed %s on %s", rule, res)
			} else {
				t.Logf("%s %s on %s", level, rule, res)
			}
		case "Suppressed":
			suppressed++
			// The report prefixes the reason with the finding it applies to.
			if reason := globalAppliesTo.ReplaceAllString(row[col["Exception Reason"]], ""); len(reason) < 20 {
				t.Errorf("%s on %s suppressed with reason %q, want a real reason", rule, res, reason)
			}
		}
	}
	// The findings CDK's own constructs cause, suppressed in global.go.
	if want := 1 + len(fx.regions); suppressed < want {
		t.Errorf("got %d suppressed findings, want at least %d (IAM4 on the custom resource provider, IAM5 on each replication role)", suppressed, want)
	}
}

// TestGlobalAnnotations: synth reports no error on the global stack.
func TestGlobalAnnotations(t *testing.T) {
	for _, fx := range globalSynth(t) {
		t.Run(fx.name, func(t *testing.T) {
			for _, m := range fx.messages {
				if strings.HasPrefix(m, string(cxapi.SynthesisMessageLevel_ERROR)) {
					t.Errorf("synth error: %s", m)
				} else {
					t.Logf("%s", m)
				}
			}
		})
	}
}

func TestGlobalOutputs(t *testing.T) {
	for _, fx := range globalSynth(t) {
		t.Run(fx.name, func(t *testing.T) {
			var accID string
			for id := range fx.resources("AWS::GlobalAccelerator::Accelerator") {
				accID = id
			}
			outs := globalMap(fx.globalTemplate()["Outputs"])
			want := map[string]string{
				"AcceleratorDnsName": globalJSON(map[string]any{"Fn::GetAtt": []any{accID, "DnsName"}}),
				"AcceleratorIp1":     globalJSON(map[string]any{"Fn::Select": []any{0, map[string]any{"Fn::GetAtt": []any{accID, "Ipv4Addresses"}}}}),
				"AcceleratorIp2":     globalJSON(map[string]any{"Fn::Select": []any{1, map[string]any{"Fn::GetAtt": []any{accID, "Ipv4Addresses"}}}}),
				"ProducerUrl":        globalJSON(map[string]any{"Fn::Join": []any{"", []any{"http://", map[string]any{"Fn::GetAtt": []any{accID, "DnsName"}}, "/v1/records"}}}),
			}
			if d := fx.cfg.Domain; d != nil {
				want["ProducerUrl"] = globalJSON("https://" + d.RecordName + "/v1/records")
				want["FailoverUrl"] = globalJSON("https://failover." + d.RecordName + "/v1/records")
			}
			for k, w := range want {
				if g := globalJSON(globalMap(outs[k])["Value"]); g != w {
					t.Errorf("output %s = %s, want %s", k, g, w)
				}
			}
		})
	}
}

// TestGlobalBadProps: invalid props fail at construction with a message.
func TestGlobalBadProps(t *testing.T) {
	fx := globalSynth(t)[0]
	rs := fx.regions
	tests := []struct {
		name  string
		props *GlobalStackProps
		want  string
	}{
		{"nil props", nil, "props and props.Config are required"},
		{"no config", &GlobalStackProps{Regions: rs}, "props and props.Config are required"},
		{"one region", &GlobalStackProps{Config: fx.cfg, Regions: rs[:1]}, "want 2 regional stacks for regions [us-east-1 us-west-2], got 1"},
		{"swapped regions", &GlobalStackProps{Config: fx.cfg, Regions: []*RegionalStack{rs[1], rs[0]}}, `is in region "us-west-2", want "us-east-1"`},
		{"nil regional stack", &GlobalStackProps{Config: fx.cfg, Regions: []*RegionalStack{rs[0], nil}}, "regional stack 1 is incomplete"},
		{"wrong stack region", &GlobalStackProps{Config: fx.cfg, Regions: rs, StackProps: awscdk.StackProps{Env: &awscdk.Environment{Region: jsii.String("eu-west-1")}}}, `region "eu-west-1": Global Accelerator resources can only be created in us-west-2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			func() {
				defer func() { got = fmt.Sprint(recover()) }()
				// Validation happens before anything is added to the scope.
				NewGlobalStack(awscdk.NewApp(nil), "bad", tt.props)
			}()
			if !strings.Contains(got, tt.want) {
				t.Errorf("panic %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

// TestGlobalTerminationProtection: AddStacks protects all three stacks by
// default (losing the global stack loses the accelerator's static IPs), and
// terminationProtection false turns it off for all three. The manifest says
// so, not the template.
func TestGlobalTerminationProtection(t *testing.T) {
	for _, fx := range globalSynth(t) {
		t.Run(fx.name, func(t *testing.T) {
			want := fx.cfg.TerminationProtected()
			if len(fx.protected) != len(fx.regions)+1 {
				t.Fatalf("stacks: got %v, want %d", fx.protected, len(fx.regions)+1)
			}
			for name, got := range fx.protected {
				if got != want {
					t.Errorf("%s terminationProtection: got %v, want %v", name, got, want)
				}
			}
		})
	}
	// StackProps win over the configuration.
	app := flaggedApp()
	cfg := DefaultConfig()
	regions := NewDeployment(app, &DeploymentProps{Config: cfg}).Regional
	g := NewGlobalStack(app, "Unprotected", &GlobalStackProps{
		StackProps: awscdk.StackProps{TerminationProtection: jsii.Bool(false)},
		Config:     cfg,
		Regions:    regions,
	})
	if tp := g.TerminationProtection(); tp == nil || *tp {
		t.Errorf("GlobalStack with StackProps.TerminationProtection false: got %v, want false", tp)
	}
}

// TestGlobalStrongReferences: whatever the app's default reference strength
// (the fixtures use cdk.json's flags, which say "weak"), the global stack
// reads the regional stacks' ALBs and sink buckets through strong
// references: an export reader fed by each region's export writer (a region
// other than GlobalRegion) or CloudFormation exports (GlobalRegion itself),
// never Fn::GetStackOutput, which would let a regional deploy replace the
// ALB or the sink under the accelerator, the DNS records and the
// replication.
func TestGlobalStrongReferences(t *testing.T) {
	for _, fx := range globalSynth(t) {
		t.Run(fx.name, func(t *testing.T) {
			if b, _ := json.Marshal(fx.globalTemplate()); strings.Contains(string(b), "Fn::GetStackOutput") {
				t.Errorf("global template: got Fn::GetStackOutput, want strong references only")
			}
			readers := fx.resources("Custom::CrossRegionExportReader")
			if len(readers) != 1 {
				t.Errorf("export readers: got %d, want 1", len(readers))
			}
			for _, rs := range fx.regions {
				tmpl := fx.templates[*rs.StackName()]
				alb := globalLogicalID(rs.Stack, rs.LoadBalancer)
				sink := globalLogicalID(rs.Stack, rs.Pipeline.SinkBucket)
				var published []string
				if *rs.Region() == GlobalRegion {
					for _, o := range globalMap(tmpl["Outputs"]) {
						if globalMap(globalMap(o)["Export"])["Name"] != nil {
							published = append(published, globalJSON(globalMap(o)["Value"]))
						}
					}
				} else {
					for _, r := range globalMap(tmpl["Resources"]) {
						if globalMap(r)["Type"] != "Custom::CrossRegionExportWriter" {
							continue
						}
						wp := globalMap(globalProps(globalMap(r))["WriterProps"])
						if wp["region"] != GlobalRegion {
							t.Errorf("%s: export writer writes to %v, want %s", *rs.Region(), wp["region"], GlobalRegion)
						}
						for _, v := range globalMap(wp["exports"]) {
							published = append(published, globalJSON(v))
						}
					}
				}
				wants := []any{
					map[string]any{"Ref": alb}, map[string]any{"Fn::GetAtt": []any{alb, "DNSName"}},
					map[string]any{"Ref": sink}, map[string]any{"Fn::GetAtt": []any{sink, "Arn"}},
				}
				if fx.cfg.Domain != nil { // the DNS records alias the ALB
					wants = append(wants, map[string]any{"Fn::GetAtt": []any{alb, "CanonicalHostedZoneID"}})
				}
				for _, want := range wants {
					if !slices.Contains(published, globalJSON(want)) {
						t.Errorf("%s: strong exports %v, want %s among them", *rs.Region(), published, globalJSON(want))
					}
				}
			}
		})
	}
}

// TestGlobalPlaceholderDomainRule: the global stack, which writes records in
// the hosted zone, carries the placeholder rule too (see
// TestRegionalPlaceholderDomainRule).
func TestGlobalPlaceholderDomainRule(t *testing.T) {
	for _, fx := range globalSynth(t) {
		t.Run(fx.name, func(t *testing.T) {
			rule := globalMap(globalMap(fx.globalTemplate()["Rules"])[PlaceholderDomainRuleID])
			if fx.cfg.Domain == nil {
				if rule != nil {
					t.Errorf("rule without a domain: got %s, want none", globalJSON(rule))
				}
				return
			}
			checkPlaceholderRule(t, rule)
		})
	}
}
