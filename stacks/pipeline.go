package stacks

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
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
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// PipelineProps configures a Pipeline. Only Name and ApiKeys are required;
// every other field documents its default, and the defaults are the
// production setting.
type PipelineProps struct {
	// Name names the pipeline in descriptions and in the metric namespace
	// "Twinstream/<Name>". Required: 3-24 lowercase letters, digits or
	// hyphens, starting with a letter.
	Name string
	// ApiKeys is the secret holding the producers' key hashes,
	// {"keys":[{"id":"...","sha256":"<hex>"}]}. Required. The ingest and
	// health functions may read it (secretsmanager:GetSecretValue only; on
	// the "-??????" ARN pattern for a secret imported by name).
	ApiKeys awssecretsmanager.ISecret
	// ApiKeysSecretID is what ingest and health pass to GetSecretValue
	// (their API_KEYS_SECRET_ARN). Default: ApiKeys.SecretArn(). A secret
	// imported by name passes its name here (the ARN of an imported-by-name
	// secret lacks the random suffix, which Secrets Manager resolves only
	// unreliably).
	ApiKeysSecretID *string

	// Stream, when set, is an existing stream the pipeline uses instead of
	// creating one; StreamMode, ShardCount, StreamKey and StreamRetention must
	// then be unset. Import it with Stream_FromStreamAttributes including its
	// EncryptionKey, or the functions get no kms permissions for it.
	// Default: the construct creates the stream.
	Stream awskinesis.IStream
	// StreamMode of the created stream. Default ON_DEMAND: capacity follows
	// the load, nobody has to resize shards during an incident.
	StreamMode awskinesis.StreamMode
	// ShardCount of a PROVISIONED stream: required with PROVISIONED, not
	// allowed otherwise.
	ShardCount *float64
	// StreamKey encrypts the created stream. Default: a new customer-managed
	// KMS key with yearly rotation (a CMK, not the aws/kinesis key, so its
	// policy is ours to audit).
	StreamKey awskms.IKey
	// StreamRetention of the created stream, 24 hours to 365 days. Default 7
	// days: the 2020 Kinesis event kept consumers down for most of a day,
	// and records written before such an outage must still be in the stream
	// when the processor catches up days later (MaxRecordAge below).
	StreamRetention awscdk.Duration

	// ProcessorHandler is the Go main package of the processor, given to
	// GoCode: an import path or a directory. Default HandlerProcessor (gzipped
	// NDJSON to the sink bucket). A team's own handler must follow this
	// contract:
	//   - event events.KinesisEvent, response events.KinesisEventResponse
	//     (github.com/aws/aws-lambda-go/events), registered with lambda.Start
	//     in a main package built with -tags lambda.norpc;
	//   - report the records it did not handle as BatchItemFailures (the
	//     sequence number of the first failed record at least) and return a
	//     nil error: the mapping has ReportBatchItemFailures on, and retries
	//     from the first reported record;
	//   - tolerate duplicates (delivery is at least once, de-duplicate by the
	//     envelope's id) and drop canaries (Envelope.Canary, written by the
	//     health probe);
	//   - read its configuration from the environment: SINK_BUCKET (the
	//     pipeline's sink, where it may s3:PutObject) plus
	//     ProcessorEnvironment.
	ProcessorHandler string
	// ProcessorEnvironment is added to the processor's environment (for a
	// team's own handler). It may not set SINK_BUCKET. Default: none.
	ProcessorEnvironment map[string]string
	// ProcessorMemorySize in MB. Default 1024: gzip is CPU-bound and Lambda
	// gives CPU in proportion to memory.
	ProcessorMemorySize *float64
	// ProcessorTimeout. Default 2 minutes: the default handler makes one S3
	// PutObject (10 s timeout each) per hour of data in a batch plus one for
	// quarantined records, usually 1-3.
	ProcessorTimeout awscdk.Duration

	// BatchSize is the most records per processor invocation, 1-10000.
	// Default 1000: fewer, larger sink objects, well under Lambda's 6 MB
	// payload for typical records (Lambda also cuts batches at 6 MB).
	BatchSize *float64
	// MaxBatchingWindow is how long the mapping gathers records before it
	// invokes the processor, 0-300 s. Default 5 s: at low traffic, one object
	// per 5 s per shard instead of one per record, at 5 s of added latency.
	MaxBatchingWindow awscdk.Duration
	// MaxRecordAge: older records are no longer retried but reported to
	// ProcessorFailureQueue, 60 s to 7 days. Default 7 days (the most the
	// mapping allows): records written just before a day-long Kinesis outage
	// are that old when reading resumes, and must still be processed.
	MaxRecordAge awscdk.Duration
	// RetryAttempts of a failing batch, 0-10000. Default 10000, the most
	// the construct library allows: a sink outage must not skip records.
	// A batch that exhausts them (or MaxRecordAge) is reported to
	// ProcessorFailureQueue with its shard and sequence range; the records
	// stay in the stream for the rest of StreamRetention.
	RetryAttempts *float64
	// ParallelizationFactor is the number of concurrent batches per shard,
	// 1-10. Default 2: a backlog after an outage drains twice as fast; order
	// per partition key is kept, and the default handler's object keys
	// derive from shard and sequence numbers, so concurrent batches never
	// write the same key.
	ParallelizationFactor *float64

	// ReplayBatchSize is the most SQS messages (spill objects) per replay
	// invocation, 1-10. Default 5. The replay timeout follows from it (see
	// ReplayTimeout).
	ReplayBatchSize *float64
	// ReplayMaxConcurrency bounds concurrent replay invocations, 2-1000.
	// Default 20: enough to drain thousands of spill objects per minute
	// without crowding live ingest off a stream that just recovered. Unlike
	// reserved concurrency it limits polling, so throttling never inflates a
	// message's receive count.
	ReplayMaxConcurrency *float64
	// ReplayOutageTolerance is how long replay may keep failing (Kinesis
	// down) before a spill message moves to ReplayDeadLetterQueue, 1 hour to
	// 13 days (the queues keep messages 14 days). Default 48 hours: twice a
	// day-long outage like 2020's. It sets the queue's maxReceiveCount
	// (ReplayMaxReceiveCount). The spill objects themselves never expire.
	ReplayOutageTolerance awscdk.Duration

	// SinkBucketName is the sink bucket's physical name. Default: generated
	// by CloudFormation.
	SinkBucketName *string
	// LogsBucket receives the S3 server access logs of the sink and spill
	// buckets (prefixes "sink/" and "spill/"). It must accept S3 server
	// access logs (SSE-S3, a bucket policy for logging.s3.amazonaws.com,
	// which CDK adds when the bucket is defined in the same stack).
	// Default: the construct creates one (LogsBucket), hardened like the
	// others and retained.
	LogsBucket awss3.IBucket

	// LogRetention of the four functions' log groups. Default one month.
	LogRetention awslogs.RetentionDays

	// IngestReservedConcurrency reserves concurrent executions for the ingest
	// function, and caps it there: a flood of /v1/records can neither take
	// the region's whole Lambda concurrency (starving the health function
	// into a fake failover, or the processor and replay) nor be starved by
	// them. A whole number from 1 to 100000, or -1 to reserve none (the
	// function then shares the account's unreserved pool, uncapped).
	// Default DefaultIngestReservedConcurrency (200), sized from latency x
	// rate: a request takes about 0.05-0.15 s while Kinesis (or, spilling,
	// S3) answers, so 200 executions serve some 1,300-4,000 requests a
	// second, up to 2 million records a second at 500 per request, beyond
	// what an on-demand stream takes before it scales. The account's
	// default quota is 1,000 per region of which Lambda keeps 100
	// unreserved, so the two reservations leave 680 for everything else;
	// an account with a lower quota must lower them or pass -1, or the
	// deploy fails. When Kinesis hangs, requests wait up to KINESIS_BUDGET
	// (3 s) until ingest's breaker opens: the cap is reached and the ALB
	// answers the excess with 5xx, which producers retry; nothing
	// acknowledged is lost.
	IngestReservedConcurrency *float64
	// HealthReservedConcurrency does the same for the health function
	// (/health, /health/deep). Default DefaultHealthReservedConcurrency
	// (20): its callers are the region-health target group's check (every
	// 5 s from each ALB node) and Route 53's checkers (every 10 s each), a
	// few requests a second, answered from the cached probe in microseconds
	// (a few ms of Lambda time with the invoke) and in at most PROBE_TIMEOUT
	// (1 s) when a probe runs. 20 is several times that peak, and from cache
	// 20 executions answer thousands of requests a second, so a /health
	// flood (each address capped by the WAF) must come from thousands of
	// addresses before it throttles the checks. -1 reserves none.
	HealthReservedConcurrency *float64
}

