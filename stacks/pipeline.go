package stacks

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// PipelineProps configures a Pipeline. Only Name and ApiKeys are required;
// every other field says what happens when it is left out, and the defaults
// are the production setting.
//
// Resources the pipeline needs (the stream, its key, the sink, spill and
// logs buckets) come one of two ways, as in aws-solutions-constructs: an
// ExistingX the pipeline uses as it is, or XProps laid over the construct's
// secure defaults for the one it creates (fields set in XProps win; a
// setting that would weaken the defaults' security or break the pipeline is
// refused). Setting both ExistingX and XProps panics.
type PipelineProps struct {
	// Name names the pipeline in descriptions and in the metric namespace
	// (see Pipeline.MetricNamespace). Required: 3-24 lowercase letters,
	// digits or hyphens, starting with a letter and not ending with a
	// hyphen. One app may not hold two pipelines of one Name in one region.
	Name string
	// ApiKeys is the secret holding the producers' key hashes,
	// {"keys":[{"id":"...","sha256":"<hex>"}]}. Required. The ingest and
	// health functions may read it (secretsmanager:GetSecretValue only) and
	// get its id in API_KEYS_SECRET_ARN: the complete ARN when ApiKeys has
	// one (a secret defined in the app, or imported with SecretCompleteArn),
	// else its name (a secret imported by name or partial ARN: Secrets
	// Manager resolves a name in the function's own account and region,
	// where a replica has the primary's name, while a partial ARN resolves
	// only unreliably). A secret of another account must be imported by its
	// complete ARN.
	ApiKeys awssecretsmanager.ISecret

	// RemovalPolicy of what holds data or bills by the hour when the stack
	// is deleted (or the resource replaced): the stream and its key, the
	// sink, spill and logs buckets, the functions' log groups.
	// Default RETAIN, the production setting: all of them outlive the stack.
	// DESTROY, for a development pipeline: the stream and log groups are
	// deleted, the key is scheduled for deletion (the KMS minimum of 7
	// days), and the buckets are emptied (every object version) and deleted
	// by CDK's auto-delete-objects custom resource. Either way the queues go
	// with the stack (their messages only point at spill objects) and the
	// API-key secret stays (it is data: see RegionalStack). Only RETAIN and
	// DESTROY are accepted.
	RemovalPolicy awscdk.RemovalPolicy

	// ExistingStream is a stream the pipeline uses instead of creating one.
	// Import it with Stream_FromStreamAttributes including its
	// EncryptionKey, or the functions get no kms permissions for it.
	// StreamProps, ExistingStreamKey and StreamKeyProps must then be unset.
	// Default: the construct creates the stream (see StreamProps).
	ExistingStream awskinesis.IStream
	// StreamProps are laid over the created stream's defaults: ON_DEMAND
	// (capacity follows the load, nobody resizes shards during an incident),
	// KMS encryption with the pipeline's key (see StreamKeyProps), 7 days'
	// retention (the 2020 Kinesis event kept consumers down for most of a
	// day, and records written before such an outage must still be there
	// when the processor catches up; see MaxRecordAge), RemovalPolicy.
	// StreamMode PROVISIONED needs ShardCount (1-10000), which ON_DEMAND
	// refuses; RetentionPeriod takes whole hours from 24 hours to 365 days;
	// Encryption MANAGED (the aws/kinesis key) drops the pipeline's key,
	// UNENCRYPTED is refused; EncryptionKey is refused (use
	// ExistingStreamKey). Default: those defaults.
	StreamProps *awskinesis.StreamProps
	// ExistingStreamKey encrypts the created stream instead of a key the
	// construct creates. Default: a new customer-managed key (see
	// StreamKeyProps).
	ExistingStreamKey awskms.IKey
	// StreamKeyProps are laid over the created key's defaults: yearly
	// rotation (a customer-managed key, not aws/kinesis, so its policy is
	// ours to audit), RemovalPolicy. Turning rotation off and key specs or
	// usages other than symmetric encryption are refused. Default: those
	// defaults.
	StreamKeyProps *awskms.KeyProps

	// ExistingSinkBucket receives what the processor stores instead of a
	// bucket the construct creates. It must be versioned (cross-region
	// replication needs it) and encrypted with SSE-S3 when a GlobalStack
	// replicates it; its logging and lifecycle are its owner's. Default: the
	// construct creates it (see SinkBucketProps).
	ExistingSinkBucket awss3.IBucket
	// SinkBucketProps are laid over the created sink's defaults: versioned
	// (replication needs it), SSE-S3 (replication of SSE-KMS objects would
	// need a key per destination), TLS 1.2+ only, all public access
	// blocked, ACLs disabled (BucketOwnerEnforced), server access logs to
	// the logs bucket under "sink/", noncurrent versions (identical copies
	// a retried batch wrote) expire after 30 days, RemovalPolicy. Settings
	// that change those security or replication properties are refused,
	// and so are server access log and replication settings (the pipeline
	// and the GlobalStack own them). Default: those defaults, with a
	// CloudFormation-generated name.
	SinkBucketProps *awss3.BucketProps
	// ExistingSpillBucket holds what ingest could not write to Kinesis
	// instead of a bucket the construct creates: ingest writes under
	// "spill/", replay reads and deletes there, and the construct adds an
	// ObjectCreated notification for "spill/" to the replay queue (CDK adds
	// it to the bucket's existing notifications). Default: the construct
	// creates it (see SpillBucketProps).
	ExistingSpillBucket awss3.IBucket
	// SpillBucketProps are laid over the created spill bucket's defaults:
	// as the sink's (versioned: replay deletes an object only after writing
	// it to Kinesis, and the noncurrent version stays 30 days in case a
	// write was lost after all), server access logs under "spill/", current
	// objects never expire (they are acknowledged data not yet in the
	// stream). SSE-KMS is allowed here (the functions' grants cover the
	// key). Default: those defaults.
	SpillBucketProps *awss3.BucketProps
	// ExistingLogsBucket receives the S3 server access logs of the sink and
	// spill buckets (prefixes "sink/" and "spill/") instead of a bucket the
	// construct creates. It must take S3 server access logs: SSE-S3 (S3
	// does not deliver them to SSE-KMS buckets), and a bucket policy that
	// lets logging.s3.amazonaws.com put objects, which the construct adds
	// when the bucket is defined in the app (imported buckets keep their
	// own). Default: the construct creates one when it creates the sink or
	// the spill bucket (see LogsBucketProps).
	ExistingLogsBucket awss3.IBucket
	// LogsBucketProps are laid over the created logs bucket's defaults: as
	// the sink's but not versioned and not itself logged; SSE-S3 only.
	// Default: those defaults.
	LogsBucketProps *awss3.BucketProps

	// ProcessorHandler is the Go main package of the processor, given to
	// GoCode: an import path or a directory. Default HandlerProcessor
	// (gzipped NDJSON to the sink bucket). A team's own handler follows the
	// processor contract, written once in the doc of package
	// github.com/twinstream/twinstream/lambdas/batch, and reads its batches
	// through that package (decoding, canaries and copies handled there).
	ProcessorHandler string
	// ProcessorEnvironment is added to the processor's environment (for a
	// team's own handler). It may not set SINK_BUCKET, METRICS_NAMESPACE
	// (the construct sets both; a team's handler may emit its own metrics
	// into that namespace with package lambdas/metrics) or AWS_* names.
	// Default: none.
	ProcessorEnvironment map[string]string

	// Ingest, Health, Processor and Replay override settings of the four
	// functions; a nil field (or a nil FunctionSettings) keeps the default
	// that FunctionSettings documents.
	Ingest, Health, Processor, Replay *FunctionSettings

	// BatchSize is the most records per processor invocation, 1-10000.
	// Default 1000: fewer, larger sink objects, well under Lambda's 6 MB
	// payload for typical records (Lambda also cuts batches at 6 MB).
	BatchSize *float64
	// MaxBatchingWindow is how long the mapping gathers records before it
	// invokes the processor, 0-300 s. Default 5 s: at low traffic, one object
	// per 5 s per shard instead of one per record, at 5 s of added latency.
	MaxBatchingWindow awscdk.Duration
	// MaxRecordAge: older records are no longer retried but reported to
	// ProcessorFailureQueue, 60 s to 7 days, at most the stream's retention.
	// Default 7 days (the most the mapping allows): records written just
	// before a day-long Kinesis outage are that old when reading resumes,
	// and must still be processed.
	MaxRecordAge awscdk.Duration
	// RetryAttempts of a failing batch, 0-10000. Default 10000, the most
	// the construct library allows: a sink outage must not skip records.
	// A batch that exhausts them (or MaxRecordAge) is reported to
	// ProcessorFailureQueue with its shard and sequence range; the records
	// stay in the stream for the rest of its retention.
	RetryAttempts *float64
	// ParallelizationFactor is the number of concurrent batches per shard,
	// 1-10. Default 2: a backlog after an outage drains twice as fast; order
	// per partition key is kept, and the default handler's object keys
	// derive from shard and sequence numbers, so concurrent batches never
	// write the same key.
	ParallelizationFactor *float64

	// ReplayBatchSize is the most SQS messages (spill objects) per replay
	// invocation, 1-10. Default 5. The replay timeout follows from it (see
	// ReplayTimeoutFor).
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

	// LogRetention of the four functions' log groups. Default one month.
	LogRetention awslogs.RetentionDays

	// PackRecords says whether ingest and replay write packed Kinesis
	// records: the envelopes of one request (of one partition key, for
	// records sent with a key of their own) in one record, compressed
	// (package lambdas/pack, docs/packed-format.md). Kinesis bills every
	// record rounded up to 1 KiB and a shard takes 1,000 records a second,
	// so for small records packing bills about a twentieth of the data and
	// lets a shard take some twenty times as many records a second. The
	// processor and package lambdas/batch read packed and plain records
	// whatever the setting. Set jsii.Bool(false) when other consumers of
	// the stream (enhanced fan-out, Firehose, a team's own reader) expect
	// one JSON envelope per Kinesis record. It sets PACK_RECORDS on the
	// ingest and replay functions. Default (nil): true, packed.
	PackRecords *bool
}

