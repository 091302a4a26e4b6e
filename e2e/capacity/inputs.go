package capacity

import (
	"encoding/json"
	"reflect"
	"strings"
	"time"

	"github.com/twinstream/twinstream/lambdas/record"
)

// Kind says where a Figure comes from.
type Kind int

// Kinds of figures. Quota and Price carry the URL they were read from;
// Setting names the stacks' constant, Measured the command that measures it;
// Assumed and Placeholder are not sourced and say so in the document.
const (
	Quota       Kind = iota // an AWS quota or limit, from AWS documentation
	Price                   // an AWS price in us-east-1
	Setting                 // a default of this repository's stacks, handlers or client
	Chosen                  // a choice of the model: the load it is quoted at
	Measured                // measured by this repository's benchmarks or code
	Assumed                 // ASSUMPTION: not found in the sources searched
	Placeholder             // ASSUMPTION to be replaced by issue 10's benchmarks
)

func (k Kind) String() string {
	return [...]string{"AWS quota", "AWS price", "repository default", "model's choice", "measured", "ASSUMPTION", "ASSUMPTION (placeholder)"}[k]
}

// Figure is one input of the model: a number, its unit, what it is, and
// where it comes from.
type Figure struct {
	Value float64
	Unit  string
	What  string
	Kind  Kind
	// Source is the URL it was read from (Quota, Price), or the file,
	// constant or command (Setting, Measured), or why it is assumed.
	Source string
	// Via is set when a Price was not on an AWS page the search found but
	// in a transcription of it: that transcription's URL.
	Via string
}

// Checked is when the prices and quotas were looked up, and the region
// whose prices they are.
const (
	Checked = "2026-12-02"
	Region  = "us-east-1"
)

// Inputs are every figure the model uses. To update one, change it in
// DefaultInputs (with its source), then rewrite docs/capacity.md:
//
//	cd e2e && go test -run TestCapacityDoc ./capacity -update
type Inputs struct {
	// The load the costs are quoted at: per region, both regions active.
	RefRate   Figure // records/s per region
	BatchSize Figure // records per request, at most what fits the ALB's 1 MB body

	// Measured by this repository.
	IngestPerCore    Figure // ingest records/s per core, 200-byte records
	ProcessorPerCore Figure // processor records/s per core
	SinkGzipRatio    Figure // gzip'd size / raw size of a batch of envelopes
	EnvelopeOverhead Figure // envelope bytes beyond the record's data
	IDBytes          Figure // a ULID id (and default partition key)

	// Packed Kinesis records (helper "pack"): placeholders until its
	// benchmark (records per Kinesis record, billed bytes per record) lands.
	PackRatio       Figure // packed (compressed) bytes / envelope bytes
	PackHeaderBytes Figure // per packed record: magic, version, codec, lengths
	PackMaxBytes    Figure // most envelope bytes (body before compression) of one packed record
	PackPerCore     Figure // bytes/s per core of packing (zstd) envelopes on ingest

	// Spill keys and replay (helper "hot").
	SpillPrefixes     Figure // S3 partitions spill keys spread over
	ReplayPerInvocSec Figure // records/s one replay invocation writes back

	// The stacks' defaults.
	IngestReserved    Figure
	IngestMemoryMB    Figure
	HealthReserved    Figure
	ProcessorMemoryMB Figure
	ReplayMemoryMB    Figure
	ReplayConcurrency Figure
	ReplayBatch       Figure
	ESMBatch          Figure
	ESMWindow         Figure // seconds
	ESMParallel       Figure
	RetentionHours    Figure
	WAFPerIP          Figure // requests per 5 minutes per client IP
	KMSKeys           Figure // customer managed keys per region

	// Not measured here: time each call waits on AWS.
	IngestWaitSec   Figure // per ingest invocation: PutRecords round trip and overheads
	SinkPutSec      Figure // per processor invocation: PutObject of the batch
	HeaderBytes     Figure // HTTP request + response headers per request
	LogBytesPerCall Figure // CloudWatch Logs bytes per Lambda invocation
	ALBNodes        Figure // ALB nodes sending health checks
	Month           Figure // hours

	// AWS quotas and limits.
	ShardWriteBytes    Figure // bytes/s per shard
	ShardWriteRecords  Figure // records/s per shard
	OnDemandStartBytes Figure // write bytes/s of a new on-demand stream
	OnDemandMaxBytes   Figure // write bytes/s an on-demand stream scales to (us-east-1, us-west-2, eu-west-1)
	OnDemandMaxOther   Figure // ... in other regions
	KinesisBilledUnit  Figure // bytes a record is rounded up to
	LambdaConcurrency  Figure // per account and region
	LambdaMBPerVCPU    Figure
	ESMPayload         Figure // bytes per stream batch (synchronous invocation payload)
	ALBMaxBody         Figure // bytes of an ALB -> Lambda request body
	S3PutPerPrefix     Figure // PUT/s per partitioned prefix
	APIGWRPS           Figure // per account and region
	FirehoseRecords    Figure // records/s per Firehose stream
	FirehoseRequests   Figure // requests/s per Firehose stream
	FirehoseBytes      Figure // bytes/s per Firehose stream
	FirehoseUnit       Figure // bytes a Firehose record is rounded up to

	// AWS prices, us-east-1.
	ALBHour          Figure
	ALBLCUHour       Figure
	ALBLambdaGBPerLC Figure // GB processed per LCU-hour for Lambda targets
	WAFACLMonth      Figure
	WAFRuleMonth     Figure
	WAFPerMillion    Figure
	GAHour           Figure
	GAPremiumGB      Figure
	DataOutGB        Figure
	LambdaPerMillion Figure
	LambdaArmGBs     Figure
	KinesisHour      Figure
	KinesisInGB      Figure
	KinesisOutGB     Figure
	KinesisRetGBMo   Figure
	S3PutPer1000     Figure
	S3GetPer1000     Figure
	S3GBMonth        Figure
	InterRegionGB    Figure
	SQSPerMillion    Figure
	LogsGB           Figure
	KMSKeyMonth      Figure
	APIGWRestPerM    Figure
	APIGWHTTPPerM    Figure
	FirehoseGB       Figure
}