// Pipeline is one region's ingest pipeline: producers reach IngestTarget
// through an ALB; ingest writes envelopes to Stream and spills what Kinesis
// does not take to SpillBucket; the processor stores the stream in
// SinkBucket; spill objects are announced on ReplayQueue and the replay
// function writes them back to the stream; HealthTarget answers whether this
// region's stream takes writes. It is reusable: a team instantiates it in its
// own stack (see ExampleNewPipeline), once per region.
type Pipeline struct {
	constructs.Construct
	// Stream is the Kinesis stream; StreamKey its KMS key (nil only for a
	// supplied stream imported without one).
	Stream    awskinesis.IStream
	StreamKey awskms.IKey
	// SinkBucket holds what the processor stored: versioned, as replication
	// to the peer region needs.
	SinkBucket awss3.Bucket
	// SpillBucket holds what ingest could not write to Kinesis, until replay
	// has written it.
	SpillBucket awss3.Bucket
	// LogsBucket receives the buckets' server access logs (the supplied one
	// or the one the construct created).
	LogsBucket awss3.IBucket
	// The four functions (arm64, provided.al2023, each with its own role
	// and log group).
	IngestFunction, HealthFunction, ProcessorFunction, ReplayFunction awslambda.Function
	// ReplayQueue receives the spill bucket's ObjectCreated notifications and
	// feeds replay; ReplayDeadLetterQueue takes messages after
	// ReplayMaxReceiveCount failed receives; ProcessorFailureQueue is the
	// stream mapping's on-failure destination (shard and sequence ranges of
	// batches given up on).
	ReplayQueue, ReplayDeadLetterQueue, ProcessorFailureQueue awssqs.Queue
	// ReplayTimeout (the replay function's) and ReplayMaxReceiveCount (the
	// replay queue's) are computed from ReplayBatchSize and
	// ReplayOutageTolerance; exposed for dashboards and runbooks.
	ReplayTimeout         time.Duration
	ReplayMaxReceiveCount int

	name           string
	ownLogsBucket  awss3.Bucket      // the LogsBucket the construct created, if any
	ownStream      awskinesis.Stream // the Stream the construct created, if any
	acceptedMetric awslogs.MetricFilter
	spilledMetric  awslogs.MetricFilter
	elbInvoke      map[string]awslambda.CfnPermission // by function address
}

