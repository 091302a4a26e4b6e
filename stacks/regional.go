package stacks

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscertificatemanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	elbv2 "github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsroute53"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsroute53targets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awswafv2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/twinstream/twinstream/lambdas/metrics"
)

// RegionalStackProps configures one region of the pipeline. In StackProps,
// an Env left out defaults to Region and Config.Account, a
// TerminationProtection left out to Config.TerminationProtection (default
// on), CrossRegionReferences left out to true (the GlobalStack reads this
// stack's ALB and sink bucket), a Description left out to one naming the
// pipeline and the region.
type RegionalStackProps struct {
	awscdk.StackProps
	// Config is the configuration (required).
	Config *Config
	// Region is the stack's region, one of Config.Regions (required).
	Region string
	// Pipeline holds settings of this region's pipeline (see PipelineProps),
	// laid over what the stack sets: Name (Config.Name; another name
	// panics), ApiKeys (the stack's API-key secret; setting it panics),
	// ExistingLogsBucket (the stack's logs bucket, which also takes the
	// ALB's access logs: a supplied one must accept those too), and the
	// Ingest and Health reserved concurrency (Config's keys, when Pipeline
	// leaves them unset). Its RemovalPolicy also applies to the stack's logs
	// bucket and VPC flow log group. Default: none, the production defaults.
	Pipeline *PipelineProps
	// PipelineFor, when set, is called once the stack exists and before its
	// pipeline is built, so that it can define or import constructs in the
	// stack (an existing stream or bucket); what it returns is laid over
	// Pipeline. Default: none.
	PipelineFor func(stack awscdk.Stack) *PipelineProps
}

// RegionalStack is one region of the pipeline: a VPC with public subnets, an
// internet-facing ALB in front of the Pipeline's ingest and health functions
// (Pipeline.AttachToListener), the API-key secret (ensured in the primary
// region, replicated to the others; see apikeys.go), a logs bucket and the
// alarms.
type RegionalStack struct {
	awscdk.Stack
	Pipeline          *Pipeline
	Vpc               awsec2.Vpc
	LoadBalancer      elbv2.ApplicationLoadBalancer
	IngestTargetGroup elbv2.ApplicationTargetGroup
	// HealthTargetGroup checks /health/deep: Global Accelerator moves traffic
	// off this region when it has no healthy target.
	HealthTargetGroup elbv2.ApplicationTargetGroup
	// ApiKeys is the API-key secret, by name. ApiKeysReady, in the primary
	// region only, is what makes sure it exists and is replicated to every
	// other region (nil elsewhere).
	ApiKeys      awssecretsmanager.ISecret
	ApiKeysReady constructs.IDependable
	// LogsBucket receives the ALB's access logs and the Pipeline buckets'
	// server access logs (kept 90 days), unless PipelineProps supplied
	// ExistingLogsBucket, which is then this.
	LogsBucket awss3.IBucket
	// AlarmTopic receives every alarm of the region; Alarms are the alarms,
	// by construct id (see alarmSpecs for what each watches and how it
	// treats missing data).
	AlarmTopic awssns.Topic
	Alarms     map[string]awscloudwatch.Alarm
	// Dashboard is the region's CloudWatch dashboard, named after the
	// stack: its alarms, Pipeline.Widgets, and the ALB's view of the region.
	Dashboard awscloudwatch.Dashboard
	// RegionalName is "<region>.<RecordName>" with a domain (an alias to this
	// ALB and a SAN of its certificate), else nil.
	RegionalName *string
	// HealthCheckPort is the ALB's serving port: 443 with a domain, else 80.
	HealthCheckPort float64
	// WebACL limits each client IP's requests to /v1/records and to /health
	// paths (nil when both Config.RateLimitPerIP and
	// Config.HealthRateLimitPerIP are -1).
	WebACL awswafv2.CfnWebACL

	azs []string
}

