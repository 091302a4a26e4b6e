package stacks

//lint:file-ignore SA1019 assertions.Annotations and the cloud assembly return cxapi.SynthesisMessage; aws-cdk-go v2.276 ships no replacement type

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/twinstream/twinstream/lambdas/metrics"
)

// pipelineStack is one synthesized test stack holding one Pipeline.
type pipelineStack struct {
	stack    awscdk.Stack
	p        *Pipeline
	tpl      assertions.Template
	res      map[string]map[string]any // logical id -> resource
	messages []string                  // cdk-nag errors and warnings: "<level> <path>: <text>"
}

type pipelineFixture struct {
	def, prov, dev, existing *pipelineStack
	// noflags is the Default stack again, in an app without cdk.json's
	// feature flags (CDK's defaults).
	noflags *pipelineStack
	// provKey is the key supplied to the provisioned variant; keysKey
	// encrypts its API-key secret.
	provKey, keysKey awskms.Key
	// The existing variant's supplied resources.
	extStreamKey awskms.Key
	extSink      awss3.Bucket
	// The dev variant's stream consumer.
	consumer awskinesis.IStreamConsumer
}

var (
	pipelineOnce sync.Once
	pipelineFix  *pipelineFixture
)

// pipelineProvSecretArn is the provisioned variant's API-key secret, imported
// by its complete ARN.
const pipelineProvSecretArn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prov/api-keys-AbCdEf"

// pipelineExtStreamArn is the existing variant's stream.
const pipelineExtStreamArn = "arn:aws:kinesis:eu-west-1:123456789012:stream/team-stream"

// pipelineStacks synthesizes, once per test binary, an app with four stacks:
// "Default" holds a Pipeline with only the required props, "Provisioned" one
// with most props set, "Dev" one with RemovalPolicy DESTROY, tracing, a
// stream consumer and packing off, "Existing" one built on supplied resources. cdk-nag's
// AwsSolutions checks run over all of them. A second app, without feature
// flags, holds the Default stack again.
func pipelineStacks(t *testing.T) *pipelineFixture {
	t.Helper()
	pipelineOnce.Do(func() {
		app := flaggedApp()
		awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
		f := &pipelineFixture{}

		ds, dp := pipelineDefaultStack(app)

		ps := awscdk.NewStack(app, jsii.String("Provisioned"), nil)
		f.provKey = awskms.NewKey(ps, jsii.String("TeamKey"), &awskms.KeyProps{EnableKeyRotation: jsii.Bool(true)})
		logs := awss3.NewBucket(ps, jsii.String("TeamLogs"), &awss3.BucketProps{
			BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
			Encryption:        awss3.BucketEncryption_S3_MANAGED,
			EnforceSSL:        jsii.Bool(true),
		})
		cdknag.NagSuppressions_AddResourceSuppressions(logs, &[]*cdknag.NagPackSuppression{{
			Id: jsii.String("AwsSolutions-S1"), Reason: jsii.String("test: the access log bucket itself"),
		}}, jsii.Bool(false))
		f.keysKey = awskms.NewKey(ps, jsii.String("KeysKey"), &awskms.KeyProps{EnableKeyRotation: jsii.Bool(true)})
		pp := NewPipeline(ps, "Pipeline", &PipelineProps{
			Name: "prov",
			ApiKeys: awssecretsmanager.Secret_FromSecretAttributes(ps, jsii.String("ApiKeys"), &awssecretsmanager.SecretAttributes{
				SecretCompleteArn: jsii.String(pipelineProvSecretArn),
				EncryptionKey:     f.keysKey,
			}),
			StreamProps: &awskinesis.StreamProps{
				StreamMode:      awskinesis.StreamMode_PROVISIONED,
				ShardCount:      jsii.Number(3),
				RetentionPeriod: awscdk.Duration_Hours(jsii.Number(48)),
			},
			ExistingStreamKey:     f.provKey,
			ProcessorHandler:      HandlerHealth, // any main package: it must become the processor's code
			ProcessorEnvironment:  map[string]string{"TEAM": "orders"},
			Processor:             &FunctionSettings{MemorySize: jsii.Number(512), Timeout: awscdk.Duration_Seconds(jsii.Number(30))},
			BatchSize:             jsii.Number(200),
			MaxBatchingWindow:     awscdk.Duration_Seconds(jsii.Number(0)),
			MaxRecordAge:          awscdk.Duration_Hours(jsii.Number(24)),
			RetryAttempts:         jsii.Number(50),
			ParallelizationFactor: jsii.Number(5),
			ReplayBatchSize:       jsii.Number(2),
			ReplayMaxConcurrency:  jsii.Number(3),
			ReplayOutageTolerance: awscdk.Duration_Hours(jsii.Number(24)),
			SinkBucketProps:       &awss3.BucketProps{BucketName: jsii.String("orders-sink-test")},
			ExistingLogsBucket:    logs,
			LogRetention:          awslogs.RetentionDays_ONE_WEEK,
			Ingest:                &FunctionSettings{ReservedConcurrency: jsii.Number(50)},
			Health:                &FunctionSettings{ReservedConcurrency: jsii.Number(-1)},
		})

		vs := awscdk.NewStack(app, jsii.String("Dev"), nil)
		vp := NewPipeline(vs, "Pipeline", &PipelineProps{
			Name:          "dev",
			ApiKeys:       awssecretsmanager.Secret_FromSecretNameV2(vs, jsii.String("ApiKeys"), jsii.String("dev/api-keys")),
			RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
			Ingest:        &FunctionSettings{MemorySize: jsii.Number(2048), Tracing: awslambda.Tracing_ACTIVE},
			Health:        &FunctionSettings{MemorySize: jsii.Number(512)},
			Processor:     &FunctionSettings{ReservedConcurrency: jsii.Number(10), Tracing: awslambda.Tracing_ACTIVE},
			Replay:        &FunctionSettings{ReservedConcurrency: jsii.Number(25), MemorySize: jsii.Number(256)},
			PackRecords:   jsii.Bool(false), // it has a consumer of its own (below)
		})
		f.consumer = vp.AddStreamConsumer("Analytics", "")
		reader := awsiam.NewRole(vs, jsii.String("Reader"), &awsiam.RoleProps{AssumedBy: awsiam.NewAccountPrincipal(jsii.String("111122223333"))})
		vp.GrantReadStream(reader)
		f.consumer.GrantRead(reader)
		vp.GrantReadSink(reader)
		cdknag.NagSuppressions_AddResourceSuppressions(reader, &[]*cdknag.NagPackSuppression{{
			Id: jsii.String("AwsSolutions-IAM5"), Reason: jsii.String("test: CDK's read grants use action families (kinesis:Get*-style and s3:GetObject*)"),
		}}, jsii.Bool(true))

		es := awscdk.NewStack(app, jsii.String("Existing"), &awscdk.StackProps{
			Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-west-1")},
		})
		f.extStreamKey = awskms.NewKey(es, jsii.String("TeamStreamKey"), &awskms.KeyProps{EnableKeyRotation: jsii.Bool(true)})
		f.extSink = awss3.NewBucket(es, jsii.String("TeamSink"), &awss3.BucketProps{
			BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
			Encryption:        awss3.BucketEncryption_S3_MANAGED,
			EnforceSSL:        jsii.Bool(true),
			Versioned:         jsii.Bool(true),
		})
		cdknag.NagSuppressions_AddResourceSuppressions(f.extSink, &[]*cdknag.NagPackSuppression{{
			Id: jsii.String("AwsSolutions-S1"), Reason: jsii.String("test: the team's own bucket, logged elsewhere"),
		}}, jsii.Bool(false))
		ep := NewPipeline(es, "Pipeline", &PipelineProps{
			Name:    "ext",
			ApiKeys: awssecretsmanager.Secret_FromSecretNameV2(es, jsii.String("ApiKeys"), jsii.String("ext/api-keys")),
			ExistingStream: awskinesis.Stream_FromStreamAttributes(es, jsii.String("TeamStream"), &awskinesis.StreamAttributes{
				StreamArn: jsii.String(pipelineExtStreamArn), EncryptionKey: f.extStreamKey,
			}),
			ExistingSinkBucket:  f.extSink,
			ExistingSpillBucket: awss3.Bucket_FromBucketName(es, jsii.String("TeamSpill"), jsii.String("team-spill")),
		})

		pipelineTeamDashboard(ps, pp)
		asm := app.Synth(nil)
		f.def, f.prov, f.dev, f.existing = pipelineLoad(asm, ds, dp), pipelineLoad(asm, ps, pp), pipelineLoad(asm, vs, vp), pipelineLoad(asm, es, ep)

		// CDK's default feature flags: an App with no context at all.
		bare := awscdk.NewApp(nil)
		awscdk.Aspects_Of(bare).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
		ns, np := pipelineDefaultStack(bare)
		f.noflags = pipelineLoad(bare.Synth(nil), ns, np)
		pipelineFix = f
	})
	if pipelineFix == nil {
		t.Fatal("pipeline test stacks did not synthesize (see the first failure)")
	}
	return pipelineFix
}