// FunctionSettings override one of the pipeline's functions. Every field
// left nil (or empty) keeps the default given here.
type FunctionSettings struct {
	// MemorySize in MB, 128-10240; Lambda gives CPU in proportion.
	// Defaults: ingest 1024 (it parses and re-encodes up to 1 MiB bodies),
	// health 256, processor 1024 (gzip is CPU-bound), replay 512.
	MemorySize *float64
	// ReservedConcurrency reserves concurrent executions for the function,
	// and caps it there: a whole number from 1 to 100000, or -1 to reserve
	// none (the function then shares the account's unreserved pool,
	// uncapped). 0 is refused: it would stop the function. Defaults:
	//   - ingest DefaultIngestReservedConcurrency (200): a flood of
	//     /v1/records can neither take the region's whole Lambda concurrency
	//     (starving the health function into a fake failover, or the
	//     processor and replay) nor be starved by them. A request takes about
	//     0.05-0.15 s while Kinesis (or, spilling, S3) answers, so 200
	//     executions serve some 1,300-4,000 requests a second, up to 2
	//     million records a second at 500 per request. When Kinesis hangs,
	//     requests wait up to KINESIS_BUDGET (3 s) until ingest's breaker
	//     opens: the cap is reached and the ALB answers the excess with 5xx,
	//     which producers retry; nothing acknowledged is lost.
	//   - health DefaultHealthReservedConcurrency (20): its callers are the
	//     region-health target group's check (every 5 s from each ALB node)
	//     and Route 53's checkers (every 10 s each), a few requests a second
	//     answered from the cached probe; 20 is several times that peak.
	//   - processor and replay: none (replay's polling is bounded by
	//     ReplayMaxConcurrency instead; a reservation below it is refused,
	//     as throttled receives would count towards the dead-letter queue).
	// The account's default quota is 1,000 per region, of which Lambda keeps
	// 100 unreserved: an account with a lower quota must lower these or pass
	// -1, or the deploy fails.
	ReservedConcurrency *float64
	// Tracing is the function's X-Ray tracing mode; ACTIVE also grants
	// xray:PutTraceSegments and xray:PutTelemetryRecords. Default: unset,
	// Lambda's PassThrough (no sampling of its own).
	Tracing awslambda.Tracing
	// Timeout of the processor, 1 s to 15 minutes. Default 2 minutes: the
	// default handler makes one S3 PutObject (10 s timeout each) per hour of
	// data in a batch plus one for quarantined records, usually 1-3. The
	// other functions' timeouts follow from their handlers' budgets (ingest
	// 15 s, health 5 s, replay ReplayTimeoutFor): setting theirs panics.
	Timeout awscdk.Duration
}

