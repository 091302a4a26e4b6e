package stacks

import (
	"fmt"
	"math"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	elbv2 "github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/twinstream/twinstream/lambdas/metrics"
)

// Metric names of ingest's accepted and spilled records, as the log metric
// filters named them before the handlers emitted EMF (metrics.Accepted and
// metrics.Spilled carry the same names, so dashboards and alarms built on
// them keep their data).
const (
	MetricNameAccepted = "AcceptedRecords"
	MetricNameSpilled  = "SpilledRecords"
)

// MetricNamespace is the CloudWatch namespace of the pipeline's own metrics:
// "Twinstream/<Name>/<stack name>". The construct gives it to the four
// functions as METRICS_NAMESPACE, and each handler writes its metrics (the
// catalogue of package github.com/twinstream/twinstream/lambdas/metrics)
// into the log line it writes per request, batch or probe, in CloudWatch
// Embedded Metric Format: no CloudWatch call on the request path, so an
// impaired CloudWatch (it degraded with Kinesis in 2020) can neither slow
// nor fail ingest.
//
// The namespace is what keeps two pipelines' figures apart, so the metrics
// need no dimension naming the pipeline or the region. CloudFormation stack
// names are unique in an account and region, and an app refuses two
// pipelines of one Name in one region (see NewPipeline), so no two pipelines
// that can publish to one account and region share a namespace, even with
// one Name in two apps. (Two apps deploying Deployments of one Name to one
// account share their stack names, that is, they are the same stacks: see
// NewDeployment.)
func (p *Pipeline) MetricNamespace() *string {
	return jsii.String("Twinstream/" + p.name + "/" + *awscdk.Stack_Of(p.Construct).StackName())
}

// pipelineMetricOptions copies o (which may be nil) and sets its statistic to stat
// unless the caller chose one.
func pipelineMetricOptions(o *awscloudwatch.MetricOptions, stat string) *awscloudwatch.MetricOptions {
	c := awscloudwatch.MetricOptions{}
	if o != nil {
		c = *o
	}
	if c.Statistic == nil {
		c.Statistic = jsii.String(stat)
	}
	return &c
}

// Metric is one of the handlers' metrics (metrics.All lists them: name,
// unit, dimension, the handler that emits it) in this pipeline's namespace,
// read with the catalogue's Statistic unless o sets one (CloudWatch's
// default period, 5 minutes, unless o sets one). A metric with a dimension
// (ingest's metrics.StatusClass) needs its value in o.DimensionsMap, e.g.
// {"StatusClass": "5xx"}: CloudWatch holds such a metric only with its
// dimension, so it panics without one; any other dimension panics too. The
// processor's metrics exist only while ProcessorHandler is the default,
// HandlerProcessor; a team's processor may emit its own through package
// metrics into this namespace (METRICS_NAMESPACE).
func (p *Pipeline) Metric(m metrics.Metric, o *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	if m.Name == "" {
		panic("twinstream: Pipeline.Metric: the metric has no name: pass one of package metrics' catalogue")
	}
	c := pipelineMetricOptions(o, m.Statistic)
	var dims []string
	if c.DimensionsMap != nil {
		for k := range *c.DimensionsMap {
			dims = append(dims, k)
		}
	}
	switch {
	case m.Dimension == "" && len(dims) > 0:
		panic(fmt.Sprintf("twinstream: Pipeline.Metric: %s has no dimensions, got %v", m.Name, dims))
	case m.Dimension != "" && (len(dims) != 1 || (*c.DimensionsMap)[m.Dimension] == nil):
		panic(fmt.Sprintf("twinstream: Pipeline.Metric: %s needs DimensionsMap {%q: value} (e.g. %q), got %v", m.Name, m.Dimension, metrics.Status5xx, dims))
	}
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:  p.MetricNamespace(),
		MetricName: jsii.String(m.Name),
	}).With(c)
}

// MetricAccepted is the number of records ingest stored (in Kinesis or in
// the spill bucket) and answered as stored (metrics.Accepted; namespace
// MetricNamespace, no dimensions). Default statistic Sum.
func (p *Pipeline) MetricAccepted(o *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return p.Metric(metrics.Accepted, o)
}

