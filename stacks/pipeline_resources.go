package stacks

import (
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3notifications"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
)

func (p *Pipeline) describe(what string) *string {
	return jsii.String(fmt.Sprintf("twinstream %s: %s", p.name, what))
}

// stream creates (or adopts) the Kinesis stream and its key.
func (p *Pipeline) stream(props *PipelineProps, o pipelineOptions) {
	if !o.createdStream {
		p.Stream = props.ExistingStream
		p.StreamKey = props.ExistingStream.EncryptionKey()
		return
	}
	sp := o.streamProps
	if !o.managedKey {
		p.StreamKey = props.ExistingStreamKey
		if p.StreamKey == nil {
			kp := mergeProps(&awskms.KeyProps{
				Description:       p.describe("Kinesis stream encryption"),
				EnableKeyRotation: jsii.Bool(true),
				RemovalPolicy:     o.removal,
			}, props.StreamKeyProps)
			if o.removal == awscdk.RemovalPolicy_DESTROY && kp.PendingWindow == nil {
				kp.PendingWindow = awscdk.Duration_Days(jsii.Number(pipelineKeyPendingWindow.Hours() / 24))
			}
			p.StreamKey = awskms.NewKey(p.Construct, jsii.String("StreamKey"), kp)
		}
		sp.EncryptionKey = p.StreamKey
	}
	p.ownStream = awskinesis.NewStream(p.Construct, jsii.String("Stream"), sp)
	p.Stream = p.ownStream
}

func (p *Pipeline) buckets(props *PipelineProps, o pipelineOptions) {
	p.LogsBucket = props.ExistingLogsBucket
	if o.logs != nil {
		p.ownLogsBucket = awss3.NewBucket(p.Construct, jsii.String("LogsBucket"), o.logs)
		p.LogsBucket = p.ownLogsBucket
	}
	p.SinkBucket = props.ExistingSinkBucket
	if o.sinkProps != nil {
		p.ownSink = awss3.NewBucket(p.Construct, jsii.String("SinkBucket"), o.sinkProps)
		p.logTo(p.ownSink, "sink/")
		p.SinkBucket = p.ownSink
	}
	p.SpillBucket = props.ExistingSpillBucket
	if o.spillProps != nil {
		p.ownSpill = awss3.NewBucket(p.Construct, jsii.String("SpillBucket"), o.spillProps)
		p.logTo(p.ownSpill, "spill/")
		p.SpillBucket = p.ownSpill
	}
}

// logTo sends b's server access logs to the logs bucket under prefix. It
// does what CDK's serverAccessLogsBucket prop does with the
// serverAccessLogsUseBucketPolicy feature flag, whatever the app's flags:
// without the flag CDK would give the logs bucket the LogDeliveryWrite ACL
// and ObjectWriter ownership, the deprecated way. The bucket policy lets
// the S3 logging service write under prefix only, for this bucket of this
// account (the condition CDK adds too).
func (p *Pipeline) logTo(b awss3.Bucket, prefix string) {
	b.Node().DefaultChild().(awss3.CfnBucket).SetLoggingConfiguration(&awss3.CfnBucket_LoggingConfigurationProperty{
		DestinationBucketName: p.LogsBucket.BucketName(),
		LogFilePrefix:         jsii.String(prefix),
	})
	stmt := awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Effect:     awsiam.Effect_ALLOW,
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("logging.s3.amazonaws.com"), nil)},
		Actions:    jsii.Strings("s3:PutObject"),
		Resources:  &[]*string{p.LogsBucket.ArnForObjects(jsii.String(prefix + "*"))},
	})
	if *awscdk.Stack_Of(p.LogsBucket).Node().Addr() == *awscdk.Stack_Of(b).Node().Addr() {
		stmt.AddCondition(jsii.String("ArnLike"), map[string]any{"aws:SourceArn": b.BucketArn()})
		stmt.AddCondition(jsii.String("StringEquals"), map[string]any{"aws:SourceAccount": b.Env().Account})
	}
	p.LogsBucket.AddToResourcePolicy(stmt)
}