// Pipeline is one region's ingest pipeline: producers reach the ingest
// function through an ALB (AttachToListener); ingest writes envelopes to
// Stream and spills what Kinesis does not take to SpillBucket; the processor
// stores the stream in SinkBucket; spill objects are announced on
// ReplayQueue and the replay function writes them back to the stream; the
// health function answers whether this region's stream takes writes. It is
// reusable: a team instantiates it in its own stack (see ExampleNewPipeline),
// once per region, or gets the whole multi-region deployment from
// NewDeployment.
type Pipeline struct {
	constructs.Construct
	// Stream is the Kinesis stream; StreamKey its KMS key (nil for a stream
	// encrypted with the aws/kinesis key, or an existing one imported
	// without its key).
	Stream    awskinesis.IStream
	StreamKey awskms.IKey
	// SinkBucket holds what the processor stored: versioned, as replication
	// to the other regions needs.
	SinkBucket awss3.IBucket
	// SpillBucket holds what ingest could not write to Kinesis, until replay
	// has written it.
	SpillBucket awss3.IBucket
	// LogsBucket receives the buckets' server access logs (the supplied one
	// or the one the construct created; nil when the construct created
	// neither bucket and none was supplied).
	LogsBucket awss3.IBucket
	// The four functions (arm64, provided.al2023, each with its own role
	// and log group).
	IngestFunction, HealthFunction, ProcessorFunction, ReplayFunction awslambda.IFunction
	// ReplayQueue receives the spill bucket's ObjectCreated notifications and
	// feeds replay; ReplayDeadLetterQueue takes messages after
	// ReplayMaxReceiveCount failed receives; ProcessorFailureQueue is the
	// stream mapping's on-failure destination (shard and sequence ranges of
	// batches given up on).
	ReplayQueue, ReplayDeadLetterQueue, ProcessorFailureQueue awssqs.IQueue
	// ReplayTimeout (the replay function's) and ReplayMaxReceiveCount (the
	// replay queue's) are computed from ReplayBatchSize and
	// ReplayOutageTolerance; exposed for dashboards and runbooks.
	ReplayTimeout         time.Duration
	ReplayMaxReceiveCount int

	name              string
	removal           awscdk.RemovalPolicy
	ownLogsBucket     awss3.Bucket      // the LogsBucket the construct created, if any
	ownSink, ownSpill awss3.Bucket      // the buckets the construct created, if any
	ownStream         awskinesis.Stream // the Stream the construct created, if any
	ingest, health    awslambda.Function
	processor, replay awslambda.Function
	replayQueue       awssqs.Queue
	replayDLQ         awssqs.Queue
	processorFailures awssqs.Queue
	defaultProcessor  bool                               // the processor is HandlerProcessor, which emits the processor metrics
	elbInvoke         map[string]awslambda.CfnPermission // by function address
	tracing           map[string]bool                    // construct ids of functions with ACTIVE tracing
	attachScopes      map[string]bool                    // scopes holding target groups, by address
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
	// pipelineKeyPendingWindow: a key the construct created is scheduled
	// for deletion with the shortest waiting period KMS allows, when
	// RemovalPolicy is DESTROY.
	pipelineKeyPendingWindow = 7 * 24 * time.Hour
)