// pipelineDefaultStack adds the stack "Default" holding a Pipeline with only
// the required props, its API-key secret imported by name, and a dashboard
// of its widgets.
func pipelineDefaultStack(app awscdk.App) (awscdk.Stack, *Pipeline) {
	ds := awscdk.NewStack(app, jsii.String("Default"), nil)
	p := NewPipeline(ds, "Pipeline", &PipelineProps{
		Name:    "test",
		ApiKeys: awssecretsmanager.Secret_FromSecretNameV2(ds, jsii.String("ApiKeys"), jsii.String("test/api-keys")),
	})
	pipelineTeamDashboard(ds, p)
	return ds, p
}

// pipelineTeamDashboard is a team's own dashboard of the pipeline's widgets
// (TestPipelineWidgets reads it).
func pipelineTeamDashboard(s awscdk.Stack, p *Pipeline) {
	d := awscloudwatch.NewDashboard(s, jsii.String("TeamDashboard"), nil)
	for _, row := range p.Widgets() {
		d.AddWidgets(row...)
	}
}

// pipelineLoad reads stack s of the synthesized assembly.
func pipelineLoad(asm cxapi.CloudAssembly, s awscdk.Stack, p *Pipeline) *pipelineStack {
	r := &pipelineStack{stack: s, p: p, tpl: assertions.Template_FromStack(s, nil)}
	b, err := json.Marshal(r.tpl.ToJSON())
	if err != nil {
		panic(err)
	}
	var doc struct{ Resources map[string]map[string]any }
	if err := json.Unmarshal(b, &doc); err != nil {
		panic(err)
	}
	r.res = doc.Resources
	for _, m := range *asm.GetStackArtifact(s.ArtifactId()).Messages() {
		text := fmt.Sprint(m.Entry.Data)
		if string(m.Level) != "INFO" && strings.HasPrefix(text, "AwsSolutions-") {
			r.messages = append(r.messages, fmt.Sprintf("%s %s: %s", m.Level, *m.Id, strings.TrimSpace(text)))
		}
	}
	return r
}

// logicalID is the template's logical id of construct c (an L2 construct's
// default child, or an L1).
func (s *pipelineStack) logicalID(c constructs.IConstruct) string {
	if d := c.Node().DefaultChild(); d != nil {
		c = d
	}
	id, _ := s.stack.Resolve(s.stack.GetLogicalId(c.(awscdk.CfnElement))).(string)
	return id
}

// props returns the Properties of construct c's resource.
func (s *pipelineStack) props(t *testing.T, c constructs.IConstruct) map[string]any {
	t.Helper()
	id := s.logicalID(c)
	r, ok := s.res[id]
	if !ok {
		t.Fatalf("resource %s not in the template", id)
	}
	p, _ := r["Properties"].(map[string]any)
	return p
}

// ofType returns the logical ids of the resources of type typ, sorted.
func (s *pipelineStack) ofType(typ string) []string {
	var ids []string
	for id, r := range s.res {
		if r["Type"] == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// eventSourceMapping returns the properties of the mapping invoking function
// fnID.
func (s *pipelineStack) eventSourceMapping(t *testing.T, fnID string) map[string]any {
	t.Helper()
	for _, id := range s.ofType("AWS::Lambda::EventSourceMapping") {
		p := s.res[id]["Properties"].(map[string]any)
		if reflect.DeepEqual(p["FunctionName"], map[string]any{"Ref": fnID}) {
			return p
		}
	}
	t.Fatalf("no event source mapping for %s", fnID)
	return nil
}

// pipelineHas runs a jsii assertion, which throws (a Go panic) when it fails.
func pipelineHas(t *testing.T, what string, assert func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	assert()
}

// pipelineDig walks maps by keys.
func pipelineDig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func pipelineGetAtt(id, attr string) map[string]any {
	return map[string]any{"Fn::GetAtt": []any{id, attr}}
}

func TestPipelineStream(t *testing.T) {
	f := pipelineStacks(t)
	tests := []struct {
		name      string
		s         *pipelineStack
		mode      string
		shards    any
		hours     float64
		keyID     string
		keysOwned int // KMS keys in the stack
	}{
		{"default", f.def, "ON_DEMAND", nil, 168, f.def.logicalID(f.def.p.StreamKey), 1},
		{"provisioned", f.prov, "PROVISIONED", 3.0, 48, f.prov.logicalID(f.provKey), 2}, // and the API-key secret's
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.ofType("AWS::Kinesis::Stream"); len(got) != 1 {
				t.Fatalf("got streams %v, want 1", got)
			}
			p := tt.s.props(t, tt.s.p.Stream)
			if got := pipelineDig(p, "StreamModeDetails", "StreamMode"); got != tt.mode {
				t.Errorf("got StreamMode %v, want %v", got, tt.mode)
			}
			if got := p["ShardCount"]; got != tt.shards {
				t.Errorf("got ShardCount %v, want %v", got, tt.shards)
			}
			if got := p["RetentionPeriodHours"]; got != tt.hours {
				t.Errorf("got RetentionPeriodHours %v, want %v", got, tt.hours)
			}
			want := map[string]any{"EncryptionType": "KMS", "KeyId": pipelineGetAtt(tt.keyID, "Arn")}
			if got := p["StreamEncryption"]; !reflect.DeepEqual(got, want) {
				t.Errorf("got StreamEncryption %v, want %v", got, want)
			}
			if got := pipelineDig(tt.s.res[tt.keyID], "Properties", "EnableKeyRotation"); got != true {
				t.Errorf("got key EnableKeyRotation %v, want true", got)
			}
			if got := tt.s.ofType("AWS::KMS::Key"); len(got) != tt.keysOwned {
				t.Errorf("got KMS keys %v, want %d", got, tt.keysOwned)
			}
			if got := tt.s.res[tt.s.logicalID(tt.s.p.Stream)]["DeletionPolicy"]; got != "Retain" {
				t.Errorf("got stream DeletionPolicy %v, want Retain", got)
			}
		})
	}
}