func (p *Pipeline) queues() {
	retention := awscdk.Duration_Seconds(jsii.Number(pipelineQueueRetention.Seconds()))
	p.replayDLQ = awssqs.NewQueue(p.Construct, jsii.String("ReplayDeadLetterQueue"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: retention,
	})
	// SSE-SQS rather than a CMK: S3 event notifications cannot publish to a
	// queue encrypted with a key S3 may not use, and the messages carry only
	// bucket and key names.
	p.replayQueue = awssqs.NewQueue(p.Construct, jsii.String("ReplayQueue"), &awssqs.QueueProps{
		Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		RetentionPeriod:   retention,
		VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number((pipelineVisibilityFactor * p.ReplayTimeout).Seconds())),
		DeadLetterQueue: &awssqs.DeadLetterQueue{
			Queue:           p.replayDLQ,
			MaxReceiveCount: jsii.Number(float64(p.ReplayMaxReceiveCount)),
		},
	})
	p.processorFailures = awssqs.NewQueue(p.Construct, jsii.String("ProcessorFailureQueue"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: retention,
	})
	p.ReplayQueue, p.ReplayDeadLetterQueue, p.ProcessorFailureQueue = p.replayQueue, p.replayDLQ, p.processorFailures
	p.SpillBucket.AddEventNotification(awss3.EventType_OBJECT_CREATED,
		awss3notifications.NewSqsDestination(p.replayQueue),
		&awss3.NotificationKeyFilter{Prefix: jsii.String(pipelineSpillPrefix + "/")})
}

// goFunction makes a function with its own role (only the grants below, plus
// writing to its own log group: no managed policy) and its own log group.
func (p *Pipeline) goFunction(id, handler, what string, f pipelineFunction, retention awslogs.RetentionDays, env map[string]*string) awslambda.Function {
	logs := awslogs.NewLogGroup(p.Construct, jsii.String(id+"LogGroup"), &awslogs.LogGroupProps{
		Retention:     retention,
		RemovalPolicy: p.removal,
	})
	role := awsiam.NewRole(p.Construct, jsii.String(id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: p.describe(what + " function"),
	})
	logs.GrantWrite(role)
	var reservation *float64
	if f.reserved > 0 {
		reservation = jsii.Number(f.reserved)
	}
	if f.tracing == awslambda.Tracing_ACTIVE {
		p.tracing[id] = true
	}
	return awslambda.NewFunction(p.Construct, jsii.String(id+"Function"), &awslambda.FunctionProps{
		Description:   p.describe(what),
		Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:  awslambda.Architecture_ARM_64(),
		Handler:       jsii.String("bootstrap"),
		Code:          GoCode(handler),
		MemorySize:    jsii.Number(f.memory),
		Timeout:       awscdk.Duration_Seconds(jsii.Number(f.timeout.Seconds())),
		Role:          role,
		LogGroup:      logs,
		LoggingFormat: awslambda.LoggingFormat_JSON,
		Environment:   &env,
		Tracing:       f.tracing,

		ReservedConcurrentExecutions: reservation,
	})
}

// apiKeysSecretID is what ingest and health pass to GetSecretValue: the
// complete ARN when the secret has one, else its name (see
// PipelineProps.ApiKeys).
func apiKeysSecretID(keys awssecretsmanager.ISecret) *string {
	if arn := keys.SecretFullArn(); arn != nil {
		return arn
	}
	return keys.SecretName()
}