// Reserved concurrency defaults (FunctionSettings.ReservedConcurrency
// explains them).
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
	pipelineConsumerRE   = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)
)

// NewPipeline builds the pipeline under scope. It panics, as CDK constructs
// do, when props are missing, out of range or contradict each other, naming
// the prop, the value and what is allowed; and when the app already holds a
// pipeline of the same Name in the same region (their alarms, logs and
// descriptions would read alike).
func NewPipeline(scope constructs.Construct, id string, props *PipelineProps) *Pipeline {
	o := resolvePipelineProps(props)
	registerPipeline(scope, o.name)

	p := &Pipeline{
		Construct: constructs.NewConstruct(scope, jsii.String(id)),
		name:      o.name,
		removal:   o.removal,
		tracing:   map[string]bool{},

		defaultProcessor: o.processorHandler == HandlerProcessor,
	}
	p.ReplayTimeout = ReplayTimeoutFor(o.replayBatch)
	p.ReplayMaxReceiveCount = ReplayMaxReceiveCountFor(o.replayBatch, o.tolerance)

	p.stream(props, o)
	p.buckets(props, o)
	p.queues()
	p.functions(props, o)
	p.eventSources(o)
	p.nagSuppressions()
	return p
}

// Name is the pipeline's name (PipelineProps.Name).
func (p *Pipeline) Name() string { return p.name }

// pipelineFunction is one function's settings with defaults applied.
type pipelineFunction struct {
	memory   float64
	reserved float64 // 0: none
	tracing  awslambda.Tracing
	timeout  time.Duration
}