// Handler settings the construct sets explicitly in each function's
// environment, so the timeouts below are computed from the same numbers the
// handlers use.
const (
	pipelineSpillPrefix = "spill" // ingest's SPILL_PREFIX and replay's, and the notification filter

	pipelineIngestKinesisBudget = 3 * time.Second // ingest KINESIS_BUDGET
	pipelineIngestSpillTimeout  = 4 * time.Second // ingest SPILL_TIMEOUT
	// pipelineIngestTimeout covers the worst request: the secret fetch on a cold
	// cache (2 s) + KINESIS_BUDGET + SPILL_TIMEOUT + the 0.2 s answer margin
	// = 9.2 s, with room for reading a 1 MiB body and a cold start.
	pipelineIngestTimeout = 15 * time.Second
	pipelineIngestMemory  = 1024

	// pipelineHealthTimeout: the probe is bounded by PROBE_TIMEOUT (1 s, at most
	// 1.5 s) and answered from cache within PROBE_CACHE_TTL; the ALB check
	// times out after 4 s anyway.
	pipelineHealthTimeout = 5 * time.Second
	// The deep check's probe: one PutRecord of at most 1 s, its result
	// reused for 3 s (see the health function's environment).
	pipelineHealthProbeTimeout  = time.Second
	pipelineHealthProbeCacheTTL = 3 * time.Second
	pipelineHealthMemory        = 256

	pipelineReplayKinesisBudget = 20 * time.Second // replay KINESIS_BUDGET
	pipelineReplayS3Timeout     = 10 * time.Second // replay S3_TIMEOUT, per S3 call
	// pipelineReplayPerMessage is one message's worst case: GetObject + the Kinesis
	// budget + DeleteObject. Messages of a batch are handled in turn.
	pipelineReplayPerMessage = pipelineReplayKinesisBudget + 2*pipelineReplayS3Timeout
	pipelineReplayMargin     = 10 * time.Second
	pipelineReplayMemory     = 512
	// pipelineVisibilityFactor: AWS asks for a queue visibility timeout of at
	// least 6x the function timeout for SQS event sources.
	pipelineVisibilityFactor = 6
	pipelineQueueRetention   = 14 * 24 * time.Hour // SQS maximum

	pipelineDefaultProcessorMemory   = 1024
	pipelineDefaultProcessorTimeout  = 2 * time.Minute
	pipelineDefaultBatchSize         = 1000
	pipelineDefaultBatchingWindow    = 5 * time.Second
	pipelineDefaultMaxRecordAge      = 7 * 24 * time.Hour
	pipelineDefaultRetryAttempts     = 10000
	pipelineDefaultParallelization   = 2
	pipelineDefaultReplayBatch       = 5
	pipelineDefaultReplayConcurrency = 20
	pipelineDefaultOutageTolerance   = 48 * time.Hour
	pipelineDefaultStreamRetention   = 7 * 24 * time.Hour
)

// Reserved concurrency defaults (PipelineProps.IngestReservedConcurrency and
// HealthReservedConcurrency explain them).
const (
	DefaultIngestReservedConcurrency = 200
	DefaultHealthReservedConcurrency = 20
	// maxReservedConcurrency catches typos: far above any account's
	// regional Lambda quota short of a special arrangement.
	maxReservedConcurrency = 100000
)

// ReplayTimeoutFor is the replay function's timeout for a batch size: every
// message may take GetObject + KINESIS_BUDGET + DeleteObject (40 s), plus a
// 10 s margin. Batch 5: 210 s.
func ReplayTimeoutFor(batch int) time.Duration {
	return time.Duration(batch)*pipelineReplayPerMessage + pipelineReplayMargin
}

// ReplayMaxReceiveCountFor is the replay queue's maxReceiveCount: while
// Kinesis is down every receive fails, and a failed message is received again
// once its visibility timeout (6x the replay timeout) ends, so tolerance /
// visibility receives fit in the tolerated outage. Batch 5, 48 hours:
// visibility 1260 s, ceil(172800 / 1260) = 138.
func ReplayMaxReceiveCountFor(batch int, tolerance time.Duration) int {
	vis := pipelineVisibilityFactor * ReplayTimeoutFor(batch)
	return int(math.Ceil(float64(tolerance) / float64(vis)))
}