// MetricSpilled is the number of accepted records that went to the spill
// bucket because Kinesis did not take them (metrics.Spilled). Default
// statistic Sum.
func (p *Pipeline) MetricSpilled(o *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return p.Metric(metrics.Spilled, o)
}

// MetricIteratorAge is the processor's IteratorAge (AWS/Lambda, ms, by its
// FunctionName): how far the processor lags behind the stream. Default
// statistic Maximum.
func (p *Pipeline) MetricIteratorAge(o *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return p.processor.Metric(jsii.String("IteratorAge"), pipelineMetricOptions(o, "Maximum"))
}

// MetricProcessorErrors is the processor's Errors (AWS/Lambda, by its
// FunctionName): invocations that failed as a whole (a crash, a timeout, an
// error returned), which Lambda retries; records a batch reports as
// BatchItemFailures are not errors (metrics.FailedRecords counts those).
// Default statistic Sum.
func (p *Pipeline) MetricProcessorErrors(o *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return p.processor.MetricErrors(pipelineMetricOptions(o, "Sum"))
}

// The ALB wiring AttachToListener sets up: the paths the listener rules
// send to the two functions, and the target groups' health checks.
//
// The region-health target group checks DeepHealthPath, where the health
// function writes a canary record to this region's stream: with the
// shortest timing ALB allows. The ranges, from CreateTargetGroup in the ELB
// API reference
// (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html):
// HealthCheckIntervalSeconds 5-300 (35 s default for lambda targets),
// HealthCheckTimeoutSeconds 2-120 (30 s default for lambda targets; it must
// be below the interval), HealthyThresholdCount and UnhealthyThresholdCount
// 2-10. So the ALB marks the region unhealthy 2 x 5 s after the health
// handler starts failing the deep check (it fails after its own
// hysteresis), and healthy again after 2 good probes.
const (
	// IngestPath is the producers' path: POST /v1/records.
	IngestPath = "/v1/records"
	// DeepHealthPath is the deep check: does this region's stream take
	// writes (and can this region read the API keys)? Route 53's health
	// checks probe it too.
	DeepHealthPath      = "/health/deep"
	DeepHealthInterval  = 5 * time.Second
	DeepHealthTimeout   = 4 * time.Second // below the interval, as ALB requires
	DeepHealthThreshold = 2               // healthy and unhealthy
	// IngestHealthPath is the ingest target group's shallow check (the
	// function answers); it decides nothing about failover.
	IngestHealthPath      = "/health"
	IngestHealthInterval  = 30 * time.Second
	IngestHealthTimeout   = 5 * time.Second
	IngestHealthThreshold = 2
)

// HealthPaths are the paths the listener sends to the health function.
func HealthPaths() []string { return []string{"/health", "/health/*"} }

// ListenerAttachmentProps configure AttachToListener. Every field may be
// left out.
type ListenerAttachmentProps struct {
	// Scope holds the two target groups, with the construct ids
	// "IngestTargetGroup" and "HealthTargetGroup" (their logical ids
	// follow). Default: the Pipeline. A scope holds one attachment: attach
	// to a second listener with another scope.
	Scope constructs.Construct
	// IngestPriority and HealthPriority are the listener rules' priorities,
	// whole numbers from 1 to 50000, different from each other and from
	// the listener's other rules. Defaults 10 and 20.
	IngestPriority, HealthPriority *float64
}

// PipelineTargetGroups are the target groups AttachToListener made.
type PipelineTargetGroups struct {
	// Ingest serves IngestPath from the ingest function.
	Ingest elbv2.ApplicationTargetGroup
	// Health serves HealthPaths from the health function; its check on
	// DeepHealthPath is the region's health: Global Accelerator moves
	// traffic off the ALB when this group has no healthy target.
	Health elbv2.ApplicationTargetGroup
}

