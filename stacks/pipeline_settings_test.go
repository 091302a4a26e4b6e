package stacks

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	elbv2 "github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// pipelineFunctions are the four functions of s's pipeline by name.
func (s *pipelineStack) functions() map[string]constructs.IConstruct {
	return map[string]constructs.IConstruct{
		"ingest": s.p.IngestFunction, "health": s.p.HealthFunction,
		"processor": s.p.ProcessorFunction, "replay": s.p.ReplayFunction,
	}
}

// TestPipelineNoFlags: under CDK's default feature flags (an App with no
// context) the pipeline's buckets and bucket policies are exactly what they
// are under cdk.json's flags: the logs bucket has ACLs disabled
// (BucketOwnerEnforced, no AccessControl) and takes server access logs
// under its bucket policy, never the LogDeliveryWrite ACL CDK would set
// without the serverAccessLogsUseBucketPolicy flag. The same resources, of
// the same types, come out either way.
func TestPipelineNoFlags(t *testing.T) {
	f := pipelineStacks(t)
	flagged, bare := f.def, f.noflags
	ids := func(s *pipelineStack) []string {
		var out []string
		for id, r := range s.res {
			out = append(out, id+" "+fmt.Sprint(r["Type"]))
		}
		slices.Sort(out)
		return out
	}
	if got, want := ids(bare), ids(flagged); !slices.Equal(got, want) {
		t.Errorf("resources under default flags:\ngot  %v\nwant %v (as under cdk.json's flags)", got, want)
	}
	for _, typ := range []string{"AWS::S3::Bucket", "AWS::S3::BucketPolicy"} {
		for _, id := range flagged.ofType(typ) {
			g, _ := json.Marshal(bare.res[id])
			w, _ := json.Marshal(flagged.res[id])
			if string(g) != string(w) {
				t.Errorf("%s %s under default flags:\ngot  %s\nwant %s", typ, id, g, w)
			}
		}
	}
	logs := bare.logicalID(bare.p.LogsBucket)
	p := bare.res[logs]["Properties"].(map[string]any)
	if p["AccessControl"] != nil {
		t.Errorf("logs bucket AccessControl: got %v, want none (ACLs disabled)", p["AccessControl"])
	}
	want := map[string]any{"Rules": []any{map[string]any{"ObjectOwnership": "BucketOwnerEnforced"}}}
	if got := p["OwnershipControls"]; !reflect.DeepEqual(got, want) {
		t.Errorf("logs bucket OwnershipControls: got %v, want %v", got, want)
	}
	for _, prefix := range []string{"sink/", "spill/"} {
		pipelineHas(t, "log delivery by bucket policy under "+prefix, func() {
			bare.tpl.HasResourceProperties(jsii.String("AWS::S3::BucketPolicy"), assertions.Match_ObjectLike(&map[string]any{
				"Bucket": map[string]any{"Ref": logs},
				"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{
					"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
						"Action": "s3:PutObject", "Effect": "Allow",
						"Principal": map[string]any{"Service": "logging.s3.amazonaws.com"},
						"Resource":  map[string]any{"Fn::Join": []any{"", []any{pipelineGetAtt(logs, "Arn"), "/" + prefix + "*"}}},
					})}),
				}),
			}))
		})
	}
}

// TestPipelineRemovalPolicy: RETAIN (the default) keeps the stream, its
// key, the buckets and the log groups; DESTROY deletes them, empties the
// buckets first (CDK's auto-delete-objects custom resource, one per
// bucket) and schedules the key's deletion after 7 days.
func TestPipelineRemovalPolicy(t *testing.T) {
	f := pipelineStacks(t)
	for _, tt := range []struct {
		name       string
		s          *pipelineStack
		policy     string // DeletionPolicy and UpdateReplacePolicy
		autoDelete int
	}{
		{"retain", f.def, "Retain", 0},
		{"destroy", f.dev, "Delete", 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.s
			var kept []string
			for _, typ := range []string{"AWS::Kinesis::Stream", "AWS::KMS::Key", "AWS::S3::Bucket", "AWS::Logs::LogGroup"} {
				kept = append(kept, s.ofType(typ)...)
			}
			if len(kept) != 1+1+3+4 {
				t.Errorf("stream, key, buckets, log groups: got %v, want 9", kept)
			}
			for _, id := range kept {
				r := s.res[id]
				got := fmt.Sprint(r["DeletionPolicy"])
				if r["DeletionPolicy"] == nil {
					got = "Delete" // CloudFormation's default
				}
				if got != tt.policy {
					t.Errorf("%s (%s) DeletionPolicy: got %s, want %s", id, r["Type"], got, tt.policy)
				}
			}
			auto := s.ofType("Custom::S3AutoDeleteObjects")
			if len(auto) != tt.autoDelete {
				t.Errorf("auto-delete-objects resources: got %v, want %d", auto, tt.autoDelete)
			}
			for _, id := range auto {
				bucket := pipelineDig(s.res[id], "Properties", "BucketName")
				if !slices.ContainsFunc(s.ofType("AWS::S3::Bucket"), func(b string) bool { return reflect.DeepEqual(bucket, map[string]any{"Ref": b}) }) {
					t.Errorf("auto delete %s empties %v, want one of the pipeline's buckets", id, bucket)
				}
			}
			key := s.ofType("AWS::KMS::Key")[0]
			days := pipelineDig(s.res[key], "Properties", "PendingWindowInDays")
			if tt.policy == "Delete" && days != 7.0 || tt.policy == "Retain" && days != nil {
				t.Errorf("key PendingWindowInDays: got %v, want 7 when destroyed, unset when retained", days)
			}
		})
	}
}