// NewRegionalStack builds the stack of props.Region. It panics (CDK style)
// when props, props.Config, the region or the pipeline settings are
// invalid.
func NewRegionalStack(scope constructs.Construct, id string, props *RegionalStackProps) *RegionalStack {
	if props == nil || props.Config == nil {
		panic("twinstream: NewRegionalStack: props.Config is required")
	}
	cfg := props.Config
	if err := cfg.Validate(); err != nil {
		panic(fmt.Sprintf("twinstream: NewRegionalStack: %v", err))
	}
	region := props.Region
	if !slices.Contains(cfg.Regions, region) {
		panic(fmt.Sprintf("twinstream: NewRegionalStack: region %q is not one of the configured regions %v", region, cfg.Regions))
	}
	sp := props.StackProps
	if sp.Env == nil {
		sp.Env = &awscdk.Environment{Region: jsii.String(region)}
		if cfg.Account != "" {
			sp.Env.Account = jsii.String(cfg.Account)
		}
	} else if sp.Env.Region == nil || *sp.Env.Region != region {
		panic(fmt.Sprintf("twinstream: NewRegionalStack: StackProps.Env.Region must be %q (props.Region)", region))
	}
	if sp.Description == nil {
		sp.Description = jsii.String(fmt.Sprintf("twinstream %s, region %s: ALB, ingest pipeline, alarms", cfg.Name, region))
	}
	if sp.TerminationProtection == nil {
		sp.TerminationProtection = jsii.Bool(cfg.TerminationProtected())
	}
	if sp.CrossRegionReferences == nil {
		sp.CrossRegionReferences = jsii.Bool(true)
	}

	s := &RegionalStack{azs: cfg.AZs(region)}
	awscdk.NewStack_Override(s, scope, jsii.String(id), &sp)

	pp := props.Pipeline
	if props.PipelineFor != nil {
		pp = mergeProps(pp, props.PipelineFor(s.Stack))
	} else {
		pp = mergeProps(pp, nil)
	}
	if pp.Name != "" && pp.Name != cfg.Name {
		panic(fmt.Sprintf("twinstream: NewRegionalStack: Pipeline.Name = %q: the pipeline is named by Config.Name (%q); leave it unset", pp.Name, cfg.Name))
	}
	if pp.ApiKeys != nil {
		panic(fmt.Sprintf("twinstream: NewRegionalStack: Pipeline.ApiKeys is set: the stack provides the API-key secret (%s, created in the primary region and replicated); leave it unset", apiKeysSecretName(cfg)))
	}
	removal := pp.RemovalPolicy
	if removal == "" {
		removal = awscdk.RemovalPolicy_RETAIN
	}

	s.Vpc = s.newVpc(removal)
	s.LogsBucket = pp.ExistingLogsBucket
	if s.LogsBucket == nil {
		s.LogsBucket = s.newLogsBucket(removal, pp.LogsBucketProps)
	}
	s.ApiKeys = s.newApiKeys(cfg, region)

	// One logs bucket per region: the ALB's access logs and the pipeline's
	// bucket access logs. Every region asks for the secret by name (the
	// replicas have the primary's name). Pipeline props win over the
	// configuration's reserved concurrency.
	pp.Name, pp.ApiKeys = cfg.Name, s.ApiKeys
	pp.ExistingLogsBucket, pp.LogsBucketProps = s.LogsBucket, nil
	pp.Ingest = mergeProps(&FunctionSettings{ReservedConcurrency: configConcurrency(cfg.IngestReservedConcurrency)}, pp.Ingest)
	pp.Health = mergeProps(&FunctionSettings{ReservedConcurrency: configConcurrency(cfg.HealthReservedConcurrency)}, pp.Health)
	s.Pipeline = NewPipeline(s, "Pipeline", pp)
	if s.ApiKeysReady != nil {
		// The functions that read the keys start once the secret exists.
		s.Pipeline.IngestFunction.Node().AddDependency(s.ApiKeysReady)
		s.Pipeline.HealthFunction.Node().AddDependency(s.ApiKeysReady)
	}

	s.newLoadBalancer(cfg, region)
	alarms := s.newAlarms(cfg, removal)
	s.Dashboard = s.dashboard(cfg, region, alarms)
	s.outputs(cfg)
	if d := cfg.Domain; d != nil {
		placeholderDomainRule(s.Stack, d)
	}
	return s
}

// AvailabilityZones overrides Stack.availabilityZones with the configured
// AZs (a jsii override: NewRegionalStack creates the stack with
// NewStack_Override, so CDK's own code calls this method). CDK's Vpc reads it
// to check the AZs it is given; in a stack with an account and a region it
// would otherwise start an AZ context lookup, which needs credentials and
// answers dummy AZs until the CLI has made it.
func (s *RegionalStack) AvailabilityZones() *[]*string {
	return jsii.Strings(s.azs...)
}