func (p *Pipeline) functions(props *PipelineProps, o pipelineOptions) {
	secretID := apiKeysSecretID(props.ApiKeys)
	streamName := p.Stream.StreamName()
	dur := func(d time.Duration) *string { return jsii.String(d.String()) }
	// Every handler writes its metrics into its log lines in CloudWatch
	// Embedded Metric Format, under this namespace (see MetricNamespace).
	namespace := p.MetricNamespace()
	// Ingest and replay write the same form (PipelineProps.PackRecords).
	packRecords := jsii.String(strconv.FormatBool(o.pack))

	p.ingest = p.goFunction("Ingest", HandlerIngest, "ALB target for POST /v1/records", o.ingest, o.logRetention, map[string]*string{
		"STREAM_NAME":         streamName,
		"SPILL_BUCKET":        p.SpillBucket.BucketName(),
		"SPILL_PREFIX":        jsii.String(pipelineSpillPrefix),
		"API_KEYS_SECRET_ARN": secretID,
		"KINESIS_BUDGET":      dur(pipelineIngestKinesisBudget),
		"SPILL_TIMEOUT":       dur(pipelineIngestSpillTimeout),
		"METRICS_NAMESPACE":   namespace,
		"PACK_RECORDS":        packRecords,
	})
	p.health = p.goFunction("Health", HandlerHealth, "region health (/health, /health/deep)", o.health, o.logRetention, map[string]*string{
		"STREAM_NAME": streamName,
		// The deep check also reads the API keys: a region that cannot
		// authenticate producers is not serving them (the same secret id as
		// ingest's).
		"API_KEYS_SECRET_ARN": secretID,
		// A probe result is reused for PROBE_CACHE_TTL from the probe's end.
		// Kept with PROBE_TIMEOUT under the region-health target group's 5 s
		// interval, every check of one checker can probe; at 5 s only every
		// other one could, doubling the failover time (the outage drill's
		// FailoverBound: 36 s instead of 21 s). Kinesis still sees at most
		// one canary per 3 s per instance, however many checkers there are.
		"PROBE_CACHE_TTL":   dur(pipelineHealthProbeCacheTTL),
		"PROBE_TIMEOUT":     dur(pipelineHealthProbeTimeout),
		"METRICS_NAMESPACE": namespace,
	})
	penv := map[string]*string{}
	for k, v := range o.processorEnv {
		penv[k] = jsii.String(v)
	}
	penv["SINK_BUCKET"] = p.SinkBucket.BucketName()
	penv["METRICS_NAMESPACE"] = namespace
	p.processor = p.goFunction("Processor", o.processorHandler, "stream processor to the sink bucket", o.proc, o.logRetention, penv)
	p.replay = p.goFunction("Replay", HandlerReplay, "replays spill objects into the stream", o.repl, o.logRetention, map[string]*string{
		"STREAM_NAME":       streamName,
		"SPILL_BUCKET":      p.SpillBucket.BucketName(),
		"SPILL_PREFIX":      jsii.String(pipelineSpillPrefix),
		"KINESIS_BUDGET":    dur(pipelineReplayKinesisBudget),
		"S3_TIMEOUT":        dur(pipelineReplayS3Timeout),
		"METRICS_NAMESPACE": namespace,
		"PACK_RECORDS":      packRecords,
	})
	p.IngestFunction, p.HealthFunction, p.ProcessorFunction, p.ReplayFunction = p.ingest, p.health, p.processor, p.replay

	// Least privilege: each function gets what its handler calls, on this
	// pipeline's resources only.
	p.Stream.GrantWrite(p.ingest)
	p.Stream.GrantWrite(p.health)
	p.Stream.GrantWrite(p.replay)
	grantReadKeys(props.ApiKeys, p.ingest)
	grantReadKeys(props.ApiKeys, p.health)
	objects := jsii.String(pipelineSpillPrefix + "/*")
	p.SpillBucket.GrantPut(p.ingest, objects)
	// GrantRead includes s3:ListBucket on the bucket: without it S3 answers
	// 403 instead of 404 for an object already replayed.
	p.SpillBucket.GrantRead(p.replay, objects)
	p.SpillBucket.GrantDelete(p.replay, objects)
	p.SinkBucket.GrantPut(p.processor, nil)
	// The processor's stream read and the failure queue's send are granted by
	// its event source mapping; replay's queue consumption by its own.
}

// grantReadKeys lets fn call secretsmanager:GetSecretValue on the API-key
// secret, the one call the handlers make. CDK's ISecret.GrantRead would
// also allow secretsmanager:DescribeSecret on it (and, for a customer-managed
// key, kms:Decrypt through Secrets Manager, which this keeps).
func grantReadKeys(keys awssecretsmanager.ISecret, fn awslambda.Function) {
	arn := keys.SecretFullArn()
	if arn == nil {
		// Imported by name or partial ARN: the real ARN ends in "-" and six
		// random characters (CDK's arnForPolicies does the same).
		arn = jsii.String(*keys.SecretArn() + "-??????")
	}
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("secretsmanager:GetSecretValue"),
		Resources: &[]*string{arn},
	}))
	if key := keys.EncryptionKey(); key != nil {
		region := awscdk.Stack_Of(fn).Region()
		key.GrantDecrypt(awskms.NewViaServicePrincipal(jsii.String("secretsmanager."+*region+".amazonaws.com"), fn.GrantPrincipal()))
	}
}

func (p *Pipeline) eventSources(o pipelineOptions) {
	secs := func(d time.Duration) awscdk.Duration { return awscdk.Duration_Seconds(jsii.Number(d.Seconds())) }
	p.processor.AddEventSource(awslambdaeventsources.NewKinesisEventSource(p.Stream, &awslambdaeventsources.KinesisEventSourceProps{
		// TRIM_HORIZON: a new or re-created mapping starts from the oldest
		// record kept, never skips what is already in the stream.
		StartingPosition:        awslambda.StartingPosition_TRIM_HORIZON,
		BatchSize:               jsii.Number(o.batchSize),
		MaxBatchingWindow:       secs(o.window),
		BisectBatchOnError:      jsii.Bool(true),
		ReportBatchItemFailures: jsii.Bool(true),
		MaxRecordAge:            secs(o.maxAge),
		RetryAttempts:           jsii.Number(o.retries),
		ParallelizationFactor:   jsii.Number(o.par),
		OnFailure:               awslambdaeventsources.NewSqsDlq(p.processorFailures),
	}))
	p.replay.AddEventSource(awslambdaeventsources.NewSqsEventSource(p.replayQueue, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(float64(o.replayBatch)),
		ReportBatchItemFailures: jsii.Bool(true),
		MaxConcurrency:          jsii.Number(o.replayConc),
	}))
}