// pipelineOptions are the props with defaults applied, as Go values.
type pipelineOptions struct {
	name                        string
	removal                     awscdk.RemovalPolicy
	processorHandler            string
	retention                   time.Duration
	batchSize, retries, par     float64
	window, maxAge              time.Duration
	replayBatch                 int
	replayConc                  float64
	tolerance                   time.Duration
	logRetention                awslogs.RetentionDays
	processorEnv                map[string]string
	createdStream, managedKey   bool
	pack                        bool // PACK_RECORDS
	ingest, health, proc, repl  pipelineFunction
	streamProps                 *awskinesis.StreamProps // with defaults, when the construct creates the stream
	sinkProps, spillProps, logs *awss3.BucketProps      // with defaults, for the buckets it creates
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

// resolveFunction applies fs over the function's defaults.
func resolveFunction(name string, fs *FunctionSettings, memory, reserved float64, timeout time.Duration, timeoutSettable bool) pipelineFunction {
	f := pipelineFunction{memory: memory, reserved: reserved, timeout: timeout}
	if fs == nil {
		return f
	}
	f.memory = pipelineNumberOr(name+".MemorySize", fs.MemorySize, memory, 128, 10240)
	f.reserved = pipelineConcurrency(name+".ReservedConcurrency", fs.ReservedConcurrency, reserved)
	switch fs.Tracing {
	case "", awslambda.Tracing_ACTIVE, awslambda.Tracing_PASS_THROUGH, awslambda.Tracing_DISABLED:
		f.tracing = fs.Tracing
	default:
		pipelinePanic("%s.Tracing = %q: want ACTIVE, PASS_THROUGH or DISABLED", name, fs.Tracing)
	}
	if fs.Timeout != nil {
		if !timeoutSettable {
			pipelinePanic("%s.Timeout: the %s function's timeout follows from its handler's budgets (%s); leave it unset", name, strings.ToLower(name), timeout)
		}
		f.timeout = pipelineDurationOr(name+".Timeout", fs.Timeout, timeout, time.Second, 15*time.Minute)
	}
	return f
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
		removal:          props.RemovalPolicy,
		processorHandler: props.ProcessorHandler,
		processorEnv:     props.ProcessorEnvironment,
		logRetention:     props.LogRetention,
		pack:             props.PackRecords == nil || *props.PackRecords,
	}
	switch o.removal {
	case "":
		o.removal = awscdk.RemovalPolicy_RETAIN
	case awscdk.RemovalPolicy_RETAIN, awscdk.RemovalPolicy_DESTROY:
	default:
		pipelinePanic("RemovalPolicy = %q: want RETAIN (the default) or DESTROY", o.removal)
	}
	if o.processorHandler == "" {
		o.processorHandler = HandlerProcessor
	}
	if o.logRetention == "" {
		o.logRetention = awslogs.RetentionDays_ONE_MONTH
	}

	o.resolveStream(props)
	o.resolveBuckets(props)

	for k := range props.ProcessorEnvironment {
		if k == "SINK_BUCKET" || k == "METRICS_NAMESPACE" || !pipelineEnvNameRE.MatchString(k) || strings.HasPrefix(k, "AWS_") {
			pipelinePanic("ProcessorEnvironment key %q: want an environment variable name other than SINK_BUCKET, METRICS_NAMESPACE and AWS_*", k)
		}
	}

	o.batchSize = pipelineNumberOr("BatchSize", props.BatchSize, pipelineDefaultBatchSize, 1, 10000)
	o.window = pipelineDurationOr("MaxBatchingWindow", props.MaxBatchingWindow, pipelineDefaultBatchingWindow, 0, 300*time.Second)
	o.maxAge = pipelineDurationOr("MaxRecordAge", props.MaxRecordAge, pipelineDefaultMaxRecordAge, 60*time.Second, 7*24*time.Hour)
	o.retries = pipelineNumberOr("RetryAttempts", props.RetryAttempts, pipelineDefaultRetryAttempts, 0, 10000)
	o.par = pipelineNumberOr("ParallelizationFactor", props.ParallelizationFactor, pipelineDefaultParallelization, 1, 10)
	o.replayBatch = int(pipelineNumberOr("ReplayBatchSize", props.ReplayBatchSize, pipelineDefaultReplayBatch, 1, 10))
	o.replayConc = pipelineNumberOr("ReplayMaxConcurrency", props.ReplayMaxConcurrency, pipelineDefaultReplayConcurrency, 2, 1000)
	o.tolerance = pipelineDurationOr("ReplayOutageTolerance", props.ReplayOutageTolerance, pipelineDefaultOutageTolerance, time.Hour, 13*24*time.Hour)
	if o.createdStream && o.maxAge > o.retention {
		pipelinePanic("MaxRecordAge = %s exceeds the stream's retention %s: records would expire before the mapping gives up on them", o.maxAge, o.retention)
	}

	o.ingest = resolveFunction("Ingest", props.Ingest, pipelineIngestMemory, DefaultIngestReservedConcurrency, pipelineIngestTimeout, false)
	o.health = resolveFunction("Health", props.Health, pipelineHealthMemory, DefaultHealthReservedConcurrency, pipelineHealthTimeout, false)
	o.proc = resolveFunction("Processor", props.Processor, pipelineDefaultProcessorMemory, 0, pipelineDefaultProcessorTimeout, true)
	o.repl = resolveFunction("Replay", props.Replay, pipelineReplayMemory, 0, ReplayTimeoutFor(o.replayBatch), false)
	if o.repl.reserved > 0 && o.repl.reserved < o.replayConc {
		pipelinePanic("Replay.ReservedConcurrency = %v is below ReplayMaxConcurrency = %v: the queue would deliver messages the function cannot take, and throttled receives count towards the dead-letter queue", o.repl.reserved, o.replayConc)
	}
	return o
}