// TestPipelineFunctionSettings: memory, reserved concurrency and tracing per
// function; ACTIVE tracing grants the X-Ray writes (and nothing else on
// "*").
func TestPipelineFunctionSettings(t *testing.T) {
	s := pipelineStacks(t).dev
	want := map[string]struct {
		memory, reserved any
		tracing          any
	}{
		"ingest":    {2048.0, float64(DefaultIngestReservedConcurrency), map[string]any{"Mode": "Active"}},
		"health":    {512.0, float64(DefaultHealthReservedConcurrency), nil},
		"processor": {1024.0, 10.0, map[string]any{"Mode": "Active"}},
		"replay":    {256.0, 25.0, nil},
	}
	for name, fn := range s.functions() {
		p := s.props(t, fn)
		w := want[name]
		if p["MemorySize"] != w.memory || p["ReservedConcurrentExecutions"] != w.reserved || !reflect.DeepEqual(p["TracingConfig"], w.tracing) {
			t.Errorf("%s: got memory %v, reserved %v, tracing %v; want %v, %v, %v", name, p["MemorySize"], p["ReservedConcurrentExecutions"], p["TracingConfig"], w.memory, w.reserved, w.tracing)
		}
		got := s.actionsOf(t, fn)
		_, xray := got["xray:PutTraceSegments"]
		if traced := w.tracing != nil; xray != traced {
			t.Errorf("%s xray:PutTraceSegments: got %v, want %v", name, xray, traced)
		}
		for a, res := range got {
			if slices.Contains(res, "*") && !strings.HasPrefix(a, "xray:") {
				t.Errorf("%s: %s on \"*\", want only the X-Ray writes there", name, a)
			}
		}
	}
}