func TestPipelineProcessorMapping(t *testing.T) {
	f := pipelineStacks(t)
	tests := []struct {
		name                                  string
		s                                     *pipelineStack
		batch, window, age, retries, parallel float64
	}{
		{"default", f.def, 1000, 5, 7 * 24 * 3600, 10000, 2},
		{"provisioned", f.prov, 200, 0, 24 * 3600, 50, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.s
			p := s.eventSourceMapping(t, s.logicalID(s.p.ProcessorFunction))
			want := map[string]any{
				"StartingPosition":               "TRIM_HORIZON",
				"BatchSize":                      tt.batch,
				"MaximumBatchingWindowInSeconds": tt.window,
				"BisectBatchOnFunctionError":     true,
				"FunctionResponseTypes":          []any{"ReportBatchItemFailures"},
				"MaximumRecordAgeInSeconds":      tt.age,
				"MaximumRetryAttempts":           tt.retries,
				"ParallelizationFactor":          tt.parallel,
				"EventSourceArn":                 pipelineGetAtt(s.logicalID(s.p.Stream), "Arn"),
				"DestinationConfig": map[string]any{"OnFailure": map[string]any{
					"Destination": pipelineGetAtt(s.logicalID(s.p.ProcessorFailureQueue), "Arn")}},
			}
			for k, w := range want {
				if got := p[k]; !reflect.DeepEqual(got, w) {
					t.Errorf("got %s %v, want %v", k, got, w)
				}
			}
		})
	}
}

func TestPipelineReplayQueue(t *testing.T) {
	f := pipelineStacks(t)
	tests := []struct {
		name                     string
		s                        *pipelineStack
		batch, conc, timeout     float64
		visibility, maxReceive   float64
		wantTimeout, wantReceive int
	}{
		// 5 x (20 s Kinesis + 2 x 10 s S3) + 10 s = 210 s; 6 x 210 = 1260 s;
		// 48 h / 1260 s = 137.1 -> 138.
		{"default", f.def, 5, 20, 210, 1260, 138, 210, 138},
		// 2 x 40 + 10 = 90 s; 540 s; 24 h / 540 s = 160.
		{"provisioned", f.prov, 2, 3, 90, 540, 160, 90, 160},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.s
			if got := s.p.ReplayTimeout; got != time.Duration(tt.wantTimeout)*time.Second {
				t.Errorf("got ReplayTimeout %s, want %ds", got, tt.wantTimeout)
			}
			if got := s.p.ReplayMaxReceiveCount; got != tt.wantReceive {
				t.Errorf("got ReplayMaxReceiveCount %d, want %d", got, tt.wantReceive)
			}
			fn := s.props(t, s.p.ReplayFunction)
			if got := fn["Timeout"]; got != tt.timeout {
				t.Errorf("got replay Timeout %v, want %v", got, tt.timeout)
			}
			q := s.props(t, s.p.ReplayQueue)
			if got := q["VisibilityTimeout"]; got != tt.visibility {
				t.Errorf("got VisibilityTimeout %v, want %v", got, tt.visibility)
			}
			if got, min := q["VisibilityTimeout"].(float64), 6*fn["Timeout"].(float64); got < min {
				t.Errorf("got VisibilityTimeout %v, want at least 6 x the replay timeout = %v", got, min)
			}
			wantRedrive := map[string]any{"deadLetterTargetArn": pipelineGetAtt(s.logicalID(s.p.ReplayDeadLetterQueue), "Arn"), "maxReceiveCount": tt.maxReceive}
			if got := q["RedrivePolicy"]; !reflect.DeepEqual(got, wantRedrive) {
				t.Errorf("got RedrivePolicy %v, want %v", got, wantRedrive)
			}
			for _, c := range []constructs.IConstruct{s.p.ReplayQueue, s.p.ReplayDeadLetterQueue, s.p.ProcessorFailureQueue} {
				p := s.props(t, c)
				if p["SqsManagedSseEnabled"] != true || p["MessageRetentionPeriod"] != 1209600.0 {
					t.Errorf("%s: got SqsManagedSseEnabled %v, MessageRetentionPeriod %v, want true, 1209600", *c.Node().Path(), p["SqsManagedSseEnabled"], p["MessageRetentionPeriod"])
				}
			}
			esm := s.eventSourceMapping(t, s.logicalID(s.p.ReplayFunction))
			want := map[string]any{
				"EventSourceArn":        pipelineGetAtt(s.logicalID(s.p.ReplayQueue), "Arn"),
				"BatchSize":             tt.batch,
				"FunctionResponseTypes": []any{"ReportBatchItemFailures"},
				"ScalingConfig":         map[string]any{"MaximumConcurrency": tt.conc},
			}
			for k, w := range want {
				if got := esm[k]; !reflect.DeepEqual(got, w) {
					t.Errorf("got replay mapping %s %v, want %v", k, got, w)
				}
			}
		})
	}
}