// resolveStream checks the stream and key props and lays StreamProps over
// the defaults.
func (o *pipelineOptions) resolveStream(props *PipelineProps) {
	if props.ExistingStream != nil {
		if props.StreamProps != nil || props.ExistingStreamKey != nil || props.StreamKeyProps != nil {
			pipelinePanic("ExistingStream is set: StreamProps, ExistingStreamKey and StreamKeyProps configure a stream the construct creates, leave them unset")
		}
		return
	}
	o.createdStream = true
	sp := props.StreamProps
	if sp == nil {
		sp = &awskinesis.StreamProps{}
	}
	if sp.EncryptionKey != nil {
		pipelinePanic("StreamProps.EncryptionKey is set: pass the key as ExistingStreamKey")
	}
	def := &awskinesis.StreamProps{
		StreamMode:    awskinesis.StreamMode_ON_DEMAND,
		Encryption:    awskinesis.StreamEncryption_KMS,
		RemovalPolicy: o.removal,
	}
	merged := mergeProps(def, sp)
	switch merged.Encryption {
	case awskinesis.StreamEncryption_KMS:
	case awskinesis.StreamEncryption_MANAGED:
		o.managedKey = true
		if props.ExistingStreamKey != nil || props.StreamKeyProps != nil {
			pipelinePanic("StreamProps.Encryption = MANAGED (the aws/kinesis key): ExistingStreamKey and StreamKeyProps configure a customer-managed key, leave them unset")
		}
	default:
		pipelinePanic("StreamProps.Encryption = %q: want KMS (the default, the pipeline's key) or MANAGED (the aws/kinesis key); the stream holds producers' data and stays encrypted", merged.Encryption)
	}
	if props.ExistingStreamKey != nil && props.StreamKeyProps != nil {
		pipelinePanic("ExistingStreamKey and StreamKeyProps are both set: StreamKeyProps configure a key the construct creates, set one of them")
	}
	if kp := props.StreamKeyProps; kp != nil {
		if kp.EnableKeyRotation != nil && !*kp.EnableKeyRotation {
			pipelinePanic("StreamKeyProps.EnableKeyRotation = false: the stream key rotates yearly, leave it unset or true")
		}
		if (kp.KeySpec != "" && kp.KeySpec != awskms.KeySpec_SYMMETRIC_DEFAULT) || (kp.KeyUsage != "" && kp.KeyUsage != awskms.KeyUsage_ENCRYPT_DECRYPT) {
			pipelinePanic("StreamKeyProps: KeySpec %q, KeyUsage %q: Kinesis encrypts with symmetric ENCRYPT_DECRYPT keys only", kp.KeySpec, kp.KeyUsage)
		}
	}
	provisioned := merged.StreamMode == awskinesis.StreamMode_PROVISIONED
	switch {
	case merged.StreamMode != awskinesis.StreamMode_ON_DEMAND && !provisioned:
		pipelinePanic("StreamProps.StreamMode = %q: want ON_DEMAND or PROVISIONED", merged.StreamMode)
	case provisioned && merged.ShardCount == nil:
		pipelinePanic("StreamProps.StreamMode = PROVISIONED: ShardCount is required")
	case !provisioned && merged.ShardCount != nil:
		pipelinePanic("StreamProps.ShardCount = %v with StreamMode ON_DEMAND: set StreamMode PROVISIONED to use a shard count", *merged.ShardCount)
	case provisioned:
		pipelineNumberOr("StreamProps.ShardCount", merged.ShardCount, 0, 1, 10000)
	}
	o.retention = pipelineDurationOr("StreamProps.RetentionPeriod", merged.RetentionPeriod, pipelineDefaultStreamRetention, 24*time.Hour, 365*24*time.Hour)
	if o.retention%time.Hour != 0 {
		pipelinePanic("StreamProps.RetentionPeriod = %s: want whole hours", o.retention)
	}
	merged.RetentionPeriod = awscdk.Duration_Hours(jsii.Number(o.retention.Hours()))
	o.streamProps = merged
}