// newVpc: public subnets only in the two configured AZs, no NAT gateways
// (Lambda targets need none: the ALB invokes them through the Lambda API),
// all traffic logged.
func (s *RegionalStack) newVpc(removal awscdk.RemovalPolicy) awsec2.Vpc {
	// Kept like the access logs when the stack goes (unless the pipeline's
	// RemovalPolicy is DESTROY): they may be what an investigation needs.
	// The retention still expires them.
	flowLogs := awslogs.NewLogGroup(s, jsii.String("FlowLogs"), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_THREE_MONTHS,
		RemovalPolicy: removal,
	})
	vpc := awsec2.NewVpc(s, jsii.String("Vpc"), &awsec2.VpcProps{
		AvailabilityZones: jsii.Strings(s.azs...),
		NatGateways:       jsii.Number(0),
		SubnetConfiguration: &[]*awsec2.SubnetConfiguration{{
			Name:       jsii.String("Public"),
			SubnetType: awsec2.SubnetType_PUBLIC,
			CidrMask:   jsii.Number(24),
		}},
		// Nothing uses the default security group; restricting it would add a
		// Node.js custom resource with a managed-policy role to every region.
		RestrictDefaultSecurityGroup: jsii.Bool(false),
		FlowLogs: &map[string]*awsec2.FlowLogOptions{
			"FlowLog": {
				Destination: awsec2.FlowLogDestination_ToCloudWatchLogs(flowLogs, nil),
				TrafficType: awsec2.FlowLogTrafficType_ALL,
			},
		},
	})
	awscdk.Validations_Of(vpc).Acknowledge(&awscdk.Acknowledgment{
		Id:     jsii.String("CloudFormation-Validate::W3010"),
		Reason: jsii.String("the AZs are named in the configuration on purpose: synth never looks them up (no credentials) and never falls back to dummy AZs"),
	})
	return vpc
}

// newLogsBucket holds the ALB access logs and the pipeline buckets' server
// access logs, for 90 days. ALB access logs require SSE-S3 (SSE-KMS is not
// supported), and so do S3 server access logs. ACLs are disabled
// (BucketOwnerEnforced) whatever the app's feature flags: both kinds of
// logs arrive under the bucket policy (Pipeline.logTo and
// ApplicationLoadBalancer.LogAccessLogs add the statements). props are laid
// over these defaults (PipelineProps.LogsBucketProps).
func (s *RegionalStack) newLogsBucket(removal awscdk.RemovalPolicy, props *awss3.BucketProps) awss3.Bucket {
	def := pipelineSecureBucket(removal, awss3.BucketEncryption_S3_MANAGED)
	def.LifecycleRules = &[]*awss3.LifecycleRule{{
		Id:         jsii.String("expire-logs"),
		Expiration: awscdk.Duration_Days(jsii.Number(90)),
	}}
	b := awss3.NewBucket(s, jsii.String("LogsBucket"), pipelineBucketRules{
		prop: "LogsBucketProps", encryption: []awss3.BucketEncryption{awss3.BucketEncryption_S3_MANAGED},
	}.bucketProps(props, def))
	cdknag.NagSuppressions_AddResourceSuppressions(b, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-S1"),
		Reason: jsii.String("this is the access-log bucket itself: logging it into itself would log its own log writes forever"),
	}}, jsii.Bool(false))
	return b
}