func TestPipelineQueuesEnforceSSL(t *testing.T) {
	s := pipelineStacks(t).def
	for _, q := range []constructs.IConstruct{s.p.ReplayQueue, s.p.ReplayDeadLetterQueue, s.p.ProcessorFailureQueue} {
		qid := s.logicalID(q)
		found := false
		for _, id := range s.ofType("AWS::SQS::QueuePolicy") {
			p := s.res[id]["Properties"].(map[string]any)
			if !slices.ContainsFunc(p["Queues"].([]any), func(v any) bool { return reflect.DeepEqual(v, map[string]any{"Ref": qid}) }) {
				continue
			}
			for _, st := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
				st := st.(map[string]any)
				if st["Effect"] == "Deny" && pipelineDig(st, "Condition", "Bool", "aws:SecureTransport") == "false" {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("%s: got no Deny on aws:SecureTransport false, want one", *q.Node().Path())
		}
	}
}

// pipelineEnvWant are the environment variables each function must get, exactly.
func pipelineEnvWant(s *pipelineStack, secretID any, extra map[string]any) map[string]map[string]any {
	stream := map[string]any{"Ref": s.logicalID(s.p.Stream)}
	spill := map[string]any{"Ref": s.logicalID(s.p.SpillBucket)}
	// Every handler writes its metrics (EMF) into the pipeline's namespace.
	ns := *s.p.MetricNamespace()
	processor := map[string]any{"SINK_BUCKET": map[string]any{"Ref": s.logicalID(s.p.SinkBucket)}, "METRICS_NAMESPACE": ns}
	for k, v := range extra {
		processor[k] = v
	}
	return map[string]map[string]any{
		"ingest": {
			"STREAM_NAME": stream, "SPILL_BUCKET": spill, "SPILL_PREFIX": "spill",
			"API_KEYS_SECRET_ARN": secretID, "KINESIS_BUDGET": "3s", "SPILL_TIMEOUT": "4s", "METRICS_NAMESPACE": ns,
			"PACK_RECORDS": "true",
		},
		"health":    {"STREAM_NAME": stream, "API_KEYS_SECRET_ARN": secretID, "PROBE_CACHE_TTL": "3s", "PROBE_TIMEOUT": "1s", "METRICS_NAMESPACE": ns},
		"processor": processor,
		"replay": {
			"STREAM_NAME": stream, "SPILL_BUCKET": spill, "SPILL_PREFIX": "spill",
			"KINESIS_BUDGET": "20s", "S3_TIMEOUT": "10s", "METRICS_NAMESPACE": ns, "PACK_RECORDS": "true",
		},
	}
}

func TestPipelineFunctions(t *testing.T) {
	f := pipelineStacks(t)
	d, pv := f.def, f.prov
	// A secret imported by name (Secret_FromSecretNameV2) has only a
	// partial ARN, which Secrets Manager resolves unreliably: the functions
	// get its name. One imported by its complete ARN: that ARN.
	defSecret := pipelineDig(d.props(t, d.p.IngestFunction), "Environment", "Variables", "API_KEYS_SECRET_ARN")
	if defSecret != "test/api-keys" {
		s, _ := json.Marshal(defSecret)
		t.Errorf("got default API_KEYS_SECRET_ARN %s, want the secret's name \"test/api-keys\"", s)
	}
	tests := []struct {
		name      string
		s         *pipelineStack
		env       map[string]map[string]any
		retention float64
		memory    map[string]float64
		timeout   map[string]float64
	}{
		{"default", d, pipelineEnvWant(d, defSecret, nil), 30,
			map[string]float64{"ingest": 1024, "health": 256, "processor": 1024, "replay": 512},
			map[string]float64{"ingest": 15, "health": 5, "processor": 120, "replay": 210}},
		{"provisioned", pv, pipelineEnvWant(pv, pipelineProvSecretArn, map[string]any{"TEAM": "orders"}), 7,
			map[string]float64{"ingest": 1024, "health": 256, "processor": 512, "replay": 512},
			map[string]float64{"ingest": 15, "health": 5, "processor": 30, "replay": 90}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.s
			if got := s.ofType("AWS::Lambda::Function"); len(got) < 4 {
				t.Fatalf("got functions %v, want at least 4", got)
			}
			fns := map[string]constructs.IConstruct{
				"ingest": s.p.IngestFunction, "health": s.p.HealthFunction,
				"processor": s.p.ProcessorFunction, "replay": s.p.ReplayFunction,
			}
			for name, fn := range fns {
				p := s.props(t, fn)
				if got := p["Architectures"]; !reflect.DeepEqual(got, []any{"arm64"}) {
					t.Errorf("%s: got Architectures %v, want [arm64]", name, got)
				}
				if p["Runtime"] != "provided.al2023" || p["Handler"] != "bootstrap" {
					t.Errorf("%s: got Runtime %v, Handler %v, want provided.al2023, bootstrap", name, p["Runtime"], p["Handler"])
				}
				if got := p["MemorySize"]; got != tt.memory[name] {
					t.Errorf("%s: got MemorySize %v, want %v", name, got, tt.memory[name])
				}
				if got := p["Timeout"]; got != tt.timeout[name] {
					t.Errorf("%s: got Timeout %v, want %v", name, got, tt.timeout[name])
				}
				if got := pipelineDig(p, "Environment", "Variables"); !reflect.DeepEqual(got, tt.env[name]) {
					gj, _ := json.Marshal(got)
					wj, _ := json.Marshal(tt.env[name])
					t.Errorf("%s: got environment %s, want %s", name, gj, wj)
				}
				lc, _ := p["LoggingConfig"].(map[string]any)
				if lc["LogFormat"] != "JSON" {
					t.Errorf("%s: got LogFormat %v, want JSON", name, lc["LogFormat"])
				}
				lg, _ := pipelineDig(lc, "LogGroup", "Ref").(string)
				if got := pipelineDig(s.res[lg], "Properties", "RetentionInDays"); got != tt.retention {
					t.Errorf("%s: got log group %q RetentionInDays %v, want %v", name, lg, got, tt.retention)
				}
				role, _ := pipelineDig(p, "Role", "Fn::GetAtt").([]any)
				if len(role) != 2 {
					t.Fatalf("%s: got Role %v, want a GetAtt of its role", name, p["Role"])
				}
				if got := pipelineDig(s.res[role[0].(string)], "Properties", "ManagedPolicyArns"); got != nil {
					t.Errorf("%s: got ManagedPolicyArns %v, want none", name, got)
				}
			}
			// ProcessorHandler reaches GoCode: the provisioned variant's
			// processor runs the health handler's code.
			code := func(fn constructs.IConstruct) any { return pipelineDig(s.props(t, fn), "Code", "S3Key") }
			same := reflect.DeepEqual(code(s.p.ProcessorFunction), code(s.p.HealthFunction))
			if want := s == pv; same != want {
				t.Errorf("got processor code == health code %v, want %v", same, want)
			}
		})
	}
}

// statements returns every statement of the stack's identity policies
// (AWS::IAM::Policy and roles' inline policies), with where it came from.
func (s *pipelineStack) statements() map[string][]map[string]any {
	out := map[string][]map[string]any{}
	add := func(where string, doc any) {
		sts, _ := pipelineDig(doc, "Statement").([]any)
		for _, st := range sts {
			out[where] = append(out[where], st.(map[string]any))
		}
	}
	for _, id := range s.ofType("AWS::IAM::Policy") {
		add(id, pipelineDig(s.res[id], "Properties", "PolicyDocument"))
	}
	for _, id := range s.ofType("AWS::IAM::Role") {
		pols, _ := pipelineDig(s.res[id], "Properties", "Policies").([]any)
		for _, p := range pols {
			add(id, pipelineDig(p, "PolicyDocument"))
		}
	}
	return out
}

func pipelineStrings(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, e := range t {
			out = append(out, pipelineStrings(e)...)
		}
		return out
	case nil:
		return nil
	}
	b, _ := json.Marshal(v) // an intrinsic function
	return []string{string(b)}
}

func TestPipelineNoWildcardActions(t *testing.T) {
	f := pipelineStacks(t)
	for _, s := range []*pipelineStack{f.def, f.prov} {
		sts := s.statements()
		if len(sts) == 0 {
			t.Fatalf("%s: got no IAM policies, want some", *s.stack.StackName())
		}
		for where, list := range sts {
			for _, st := range list {
				for _, a := range pipelineStrings(st["Action"]) {
					if a == "*" || strings.HasSuffix(a, ":*") {
						t.Errorf("%s %s: got action %q, want no wildcard actions", *s.stack.StackName(), where, a)
					}
				}
				if st["NotAction"] != nil {
					t.Errorf("%s %s: got NotAction %v, want none", *s.stack.StackName(), where, st["NotAction"])
				}
			}
		}
	}
}

// actionsOf returns the actions granted to fn's role and their resources.
func (s *pipelineStack) actionsOf(t *testing.T, fn constructs.IConstruct) map[string][]string {
	t.Helper()
	role := pipelineDig(s.props(t, fn), "Role", "Fn::GetAtt").([]any)[0].(string)
	out := map[string][]string{}
	for _, id := range s.ofType("AWS::IAM::Policy") {
		p := s.res[id]["Properties"].(map[string]any)
		if !slices.ContainsFunc(p["Roles"].([]any), func(v any) bool { return reflect.DeepEqual(v, map[string]any{"Ref": role}) }) {
			continue
		}
		for _, st := range pipelineDig(p, "PolicyDocument", "Statement").([]any) {
			st := st.(map[string]any)
			if st["Effect"] != "Allow" {
				continue
			}
			for _, a := range pipelineStrings(st["Action"]) {
				out[a] = append(out[a], pipelineStrings(st["Resource"])...)
			}
		}
	}
	return out
}