// URLs of the sources, found with the search tool's docs and pages corpora
// on Checked.
const (
	urlKinesisLimits  = "https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html"
	urlKinesisStreams = "https://docs.aws.amazon.com/streams/latest/dev/working-with-streams.html"
	urlKinesisPricing = "https://aws.amazon.com/kinesis/data-streams/pricing/"
	urlLambdaLimits   = "https://docs.aws.amazon.com/lambda/latest/dg/limits.html"
	urlLambdaMemory   = "https://docs.aws.amazon.com/de_de/lambda/latest/dg/configuration-memory.html"
	urlLambdaESM      = "https://docs.aws.amazon.com/lambda/latest/dg/API_EventSourceMappingConfiguration.html"
	urlLambdaPricing  = "https://aws.amazon.com/lambda/pricing/"
	urlS3Prefix       = "https://repost.aws/es/knowledge-center/http-5xx-errors-s3"
	urlS3Pricing      = "https://aws.amazon.com/s3/pricing/"
	urlAPIGWLimits    = "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html"
	urlAPIGWPricing   = "https://docs.aws.amazon.com/whitepapers/latest/best-practices-api-gateway-private-apis-integration/cost-optimization.html"
	urlFirehoseAPI    = "https://docs.aws.amazon.com/sdk-for-sap-abap/v1/api/latest/frh/operation/PUTRECORD.html"
	urlFirehosePrice  = "https://aws.amazon.com/kinesis/data-firehose/pricing/"
	urlFirehoseUnit   = "https://aws.amazon.com/de/kinesis/data-firehose/pricing/"
	urlALBLambda      = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/lambda-functions.html"
	urlALBPricing     = "https://aws.amazon.com/elasticloadbalancing/pricing/"
	urlGAPricing      = "https://aws.amazon.com/global-accelerator/pricing/"
	urlWAFPricing     = "https://aws.amazon.com/waf/pricing/"
	urlKMSPricing     = "https://aws.amazon.com/kms/pricing/"
	urlSQSPricing     = "https://aws.amazon.com/sqs/pricing/"
	urlLogsPricing    = "https://aws.amazon.com/cloudwatch/pricing/"
	urlDTPricing      = "https://aws.amazon.com/ec2/pricing/on-demand/"
	// Transcriptions of AWS pricing pages (their tables render in the
	// browser, so the pages' text the search holds has no numbers).
	viaALB       = "https://raw.githubusercontent.com/api-evangelist/amazon-elastic-load-balancing/refs/heads/main/plans/amazon-elastic-load-balancing-plans-pricing.yml"
	viaGA        = "https://raw.githubusercontent.com/api-evangelist/amazon-global-accelerator/refs/heads/main/plans/amazon-global-accelerator-plans-pricing.yml"
	viaLambda    = "https://raw.githubusercontent.com/api-evangelist/aws-lambda/refs/heads/main/plans/aws-lambda-plans-pricing.yml"
	viaLambdaArm = "https://app.unpkg.com/artillery@2.0.28/files/lib/platform/aws-lambda/prices.js"
	viaS3        = "https://gist.github.com/EverettBerry/a37438006529a55f42da6fdbc44a505c"
)