var (
	pipelineBucketNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	pipelineEnvNameRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// NewPipeline builds the pipeline under scope. It panics, as CDK constructs
// do, when props are missing or out of range, naming the prop, the value and
// what is allowed.
func NewPipeline(scope constructs.Construct, id string, props *PipelineProps) *Pipeline {
	o := resolvePipelineProps(props)

	p := &Pipeline{Construct: constructs.NewConstruct(scope, jsii.String(id)), name: o.name}
	p.ReplayTimeout = ReplayTimeoutFor(o.replayBatch)
	p.ReplayMaxReceiveCount = ReplayMaxReceiveCountFor(o.replayBatch, o.tolerance)

	p.stream(props, o)
	p.buckets(props)
	p.queues()
	p.functions(props, o)
	p.eventSources(o)
	p.metrics()
	p.nagSuppressions()
	return p
}

// pipelineOptions are the props with defaults applied, as Go values.
type pipelineOptions struct {
	name                    string
	processorHandler        string
	retention               time.Duration
	processorTimeout        time.Duration
	processorMemory         float64
	batchSize, retries, par float64
	window, maxAge          time.Duration
	replayBatch             int
	replayConc              float64
	tolerance               time.Duration
	logRetention            awslogs.RetentionDays
	streamMode              awskinesis.StreamMode
	processorEnv            map[string]string
	createdStream           bool
	provisioned             bool
	shardCount              float64
	ingestConc, healthConc  float64 // reserved concurrency, 0: none
}

func pipelinePanic(format string, args ...any) {
	panic(fmt.Sprintf("twinstream: NewPipeline: "+format, args...))
}

// pipelineDuration converts a CDK Duration (not a token) to a time.Duration.
func pipelineDuration(d awscdk.Duration) time.Duration {
	return time.Duration(*d.ToMilliseconds(nil)) * time.Millisecond
}

// pipelineDurationOr is d as a time.Duration, or def when d is nil, checked against
// [lo, hi].
func pipelineDurationOr(prop string, d awscdk.Duration, def, lo, hi time.Duration) time.Duration {
	if d == nil {
		return def
	}
	v := pipelineDuration(d)
	if v < lo || v > hi || v%time.Second != 0 {
		pipelinePanic("%s = %s: want whole seconds from %s to %s", prop, v, lo, hi)
	}
	return v
}

// pipelineNumberOr is *n, or def when n is nil, checked to be a whole number in
// [lo, hi].
func pipelineNumberOr(prop string, n *float64, def, lo, hi float64) float64 {
	if n == nil {
		return def
	}
	v := *n
	if v != math.Trunc(v) || v < lo || v > hi {
		pipelinePanic("%s = %v: want a whole number from %v to %v", prop, v, lo, hi)
	}
	return v
}

// pipelineConcurrency is a reserved concurrency: def when n is nil, 0 (none)
// for -1, else a whole number from 1 to maxReservedConcurrency. 0 itself is
// refused: it would stop the function from running at all.
func pipelineConcurrency(prop string, n *float64, def float64) float64 {
	if n == nil {
		return def
	}
	v := *n
	if v == -1 {
		return 0
	}
	if v != math.Trunc(v) || v < 1 || v > maxReservedConcurrency {
		pipelinePanic("%s = %v: want a whole number of concurrent executions from 1 to %d, or -1 to reserve none", prop, v, maxReservedConcurrency)
	}
	return v
}

func resolvePipelineProps(props *PipelineProps) pipelineOptions {
	if props == nil {
		pipelinePanic("props are required (at least Name and ApiKeys)")
	}
	if !nameRE.MatchString(props.Name) {
		pipelinePanic("Name = %q: want 3-24 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen", props.Name)
	}
	if props.ApiKeys == nil {
		pipelinePanic("ApiKeys is required: the secret holding the producers' API key hashes")
	}
	o := pipelineOptions{
		name:             props.Name,
		processorHandler: props.ProcessorHandler,
		streamMode:       props.StreamMode,
		processorEnv:     props.ProcessorEnvironment,
		logRetention:     props.LogRetention,
	}
	if o.processorHandler == "" {
		o.processorHandler = HandlerProcessor
	}
	if o.logRetention == "" {
		o.logRetention = awslogs.RetentionDays_ONE_MONTH
	}

	if props.Stream != nil {
		if props.StreamMode != "" || props.ShardCount != nil || props.StreamKey != nil || props.StreamRetention != nil {
			pipelinePanic("Stream is set: StreamMode, ShardCount, StreamKey and StreamRetention configure a stream the construct creates, leave them unset")
		}
	} else {
		o.createdStream = true
		switch o.streamMode {
		case "":
			o.streamMode = awskinesis.StreamMode_ON_DEMAND
		case awskinesis.StreamMode_ON_DEMAND, awskinesis.StreamMode_PROVISIONED:
		default:
			pipelinePanic("StreamMode = %q: want ON_DEMAND or PROVISIONED", o.streamMode)
		}
		o.provisioned = o.streamMode == awskinesis.StreamMode_PROVISIONED
		switch {
		case o.provisioned && props.ShardCount == nil:
			pipelinePanic("StreamMode = PROVISIONED: ShardCount is required")
		case !o.provisioned && props.ShardCount != nil:
			pipelinePanic("ShardCount = %v with StreamMode ON_DEMAND: set StreamMode PROVISIONED to use a shard count", *props.ShardCount)
		case o.provisioned:
			o.shardCount = pipelineNumberOr("ShardCount", props.ShardCount, 0, 1, 10000)
		}
		o.retention = pipelineDurationOr("StreamRetention", props.StreamRetention, pipelineDefaultStreamRetention, 24*time.Hour, 365*24*time.Hour)
		if o.retention%time.Hour != 0 {
			pipelinePanic("StreamRetention = %s: want whole hours", o.retention)
		}
	}

	if props.ApiKeysSecretID != nil && strings.TrimSpace(*props.ApiKeysSecretID) == "" {
		pipelinePanic("ApiKeysSecretID is empty: leave it nil to use ApiKeys.SecretArn()")
	}
	if n := props.SinkBucketName; n != nil && !strings.Contains(*n, "${Token[") && !pipelineBucketNameRE.MatchString(*n) {
		pipelinePanic("SinkBucketName = %q: want an S3 bucket name (3-63 lowercase letters, digits, dots or hyphens)", *n)
	}
	for k := range props.ProcessorEnvironment {
		if k == "SINK_BUCKET" || !pipelineEnvNameRE.MatchString(k) || strings.HasPrefix(k, "AWS_") {
			pipelinePanic("ProcessorEnvironment key %q: want an environment variable name other than SINK_BUCKET and AWS_*", k)
		}
	}

	o.processorMemory = pipelineNumberOr("ProcessorMemorySize", props.ProcessorMemorySize, pipelineDefaultProcessorMemory, 128, 10240)
	o.processorTimeout = pipelineDurationOr("ProcessorTimeout", props.ProcessorTimeout, pipelineDefaultProcessorTimeout, time.Second, 15*time.Minute)
	o.batchSize = pipelineNumberOr("BatchSize", props.BatchSize, pipelineDefaultBatchSize, 1, 10000)
	o.window = pipelineDurationOr("MaxBatchingWindow", props.MaxBatchingWindow, pipelineDefaultBatchingWindow, 0, 300*time.Second)
	o.maxAge = pipelineDurationOr("MaxRecordAge", props.MaxRecordAge, pipelineDefaultMaxRecordAge, 60*time.Second, 7*24*time.Hour)
	o.retries = pipelineNumberOr("RetryAttempts", props.RetryAttempts, pipelineDefaultRetryAttempts, 0, 10000)
	o.par = pipelineNumberOr("ParallelizationFactor", props.ParallelizationFactor, pipelineDefaultParallelization, 1, 10)
	o.replayBatch = int(pipelineNumberOr("ReplayBatchSize", props.ReplayBatchSize, pipelineDefaultReplayBatch, 1, 10))
	o.replayConc = pipelineNumberOr("ReplayMaxConcurrency", props.ReplayMaxConcurrency, pipelineDefaultReplayConcurrency, 2, 1000)
	o.tolerance = pipelineDurationOr("ReplayOutageTolerance", props.ReplayOutageTolerance, pipelineDefaultOutageTolerance, time.Hour, 13*24*time.Hour)
	o.ingestConc = pipelineConcurrency("IngestReservedConcurrency", props.IngestReservedConcurrency, DefaultIngestReservedConcurrency)
	o.healthConc = pipelineConcurrency("HealthReservedConcurrency", props.HealthReservedConcurrency, DefaultHealthReservedConcurrency)
	if o.createdStream && o.maxAge > o.retention {
		pipelinePanic("MaxRecordAge = %s exceeds StreamRetention = %s: records would expire before the mapping gives up on them", o.maxAge, o.retention)
	}
	return o
}

func (p *Pipeline) describe(what string) *string {
	return jsii.String(fmt.Sprintf("twinstream %s: %s", p.name, what))
}

// stream creates (or adopts) the Kinesis stream and its key.
func (p *Pipeline) stream(props *PipelineProps, o pipelineOptions) {
	if !o.createdStream {
		p.Stream = props.Stream
		p.StreamKey = props.Stream.EncryptionKey()
		return
	}
	p.StreamKey = props.StreamKey
	if p.StreamKey == nil {
		p.StreamKey = awskms.NewKey(p.Construct, jsii.String("StreamKey"), &awskms.KeyProps{
			Description:       p.describe("Kinesis stream encryption"),
			EnableKeyRotation: jsii.Bool(true),
			RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
		})
	}
	sp := &awskinesis.StreamProps{
		StreamMode:      o.streamMode,
		Encryption:      awskinesis.StreamEncryption_KMS,
		EncryptionKey:   p.StreamKey,
		RetentionPeriod: awscdk.Duration_Hours(jsii.Number(o.retention.Hours())),
		RemovalPolicy:   awscdk.RemovalPolicy_RETAIN,
	}
	if o.provisioned {
		sp.ShardCount = jsii.Number(o.shardCount)
	}
	p.ownStream = awskinesis.NewStream(p.Construct, jsii.String("Stream"), sp)
	p.Stream = p.ownStream
}

// pipelineBucketProps is the settings every bucket of the pipeline shares: no
// public access, TLS only (1.2+), SSE-S3 (replication and server access
// logging need no KMS setup with it), retained when the stack goes.
func pipelineBucketProps(bp *awss3.BucketProps) *awss3.BucketProps {
	bp.BlockPublicAccess = awss3.BlockPublicAccess_BLOCK_ALL()
	bp.Encryption = awss3.BucketEncryption_S3_MANAGED
	bp.EnforceSSL = jsii.Bool(true)
	bp.MinimumTLSVersion = jsii.Number(1.2)
	bp.RemovalPolicy = awscdk.RemovalPolicy_RETAIN
	return bp
}

func (p *Pipeline) buckets(props *PipelineProps) {
	p.LogsBucket = props.LogsBucket
	if p.LogsBucket == nil {
		// Object ownership is left to CDK: with the feature flag
		// @aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy (set by `cdk init`)
		// S3 delivers logs under a bucket policy and ACLs stay disabled;
		// without it CDK needs the LogDeliveryWrite ACL (ObjectWriter).
		p.ownLogsBucket = awss3.NewBucket(p.Construct, jsii.String("LogsBucket"), pipelineBucketProps(&awss3.BucketProps{}))
		p.LogsBucket = p.ownLogsBucket
	}
	p.SinkBucket = awss3.NewBucket(p.Construct, jsii.String("SinkBucket"), pipelineBucketProps(&awss3.BucketProps{
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		BucketName:             props.SinkBucketName,
		Versioned:              jsii.Bool(true), // S3 replication to the peer region needs it
		ServerAccessLogsBucket: p.LogsBucket,
		ServerAccessLogsPrefix: jsii.String("sink/"),
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id: jsii.String("CleanUpOldVersions"),
			// A retried processor batch rewrites its objects under the same
			// keys: the older versions are identical copies.
			NoncurrentVersionExpiration:         awscdk.Duration_Days(jsii.Number(30)),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
		}},
	}))
	p.SpillBucket = awss3.NewBucket(p.Construct, jsii.String("SpillBucket"), pipelineBucketProps(&awss3.BucketProps{
		ObjectOwnership: awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		// Versioned: replay deletes an object only after writing it to
		// Kinesis; the noncurrent version is kept 30 days more in case a
		// write was lost after all.
		Versioned:              jsii.Bool(true),
		ServerAccessLogsBucket: p.LogsBucket,
		ServerAccessLogsPrefix: jsii.String("spill/"),
		// Current spill objects never expire: they are acknowledged data not
		// yet in the stream. Only replayed (noncurrent) versions and delete
		// markers are cleaned up.
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                                  jsii.String("CleanUpReplayed"),
			NoncurrentVersionExpiration:         awscdk.Duration_Days(jsii.Number(30)),
			ExpiredObjectDeleteMarker:           jsii.Bool(true),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
		}},
	}))
}