// AttachToListener wires the pipeline behind an ALB listener, the way
// failover needs it: a rule sending IngestPath to the ingest function, and
// one sending HealthPaths to the health function, in two lambda target
// groups whose health checks are enabled (Lambda target groups have them
// off by default).
//
// Global Accelerator counts an ALB endpoint healthy only if EVERY target
// group behind it has at least one healthy target
// (https://docs.aws.amazon.com/global-accelerator/latest/dg/about-endpoint-groups-health-check-options.html).
// The region-health group's only target answers DeepHealthPath by writing a
// canary record to this region's stream: when Kinesis cannot take writes,
// that group has no healthy target, the whole ALB counts as unhealthy, and
// the accelerator sends producers to another region (about 30 s later). The
// ALB itself fails open and keeps invoking the unhealthy targets, which is
// harmless: ingest spills what Kinesis refuses.
//
// The listener keeps its default action for other paths (RegionalStack's
// answers a JSON 404). It panics when the scope already holds an attachment
// or the listener already has this pipeline's rules ("IngestRule",
// "HealthRule": one pipeline per listener, as the paths are fixed).
func (p *Pipeline) AttachToListener(listener elbv2.IApplicationListener, props *ListenerAttachmentProps) *PipelineTargetGroups {
	fail := func(format string, args ...any) {
		panic(fmt.Sprintf("twinstream: Pipeline.AttachToListener: "+format, args...))
	}
	if listener == nil {
		fail("listener is nil")
	}
	if props == nil {
		props = &ListenerAttachmentProps{}
	}
	var scope constructs.Construct = p.Construct
	if props.Scope != nil {
		scope = props.Scope
	}
	key := *scope.Node().Addr()
	if p.attachScopes[key] {
		fail("%s already holds this pipeline's target groups: pass another ListenerAttachmentProps.Scope", *scope.Node().Path())
	}
	for _, rule := range []string{"IngestRule", "HealthRule"} {
		if listener.Node().TryFindChild(jsii.String(rule)) != nil {
			fail("listener %s already has a rule %s: it serves a pipeline already (one per listener)", *listener.Node().Path(), rule)
		}
	}
	priority := func(prop string, v *float64, def float64) float64 {
		if v == nil {
			return def
		}
		if *v != math.Trunc(*v) || *v < 1 || *v > 50000 {
			fail("%s = %v: want a whole number from 1 to 50000", prop, *v)
		}
		return *v
	}
	ingestPrio := priority("IngestPriority", props.IngestPriority, 10)
	healthPrio := priority("HealthPriority", props.HealthPriority, 20)
	if ingestPrio == healthPrio {
		fail("IngestPriority and HealthPriority are both %v: want two priorities", ingestPrio)
	}

	secs := func(d time.Duration) awscdk.Duration { return awscdk.Duration_Seconds(jsii.Number(d.Seconds())) }
	tgs := &PipelineTargetGroups{
		Ingest: elbv2.NewApplicationTargetGroup(scope, jsii.String("IngestTargetGroup"), &elbv2.ApplicationTargetGroupProps{
			TargetType: elbv2.TargetType_LAMBDA,
			Targets:    &[]elbv2.IApplicationLoadBalancerTarget{p.IngestTarget()},
			HealthCheck: &elbv2.HealthCheck{
				Enabled:                 jsii.Bool(true),
				Path:                    jsii.String(IngestHealthPath),
				Interval:                secs(IngestHealthInterval),
				Timeout:                 secs(IngestHealthTimeout),
				HealthyThresholdCount:   jsii.Number(IngestHealthThreshold),
				UnhealthyThresholdCount: jsii.Number(IngestHealthThreshold),
			},
		}),
		Health: elbv2.NewApplicationTargetGroup(scope, jsii.String("HealthTargetGroup"), &elbv2.ApplicationTargetGroupProps{
			TargetType: elbv2.TargetType_LAMBDA,
			Targets:    &[]elbv2.IApplicationLoadBalancerTarget{p.HealthTarget()},
			HealthCheck: &elbv2.HealthCheck{
				Enabled:                 jsii.Bool(true),
				Path:                    jsii.String(DeepHealthPath),
				Interval:                secs(DeepHealthInterval),
				Timeout:                 secs(DeepHealthTimeout),
				HealthyThresholdCount:   jsii.Number(DeepHealthThreshold),
				UnhealthyThresholdCount: jsii.Number(DeepHealthThreshold),
			},
		}),
	}
	listener.AddTargetGroups(jsii.String("Ingest"), &elbv2.AddApplicationTargetGroupsProps{
		Priority:     jsii.Number(ingestPrio),
		Conditions:   &[]elbv2.ListenerCondition{elbv2.ListenerCondition_PathPatterns(jsii.Strings(IngestPath))},
		TargetGroups: &[]elbv2.IApplicationTargetGroup{tgs.Ingest},
	})
	listener.AddTargetGroups(jsii.String("Health"), &elbv2.AddApplicationTargetGroupsProps{
		Priority:     jsii.Number(healthPrio),
		Conditions:   &[]elbv2.ListenerCondition{elbv2.ListenerCondition_PathPatterns(jsii.Strings(HealthPaths()...))},
		TargetGroups: &[]elbv2.IApplicationTargetGroup{tgs.Health},
	})
	if p.attachScopes == nil {
		p.attachScopes = map[string]bool{}
	}
	p.attachScopes[key] = true
	return tgs
}