func TestPipelineGrants(t *testing.T) {
	s := pipelineStacks(t).def
	stream := fmt.Sprintf(`{"Fn::GetAtt":["%s","Arn"]}`, s.logicalID(s.p.Stream))
	spillObjects := fmt.Sprintf(`{"Fn::Join":["",[{"Fn::GetAtt":["%s","Arn"]},"/spill/*"]]}`, s.logicalID(s.p.SpillBucket))
	spill := fmt.Sprintf(`{"Fn::GetAtt":["%s","Arn"]}`, s.logicalID(s.p.SpillBucket))
	sinkObjects := fmt.Sprintf(`{"Fn::Join":["",[{"Fn::GetAtt":["%s","Arn"]},"/*"]]}`, s.logicalID(s.p.SinkBucket))
	failures := fmt.Sprintf(`{"Fn::GetAtt":["%s","Arn"]}`, s.logicalID(s.p.ProcessorFailureQueue))
	replayQueue := fmt.Sprintf(`{"Fn::GetAtt":["%s","Arn"]}`, s.logicalID(s.p.ReplayQueue))
	// A secret imported by name: its ARN with the random suffix's pattern.
	keys := `{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":secretsmanager:",{"Ref":"AWS::Region"},":",{"Ref":"AWS::AccountId"},":secret:test/api-keys-??????"]]}`
	tests := []struct {
		name    string
		fn      constructs.IConstruct
		want    map[string]string // action -> a resource it must be granted on
		notWant []string          // actions it must not have
	}{
		{"ingest", s.p.IngestFunction, map[string]string{
			"kinesis:PutRecords": stream, "s3:PutObject": spillObjects, "secretsmanager:GetSecretValue": keys,
		}, []string{"kinesis:GetRecords", "s3:GetObject*", "s3:DeleteObject*", "secretsmanager:DescribeSecret"}},
		{"health", s.p.HealthFunction, map[string]string{"kinesis:PutRecord": stream, "secretsmanager:GetSecretValue": keys},
			[]string{"s3:PutObject", "kinesis:GetRecords", "secretsmanager:DescribeSecret"}},
		{"processor", s.p.ProcessorFunction, map[string]string{
			"kinesis:GetRecords": stream, "s3:PutObject": sinkObjects, "sqs:SendMessage": failures,
		}, []string{"kinesis:PutRecords", "s3:DeleteObject*", "secretsmanager:GetSecretValue"}},
		{"replay", s.p.ReplayFunction, map[string]string{
			"kinesis:PutRecords": stream, "s3:GetObject*": spillObjects, "s3:List*": spill,
			"s3:DeleteObject*": spillObjects, "sqs:ReceiveMessage": replayQueue,
		}, []string{"s3:PutObject", "secretsmanager:GetSecretValue", "kinesis:GetRecords"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.actionsOf(t, tt.fn)
			for a, res := range tt.want {
				rs, ok := got[a]
				if !ok {
					t.Errorf("got no %s, want it", a)
					continue
				}
				if res != "" && !slices.Contains(rs, res) {
					t.Errorf("got %s on %v, want on %s", a, rs, res)
				}
			}
			for _, a := range tt.notWant {
				if _, ok := got[a]; ok {
					t.Errorf("got %s on %v, want none", a, got[a])
				}
			}
			if _, ok := got["logs:PutLogEvents"]; !ok {
				t.Errorf("got no logs:PutLogEvents, want it on the function's log group")
			}
		})
	}
}

// TestPipelineSecretGrantCompleteArn: a secret imported by its complete ARN
// and encrypted with a customer-managed key: GetSecretValue on exactly that
// ARN, and kms:Decrypt on its key only through Secrets Manager.
func TestPipelineSecretGrantCompleteArn(t *testing.T) {
	f := pipelineStacks(t)
	s := f.prov
	for name, fn := range map[string]constructs.IConstruct{"ingest": s.p.IngestFunction, "health": s.p.HealthFunction} {
		t.Run(name, func(t *testing.T) {
			got := s.actionsOf(t, fn)
			if rs := got["secretsmanager:GetSecretValue"]; !slices.Equal(rs, []string{pipelineProvSecretArn}) {
				t.Errorf("got GetSecretValue on %v, want only on %s", rs, pipelineProvSecretArn)
			}
			if rs := got["secretsmanager:DescribeSecret"]; rs != nil {
				t.Errorf("got DescribeSecret on %v, want none", rs)
			}
			// CDK puts the grant in the key's policy (the key is in the
			// stack) or in the role's: either must allow only kms:Decrypt
			// through Secrets Manager to this function's role.
			role := pipelineDig(s.props(t, fn), "Role", "Fn::GetAtt").([]any)[0].(string)
			keyID := s.logicalID(f.keysKey)
			var sts []map[string]any
			for _, st := range pipelineDig(s.res[keyID], "Properties", "KeyPolicy", "Statement").([]any) {
				sts = append(sts, st.(map[string]any))
			}
			for _, list := range s.statements() {
				sts = append(sts, list...)
			}
			via := false
			for _, st := range sts {
				b, _ := json.Marshal(st)
				if slices.Contains(pipelineStrings(st["Action"]), "kms:Decrypt") && strings.Contains(string(b), `"`+role+`"`) {
					via = strings.Contains(string(b), `"kms:ViaService"`) && strings.Contains(string(b), `"secretsmanager."`)
				}
			}
			if !via {
				t.Errorf("kms:Decrypt on the secret's key: got no kms:ViaService secretsmanager condition, want one")
			}
		})
	}
}

// TestPipelineReservedConcurrency: ingest and health get their reserved
// concurrency (the defaults, or the props; -1 none), the processor and
// replay none.
func TestPipelineReservedConcurrency(t *testing.T) {
	f := pipelineStacks(t)
	tests := []struct {
		name string
		s    *pipelineStack
		want map[string]any
	}{
		{"default", f.def, map[string]any{"ingest": float64(DefaultIngestReservedConcurrency), "health": float64(DefaultHealthReservedConcurrency), "processor": nil, "replay": nil}},
		{"props, -1 for none", f.prov, map[string]any{"ingest": 50.0, "health": nil, "processor": nil, "replay": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fns := map[string]constructs.IConstruct{
				"ingest": tt.s.p.IngestFunction, "health": tt.s.p.HealthFunction,
				"processor": tt.s.p.ProcessorFunction, "replay": tt.s.p.ReplayFunction,
			}
			for name, fn := range fns {
				if got := tt.s.props(t, fn)["ReservedConcurrentExecutions"]; got != tt.want[name] {
					t.Errorf("%s ReservedConcurrentExecutions: got %v, want %v", name, got, tt.want[name])
				}
			}
		})
	}
	// The defaults fit the account's default regional quota (1,000) with the
	// 100 Lambda keeps unreserved.
	if sum := DefaultIngestReservedConcurrency + DefaultHealthReservedConcurrency; sum > 900 {
		t.Errorf("default reservations: got %d in all, want at most 900", sum)
	}
}

// TestPipelineElbTarget: a function attached to two target groups has one
// invoke permission for Elastic Load Balancing, limited to this account
// (SourceAccount) and its target groups in this region (SourceArn), and each
// group DependsOn it: the group registers the function when it is created.
func TestPipelineElbTarget(t *testing.T) {
	app := flaggedApp()
	stack := awscdk.NewStack(app, jsii.String("Targets"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-west-1")},
	})
	p := NewPipeline(stack, "Pipeline", &PipelineProps{Name: "tgt", ApiKeys: pipelineSecret(stack)})
	var tgs []awscdk.CfnResource
	for _, id := range []string{"GroupA", "GroupB"} {
		tg := awselasticloadbalancingv2.NewApplicationTargetGroup(stack, jsii.String(id), &awselasticloadbalancingv2.ApplicationTargetGroupProps{
			TargetType: awselasticloadbalancingv2.TargetType_LAMBDA,
			Targets:    &[]awselasticloadbalancingv2.IApplicationLoadBalancerTarget{p.IngestTarget()},
		})
		tgs = append(tgs, tg.Node().DefaultChild().(awscdk.CfnResource))
	}
	tpl := assertions.Template_FromStack(stack, nil)
	b, err := json.Marshal(tpl.ToJSON())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Resources map[string]map[string]any }
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	fnID := stack.Resolve(stack.GetLogicalId(p.IngestFunction.Node().DefaultChild().(awscdk.CfnElement))).(string)
	var perms []string
	for id, r := range doc.Resources {
		if r["Type"] == "AWS::Lambda::Permission" && pipelineDig(r, "Properties", "Principal") == ElbPrincipal {
			perms = append(perms, id)
		}
	}
	if len(perms) != 1 {
		t.Fatalf("ELB invoke permissions: got %v, want 1", perms)
	}
	want := map[string]any{
		"Action":        "lambda:InvokeFunction",
		"FunctionName":  pipelineGetAtt(fnID, "Arn"),
		"Principal":     ElbPrincipal,
		"SourceAccount": "123456789012",
		"SourceArn":     "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/*",
	}
	if got := doc.Resources[perms[0]]["Properties"]; !reflect.DeepEqual(got, want) {
		t.Errorf("permission: got %v, want %v", got, want)
	}
	for _, tg := range tgs {
		id := stack.Resolve(stack.GetLogicalId(tg)).(string)
		r := doc.Resources[id]
		deps, _ := r["DependsOn"].([]any)
		if !slices.Contains(deps, any(perms[0])) {
			t.Errorf("target group %s DependsOn: got %v, want %s", id, deps, perms[0])
		}
		if got := pipelineDig(r, "Properties", "Targets"); !reflect.DeepEqual(got, []any{map[string]any{"Id": pipelineGetAtt(fnID, "Arn")}}) {
			t.Errorf("target group %s Targets: got %v, want the ingest function", id, got)
		}
	}
}