func (p *Pipeline) queues() {
	retention := awscdk.Duration_Seconds(jsii.Number(pipelineQueueRetention.Seconds()))
	p.ReplayDeadLetterQueue = awssqs.NewQueue(p.Construct, jsii.String("ReplayDeadLetterQueue"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: retention,
	})
	// SSE-SQS rather than a CMK: S3 event notifications cannot publish to a
	// queue encrypted with a key S3 may not use, and the messages carry only
	// bucket and key names.
	p.ReplayQueue = awssqs.NewQueue(p.Construct, jsii.String("ReplayQueue"), &awssqs.QueueProps{
		Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		RetentionPeriod:   retention,
		VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number((pipelineVisibilityFactor * p.ReplayTimeout).Seconds())),
		DeadLetterQueue: &awssqs.DeadLetterQueue{
			Queue:           p.ReplayDeadLetterQueue,
			MaxReceiveCount: jsii.Number(float64(p.ReplayMaxReceiveCount)),
		},
	})
	p.ProcessorFailureQueue = awssqs.NewQueue(p.Construct, jsii.String("ProcessorFailureQueue"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: retention,
	})
	p.SpillBucket.AddEventNotification(awss3.EventType_OBJECT_CREATED,
		awss3notifications.NewSqsDestination(p.ReplayQueue),
		&awss3.NotificationKeyFilter{Prefix: jsii.String(pipelineSpillPrefix + "/")})
}