// newLoadBalancer builds the ALB, its listeners, target groups and DNS.
func (s *RegionalStack) newLoadBalancer(cfg *Config, region string) {
	sg := awsec2.NewSecurityGroup(s, jsii.String("LoadBalancerSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc:         s.Vpc,
		Description: jsii.String("twinstream ALB: producers from anywhere"),
		// The ALB invokes its Lambda targets through the Lambda API, not the
		// network: it needs no outbound rule.
		AllowAllOutbound: jsii.Bool(false),
	})
	cdknag.NagSuppressions_AddResourceSuppressions(sg, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-EC23"),
		Reason: jsii.String("public ingest endpoint: producers connect from anywhere, and Global Accelerator with client IP preservation presents their own addresses, so no narrower source range exists; API keys authenticate"),
	}}, jsii.Bool(false))

	alb := elbv2.NewApplicationLoadBalancer(s, jsii.String("LoadBalancer"), &elbv2.ApplicationLoadBalancerProps{
		Vpc:            s.Vpc,
		InternetFacing: jsii.Bool(true),
		VpcSubnets:     &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PUBLIC},
		SecurityGroup:  sg,
		// Requests with header names that are not valid HTTP never reach the
		// handlers.
		DropInvalidHeaderFields: jsii.Bool(true),
		// Deletion protection stays off: the ALB holds no data and the stack
		// recreates it; with it on, any replacement or `cdk destroy` of the
		// stack fails until someone turns it off by hand. Guard the stack with
		// termination protection instead.
		DeletionProtection: jsii.Bool(false),
	})
	alb.LogAccessLogs(s.LogsBucket, jsii.String("alb"))
	s.LoadBalancer = alb
	if cfg.RateLimit() > 0 || cfg.HealthRateLimit() > 0 {
		s.WebACL = regionalRateLimit(s, cfg, alb)
	}

	notFound := elbv2.ListenerAction_FixedResponse(jsii.Number(404), &elbv2.FixedResponseOptions{
		ContentType: jsii.String("application/json"),
		MessageBody: jsii.String(`{"error":"not found"}`),
	})
	var listener elbv2.ApplicationListener
	if d := cfg.Domain; d != nil {
		s.RegionalName = jsii.String(d.RegionalName(region))
		s.HealthCheckPort = 443
		zone := awsroute53.HostedZone_FromHostedZoneAttributes(s, jsii.String("Zone"), &awsroute53.HostedZoneAttributes{
			HostedZoneId: jsii.String(d.HostedZoneID),
			ZoneName:     jsii.String(d.ZoneName),
		})
		cert := awscertificatemanager.NewCertificate(s, jsii.String("Certificate"), &awscertificatemanager.CertificateProps{
			DomainName: jsii.String(d.RecordName),
			// The producers' name (served by the accelerator), this region's name
			// and the failover pair's name all reach this ALB over TLS.
			SubjectAlternativeNames: jsii.Strings(*s.RegionalName, d.FailoverName()),
			Validation:              awscertificatemanager.CertificateValidation_FromDns(zone),
		})
		sg.AddIngressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(443)), jsii.String("HTTPS from anywhere"), nil)
		sg.AddIngressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(80)), jsii.String("HTTP from anywhere, redirected to HTTPS"), nil)
		listener = alb.AddListener(jsii.String("Https"), &elbv2.BaseApplicationListenerProps{
			Port:         jsii.Number(443),
			Protocol:     elbv2.ApplicationProtocol_HTTPS,
			Certificates: &[]elbv2.IListenerCertificate{elbv2.ListenerCertificate_FromCertificateManager(cert)},
			// ELBSecurityPolicy-TLS13-1-2-PQ-2025-09: TLS 1.3 and 1.2 only,
			// with post-quantum hybrid key exchange (CDK's default under the
			// usePostQuantumTlsPolicy flag; set here so no flag changes it).
			SslPolicy:     elbv2.SslPolicy_TLS13_12_PQ,
			DefaultAction: notFound,
			Open:          jsii.Bool(false), // the security group rules above
		})
		alb.AddListener(jsii.String("Http"), &elbv2.BaseApplicationListenerProps{
			Port:     jsii.Number(80),
			Protocol: elbv2.ApplicationProtocol_HTTP,
			DefaultAction: elbv2.ListenerAction_Redirect(&elbv2.RedirectOptions{
				Protocol:  jsii.String("HTTPS"),
				Port:      jsii.String("443"),
				Permanent: jsii.Bool(true),
			}),
			Open: jsii.Bool(false),
		})
		awsroute53.NewARecord(s, jsii.String("RegionalRecord"), &awsroute53.ARecordProps{
			Zone:       zone,
			RecordName: s.RegionalName,
			Target:     awsroute53.RecordTarget_FromAlias(awsroute53targets.NewLoadBalancerTarget(alb, nil)),
			Comment:    jsii.String("twinstream " + cfg.Name + ": this region's ALB, bypassing the accelerator"),
		})
	} else {
		s.HealthCheckPort = 80
		sg.AddIngressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(80)), jsii.String("HTTP from anywhere"), nil)
		listener = alb.AddListener(jsii.String("Http"), &elbv2.BaseApplicationListenerProps{
			Port:          jsii.Number(80),
			Protocol:      elbv2.ApplicationProtocol_HTTP,
			DefaultAction: notFound,
			Open:          jsii.Bool(false),
		})
		awscdk.Annotations_Of(s).AddWarningV2(jsii.String("twinstream:no-tls"),
			jsii.String("no domain configured: the ALB and the accelerator listen on plain HTTP; set domain in cdk.json for TLS"), nil)
	}

	// The failover wiring (both target groups, their health checks and
	// rules) is the pipeline's own: see AttachToListener. The target groups
	// are the stack's children, as they were before the method existed, so
	// their logical ids stay.
	tgs := s.Pipeline.AttachToListener(listener, &ListenerAttachmentProps{Scope: s})
	s.IngestTargetGroup, s.HealthTargetGroup = tgs.Ingest, tgs.Health

	var endpoint *string
	if s.RegionalName != nil {
		endpoint = jsii.String("https://" + *s.RegionalName + "/v1/records")
	} else {
		endpoint = awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("http://"), alb.LoadBalancerDnsName(), jsii.String("/v1/records")})
	}
	awscdk.NewCfnOutput(s, jsii.String(OutputLoadBalancerDNSName), &awscdk.CfnOutputProps{
		Value:       alb.LoadBalancerDnsName(),
		Description: jsii.String("DNS name of this region's ALB"),
	})
	awscdk.NewCfnOutput(s, jsii.String(OutputEndpointURL), &awscdk.CfnOutputProps{
		Value:       endpoint,
		Description: jsii.String("this region's ingest URL, bypassing the accelerator"),
	})
}