// pipelineBucketRules are what a created bucket's props may change.
type pipelineBucketRules struct {
	prop       string
	encryption []awss3.BucketEncryption // allowed; the first is the default
	versioned  bool                     // must stay versioned
	sink       bool                     // replication belongs to the GlobalStack
}

// pipelineSecureBucket is what every bucket the construct creates starts
// from: no public access, ACLs disabled, TLS 1.2+ only, retained or
// emptied and destroyed with the stack as RemovalPolicy says.
func pipelineSecureBucket(removal awscdk.RemovalPolicy, enc awss3.BucketEncryption) *awss3.BucketProps {
	bp := &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		Encryption:        enc,
		EnforceSSL:        jsii.Bool(true),
		MinimumTLSVersion: jsii.Number(1.2),
		RemovalPolicy:     removal,
	}
	if removal == awscdk.RemovalPolicy_DESTROY {
		bp.AutoDeleteObjects = jsii.Bool(true)
	}
	return bp
}

// bucketProps lays user over def after refusing what would weaken the
// defaults or break the pipeline.
func (r pipelineBucketRules) bucketProps(user, def *awss3.BucketProps) *awss3.BucketProps {
	if user == nil {
		return def
	}
	bad := func(field, want string) { pipelinePanic("%s.%s: %s", r.prop, field, want) }
	if user.ServerAccessLogsBucket != nil || user.ServerAccessLogsPrefix != nil || user.TargetObjectKeyFormat != nil {
		bad("ServerAccessLogs*", "the pipeline sets the buckets' server access logging (to the logs bucket); leave it unset, or pass ExistingLogsBucket")
	}
	if user.AccessControl != "" || (user.ObjectOwnership != "" && user.ObjectOwnership != awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED) {
		bad("AccessControl/ObjectOwnership", "ACLs stay disabled (BucketOwnerEnforced): leave them unset")
	}
	if user.PublicReadAccess != nil && *user.PublicReadAccess {
		bad("PublicReadAccess", "the pipeline's buckets are never public")
	}
	if b := user.BlockPublicAccess; b != nil {
		for _, v := range []*bool{b.BlockPublicAcls(), b.BlockPublicPolicy(), b.IgnorePublicAcls(), b.RestrictPublicBuckets()} {
			if v == nil || !*v {
				bad("BlockPublicAccess", "all public access stays blocked (BLOCK_ALL): leave it unset")
			}
		}
	}
	if user.EnforceSSL != nil && !*user.EnforceSSL {
		bad("EnforceSSL", "requests without TLS stay denied: leave it unset or true")
	}
	if user.MinimumTLSVersion != nil && *user.MinimumTLSVersion < 1.2 {
		bad("MinimumTLSVersion", fmt.Sprintf("%v: want 1.2 or more", *user.MinimumTLSVersion))
	}
	if r.versioned && user.Versioned != nil && !*user.Versioned {
		bad("Versioned", "the bucket stays versioned (replication and replay rely on it)")
	}
	if user.Encryption != "" && !containsEncryption(r.encryption, user.Encryption) {
		bad("Encryption", fmt.Sprintf("%q: want one of %v", user.Encryption, r.encryption))
	}
	if r.sink && (user.ReplicationRules != nil || user.ReplicationRole != nil) {
		bad("ReplicationRules", "the GlobalStack replicates the sinks between the regions: leave it unset")
	}
	if user.AutoDeleteObjects != nil && *user.AutoDeleteObjects && user.RemovalPolicy != awscdk.RemovalPolicy_DESTROY && def.RemovalPolicy != awscdk.RemovalPolicy_DESTROY {
		bad("AutoDeleteObjects", "it needs RemovalPolicy DESTROY")
	}
	if n := user.BucketName; n != nil && !strings.Contains(*n, "${Token[") && !pipelineBucketNameRE.MatchString(*n) {
		bad("BucketName", fmt.Sprintf("%q: want an S3 bucket name (3-63 lowercase letters, digits, dots or hyphens)", *n))
	}
	return mergeProps(def, user)
}

func containsEncryption(list []awss3.BucketEncryption, e awss3.BucketEncryption) bool {
	for _, x := range list {
		if x == e {
			return true
		}
	}
	return false
}