// TestPipelineExistingResources: supplied resources are used as they are:
// the functions and the mapping use the team's stream and its key, the
// processor writes to the team's sink, ingest spills to the team's spill
// bucket, which gets the notification; the construct creates no stream, key
// or bucket of its own (and no logs bucket, having nothing to log).
func TestPipelineExistingResources(t *testing.T) {
	f := pipelineStacks(t)
	s := f.existing
	for _, typ := range []string{"AWS::Kinesis::Stream"} {
		if got := s.ofType(typ); len(got) != 0 {
			t.Errorf("%s: got %v, want none", typ, got)
		}
	}
	if got, want := s.ofType("AWS::KMS::Key"), []string{s.logicalID(f.extStreamKey)}; !slices.Equal(got, want) {
		t.Errorf("KMS keys: got %v, want only the team's %v", got, want)
	}
	if got, want := s.ofType("AWS::S3::Bucket"), []string{s.logicalID(f.extSink)}; !slices.Equal(got, want) {
		t.Errorf("buckets: got %v, want only the team's sink %v", got, want)
	}
	if s.p.LogsBucket != nil {
		t.Errorf("LogsBucket: got %v, want nil", s.p.LogsBucket)
	}
	env := map[string]any{}
	for name, fn := range s.functions() {
		env[name] = pipelineDig(s.props(t, fn), "Environment", "Variables")
	}
	if got := pipelineDig(env["ingest"], "STREAM_NAME"); got != "team-stream" {
		t.Errorf("ingest STREAM_NAME: got %v, want team-stream", got)
	}
	if got := pipelineDig(env["ingest"], "SPILL_BUCKET"); got != "team-spill" {
		t.Errorf("ingest SPILL_BUCKET: got %v, want team-spill", got)
	}
	if got, want := pipelineDig(env["processor"], "SINK_BUCKET"), map[string]any{"Ref": s.logicalID(f.extSink)}; !reflect.DeepEqual(got, want) {
		t.Errorf("processor SINK_BUCKET: got %v, want %v", got, want)
	}
	esm := s.eventSourceMapping(t, s.logicalID(s.p.ProcessorFunction))
	if got := esm["EventSourceArn"]; got != pipelineExtStreamArn {
		t.Errorf("mapping EventSourceArn: got %v, want %s", got, pipelineExtStreamArn)
	}
	keyArn := fmt.Sprintf(`{"Fn::GetAtt":["%s","Arn"]}`, s.logicalID(f.extStreamKey))
	for _, name := range []string{"ingest", "health", "replay"} {
		got := s.actionsOf(t, s.functions()[name])
		if !slices.Contains(got["kinesis:PutRecords"], pipelineExtStreamArn) || !slices.Contains(got["kms:GenerateDataKey*"], keyArn) {
			t.Errorf("%s: got PutRecords on %v, GenerateDataKey* on %v, want the team's stream and key", name, got["kinesis:PutRecords"], got["kms:GenerateDataKey*"])
		}
	}
	notes := s.ofType("Custom::S3BucketNotifications")
	if len(notes) != 1 {
		t.Fatalf("bucket notifications: got %v, want 1", notes)
	}
	p := s.res[notes[0]]["Properties"].(map[string]any)
	if p["BucketName"] != "team-spill" || p["Managed"] != false {
		t.Errorf("notification: got bucket %v, managed %v, want team-spill, false (added to the bucket's own notifications)", p["BucketName"], p["Managed"])
	}
}

// TestPipelinePackRecords: ingest and replay pack unless PackRecords is
// false (the Dev variant, which has a consumer of its own); the processor
// and health functions get no such setting (the processor reads both forms).
func TestPipelinePackRecords(t *testing.T) {
	f := pipelineStacks(t)
	for _, tt := range []struct {
		s    *pipelineStack
		want string
	}{{f.def, "true"}, {f.prov, "true"}, {f.existing, "true"}, {f.dev, "false"}} {
		for name, fn := range tt.s.functions() {
			got := pipelineDig(tt.s.props(t, fn), "Environment", "Variables", "PACK_RECORDS")
			want := any(tt.want)
			if name == "processor" || name == "health" {
				want = nil
			}
			if got != want {
				t.Errorf("%s %s PACK_RECORDS: got %v, want %v", tt.s.p.name, name, got, want)
			}
		}
	}
}

// TestPipelineBucketPropsMerge: props laid over the defaults keep the
// defaults they do not set: the provisioned variant names its sink and
// keeps versioning, encryption, TLS and the lifecycle rule.
func TestPipelineBucketPropsMerge(t *testing.T) {
	s := pipelineStacks(t).prov
	p := s.props(t, s.p.SinkBucket)
	if p["BucketName"] != "orders-sink-test" {
		t.Errorf("BucketName: got %v, want orders-sink-test", p["BucketName"])
	}
	if got := pipelineDig(p, "VersioningConfiguration", "Status"); got != "Enabled" {
		t.Errorf("versioning: got %v, want Enabled", got)
	}
	if got := pipelineDig(p, "OwnershipControls"); !reflect.DeepEqual(got, map[string]any{"Rules": []any{map[string]any{"ObjectOwnership": "BucketOwnerEnforced"}}}) {
		t.Errorf("OwnershipControls: got %v, want BucketOwnerEnforced", got)
	}
	rules, _ := pipelineDig(p, "LifecycleConfiguration", "Rules").([]any)
	if len(rules) != 1 || pipelineDig(rules[0], "Id") != "CleanUpOldVersions" {
		t.Errorf("lifecycle: got %v, want CleanUpOldVersions", rules)
	}
}