func TestPipelineBuckets(t *testing.T) {
	f := pipelineStacks(t)
	d := f.def
	tests := []struct {
		name   string
		s      *pipelineStack
		bucket constructs.IConstruct
		prefix string
		logs   string
	}{
		{"sink", d, d.p.SinkBucket, "sink/", d.logicalID(d.p.LogsBucket)},
		{"spill", d, d.p.SpillBucket, "spill/", d.logicalID(d.p.LogsBucket)},
		{"supplied logs bucket", f.prov, f.prov.p.SpillBucket, "spill/", f.prov.logicalID(f.prov.p.LogsBucket)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := tt.s.logicalID(tt.bucket)
			r := tt.s.res[id]
			p := r["Properties"].(map[string]any)
			if r["DeletionPolicy"] != "Retain" {
				t.Errorf("got DeletionPolicy %v, want Retain", r["DeletionPolicy"])
			}
			if got := pipelineDig(p, "VersioningConfiguration", "Status"); got != "Enabled" {
				t.Errorf("got versioning %v, want Enabled", got)
			}
			sse := pipelineDig(p, "BucketEncryption", "ServerSideEncryptionConfiguration").([]any)
			if got := pipelineDig(sse[0], "ServerSideEncryptionByDefault", "SSEAlgorithm"); got != "AES256" {
				t.Errorf("got SSE %v, want AES256", got)
			}
			wantBPA := map[string]any{"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true}
			if got := p["PublicAccessBlockConfiguration"]; !reflect.DeepEqual(got, wantBPA) {
				t.Errorf("got PublicAccessBlockConfiguration %v, want %v", got, wantBPA)
			}
			wantLog := map[string]any{"DestinationBucketName": map[string]any{"Ref": tt.logs}, "LogFilePrefix": tt.prefix}
			if got := p["LoggingConfiguration"]; !reflect.DeepEqual(got, wantLog) {
				t.Errorf("got LoggingConfiguration %v, want %v", got, wantLog)
			}
			for _, rule := range pipelineDig(p, "LifecycleConfiguration", "Rules").([]any) {
				rm := rule.(map[string]any)
				for _, k := range []string{"ExpirationInDays", "ExpirationDate", "Transitions"} {
					if rm[k] != nil {
						t.Errorf("got lifecycle %s %v, want current objects kept as they are", k, rm[k])
					}
				}
			}
			pipelineHas(t, "enforce SSL", func() {
				tt.s.tpl.HasResourceProperties(jsii.String("AWS::S3::BucketPolicy"), assertions.Match_ObjectLike(&map[string]any{
					"Bucket": map[string]any{"Ref": id},
					"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{
						"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
							"Effect":    "Deny",
							"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
						})}),
					}),
				}))
			})
		})
	}
	if got := pipelineDig(f.prov.props(t, f.prov.p.SinkBucket), "BucketName"); got != "orders-sink-test" {
		t.Errorf("got sink BucketName %v, want orders-sink-test", got)
	}
	if got := f.prov.ofType("AWS::S3::Bucket"); len(got) != 3 {
		t.Errorf("got buckets %v with a supplied logs bucket, want 3 (team logs, sink, spill)", got)
	}
}

func TestPipelineSpillNotification(t *testing.T) {
	s := pipelineStacks(t).def
	want := map[string]any{
		"BucketName": map[string]any{"Ref": s.logicalID(s.p.SpillBucket)},
		"NotificationConfiguration": map[string]any{"QueueConfigurations": []any{map[string]any{
			"Events":   []any{"s3:ObjectCreated:*"},
			"Filter":   map[string]any{"Key": map[string]any{"FilterRules": []any{map[string]any{"Name": "prefix", "Value": "spill/"}}}},
			"QueueArn": pipelineGetAtt(s.logicalID(s.p.ReplayQueue), "Arn"),
		}}},
	}
	ids := s.ofType("Custom::S3BucketNotifications")
	if len(ids) != 1 {
		t.Fatalf("got bucket notification resources %v, want 1", ids)
	}
	p := s.res[ids[0]]["Properties"].(map[string]any)
	for k, w := range want {
		if got := p[k]; !reflect.DeepEqual(got, w) {
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(w)
			t.Errorf("got %s %s, want %s", k, gj, wj)
		}
	}
}

// TestPipelineMetrics: the handlers' metrics come from their log lines
// (EMF): no log metric filter is left, and the metric helpers read the
// namespace the functions are given, with the catalogue's statistics.
func TestPipelineMetrics(t *testing.T) {
	f := pipelineStacks(t)
	for _, s := range []*pipelineStack{f.def, f.prov, f.dev, f.existing, f.noflags} {
		if got := s.ofType("AWS::Logs::MetricFilter"); len(got) != 0 {
			t.Errorf("%s: got metric filters %v, want none (the handlers emit EMF)", *s.stack.StackName(), got)
		}
	}
	s := f.def
	if MetricNameAccepted != metrics.Accepted.Name || MetricNameSpilled != metrics.Spilled.Name {
		t.Errorf("got MetricNameAccepted %q, MetricNameSpilled %q, want the catalogue's %q, %q", MetricNameAccepted, MetricNameSpilled, metrics.Accepted.Name, metrics.Spilled.Name)
	}
	type metric interface {
		MetricName() *string
		Namespace() *string
		Statistic() *string
		Dimensions() *map[string]any
	}
	ns := "Twinstream/test/Default"
	class := &awscloudwatch.MetricOptions{DimensionsMap: &map[string]*string{metrics.StatusClass: jsii.String(metrics.Status5xx)}}
	tests := []struct {
		name, ns, metric, stat string
		dims                   string // JSON of the dimensions, "" for none
		m                      metric
	}{
		{"accepted", ns, "AcceptedRecords", "Sum", "", s.p.MetricAccepted(nil)},
		{"spilled", ns, "SpilledRecords", "Sum", "", s.p.MetricSpilled(nil)},
		{"iterator age", "AWS/Lambda", "IteratorAge", "Maximum", `{"FunctionName":"${Token[TOKEN.*]}"}`, s.p.MetricIteratorAge(nil)},
		{"processor errors", "AWS/Lambda", "Errors", "Sum", `{"FunctionName":"${Token[TOKEN.*]}"}`, s.p.MetricProcessorErrors(nil)},
		{"kinesis put latency", ns, "KinesisPutLatency", "p99", "", s.p.Metric(metrics.KinesisPutLatency, nil)},
		{"region healthy", ns, "RegionHealthy", "Minimum", "", s.p.Metric(metrics.RegionHealthy, nil)},
		{"spill age, statistic set", ns, "SpillAge", "p90", "", s.p.Metric(metrics.SpillAge, &awscloudwatch.MetricOptions{Statistic: jsii.String("p90")})},
		{"requests 5xx", ns, "Requests", "Sum", `{"StatusClass":"5xx"}`, s.p.Metric(metrics.Requests, class)},
	}
	tokens := regexp.MustCompile(`\$\{Token\[TOKEN\.\d+\]\}`)
	for _, tt := range tests {
		dims := ""
		if d := tt.m.Dimensions(); d != nil && len(*d) > 0 {
			dims = tokens.ReplaceAllString(js(*d), "${Token[TOKEN.*]}")
		}
		if *tt.m.Namespace() != tt.ns || *tt.m.MetricName() != tt.metric || *tt.m.Statistic() != tt.stat || dims != tt.dims {
			t.Errorf("%s: got %s %s %s %s, want %s %s %s %s", tt.name, *tt.m.Namespace(), *tt.m.MetricName(), *tt.m.Statistic(), dims,
				tt.ns, tt.metric, tt.stat, tt.dims)
		}
	}
	for _, tt := range []struct {
		name string
		m    metrics.Metric
		o    *awscloudwatch.MetricOptions
		want string
	}{
		{"dimension missing", metrics.Requests, nil, `Requests needs DimensionsMap {"StatusClass": value}`},
		{"other dimension", metrics.Rejected, &awscloudwatch.MetricOptions{DimensionsMap: &map[string]*string{"Status": jsii.String("503")}}, `RejectedRecords needs DimensionsMap {"StatusClass": value}`},
		{"dimension on a metric without", metrics.Accepted, class, "AcceptedRecords has no dimensions"},
		{"no name", metrics.Metric{}, nil, "has no name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			func() {
				defer func() { got = fmt.Sprint(recover()) }()
				s.p.Metric(tt.m, tt.o)
			}()
			if !strings.Contains(got, tt.want) {
				t.Errorf("got panic %q, want one containing %q", got, tt.want)
			}
		})
	}
}