// IngestTarget is the ALB target for POST /v1/records (AttachToListener
// uses it). Like CDK's LambdaTarget, it registers the function with the
// target group and lets Elastic Load Balancing invoke it, but only on behalf
// of this account's target groups in this region (see elbTarget).
func (p *Pipeline) IngestTarget() elbv2.IApplicationLoadBalancerTarget {
	return &elbTarget{p: p, fn: p.ingest}
}

// HealthTarget is the ALB target of the region-health target group
// (/health, /health/deep); its permission is scoped like IngestTarget's.
func (p *Pipeline) HealthTarget() elbv2.IApplicationLoadBalancerTarget {
	return &elbTarget{p: p, fn: p.health}
}

// elbTarget is an ALB target (a Go implementation of the jsii interface
// IApplicationLoadBalancerTarget) for one of the pipeline's functions.
//
// CDK's LambdaTarget grants elasticloadbalancing.amazonaws.com
// lambda:InvokeFunction with no condition (aws/aws-cdk#8271), so any load
// balancer, in any account, could register and invoke the function. This
// permission adds SourceAccount (the stack's account) and SourceArn. The
// SourceArn cannot name the target group itself: CloudFormation registers
// the function in the target group's Targets when it creates the group,
// which ELB refuses unless the permission already exists, and a permission
// naming the group's ARN would have to wait for the group, a cycle
// (aws-cloudformation/cloudformation-coverage-roadmap#230: no separate
// target-registration resource exists). So SourceArn is the ArnLike pattern
// arn:<partition>:elasticloadbalancing:<region>:<account>:targetgroup/*,
// any target group of this account in this region, created before the
// group (the group DependsOn it, as LambdaTarget arranges too).
type elbTarget struct {
	p  *Pipeline
	fn awslambda.Function
}

// AttachToApplicationTargetGroup is called by CDK when the target is added
// to a target group.
func (t *elbTarget) AttachToApplicationTargetGroup(tg elbv2.IApplicationTargetGroup) *elbv2.LoadBalancerTargetProps {
	perm := t.p.elbInvokePermission(t.fn)
	tg.Node().AddDependency(perm)
	return &elbv2.LoadBalancerTargetProps{
		TargetType: elbv2.TargetType_LAMBDA,
		TargetJson: map[string]any{"id": t.fn.FunctionArn()},
	}
}

// elbInvokePermission is fn's one invoke permission for Elastic Load
// Balancing, created when fn is first attached to a target group.
func (p *Pipeline) elbInvokePermission(fn awslambda.Function) awslambda.CfnPermission {
	key := *fn.Node().Addr()
	if perm, ok := p.elbInvoke[key]; ok {
		return perm
	}
	stack := awscdk.Stack_Of(fn)
	perm := awslambda.NewCfnPermission(fn, jsii.String("InvokeFromElb"), &awslambda.CfnPermissionProps{
		Action:        jsii.String("lambda:InvokeFunction"),
		FunctionName:  fn.FunctionArn(),
		Principal:     jsii.String(ElbPrincipal),
		SourceAccount: stack.Account(),
		SourceArn: stack.FormatArn(&awscdk.ArnComponents{
			Service:      jsii.String("elasticloadbalancing"),
			Resource:     jsii.String("targetgroup"),
			ResourceName: jsii.String("*"),
			ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		}),
	})
	if p.elbInvoke == nil {
		p.elbInvoke = map[string]awslambda.CfnPermission{}
	}
	p.elbInvoke[key] = perm
	return perm
}