// newAlarms: everything that means data waits or needs a human (see
// alarmSpecs, which says how each treats missing data). Alarms go to one
// topic per region, SSE-KMS encrypted and TLS-only; an email address is
// subscribed when configured. It returns the alarms in order.
func (s *RegionalStack) newAlarms(cfg *Config, removal awscdk.RemovalPolicy) []awscloudwatch.IAlarm {
	kp := &awskms.KeyProps{
		Description:       jsii.String("twinstream " + cfg.Name + " alarm topic"),
		EnableKeyRotation: jsii.Bool(true),
		// The key only protects alarm notifications in flight: it goes with
		// the stack (KMS waits 30 days, or 7 for a pipeline destroyed
		// with it).
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	}
	if removal == awscdk.RemovalPolicy_DESTROY {
		kp.PendingWindow = awscdk.Duration_Days(jsii.Number(pipelineKeyPendingWindow.Hours() / 24))
	}
	key := awskms.NewKey(s, jsii.String("AlarmTopicKey"), kp)
	// CloudWatch publishes to an encrypted topic only with a customer managed
	// key that lets it use the key.
	key.Grant(awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil),
		jsii.String("kms:Decrypt"), jsii.String("kms:GenerateDataKey*"))
	topic := awssns.NewTopic(s, jsii.String("AlarmTopic"), &awssns.TopicProps{
		DisplayName: jsii.String("twinstream " + cfg.Name + " alarms"),
		MasterKey:   key,
		EnforceSSL:  jsii.Bool(true),
	})
	// enforceSSL gives the topic a policy, which replaces SNS's default one:
	// CloudWatch may publish only for this account's alarms.
	topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AllowAlarmsOfThisAccount"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  &[]*string{topic.TopicArn()},
		Conditions: &map[string]any{
			"ArnLike": map[string]any{"aws:SourceArn": s.FormatArn(&awscdk.ArnComponents{
				Service: jsii.String("cloudwatch"), Resource: jsii.String("alarm"), ResourceName: jsii.String("*"),
				ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
			})},
			"StringEquals": map[string]any{"aws:SourceAccount": s.Account()},
		},
	}))
	if cfg.AlarmEmail != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(cfg.AlarmEmail), nil))
	}
	s.AlarmTopic = topic
	action := awscloudwatchactions.NewSnsAction(topic)

	s.Alarms = map[string]awscloudwatch.Alarm{}
	var order []awscloudwatch.IAlarm
	for _, a := range s.alarmSpecs() {
		periods := max(a.periods, 1)
		var points *float64 // all of the periods unless the spec says
		if a.datapoints > 0 {
			points = jsii.Number(a.datapoints)
		}
		op := a.op
		if op == "" {
			op = awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD
		}
		alarm := awscloudwatch.NewAlarm(s, jsii.String(a.id), &awscloudwatch.AlarmProps{
			Metric:             a.metric,
			Threshold:          jsii.Number(a.threshold),
			EvaluationPeriods:  jsii.Number(periods),
			DatapointsToAlarm:  points,
			ComparisonOperator: op,
			TreatMissingData:   a.missing,
			AlarmDescription:   jsii.String(a.what + " " + a.whenMissing),
		})
		alarm.AddAlarmAction(action)
		alarm.AddOkAction(action)
		s.Alarms[a.id] = alarm
		order = append(order, alarm)
	}
	return order
}