func TestPipelineNag(t *testing.T) {
	f := pipelineStacks(t)
	for _, s := range []*pipelineStack{f.def, f.prov, f.dev, f.existing, f.noflags} {
		for _, m := range s.messages {
			t.Errorf("%s: got unsuppressed cdk-nag finding %s, want none", *s.stack.StackName(), m)
		}
	}
}

func TestPipelineBadProps(t *testing.T) {
	tests := []struct {
		name  string
		props func(s awscdk.Stack) *PipelineProps
		want  string
	}{
		{"nil props", func(awscdk.Stack) *PipelineProps { return nil }, "props are required"},
		{"no name", func(s awscdk.Stack) *PipelineProps { return &PipelineProps{ApiKeys: pipelineSecret(s)} }, `Name = ""`},
		{"bad name", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "Bad_Name", ApiKeys: pipelineSecret(s)}
		}, `Name = "Bad_Name": want 3-24 lowercase`},
		{"no api keys", func(awscdk.Stack) *PipelineProps { return &PipelineProps{Name: "okay"} }, "ApiKeys is required"},
		{"shards on demand", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), StreamProps: &awskinesis.StreamProps{ShardCount: jsii.Number(2)}}
		}, "StreamProps.ShardCount = 2 with StreamMode ON_DEMAND"},
		{"provisioned without shards", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), StreamProps: &awskinesis.StreamProps{StreamMode: awskinesis.StreamMode_PROVISIONED}}
		}, "ShardCount is required"},
		{"existing stream and stream props", func(s awscdk.Stack) *PipelineProps {
			st := awskinesis.Stream_FromStreamArn(s, jsii.String("S"), jsii.String("arn:aws:kinesis:us-east-1:123456789012:stream/x"))
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), ExistingStream: st, StreamProps: &awskinesis.StreamProps{RetentionPeriod: awscdk.Duration_Days(jsii.Number(2))}}
		}, "ExistingStream is set"},
		{"existing stream and a key", func(s awscdk.Stack) *PipelineProps {
			st := awskinesis.Stream_FromStreamArn(s, jsii.String("S"), jsii.String("arn:aws:kinesis:us-east-1:123456789012:stream/x"))
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), ExistingStream: st, StreamKeyProps: &awskms.KeyProps{}}
		}, "ExistingStream is set"},
		{"unencrypted stream", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), StreamProps: &awskinesis.StreamProps{Encryption: awskinesis.StreamEncryption_UNENCRYPTED}}
		}, `StreamProps.Encryption = "UNENCRYPTED"`},
		{"key inside stream props", func(s awscdk.Stack) *PipelineProps {
			k := awskms.NewKey(s, jsii.String("K"), nil)
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), StreamProps: &awskinesis.StreamProps{EncryptionKey: k}}
		}, "StreamProps.EncryptionKey is set: pass the key as ExistingStreamKey"},
		{"managed encryption and a key", func(s awscdk.Stack) *PipelineProps {
			k := awskms.NewKey(s, jsii.String("K"), nil)
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), StreamProps: &awskinesis.StreamProps{Encryption: awskinesis.StreamEncryption_MANAGED}, ExistingStreamKey: k}
		}, "Encryption = MANAGED"},
		{"existing key and key props", func(s awscdk.Stack) *PipelineProps {
			k := awskms.NewKey(s, jsii.String("K"), nil)
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), ExistingStreamKey: k, StreamKeyProps: &awskms.KeyProps{}}
		}, "ExistingStreamKey and StreamKeyProps are both set"},
		{"key without rotation", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), StreamKeyProps: &awskms.KeyProps{EnableKeyRotation: jsii.Bool(false)}}
		}, "StreamKeyProps.EnableKeyRotation = false"},
		{"retention too short", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), StreamProps: &awskinesis.StreamProps{RetentionPeriod: awscdk.Duration_Hours(jsii.Number(12))}}
		}, "StreamProps.RetentionPeriod = 12h0m0s: want whole seconds from 24h0m0s to 8760h0m0s"},
		{"retention not whole hours", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), StreamProps: &awskinesis.StreamProps{RetentionPeriod: awscdk.Duration_Minutes(jsii.Number(24*60 + 30))}}
		}, "StreamProps.RetentionPeriod = 24h30m0s: want whole hours"},
		{"window not whole seconds", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), MaxBatchingWindow: awscdk.Duration_Millis(jsii.Number(1500))}
		}, "MaxBatchingWindow = 1.5s: want whole seconds from 0s to 5m0s"},
		{"record age over retention", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), StreamProps: &awskinesis.StreamProps{RetentionPeriod: awscdk.Duration_Days(jsii.Number(1))}, MaxRecordAge: awscdk.Duration_Days(jsii.Number(2))}
		}, "MaxRecordAge = 48h0m0s exceeds the stream's retention 24h0m0s"},
		{"batch size 0", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), BatchSize: jsii.Number(0)}
		}, "BatchSize = 0: want a whole number from 1 to 10000"},
		{"parallelization 11", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), ParallelizationFactor: jsii.Number(11)}
		}, "ParallelizationFactor = 11"},
		{"retries -1", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), RetryAttempts: jsii.Number(-1)}
		}, "RetryAttempts = -1"},
		{"replay batch 11", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), ReplayBatchSize: jsii.Number(11)}
		}, "ReplayBatchSize = 11: want a whole number from 1 to 10"},
		{"sink bucket env override", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), ProcessorEnvironment: map[string]string{"SINK_BUCKET": "x"}}
		}, `ProcessorEnvironment key "SINK_BUCKET"`},
		{"processor env metrics namespace", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), ProcessorEnvironment: map[string]string{"METRICS_NAMESPACE": "Team/x"}}
		}, `ProcessorEnvironment key "METRICS_NAMESPACE": want an environment variable name other than SINK_BUCKET, METRICS_NAMESPACE and AWS_*`},
		{"ingest concurrency 0", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), Ingest: &FunctionSettings{ReservedConcurrency: jsii.Number(0)}}
		}, "Ingest.ReservedConcurrency = 0: want a whole number of concurrent executions from 1 to 100000, or -1 to reserve none"},
		{"health concurrency 1.5", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), Health: &FunctionSettings{ReservedConcurrency: jsii.Number(1.5)}}
		}, "Health.ReservedConcurrency = 1.5"},
		{"health concurrency -2", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), Health: &FunctionSettings{ReservedConcurrency: jsii.Number(-2)}}
		}, "Health.ReservedConcurrency = -2"},
		{"ingest concurrency too high", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), Ingest: &FunctionSettings{ReservedConcurrency: jsii.Number(100001)}}
		}, "Ingest.ReservedConcurrency = 100001"},
		{"replay reserved below its polling", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), Replay: &FunctionSettings{ReservedConcurrency: jsii.Number(5)}}
		}, "Replay.ReservedConcurrency = 5 is below ReplayMaxConcurrency = 20"},
		{"memory 64", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), Processor: &FunctionSettings{MemorySize: jsii.Number(64)}}
		}, "Processor.MemorySize = 64: want a whole number from 128 to 10240"},
		{"ingest timeout", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), Ingest: &FunctionSettings{Timeout: awscdk.Duration_Seconds(jsii.Number(30))}}
		}, "Ingest.Timeout: the ingest function's timeout follows from its handler's budgets (15s)"},
		{"processor timeout too long", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), Processor: &FunctionSettings{Timeout: awscdk.Duration_Minutes(jsii.Number(16))}}
		}, "Processor.Timeout = 16m0s"},
		{"bad tracing", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), Health: &FunctionSettings{Tracing: awslambda.Tracing("ON")}}
		}, `Health.Tracing = "ON"`},
		{"removal snapshot", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), RemovalPolicy: awscdk.RemovalPolicy_SNAPSHOT}
		}, `RemovalPolicy = "SNAPSHOT": want RETAIN (the default) or DESTROY`},
		{"bad sink bucket name", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), SinkBucketProps: &awss3.BucketProps{BucketName: jsii.String("Upper_Case")}}
		}, `SinkBucketProps.BucketName: "Upper_Case"`},
		{"existing sink and sink props", func(s awscdk.Stack) *PipelineProps {
			b := awss3.Bucket_FromBucketName(s, jsii.String("B"), jsii.String("team-sink"))
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), ExistingSinkBucket: b, SinkBucketProps: &awss3.BucketProps{}}
		}, "ExistingSinkBucket and SinkBucketProps are both set"},
		{"existing spill and spill props", func(s awscdk.Stack) *PipelineProps {
			b := awss3.Bucket_FromBucketName(s, jsii.String("B"), jsii.String("team-spill"))
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), ExistingSpillBucket: b, SpillBucketProps: &awss3.BucketProps{}}
		}, "ExistingSpillBucket and SpillBucketProps are both set"},
		{"existing logs and logs props", func(s awscdk.Stack) *PipelineProps {
			b := awss3.Bucket_FromBucketName(s, jsii.String("B"), jsii.String("team-logs"))
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), ExistingLogsBucket: b, LogsBucketProps: &awss3.BucketProps{}}
		}, "ExistingLogsBucket and LogsBucketProps are both set"},
		{"unversioned sink", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), SinkBucketProps: &awss3.BucketProps{Versioned: jsii.Bool(false)}}
		}, "SinkBucketProps.Versioned"},
		{"KMS sink", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), SinkBucketProps: &awss3.BucketProps{Encryption: awss3.BucketEncryption_KMS_MANAGED}}
		}, `SinkBucketProps.Encryption: "KMS_MANAGED"`},
		{"KMS logs", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), LogsBucketProps: &awss3.BucketProps{Encryption: awss3.BucketEncryption_KMS}}
		}, `LogsBucketProps.Encryption: "KMS"`},
		{"ACLs on the logs bucket", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), LogsBucketProps: &awss3.BucketProps{ObjectOwnership: awss3.ObjectOwnership_OBJECT_WRITER}}
		}, "LogsBucketProps.AccessControl/ObjectOwnership"},
		{"public spill bucket", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), SpillBucketProps: &awss3.BucketProps{BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ACLS()}}
		}, "SpillBucketProps.BlockPublicAccess"},
		{"TLS not enforced", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), SpillBucketProps: &awss3.BucketProps{EnforceSSL: jsii.Bool(false)}}
		}, "SpillBucketProps.EnforceSSL"},
		{"sink logging elsewhere", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), SinkBucketProps: &awss3.BucketProps{ServerAccessLogsPrefix: jsii.String("x/")}}
		}, "SinkBucketProps.ServerAccessLogs*"},
		{"sink replication", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), SinkBucketProps: &awss3.BucketProps{ReplicationRules: &[]*awss3.ReplicationRule{}}}
		}, "SinkBucketProps.ReplicationRules"},
		{"auto delete while retained", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s), SpillBucketProps: &awss3.BucketProps{AutoDeleteObjects: jsii.Bool(true)}}
		}, "SpillBucketProps.AutoDeleteObjects: it needs RemovalPolicy DESTROY"},
		{"logs props unused", func(s awscdk.Stack) *PipelineProps {
			return &PipelineProps{Name: "okay", ApiKeys: pipelineSecret(s),
				ExistingSinkBucket:  awss3.Bucket_FromBucketName(s, jsii.String("A"), jsii.String("team-sink")),
				ExistingSpillBucket: awss3.Bucket_FromBucketName(s, jsii.String("B"), jsii.String("team-spill")),
				LogsBucketProps:     &awss3.BucketProps{}}
		}, "LogsBucketProps is set, but the construct creates no bucket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stack := awscdk.NewStack(awscdk.NewApp(nil), jsii.String("Bad"), nil)
			props := tt.props(stack)
			var got any
			func() {
				defer func() { got = recover() }()
				NewPipeline(stack, "Pipeline", props)
			}()
			msg, _ := got.(string)
			if got == nil || !strings.HasPrefix(msg, "twinstream: NewPipeline: ") || !strings.Contains(msg, tt.want) {
				t.Errorf("got panic %v, want one containing %q", got, tt.want)
			}
		})
	}
}