// TestPipelineStreamConsumer: AddStreamConsumer registers an enhanced
// fan-out consumer on the pipeline's stream; GrantReadStream and the
// consumer's GrantRead give a reader the stream's read actions and kms:Decrypt
// on its key, and nothing to write.
func TestPipelineStreamConsumer(t *testing.T) {
	f := pipelineStacks(t)
	s := f.dev
	consumers := s.ofType("AWS::Kinesis::StreamConsumer")
	if len(consumers) != 1 {
		t.Fatalf("stream consumers: got %v, want 1", consumers)
	}
	p := s.res[consumers[0]]["Properties"].(map[string]any)
	if p["ConsumerName"] != "Analytics" || !reflect.DeepEqual(p["StreamARN"], pipelineGetAtt(s.logicalID(s.p.Stream), "Arn")) {
		t.Errorf("consumer: got %v on %v, want Analytics on the pipeline's stream", p["ConsumerName"], p["StreamARN"])
	}
	var reader map[string]any
	for _, id := range s.ofType("AWS::IAM::Policy") {
		if strings.HasPrefix(id, "ReaderDefaultPolicy") {
			reader = s.res[id]
		}
	}
	doc, _ := json.Marshal(pipelineDig(reader, "Properties", "PolicyDocument"))
	for _, want := range []string{"kinesis:GetRecords", "kinesis:SubscribeToShard", "kms:Decrypt", "s3:GetObject*"} {
		if !strings.Contains(string(doc), `"`+want+`"`) {
			t.Errorf("reader policy: got %s, want %s", doc, want)
		}
	}
	for _, not := range []string{"kinesis:PutRecord", "s3:PutObject", "kms:Encrypt"} {
		if strings.Contains(string(doc), `"`+not) {
			t.Errorf("reader policy: got %s in %s, want reads only", not, doc)
		}
	}
	var got any
	func() {
		defer func() { got = recover() }()
		s.p.AddStreamConsumer("Bad", "no spaces allowed")
	}()
	if msg, _ := got.(string); !strings.Contains(msg, `name "no spaces allowed"`) {
		t.Errorf("bad consumer name: got panic %v, want one naming it", got)
	}
}

// TestPipelineNames: one app refuses two pipelines of one Name in one
// region (and in a stack without a region, which may be deployed to any),
// and takes one Name in different regions.
func TestPipelineNames(t *testing.T) {
	stack := func(app awscdk.App, id, region string) awscdk.Stack {
		var env *awscdk.Environment
		if region != "" {
			env = &awscdk.Environment{Region: jsii.String(region)}
		}
		return awscdk.NewStack(app, jsii.String(id), &awscdk.StackProps{Env: env})
	}
	build := func(s awscdk.Stack, name string) (msg string) {
		defer func() {
			if r := recover(); r != nil {
				msg = fmt.Sprint(r)
			}
		}()
		NewPipeline(s, "Pipeline", &PipelineProps{Name: name, ApiKeys: pipelineSecret(s)})
		return ""
	}
	for _, tt := range []struct {
		name          string
		first, second string // regions ("" for none)
		secondName    string
		want          string
	}{
		{"one name, one region", "us-east-1", "us-east-1", "orders", `Name = "orders": this app already has a pipeline of that name in region us-east-1`},
		{"one name, two regions", "us-east-1", "eu-west-1", "orders", ""},
		{"two names, one region", "us-east-1", "us-east-1", "billing", ""},
		{"one name, a stack without a region", "us-east-1", "", "orders", "in a stack without a region"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			app := awscdk.NewApp(nil)
			if msg := build(stack(app, "A", tt.first), "orders"); msg != "" {
				t.Fatalf("first pipeline: %s", msg)
			}
			got := build(stack(app, "B", tt.second), tt.secondName)
			if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Errorf("second pipeline: got %q, want %q", got, tt.want)
			}
		})
	}
	// Another app is another namespace of names.
	if msg := build(stack(awscdk.NewApp(nil), "A", "us-east-1"), "orders"); msg != "" {
		t.Errorf("a pipeline in a new app: got %q, want none", msg)
	}
}