// goFunction makes a function with its own role (only the grants below, plus
// writing to its own log group: no managed policy) and its own log group.
func (p *Pipeline) goFunction(id, handler, what string, memory float64, timeout time.Duration, reserved float64, retention awslogs.RetentionDays, env map[string]*string) awslambda.Function {
	logs := awslogs.NewLogGroup(p.Construct, jsii.String(id+"LogGroup"), &awslogs.LogGroupProps{
		Retention:     retention,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	role := awsiam.NewRole(p.Construct, jsii.String(id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: p.describe(what + " function"),
	})
	logs.GrantWrite(role)
	var reservation *float64
	if reserved > 0 {
		reservation = jsii.Number(reserved)
	}
	return awslambda.NewFunction(p.Construct, jsii.String(id+"Function"), &awslambda.FunctionProps{
		Description:   p.describe(what),
		Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:  awslambda.Architecture_ARM_64(),
		Handler:       jsii.String("bootstrap"),
		Code:          GoCode(handler),
		MemorySize:    jsii.Number(memory),
		Timeout:       awscdk.Duration_Seconds(jsii.Number(timeout.Seconds())),
		Role:          role,
		LogGroup:      logs,
		LoggingFormat: awslambda.LoggingFormat_JSON,
		Environment:   &env,

		ReservedConcurrentExecutions: reservation,
	})
}

func (p *Pipeline) functions(props *PipelineProps, o pipelineOptions) {
	secretID := props.ApiKeysSecretID
	if secretID == nil {
		secretID = props.ApiKeys.SecretArn()
	}
	streamName := p.Stream.StreamName()
	dur := func(d time.Duration) *string { return jsii.String(d.String()) }

	p.IngestFunction = p.goFunction("Ingest", HandlerIngest, "ALB target for POST /v1/records", pipelineIngestMemory, pipelineIngestTimeout, o.ingestConc, o.logRetention, map[string]*string{
		"STREAM_NAME":         streamName,
		"SPILL_BUCKET":        p.SpillBucket.BucketName(),
		"SPILL_PREFIX":        jsii.String(pipelineSpillPrefix),
		"API_KEYS_SECRET_ARN": secretID,
		"KINESIS_BUDGET":      dur(pipelineIngestKinesisBudget),
		"SPILL_TIMEOUT":       dur(pipelineIngestSpillTimeout),
	})
	p.HealthFunction = p.goFunction("Health", HandlerHealth, "region health (/health, /health/deep)", pipelineHealthMemory, pipelineHealthTimeout, o.healthConc, o.logRetention, map[string]*string{
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
		"PROBE_CACHE_TTL": dur(pipelineHealthProbeCacheTTL),
		"PROBE_TIMEOUT":   dur(pipelineHealthProbeTimeout),
	})
	penv := map[string]*string{}
	for k, v := range o.processorEnv {
		penv[k] = jsii.String(v)
	}
	penv["SINK_BUCKET"] = p.SinkBucket.BucketName()
	p.ProcessorFunction = p.goFunction("Processor", o.processorHandler, "stream processor to the sink bucket", o.processorMemory, o.processorTimeout, 0, o.logRetention, penv)
	p.ReplayFunction = p.goFunction("Replay", HandlerReplay, "replays spill objects into the stream", pipelineReplayMemory, p.ReplayTimeout, 0, o.logRetention, map[string]*string{
		"STREAM_NAME":    streamName,
		"SPILL_BUCKET":   p.SpillBucket.BucketName(),
		"SPILL_PREFIX":   jsii.String(pipelineSpillPrefix),
		"KINESIS_BUDGET": dur(pipelineReplayKinesisBudget),
		"S3_TIMEOUT":     dur(pipelineReplayS3Timeout),
	})

	// Least privilege: each function gets what its handler calls, on this
	// pipeline's resources only.
	p.Stream.GrantWrite(p.IngestFunction)
	p.Stream.GrantWrite(p.HealthFunction)
	p.Stream.GrantWrite(p.ReplayFunction)
	grantReadKeys(props.ApiKeys, p.IngestFunction)
	grantReadKeys(props.ApiKeys, p.HealthFunction)
	objects := jsii.String(pipelineSpillPrefix + "/*")
	p.SpillBucket.GrantPut(p.IngestFunction, objects)
	// GrantRead includes s3:ListBucket on the bucket: without it S3 answers
	// 403 instead of 404 for an object already replayed.
	p.SpillBucket.GrantRead(p.ReplayFunction, objects)
	p.SpillBucket.GrantDelete(p.ReplayFunction, objects)
	p.SinkBucket.GrantPut(p.ProcessorFunction, nil)
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
	p.ProcessorFunction.AddEventSource(awslambdaeventsources.NewKinesisEventSource(p.Stream, &awslambdaeventsources.KinesisEventSourceProps{
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
		OnFailure:               awslambdaeventsources.NewSqsDlq(p.ProcessorFailureQueue),
	}))
	p.ReplayFunction.AddEventSource(awslambdaeventsources.NewSqsEventSource(p.ReplayQueue, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(float64(o.replayBatch)),
		ReportBatchItemFailures: jsii.Bool(true),
		MaxConcurrency:          jsii.Number(o.replayConc),
	}))
}

// Metric names of the ingest log metric filters.
const (
	MetricNameAccepted = "AcceptedRecords"
	MetricNameSpilled  = "SpilledRecords"
)

// MetricNamespace is the CloudWatch namespace of a pipeline's own metrics.
func MetricNamespace(name string) string { return "Twinstream/" + name }

// metrics derives the ingest metrics from its JSON log: the handler writes
// one line per request, {"message":"ingest", ..., "accepted":n,
// "spilled":m, ...} (lambdas/ingest/ingest ServeHTTP). A log metric filter
// needs no CloudWatch PutMetricData call on the request path, so an impaired
// CloudWatch cannot slow ingest down.
func (p *Pipeline) metrics() {
	logs := p.IngestFunction.LogGroup()
	filter := func(id, metric, field string) awslogs.MetricFilter {
		return awslogs.NewMetricFilter(p.Construct, jsii.String(id), &awslogs.MetricFilterProps{
			LogGroup:        logs,
			FilterPattern:   awslogs.FilterPattern_Literal(jsii.String(fmt.Sprintf(`{ ($.message = "ingest") && ($.%s > 0) }`, field))),
			MetricNamespace: jsii.String(MetricNamespace(p.name)),
			MetricName:      jsii.String(metric),
			MetricValue:     jsii.String("$." + field),
			// 0 for the other log lines: Sum is 0, not missing, when nothing
			// was spilled, so alarms need no missing-data special case.
			DefaultValue: jsii.Number(0),
			Unit:         awscloudwatch.Unit_COUNT,
		})
	}
	p.acceptedMetric = filter("AcceptedMetricFilter", MetricNameAccepted, "accepted")
	p.spilledMetric = filter("SpilledMetricFilter", MetricNameSpilled, "spilled")
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

// MetricAccepted is the number of records ingest stored (in Kinesis or in the
// spill bucket) and acknowledged, from its log (namespace
// "Twinstream/<Name>", no dimensions). Default statistic Sum.
func (p *Pipeline) MetricAccepted(o *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return p.acceptedMetric.Metric(pipelineMetricOptions(o, "Sum"))
}

// MetricSpilled is the number of accepted records that went to the spill
// bucket because Kinesis did not take them. Default statistic Sum.
func (p *Pipeline) MetricSpilled(o *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return p.spilledMetric.Metric(pipelineMetricOptions(o, "Sum"))
}

// MetricIteratorAge is the processor's IteratorAge (AWS/Lambda, ms): how far
// the processor lags behind the stream. Default statistic Maximum.
func (p *Pipeline) MetricIteratorAge(o *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return p.ProcessorFunction.Metric(jsii.String("IteratorAge"), pipelineMetricOptions(o, "Maximum"))
}

// IngestTarget is the ALB target for POST /v1/records. Like CDK's
// LambdaTarget, it registers the function with the target group and lets
// Elastic Load Balancing invoke it, but only on behalf of this account's
// target groups in this region (see elbTarget).
func (p *Pipeline) IngestTarget() awselasticloadbalancingv2.IApplicationLoadBalancerTarget {
	return &elbTarget{p: p, fn: p.IngestFunction}
}

// HealthTarget is the ALB target of the region-health target group
// (/health, /health/deep); its permission is scoped like IngestTarget's.
func (p *Pipeline) HealthTarget() awselasticloadbalancingv2.IApplicationLoadBalancerTarget {
	return &elbTarget{p: p, fn: p.HealthFunction}
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
func (t *elbTarget) AttachToApplicationTargetGroup(tg awselasticloadbalancingv2.IApplicationTargetGroup) *awselasticloadbalancingv2.LoadBalancerTargetProps {
	perm := t.p.elbInvokePermission(t.fn)
	tg.Node().AddDependency(perm)
	return &awselasticloadbalancingv2.LoadBalancerTargetProps{
		TargetType: awselasticloadbalancingv2.TargetType_LAMBDA,
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

// GrantReadSink lets a consumer read the sink bucket (list and get objects).
func (p *Pipeline) GrantReadSink(grantee awsiam.IGrantable) awsiam.Grant {
	return p.SinkBucket.GrantRead(grantee, nil)
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
	if p.ownStream != nil {
		suppress(p.ownStream, "AwsSolutions-KDS3", "A customer-managed key is deliberate: its key policy is ours to audit and restrict, it rotates yearly, and the pipeline's few producers and one consumer keep its KMS cost small.")
	}
	suppress(p.ProcessorFailureQueue, "AwsSolutions-SQS3", "This queue is the on-failure destination (a dead-letter queue) of the processor's stream mapping; a DLQ needs no DLQ of its own.")

	// Grants CDK writes with wildcards that IAM offers no narrower form of:
	// object ARNs (bucket ARN + "/<prefix>*"), and families of actions.
	kmsWild := `/^Action::kms:(ReEncrypt|GenerateDataKey)\*$/`
	streamReason := "stream.GrantWrite on a KMS-encrypted stream: kms:GenerateDataKey* and kms:ReEncrypt* are CDK's action families for encrypting with the stream's own key, and the statement is limited to that key."
	policyOf := func(f awslambda.Function) constructs.IConstruct {
		return f.Role().Node().FindChild(jsii.String("DefaultPolicy"))
	}
	suppress(policyOf(p.HealthFunction), "AwsSolutions-IAM5", streamReason, kmsWild)
	suppress(policyOf(p.IngestFunction), "AwsSolutions-IAM5",
		streamReason+" spill.GrantPut: s3:Abort* (abort its own multipart uploads) on the object ARN pattern <spill bucket>/spill/*, the narrowest form for objects ingest names at run time.",
		kmsWild, `/^Action::s3:Abort\*$/`, `/^Resource::<[A-Za-z0-9]*SpillBucket[0-9A-F]{8}\.Arn>\/spill\/\*$/`)
	suppress(policyOf(p.ReplayFunction), "AwsSolutions-IAM5",
		streamReason+" spill.GrantRead/GrantDelete: s3:GetObject*, s3:GetBucket*, s3:List*, s3:DeleteObject* on <spill bucket>/spill/* (object keys known only at run time) and the bucket.",
		kmsWild, `/^Action::s3:(GetObject|GetBucket|List|DeleteObject)\*$/`, `/^Resource::<[A-Za-z0-9]*SpillBucket[0-9A-F]{8}\.Arn>\/spill\/\*$/`)
	suppress(policyOf(p.ProcessorFunction), "AwsSolutions-IAM5",
		"sink.GrantPut: s3:Abort* (its own multipart uploads) on <sink bucket>/*: the processor writes object keys derived from the records at run time.",
		`/^Action::s3:Abort\*$/`, `/^Resource::<[A-Za-z0-9]*SinkBucket[0-9A-F]{8}\.Arn>\/\*$/`)

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