func pipelineSecret(s awscdk.Stack) awssecretsmanager.ISecret {
	return awssecretsmanager.Secret_FromSecretNameV2(s, jsii.String("ApiKeys"), jsii.String("x/api-keys"))
}

func TestReplayTimeoutFor(t *testing.T) {
	for _, tt := range []struct {
		batch int
		tol   time.Duration
		tmo   time.Duration
		recv  int
	}{
		{1, 48 * time.Hour, 50 * time.Second, 576},
		{5, 48 * time.Hour, 210 * time.Second, 138},
		{10, 24 * time.Hour, 410 * time.Second, 36},
	} {
		if got := ReplayTimeoutFor(tt.batch); got != tt.tmo {
			t.Errorf("ReplayTimeoutFor(%d): got %s, want %s", tt.batch, got, tt.tmo)
		}
		if got := ReplayMaxReceiveCountFor(tt.batch, tt.tol); got != tt.recv {
			t.Errorf("ReplayMaxReceiveCountFor(%d, %s): got %d, want %d", tt.batch, tt.tol, got, tt.recv)
		}
		// The tolerated outage must fit in the receives: count x visibility >= tolerance.
		if vis := 6 * ReplayTimeoutFor(tt.batch); time.Duration(ReplayMaxReceiveCountFor(tt.batch, tt.tol))*vis < tt.tol {
			t.Errorf("batch %d: %d receives x %s visibility < %s tolerance", tt.batch, ReplayMaxReceiveCountFor(tt.batch, tt.tol), vis, tt.tol)
		}
	}
}