// resolveBuckets checks the bucket props and lays them over the defaults.
func (o *pipelineOptions) resolveBuckets(props *PipelineProps) {
	both := func(name string, existing awss3.IBucket, bp *awss3.BucketProps) {
		if existing != nil && bp != nil {
			pipelinePanic("Existing%s and %sProps are both set: %sProps configure a bucket the construct creates, set one of them", name, name, name)
		}
	}
	both("SinkBucket", props.ExistingSinkBucket, props.SinkBucketProps)
	both("SpillBucket", props.ExistingSpillBucket, props.SpillBucketProps)
	both("LogsBucket", props.ExistingLogsBucket, props.LogsBucketProps)

	s3only := []awss3.BucketEncryption{awss3.BucketEncryption_S3_MANAGED}
	if props.ExistingSinkBucket == nil {
		def := pipelineSecureBucket(o.removal, awss3.BucketEncryption_S3_MANAGED)
		def.Versioned = jsii.Bool(true)
		def.LifecycleRules = &[]*awss3.LifecycleRule{{
			Id: jsii.String("CleanUpOldVersions"),
			// A retried processor batch rewrites its objects under the same
			// keys: the older versions are identical copies.
			NoncurrentVersionExpiration:         awscdk.Duration_Days(jsii.Number(30)),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
		}}
		o.sinkProps = pipelineBucketRules{prop: "SinkBucketProps", encryption: s3only, versioned: true, sink: true}.bucketProps(props.SinkBucketProps, def)
	}
	if props.ExistingSpillBucket == nil {
		def := pipelineSecureBucket(o.removal, awss3.BucketEncryption_S3_MANAGED)
		def.Versioned = jsii.Bool(true)
		// Current spill objects never expire: they are acknowledged data not
		// yet in the stream. Only replayed (noncurrent) versions and delete
		// markers are cleaned up.
		def.LifecycleRules = &[]*awss3.LifecycleRule{{
			Id:                                  jsii.String("CleanUpReplayed"),
			NoncurrentVersionExpiration:         awscdk.Duration_Days(jsii.Number(30)),
			ExpiredObjectDeleteMarker:           jsii.Bool(true),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
		}}
		o.spillProps = pipelineBucketRules{prop: "SpillBucketProps", versioned: true, encryption: []awss3.BucketEncryption{
			awss3.BucketEncryption_S3_MANAGED, awss3.BucketEncryption_KMS, awss3.BucketEncryption_KMS_MANAGED, awss3.BucketEncryption_DSSE_MANAGED, awss3.BucketEncryption_DSSE,
		}}.bucketProps(props.SpillBucketProps, def)
	}
	logged := o.sinkProps != nil || o.spillProps != nil
	if props.ExistingLogsBucket == nil && logged {
		// ACLs disabled explicitly: S3 server access logs reach the bucket
		// under its bucket policy (see logTo), never under the
		// LogDeliveryWrite ACL that CDK would otherwise set without the
		// serverAccessLogsUseBucketPolicy feature flag.
		o.logs = pipelineBucketRules{prop: "LogsBucketProps", encryption: s3only}.bucketProps(props.LogsBucketProps,
			pipelineSecureBucket(o.removal, awss3.BucketEncryption_S3_MANAGED))
	} else if props.LogsBucketProps != nil && !logged {
		pipelinePanic("LogsBucketProps is set, but the construct creates no bucket whose access it would log (ExistingSinkBucket and ExistingSpillBucket are set): leave it unset")
	}
}

// pipelineRegistry holds the pipelines of each app (by its root construct:
// the jsii runtime hands out one Go value per object) as name -> regions,
// to refuse a second pipeline of one name in one region.
var pipelineRegistry = struct {
	sync.Mutex
	apps map[constructs.IConstruct]map[string][]string
}{apps: map[constructs.IConstruct]map[string][]string{}}

// registerPipeline refuses a pipeline whose name the app already uses in
// the region of scope's stack. A stack without a region (an
// environment-agnostic one) may be deployed to any region: it clashes with
// every region.
func registerPipeline(scope constructs.Construct, name string) {
	if scope == nil {
		pipelinePanic("scope is nil")
	}
	root := scope.Node().Root()
	region := ""
	if r := awscdk.Stack_Of(scope).Region(); r != nil && !*awscdk.Token_IsUnresolved(r) {
		region = *r
	}
	pipelineRegistry.Lock()
	defer pipelineRegistry.Unlock()
	names := pipelineRegistry.apps[root]
	if names == nil {
		names = map[string][]string{}
		pipelineRegistry.apps[root] = names
	}
	for _, r := range names[name] {
		if r == region || r == "" || region == "" {
			where := "region " + region
			if region == "" || r == "" {
				where = "a stack without a region (it may be deployed to any)"
			}
			pipelinePanic("Name = %q: this app already has a pipeline of that name in %s; give each pipeline of a region its own Name", name, where)
		}
	}
	names[name] = append(names[name], region)
}