// ElbPrincipal is the service principal Elastic Load Balancing invokes
// Lambda targets as.
const ElbPrincipal = "elasticloadbalancing.amazonaws.com"

// GrantReadSink lets a consumer read the sink bucket (list and get objects,
// and decrypt when it has a KMS key).
func (p *Pipeline) GrantReadSink(grantee awsiam.IGrantable) awsiam.Grant {
	return p.SinkBucket.GrantRead(grantee, nil)
}

// GrantReadStream lets a consumer read the stream with the shared-throughput
// API (GetRecords, shared with the processor: 2 MB/s per shard in all), and
// decrypt it. A consumer that needs its own throughput uses
// AddStreamConsumer.
func (p *Pipeline) GrantReadStream(grantee awsiam.IGrantable) awsiam.Grant {
	return p.Stream.GrantRead(grantee)
}

// AddStreamConsumer registers an enhanced fan-out consumer on the stream,
// named consumerName (1-128 letters, digits, "_", "." or "-"; "" uses id):
// its reader gets its own 2 MB/s per shard, pushed over SubscribeToShard,
// without slowing the processor. Grant a reader with the consumer's
// GrantRead, and read with awslambdaeventsources.NewKinesisConsumerEventSource.
// Records carry the pipeline's envelope (see package lambdas/batch).
func (p *Pipeline) AddStreamConsumer(id, consumerName string) awskinesis.IStreamConsumer {
	if consumerName == "" {
		consumerName = id
	}
	if !pipelineConsumerRE.MatchString(consumerName) {
		panic(fmt.Sprintf("twinstream: Pipeline.AddStreamConsumer: name %q: want 1-128 letters, digits, \"_\", \".\" or \"-\"", consumerName))
	}
	return awskinesis.NewStreamConsumer(p.Construct, jsii.String(id), &awskinesis.StreamConsumerProps{
		Stream:             p.Stream,
		StreamConsumerName: jsii.String(consumerName),
	})
}

// nagObjectsRegex is the cdk-nag finding pattern for the object ARNs of
// bucket b under prefix: by logical id for a bucket the construct created
// (how cdk-nag names a GetAtt), by any ARN for a supplied one (imported
// buckets have literal ARNs).
func nagObjectsRegex(own bool, name, prefix string) string {
	if own {
		return `/^Resource::<[A-Za-z0-9]*` + name + `[0-9A-F]{8}\.Arn>\/` + prefix + `\*$/`
	}
	return `/^Resource::.*\/` + prefix + `\*$/`
}