// regionalAlarm is one of the region's alarms, with the reason for its
// missing-data behaviour.
type regionalAlarm struct {
	id, what            string
	metric              awscloudwatch.IMetric
	threshold           float64
	op                  awscloudwatch.ComparisonOperator // default GreaterThanThreshold
	periods, datapoints float64                          // defaults 1, and all of them
	missing             awscloudwatch.TreatMissingData
	// whenMissing says, in the alarm's description, what missing data means
	// for it and why the alarm treats it as it does.
	whenMissing string
}

// alarmSpecs are the region's alarms. CloudWatch degraded with Kinesis in
// 2020 and alarms went to INSUFFICIENT_DATA, silently: so no alarm here
// leaves missing data to CloudWatch's default (missing), and each treats it
// by what its metric's absence means:
//   - counts of events (spilled records, processor errors, old spill
//     objects): the metric is written when the event's source runs, so no
//     data is "nothing happened" → notBreaching;
//   - states a service reports while it is active (queue depths, the ALB's
//     unhealthy targets): no data is no new reading → ignore, the alarm keeps
//     its state, so a CloudWatch outage neither raises nor clears it;
//   - heartbeats that must always report (the health function's verdict on
//     every probe, and the processor's iterator age, which the health
//     canaries keep flowing): no data is the reporter stopped or CloudWatch
//     blind → breaching, so blindness is heard (HealthVerdictAlarm is the
//     one that says "CloudWatch may be blind": `twinstream status` asks the
//     services themselves).
func (s *RegionalStack) alarmSpecs() []regionalAlarm {
	p := s.Pipeline
	minute := awscdk.Duration_Minutes(jsii.Number(1))
	stat := func(st string, period awscdk.Duration) *awscloudwatch.MetricOptions {
		return &awscloudwatch.MetricOptions{Statistic: jsii.String(st), Period: period}
	}
	// Replay tries every waiting spill object at least once per visibility
	// timeout of the replay queue (6x the replay timeout): a period one
	// minute longer holds a try of each, so a period without data is one
	// without a waiting object.
	retry := time.Duration(pipelineVisibilityFactor) * p.ReplayTimeout
	backlogPeriod := (retry + time.Minute - 1).Truncate(time.Minute) + time.Minute
	errors := awscloudwatch.IMetric(p.MetricProcessorErrors(stat("Sum", minute)))
	if p.defaultProcessor {
		errors = awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression: jsii.String("FILL(errors, 0) + FILL(putFailures, 0)"),
			UsingMetrics: &map[string]awscloudwatch.IMetric{
				"errors":      p.MetricProcessorErrors(stat("Sum", minute)),
				"putFailures": p.Metric(metrics.S3PutFailures, stat("Sum", minute)),
			},
			Label:  jsii.String("processor errors and failed sink puts"),
			Period: minute,
		})
	}
	return []regionalAlarm{
		{id: "IteratorAgeAlarm", what: "The processor is more than 5 minutes behind the stream for 3 minutes: records reach the sink late.",
			metric: p.MetricIteratorAge(stat("Maximum", minute)), threshold: float64(IteratorAgeThreshold.Milliseconds()), periods: 3,
			missing: awscloudwatch.TreatMissingData_BREACHING,
			whenMissing: "Missing data is breaching: the health canaries keep records in the stream, so a working mapping invokes the processor every few seconds; " +
				"3 minutes without an iterator age means the processor is not being invoked (mapping disabled or failing, Kinesis not taking writes: see the region health alarms) or CloudWatch is not receiving Lambda's metrics."},
		{id: "SpilledAlarm", what: "Ingest spilled records to S3: Kinesis did not take them; replay writes them back after recovery.",
			metric: p.MetricSpilled(stat("Sum", minute)), threshold: 0,
			missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
			whenMissing: "Missing data is not breaching: ingest writes a line for every request, so no data means no request reached ingest (no traffic, or traffic moved to another region) " +
				"or CloudWatch is not extracting the lines' metrics (HealthVerdictAlarm reports that)."},
		{id: "ReplayDeadLetterAlarm", what: "Spill notifications in the replay dead-letter queue: spilled objects wait for a manual replay.",
			metric: p.ReplayDeadLetterQueue.MetricApproximateNumberOfMessagesVisible(stat("Maximum", minute)), threshold: 0,
			missing: awscloudwatch.TreatMissingData_IGNORE,
			whenMissing: "Missing data is ignored (the alarm keeps its state): SQS reports a queue only while it is active, and a dead-letter queue left alone goes quiet with its messages still in it; " +
				"a CloudWatch outage neither raises nor clears the alarm."},
		{id: "ProcessorFailureAlarm", what: "The processor gave up on stream batches: their records are described in the on-failure queue and missing from the sink.",
			metric: p.ProcessorFailureQueue.MetricApproximateNumberOfMessagesVisible(stat("Maximum", minute)), threshold: 0,
			missing: awscloudwatch.TreatMissingData_IGNORE,
			whenMissing: "Missing data is ignored (the alarm keeps its state): SQS reports a queue only while it is active, and a failure queue left alone goes quiet with its messages still in it; " +
				"a CloudWatch outage neither raises nor clears the alarm."},
		{id: "RegionUnhealthyAlarm", what: "The ALB counts the deep health check failing: this region's Kinesis (or Secrets Manager) does not serve and Global Accelerator sends traffic to the other regions.",
			metric: s.HealthTargetGroup.Metrics().UnhealthyHostCount(stat("Maximum", minute)), threshold: 0,
			missing: awscloudwatch.TreatMissingData_IGNORE,
			whenMissing: "Missing data is ignored (the alarm keeps its state): no datapoint is no new reading of the target group, so a CloudWatch outage neither clears an unhealthy region nor raises a healthy one " +
				"(HealthVerdictAlarm reports the silence)."},
		{id: "HealthVerdictAlarm", what: "The region health function judged this region unhealthy (Kinesis or the API-key secret failing here) in 2 of the last 3 minutes, or reported nothing in 2 of them.",
			metric: p.Metric(metrics.RegionHealthy, stat("Minimum", minute)), threshold: 1, op: awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD,
			periods: 3, datapoints: 2,
			missing: awscloudwatch.TreatMissingData_BREACHING,
			whenMissing: "Missing data is breaching: the ALB checks /health/deep every 5 seconds and every probe logs a verdict, so silence means the health function is not running " +
				"or CloudWatch is not receiving its logs (in 2020 alarms went quietly INSUFFICIENT_DATA when CloudWatch failed with Kinesis). Check with `twinstream status`, which asks the services directly."},
		{id: "ReplayBacklogAgeAlarm", what: fmt.Sprintf("Replay tried a spill object older than %s: spilled records have waited that long to get back into the stream (Kinesis still failing, or replay failing).", SpillAgeThreshold),
			metric: p.Metric(metrics.SpillAge, stat("Maximum", awscdk.Duration_Seconds(jsii.Number(backlogPeriod.Seconds())))), threshold: SpillAgeThreshold.Seconds(),
			missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
			whenMissing: fmt.Sprintf("Missing data is not breaching: replay tries every waiting object at least every %s, within each %s period, so a period without a try is one without a waiting object "+
				"(or CloudWatch is not extracting replay's metrics: HealthVerdictAlarm reports that).", retry, backlogPeriod)},
		{id: "ProcessorErrorsAlarm", what: "The processor failed in each of the last 3 minutes (function errors, or sink writes failing for the default processor): Lambda retries and the records wait in the stream.",
			metric: errors, threshold: 0, periods: 3,
			missing:     awscloudwatch.TreatMissingData_NOT_BREACHING,
			whenMissing: "Missing data is not breaching: no invocation, no error (a processor that is not invoked at all raises IteratorAgeAlarm)."},
	}
}