// notFound is the Source of an Assumed price.
const notFound = "not found in the docs corpus (the pricing page's tables hold no numbers there): assumed list price, check "

// DefaultInputs are the figures docs/capacity.md is computed from.
func DefaultInputs() Inputs {
	return Inputs{
		RefRate:   Figure{3000, "records/s", "load per region the costs are quoted at (both regions active)", Chosen, "the drill's rate (e2e/drill highRate, make drill)", ""},
		BatchSize: Figure{100, "records", "records per request (the client's load default and the drill's), fewer when the ALB's 1 MB body is full", Setting, "client/load DefaultBatchSize", ""},

		IngestPerCore:    Figure{480000, "records/s", "ingest CPU per core through the ALB event adapter, 500 records of 200-byte JSON per request (lowest median of the three body forms, NDJSON in base64, over two runs)", Measured, "go test -run '^$' -bench ALB -benchmem -cpu 1 -count 3 ./lambdas/ingest/ingest (records/cpu-s), 2026-12-02", ""},
		ProcessorPerCore: Figure{310000, "records/s", "processor CPU per core, unpack + decode + gzip + fake S3, packed records of 500 envelopes (lowest of the run; 458k-470k with plain records): the packed figure is used for both cases", Measured, "go test -run '^$' -bench 'BenchmarkProcess(Packed)?$' -benchmem -cpu 1 -count 3 ./lambdas/processor/processor, 2026-12-02", ""},
		SinkGzipRatio:    Figure{0.158, "", "gzip'd / raw size of a processor batch of 200-byte JSON envelopes, at the level the processor uses (1, BestSpeed)", Measured, "the processor's gzip level measured 2026-12-02: 0.158 at level 1, 0.150 at the default (BenchmarkGzip's batch)", ""},
		EnvelopeOverhead: Figure{float64(envelopeOverhead()), "bytes", "envelope bytes beyond the data (id, producer, region, receivedAt, partitionKey, encoding)", Measured, "lambdas/record Envelope.Append of a ULID-id record, computed when the document is generated", ""},
		IDBytes:          Figure{26, "bytes", "a ULID id, the default partition key", Setting, "lambdas/record IDs (ULID)", ""},

		PackRatio:       Figure{0.110, "", "zstd-compressed / envelope bytes of a packed record of 500 envelopes of 200-byte JSON order events (lambdas/pack/sample); BenchmarkBilled sends 42.85 B per record; incompressible data would give ~1", Measured, "go test -run '^$' -bench 'Billed|Encode' -benchmem -cpu 1 -count 3 ./lambdas/ingest/ingest ./lambdas/pack (ratio 0.109), 2026-12-02", ""},
		PackHeaderBytes: Figure{6, "bytes", "per packed record: magic (4), version, codec", Setting, "docs/packed-format.md", ""},
		PackMaxBytes:    Figure{1 << 20, "bytes", "most envelope bytes (newline-terminated lines) in one packed record's body: pack.MaxBody, 1 MiB, the same as one plain Kinesis record", Setting, "lambdas/pack MaxBody, docs/packed-format.md", ""},
		PackPerCore:     Figure{500e6, "bytes/s", "zstd (klauspost, fastest level) of envelopes per core, the packing cost on ingest (pack measured ~0.9 us per record of ingest CPU in all)", Measured, "go test -run '^$' -bench Encode -benchmem -cpu 1 -count 2 ./lambdas/pack (1.29M-1.39M records/s), 2026-12-02", ""},

		SpillPrefixes:     Figure{256, "partitions", "S3 partitions spill keys can spread over: 256 hashed prefixes right after spill/ (ingest.SpillKey); S3 splits partitions under sustained load, not at once, so the first minutes of an outage get fewer", Setting, "lambdas/ingest/ingest SpillKey: <prefix>/<2 hex of FNV-1a of the request id>/region=...", ""},
		ReplayPerInvocSec: Figure{4100, "records/s", "records one replay invocation writes back per second: spill objects of 500 records, S3 GET and DELETE 30 ms each, PutRecords 50 ms, CPU at 512 MB (0.289 vCPU): 122 ms per object", Measured, "go test -run '^$' -bench ReplayDrain -benchmem -cpu 1 -count 3 ./lambdas/replay/replay (8.4-8.6 objects/s with the latencies assumed there), 2026-12-02", ""},

		IngestReserved:    Figure{200, "", "ingest reserved concurrency", Setting, "stacks DefaultIngestReservedConcurrency", ""},
		IngestMemoryMB:    Figure{1024, "MB", "ingest memory", Setting, "stacks pipelineIngestMemory", ""},
		HealthReserved:    Figure{20, "", "health reserved concurrency", Setting, "stacks DefaultHealthReservedConcurrency", ""},
		ProcessorMemoryMB: Figure{1024, "MB", "processor memory", Setting, "stacks pipelineDefaultProcessorMemory", ""},
		ReplayMemoryMB:    Figure{512, "MB", "replay memory", Setting, "stacks pipelineReplayMemory", ""},
		ReplayConcurrency: Figure{20, "", "replay's SQS event source maximum concurrency", Setting, "stacks pipelineDefaultReplayConcurrency", ""},
		ReplayBatch:       Figure{5, "messages", "spill objects per replay invocation", Setting, "stacks pipelineDefaultReplayBatch", ""},
		ESMBatch:          Figure{1000, "Kinesis records", "processor batch size", Setting, "stacks pipelineDefaultBatchSize", ""},
		ESMWindow:         Figure{5, "s", "processor batching window", Setting, "stacks pipelineDefaultBatchingWindow", ""},
		ESMParallel:       Figure{2, "", "processor parallelization factor (concurrent batches per shard)", Setting, "stacks pipelineDefaultParallelization", ""},
		RetentionHours:    Figure{168, "h", "stream retention", Setting, "stacks pipelineDefaultStreamRetention", ""},
		WAFPerIP:          Figure{30000, "requests / 5 min", "WAF rate limit per client IP on /v1/records", Setting, "cdk.json rateLimitPerIp (README Configuration)", ""},
		KMSKeys:           Figure{2, "keys", "customer managed KMS keys per regional stack", Setting, "testdata/twinstream-us-east-1.template.json (AWS::KMS::Key)", ""},

		IngestWaitSec:   Figure{0.050, "s", "per ingest invocation besides CPU: the PutRecords round trip and the ALB/Lambda overheads", Assumed, "not measured: no AWS account here (the README's Configuration reckons 0.05-0.15 s per request); the drill's stand-ins are not AWS", ""},
		SinkPutSec:      Figure{0.050, "s", "per processor invocation: the sink PutObject of a gzip'd batch", Assumed, "not measured against S3", ""},
		HeaderBytes:     Figure{600, "bytes", "HTTP request and response headers per request through the ALB", Assumed, "typical headers (Authorization, Content-Type, X-Amzn-*, X-Twinstream-Region)", ""},
		LogBytesPerCall: Figure{1200, "bytes", "CloudWatch Logs per Lambda invocation: START/END/REPORT platform lines (JSON log format) and one EMF metrics line", Assumed, "not measured in AWS", ""},
		ALBNodes:        Figure{2, "nodes", "ALB nodes sending health checks (one per AZ)", Assumed, "ALB adds nodes as it scales; each sends health checks", ""},
		Month:           Figure{730, "h", "hours in a billing month", Assumed, "AWS pricing examples' convention", ""},

		ShardWriteBytes:    Figure{1 << 20, "bytes/s", "write per shard (1 MB/s)", Quota, urlKinesisStreams, ""},
		ShardWriteRecords:  Figure{1000, "records/s", "write per shard", Quota, urlKinesisStreams, ""},
		OnDemandStartBytes: Figure{4 << 20, "bytes/s", "write capacity of a new on-demand stream (4 MB/s)", Quota, urlKinesisLimits, ""},
		OnDemandMaxBytes:   Figure{10 << 30, "bytes/s", "write an on-demand stream scales up to in us-east-1, us-west-2, eu-west-1 (10 GB/s)", Quota, urlKinesisLimits, ""},
		OnDemandMaxOther:   Figure{200 << 20, "bytes/s", "the same in other regions (200 MB/s; more on request)", Quota, urlKinesisLimits, ""},
		KinesisBilledUnit:  Figure{1024, "bytes", "on-demand data in: each record rounded up to the nearest 1 KB (1,024 bytes)", Quota, urlKinesisPricing, ""},
		LambdaConcurrency:  Figure{1000, "", "concurrent executions per account and region (default quota; new accounts get less)", Quota, urlLambdaLimits, ""},
		LambdaMBPerVCPU:    Figure{1769, "MB", "memory at which a function has one vCPU (CPU is proportional to memory)", Quota, urlLambdaMemory, ""},
		ESMPayload:         Figure{6e6, "bytes", "a stream event source's batch: up to the synchronous invocation payload (6 MB)", Quota, urlLambdaESM, ""},
		ALBMaxBody:         Figure{1e6, "bytes", "ALB -> Lambda request body (1 MB, read as 10^6 bytes as ingest does)", Quota, urlALBLambda, ""},
		S3PutPerPrefix:     Figure{3500, "PUT/s", "PUT/COPY/POST/DELETE per partitioned prefix", Quota, urlS3Prefix, ""},
		APIGWRPS:           Figure{10000, "requests/s", "API Gateway throttle per account and region", Quota, urlAPIGWLimits, ""},
		FirehoseRecords:    Figure{5000, "records/s", "per Firehose stream by default (the quota page gives higher figures for some regions; its table was not in the search's text)", Quota, urlFirehoseAPI, ""},
		FirehoseRequests:   Figure{2000, "requests/s", "per Firehose stream by default", Quota, urlFirehoseAPI, ""},
		FirehoseBytes:      Figure{5e6, "bytes/s", "per Firehose stream by default (5 MB/s)", Quota, urlFirehoseAPI, ""},
		FirehoseUnit:       Figure{5120, "bytes", "Direct PUT ingestion: each record rounded up to the next 5 KB", Quota, urlFirehoseUnit, ""},

		ALBHour:          Figure{0.0225, "$/h", "ALB hour", Price, urlALBPricing, viaALB},
		ALBLCUHour:       Figure{0.008, "$/LCU-h", "ALB LCU hour", Price, urlALBPricing, viaALB},
		ALBLambdaGBPerLC: Figure{0.4, "GB/h", "processed bytes per LCU for Lambda targets", Price, urlALBPricing, viaALB},
		WAFACLMonth:      Figure{5, "$/month", "WAF web ACL", Assumed, notFound + urlWAFPricing, ""},
		WAFRuleMonth:     Figure{1, "$/month", "WAF rule (the ACL has two rate rules)", Assumed, notFound + urlWAFPricing, ""},
		WAFPerMillion:    Figure{0.60, "$/million requests", "WAF requests inspected", Assumed, notFound + urlWAFPricing, ""},
		GAHour:           Figure{0.025, "$/h", "Global Accelerator fixed fee (one per deployment)", Price, urlGAPricing, viaGA},
		GAPremiumGB:      Figure{0.015, "$/GB", "Global Accelerator DT-Premium, United States & Canada to United States (dominant direction: requests in)", Price, urlGAPricing, viaGA},
		DataOutGB:        Figure{0.09, "$/GB", "data transfer out to the internet (the answers)", Assumed, notFound + urlDTPricing, ""},
		LambdaPerMillion: Figure{0.20, "$/million", "Lambda requests", Price, urlLambdaPricing, viaLambda},
		LambdaArmGBs:     Figure{0.0000133334, "$/GB-s", "Lambda duration, arm64", Price, urlLambdaPricing, viaLambdaArm},
		KinesisHour:      Figure{0.04, "$/stream-hour", "Kinesis on-demand (Standard) stream hour", Assumed, notFound + urlKinesisPricing, ""},
		KinesisInGB:      Figure{0.08, "$/GB", "Kinesis on-demand data in (billed bytes: records rounded up to 1 KB)", Assumed, notFound + urlKinesisPricing, ""},
		KinesisOutGB:     Figure{0.04, "$/GB", "Kinesis on-demand data out (bytes read)", Assumed, notFound + urlKinesisPricing, ""},
		KinesisRetGBMo:   Figure{0.10, "$/GB-month", "Kinesis on-demand extended retention (beyond 24 h, up to 7 days)", Assumed, notFound + urlKinesisPricing, ""},
		S3PutPer1000:     Figure{0.005, "$/1000", "S3 PUT requests", Assumed, notFound + urlS3Pricing, ""},
		S3GetPer1000:     Figure{0.0004, "$/1000", "S3 GET requests", Assumed, notFound + urlS3Pricing, ""},
		S3GBMonth:        Figure{0.023, "$/GB-month", "S3 Standard, first 50 TB", Price, urlS3Pricing, viaS3},
		InterRegionGB:    Figure{0.02, "$/GB", "data transfer between regions (sink replication)", Assumed, notFound + urlS3Pricing, ""},
		SQSPerMillion:    Figure{0.40, "$/million", "SQS standard requests (spill notifications and replay)", Assumed, notFound + urlSQSPricing, ""},
		LogsGB:           Figure{0.50, "$/GB", "CloudWatch Logs ingestion", Assumed, notFound + urlLogsPricing, ""},
		KMSKeyMonth:      Figure{1, "$/month", "KMS customer managed key (Kinesis calls KMS about every 5 minutes per data key: negligible per record)", Assumed, notFound + urlKMSPricing, ""},
		APIGWRestPerM:    Figure{3.50, "$/million", "API Gateway REST API requests, first 333 million a month", Price, urlAPIGWPricing, ""},
		APIGWHTTPPerM:    Figure{1.00, "$/million", "API Gateway HTTP API requests, first 300 million a month (metered in 512 KB steps)", Price, urlAPIGWPricing, ""},
		FirehoseGB:       Figure{0.029, "$/GB", "Firehose Direct PUT ingestion, first 500 TB a month (billed in 5 KB steps per record)", Assumed, notFound + urlFirehosePrice, ""},
	}
}

// envelopeOverhead is the size of an envelope beyond its data, as ingest
// writes it for a record with a ULID id, team-a's key, in us-east-1.
func envelopeOverhead() int {
	e := record.Envelope{
		ID: strings.Repeat("0", 26), Producer: "team-a", Region: "us-east-1",
		ReceivedAt:   time.Date(2026, 12, 2, 3, 4, 5, 678e6, time.UTC),
		PartitionKey: strings.Repeat("0", 26), Encoding: record.EncodingJSON,
		Data: json.RawMessage(`{}`),
	}
	return len(e.Append(nil)) - len(e.Data)
}

// List is every figure of in, in the order Inputs declares them.
func (in Inputs) List() []Figure {
	v := reflect.ValueOf(in)
	out := make([]Figure, 0, v.NumField())
	for i := range v.NumField() {
		out = append(out, v.Field(i).Interface().(Figure))
	}
	return out
}