// nagSuppressions records, on the narrowest construct, why the cdk-nag
// AwsSolutions findings that remain are accepted.
func (p *Pipeline) nagSuppressions() {
	suppress := func(c constructs.IConstruct, id, reason string, appliesTo ...string) {
		s := &cdknag.NagPackSuppression{Id: jsii.String(id), Reason: jsii.String(reason)}
		if len(appliesTo) > 0 {
			at := make([]interface{}, len(appliesTo))
			for i, a := range appliesTo {
				at[i] = &cdknag.RegexAppliesTo{Regex: jsii.String(a)}
			}
			s.AppliesTo = &at
		}
		cdknag.NagSuppressions_AddResourceSuppressions(c, &[]*cdknag.NagPackSuppression{s}, jsii.Bool(false))
	}
	suppressExact := func(c constructs.IConstruct, id, reason, appliesTo string) {
		cdknag.NagSuppressions_AddResourceSuppressions(c, &[]*cdknag.NagPackSuppression{{
			Id: jsii.String(id), Reason: jsii.String(reason), AppliesTo: &[]interface{}{appliesTo},
		}}, jsii.Bool(false))
	}
	if p.ownLogsBucket != nil {
		suppress(p.ownLogsBucket, "AwsSolutions-S1", "This is the server access log bucket itself: logging it into itself would log its own log deliveries without end.")
	}
	if p.ownStream != nil && p.StreamKey != nil {
		suppress(p.ownStream, "AwsSolutions-KDS3", "A customer-managed key is deliberate: its key policy is ours to audit and restrict, it rotates yearly, and the pipeline's few producers and one consumer keep its KMS cost small.")
	}
	suppress(p.processorFailures, "AwsSolutions-SQS3", "This queue is the on-failure destination (a dead-letter queue) of the processor's stream mapping; a DLQ needs no DLQ of its own.")

	// Grants CDK writes with wildcards that IAM offers no narrower form of:
	// object ARNs (bucket ARN + "/<prefix>*"), and families of actions.
	kmsWild := `/^Action::kms:(ReEncrypt|GenerateDataKey)\*$/`
	streamReason := "stream.GrantWrite on a KMS-encrypted stream: kms:GenerateDataKey* and kms:ReEncrypt* are CDK's action families for encrypting with the stream's own key, and the statement is limited to that key."
	spillObjects := nagObjectsRegex(p.ownSpill != nil, "SpillBucket", `spill\/`)
	sinkObjects := nagObjectsRegex(p.ownSink != nil, "SinkBucket", "")
	policyOf := func(f awslambda.Function) constructs.IConstruct {
		return f.Role().Node().FindChild(jsii.String("DefaultPolicy"))
	}
	suppress(policyOf(p.health), "AwsSolutions-IAM5", streamReason, kmsWild)
	suppress(policyOf(p.ingest), "AwsSolutions-IAM5",
		streamReason+" spill.GrantPut: s3:Abort* (abort its own multipart uploads) on the object ARN pattern <spill bucket>/spill/*, the narrowest form for objects ingest names at run time.",
		kmsWild, `/^Action::s3:Abort\*$/`, spillObjects)
	suppress(policyOf(p.replay), "AwsSolutions-IAM5",
		streamReason+" spill.GrantRead/GrantDelete: s3:GetObject*, s3:GetBucket*, s3:List*, s3:DeleteObject* on <spill bucket>/spill/* (object keys known only at run time) and the bucket.",
		kmsWild, `/^Action::s3:(GetObject|GetBucket|List|DeleteObject)\*$/`, spillObjects)
	suppress(policyOf(p.processor), "AwsSolutions-IAM5",
		"sink.GrantPut: s3:Abort* (its own multipart uploads) on <sink bucket>/*: the processor writes object keys derived from the records at run time.",
		`/^Action::s3:Abort\*$/`, sinkObjects)
	for id, fn := range map[string]awslambda.Function{"Ingest": p.ingest, "Health": p.health, "Processor": p.processor, "Replay": p.replay} {
		if p.tracing[id] {
			suppressExact(policyOf(fn), "AwsSolutions-IAM5",
				"Tracing ACTIVE: xray:PutTraceSegments and xray:PutTelemetryRecords, which CDK grants for X-Ray, take no resource-level permissions (Resource \"*\" is the only form IAM accepts for them).",
				"Resource::*")
		}
	}

	// CDK's bucket-notification handler: one Lambda per stack that applies
	// the spill bucket's notification configuration at deploy time. CDK
	// builds its role with the basic execution managed policy; its
	// s3:PutBucketNotification grant is per bucket (no wildcard).
	stack := awscdk.Stack_Of(p.Construct)
	if h := stack.Node().TryFindChild(jsii.String("BucketNotificationsHandler050a0587b7544547bf325f094a3db834")); h != nil {
		if role := h.Node().TryFindChild(jsii.String("Role")); role != nil {
			suppressExact(role, "AwsSolutions-IAM4",
				"CDK's BucketNotificationsHandler runs only during deployment and CDK builds its role with AWSLambdaBasicExecutionRole to write its own logs.",
				"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
		}
	}
}