// TestPipelineAttachToListener: the failover wiring comes with the pipeline:
// two lambda target groups with health checks enabled (the deep check on
// DeepHealthPath with the exported timing), the listener rules at the
// given priorities, and clear refusals for a second attachment.
func TestPipelineAttachToListener(t *testing.T) {
	app := flaggedApp()
	stack := awscdk.NewStack(app, jsii.String("Attach"), &awscdk.StackProps{Env: &awscdk.Environment{Region: jsii.String("eu-west-1")}})
	p := NewPipeline(stack, "Pipeline", &PipelineProps{Name: "attach", ApiKeys: pipelineSecret(stack)})
	vpc := awsec2.NewVpc(stack, jsii.String("Vpc"), &awsec2.VpcProps{NatGateways: jsii.Number(0),
		SubnetConfiguration: &[]*awsec2.SubnetConfiguration{{Name: jsii.String("Public"), SubnetType: awsec2.SubnetType_PUBLIC}}})
	alb := elbv2.NewApplicationLoadBalancer(stack, jsii.String("Alb"), &elbv2.ApplicationLoadBalancerProps{Vpc: vpc, InternetFacing: jsii.Bool(true)})
	listener := func(id string, port float64) elbv2.ApplicationListener {
		return alb.AddListener(jsii.String(id), &elbv2.BaseApplicationListenerProps{
			Port: jsii.Number(port), Protocol: elbv2.ApplicationProtocol_HTTP,
			DefaultAction: elbv2.ListenerAction_FixedResponse(jsii.Number(404), nil),
		})
	}
	main := listener("Main", 80)
	tgs := p.AttachToListener(main, &ListenerAttachmentProps{IngestPriority: jsii.Number(100), HealthPriority: jsii.Number(5)})
	if got := *tgs.Health.Node().Path(); got != "Attach/Pipeline/HealthTargetGroup" {
		t.Errorf("health target group path: got %s, want it in the Pipeline", got)
	}

	attach := func(l elbv2.IApplicationListener, props *ListenerAttachmentProps) (msg string) {
		defer func() {
			if r := recover(); r != nil {
				msg = fmt.Sprint(r)
			}
		}()
		p.AttachToListener(l, props)
		return ""
	}
	for _, tt := range []struct {
		name  string
		l     elbv2.IApplicationListener
		props *ListenerAttachmentProps
		want  string
	}{
		{"same scope again", listener("Second", 8080), nil, "Attach/Pipeline already holds this pipeline's target groups"},
		{"same listener again", main, &ListenerAttachmentProps{Scope: constructs.NewConstruct(stack, jsii.String("S1"))}, "already has a rule IngestRule"},
		{"equal priorities", listener("Third", 8081), &ListenerAttachmentProps{Scope: constructs.NewConstruct(stack, jsii.String("S2")), IngestPriority: jsii.Number(7), HealthPriority: jsii.Number(7)}, "IngestPriority and HealthPriority are both 7"},
		{"priority 0", listener("Fourth", 8082), &ListenerAttachmentProps{Scope: constructs.NewConstruct(stack, jsii.String("S3")), HealthPriority: jsii.Number(0)}, "HealthPriority = 0: want a whole number from 1 to 50000"},
		{"nil listener", nil, nil, "listener is nil"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := attach(tt.l, tt.props); !strings.Contains(got, tt.want) {
				t.Errorf("got panic %q, want %q", got, tt.want)
			}
		})
	}

	tpl := cfnTemplateOf(t, stack)
	byPath := lambdaTargetGroups(t, tpl)
	want := map[string]map[string]any{
		DeepHealthPath:   {"HealthCheckEnabled": true, "HealthCheckIntervalSeconds": 5.0, "HealthCheckTimeoutSeconds": 4.0, "HealthyThresholdCount": 2.0, "UnhealthyThresholdCount": 2.0},
		IngestHealthPath: {"HealthCheckEnabled": true, "HealthCheckIntervalSeconds": 30.0, "HealthCheckTimeoutSeconds": 5.0, "HealthyThresholdCount": 2.0, "UnhealthyThresholdCount": 2.0},
	}
	for path, w := range want {
		for k, v := range w {
			if got := byPath[path][k]; got != v {
				t.Errorf("target group checking %s: %s got %v, want %v", path, k, got, v)
			}
		}
	}
	prio := map[string]float64{}
	for _, r := range tpl.props("AWS::ElasticLoadBalancingV2::ListenerRule") {
		paths := fmt.Sprint(pipelineDig(r["Conditions"].([]any)[0], "PathPatternConfig", "Values"))
		prio[paths] = r["Priority"].(float64)
	}
	if got, want := prio, map[string]float64{"[/v1/records]": 100, "[/health /health/*]": 5}; !reflect.DeepEqual(got, want) {
		t.Errorf("rules by paths: got %v, want %v", got, want)
	}
}

// cfnTemplateOf synthesizes stack's app and returns stack's template.
func cfnTemplateOf(t *testing.T, stack awscdk.Stack) cfnTemplate {
	t.Helper()
	b, err := json.Marshal(assertions.Template_FromStack(stack, nil).ToJSON())
	if err != nil {
		t.Fatal(err)
	}
	var tpl cfnTemplate
	if err := json.Unmarshal(b, &tpl); err != nil {
		t.Fatal(err)
	}
	return tpl
}