// regionalRateLimit puts a WAF web ACL in front of the ALB with up to two
// per-client-IP rate-based rules, each answering 429 (JSON, Retry-After: 60)
// until the address's rate drops:
//   - RateLimitPerIp: requests to /v1/records, Config.RateLimit() per 5
//     minutes;
//   - HealthRateLimitPerIp: requests to /health paths, Config.HealthRateLimit()
//     per 5 minutes, generous enough for Route 53's checkers (see
//     DefaultHealthRateLimitPerIP).
//
// Global Accelerator preserves client IPs, so the limits apply per producer,
// not per accelerator edge. The ALB's own target-group health checks never
// pass through the web ACL: the ALB invokes Lambda targets directly, while
// WAF inspects the requests clients send to the listeners.
func regionalRateLimit(s *RegionalStack, cfg *Config, alb elbv2.ApplicationLoadBalancer) awswafv2.CfnWebACL {
	visibility := func(metric string) *awswafv2.CfnWebACL_VisibilityConfigProperty {
		return &awswafv2.CfnWebACL_VisibilityConfigProperty{
			CloudWatchMetricsEnabled: jsii.Bool(true),
			MetricName:               jsii.String(cfg.Name + metric),
			SampledRequestsEnabled:   jsii.Bool(true),
		}
	}
	rule := func(name string, priority, limit int, pathPrefix string) *awswafv2.CfnWebACL_RuleProperty {
		return &awswafv2.CfnWebACL_RuleProperty{
			Name:     jsii.String(name),
			Priority: jsii.Number(float64(priority)),
			Action: &awswafv2.CfnWebACL_RuleActionProperty{Block: &awswafv2.CfnWebACL_BlockActionProperty{
				CustomResponse: &awswafv2.CfnWebACL_CustomResponseProperty{
					ResponseCode:          jsii.Number(429),
					CustomResponseBodyKey: jsii.String("rateLimited"),
					ResponseHeaders:       []any{&awswafv2.CfnWebACL_CustomHTTPHeaderProperty{Name: jsii.String("Retry-After"), Value: jsii.String("60")}},
				},
			}},
			Statement: &awswafv2.CfnWebACL_StatementProperty{RateBasedStatement: &awswafv2.CfnWebACL_RateBasedStatementProperty{
				Limit:               jsii.Number(float64(limit)),
				AggregateKeyType:    jsii.String("IP"),
				EvaluationWindowSec: jsii.Number(300),
				ScopeDownStatement: &awswafv2.CfnWebACL_StatementProperty{ByteMatchStatement: &awswafv2.CfnWebACL_ByteMatchStatementProperty{
					FieldToMatch:         &awswafv2.CfnWebACL_FieldToMatchProperty{UriPath: map[string]any{}},
					PositionalConstraint: jsii.String("STARTS_WITH"),
					SearchString:         jsii.String(pathPrefix),
					TextTransformations:  []any{&awswafv2.CfnWebACL_TextTransformationProperty{Priority: jsii.Number(0), Type: jsii.String("NONE")}},
				}},
			}},
			VisibilityConfig: visibility(name),
		}
	}
	var rules []any
	var scopes []string
	if limit := cfg.RateLimit(); limit > 0 {
		rules = append(rules, rule("RateLimitPerIp", 0, limit, "/v1/records"))
		scopes = append(scopes, "/v1/records")
	}
	// Paths starting with /health: the listener sends /health and /health/*
	// to the health function; other such paths get the ALB's 404 and count
	// against the same limit.
	if limit := cfg.HealthRateLimit(); limit > 0 {
		rules = append(rules, rule("HealthRateLimitPerIp", 1, limit, "/health"))
		scopes = append(scopes, "/health")
	}
	acl := awswafv2.NewCfnWebACL(s, jsii.String("WebAcl"), &awswafv2.CfnWebACLProps{
		Scope:            jsii.String("REGIONAL"),
		Description:      jsii.String(fmt.Sprintf("%s: per-client-IP rate limits on %s", cfg.Name, strings.Join(scopes, " and "))),
		DefaultAction:    &awswafv2.CfnWebACL_DefaultActionProperty{Allow: &awswafv2.CfnWebACL_AllowActionProperty{}},
		VisibilityConfig: visibility("WebAcl"),
		CustomResponseBodies: map[string]any{
			"rateLimited": &awswafv2.CfnWebACL_CustomResponseBodyProperty{
				ContentType: jsii.String("APPLICATION_JSON"),
				Content:     jsii.String(`{"error":"rate limited: too many requests from this IP address, retry later"}`),
			},
		},
		Rules: rules,
	})
	awswafv2.NewCfnWebACLAssociation(s, jsii.String("WebAclAssociation"), &awswafv2.CfnWebACLAssociationProps{
		ResourceArn: alb.LoadBalancerArn(),
		WebAclArn:   acl.AttrArn(),
	})
	return acl
}