// TestPipelineProcessorTimeout: the processor's timeout is settable, the
// others' are not (TestPipelineBadProps); the provisioned variant's 30 s
// reaches the function.
func TestPipelineProcessorTimeout(t *testing.T) {
	s := pipelineStacks(t).prov
	if got := s.props(t, s.p.ProcessorFunction)["Timeout"]; got != 30.0 {
		t.Errorf("processor Timeout: got %v, want 30", got)
	}
	if got := s.props(t, s.p.ProcessorFunction)["MemorySize"]; got != 512.0 {
		t.Errorf("processor MemorySize: got %v, want 512", got)
	}
}

// TestMergeProps: set fields win, maps merge by key, pointers to structs
// merge field by field, and neither input changes.
func TestMergeProps(t *testing.T) {
	base := &PipelineProps{
		Name:                 "base",
		ProcessorEnvironment: map[string]string{"A": "1", "B": "2"},
		Processor:            &FunctionSettings{MemorySize: jsii.Number(512), Tracing: awslambda.Tracing_ACTIVE},
		SinkBucketProps:      &awss3.BucketProps{BucketName: jsii.String("base-sink")},
	}
	over := &PipelineProps{
		ProcessorEnvironment: map[string]string{"B": "3", "C": "4"},
		Processor:            &FunctionSettings{MemorySize: jsii.Number(2048)},
		SinkBucketProps:      &awss3.BucketProps{Versioned: jsii.Bool(true)},
		BatchSize:            jsii.Number(10),
	}
	got := mergeProps(base, over)
	if got.Name != "base" || *got.BatchSize != 10 {
		t.Errorf("Name, BatchSize: got %q, %v, want base, 10", got.Name, *got.BatchSize)
	}
	if want := map[string]string{"A": "1", "B": "3", "C": "4"}; !reflect.DeepEqual(got.ProcessorEnvironment, want) {
		t.Errorf("ProcessorEnvironment: got %v, want %v", got.ProcessorEnvironment, want)
	}
	if *got.Processor.MemorySize != 2048 || got.Processor.Tracing != awslambda.Tracing_ACTIVE {
		t.Errorf("Processor: got %v %v, want 2048 ACTIVE", *got.Processor.MemorySize, got.Processor.Tracing)
	}
	if *got.SinkBucketProps.BucketName != "base-sink" || !*got.SinkBucketProps.Versioned {
		t.Errorf("SinkBucketProps: got %+v, want the name and versioning", got.SinkBucketProps)
	}
	if *base.Processor.MemorySize != 512 || len(base.ProcessorEnvironment) != 2 || base.SinkBucketProps.Versioned != nil || base.BatchSize != nil {
		t.Errorf("base changed: %+v", base)
	}
	if got := mergeProps[PipelineProps](nil, nil); got == nil || got.Name != "" {
		t.Errorf("nil, nil: got %+v, want the zero props", got)
	}
}

// TestConstructFields: the fields of props that hold constructs, nested ones
// included; CDK values that are not constructs (durations) are not.
func TestConstructFields(t *testing.T) {
	stack := awscdk.NewStack(awscdk.NewApp(nil), jsii.String("S"), nil)
	bucket := awss3.Bucket_FromBucketName(stack, jsii.String("B"), jsii.String("team-bucket"))
	role := awsiam.NewRole(stack, jsii.String("Admin"), &awsiam.RoleProps{AssumedBy: awsiam.NewAccountPrincipal(jsii.String("111122223333"))})
	props := &PipelineProps{
		StreamKeyProps:        &awskms.KeyProps{Admins: &[]awsiam.IPrincipal{role}},
		ExistingSinkBucket:    bucket,
		SpillBucketProps:      &awss3.BucketProps{ServerAccessLogsBucket: bucket},
		MaxBatchingWindow:     awscdk.Duration_Seconds(jsii.Number(1)),
		Processor:             &FunctionSettings{Timeout: awscdk.Duration_Seconds(jsii.Number(1))},
		ReplayOutageTolerance: awscdk.Duration_Hours(jsii.Number(2)),
	}
	got := constructFields(props)
	slices.Sort(got)
	if want := []string{"ExistingSinkBucket", "SpillBucketProps.ServerAccessLogsBucket", "StreamKeyProps.Admins[0]"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := constructFields((*PipelineProps)(nil)); len(got) != 0 {
		t.Errorf("nil props: got %v, want none", got)
	}
}
