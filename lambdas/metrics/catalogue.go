package metrics

// Metric is one metric of the catalogue.
type Metric struct {
	// Name is the metric's name, and the name of its member in the log line.
	Name string
	Unit Unit
	// Dimension is the metric's one dimension ("" for none). The namespace
	// ("Twinstream/<name>/<stack name>") already keeps pipelines and regions
	// apart, so the only dimensions are low-cardinality ones.
	Dimension string
	// Statistic is the one to read it with by default ("Sum", "p99", ...).
	Statistic string
	// Handler names the function that emits it: Ingest, Processor, Replay
	// or Health.
	Handler string
	// Description says what one value is.
	Description string
}

// The handlers, as Metric.Handler names them.
const (
	Ingest    = "ingest"
	Processor = "processor" // the library's default processor (HandlerProcessor)
	Replay    = "replay"
	Health    = "health"
)

// StatusClass is ingest's dimension: the class of the HTTP answer, one of
// Status2xx, Status4xx, Status5xx.
const (
	StatusClass = "StatusClass"
	Status2xx   = "2xx"
	Status4xx   = "4xx"
	Status5xx   = "5xx"
)

// Ingest: one line ("ingest") per request to a path other than /health.
var (
	Requests = Metric{Name: "Requests", Unit: Count, Dimension: StatusClass, Statistic: "Sum", Handler: Ingest,
		Description: "1 per request answered, by StatusClass of the answer (2xx: 202; 4xx: bad or unauthorized requests; 5xx: 503 and 500)"}
	Accepted = Metric{Name: "AcceptedRecords", Unit: Count, Statistic: "Sum", Handler: Ingest,
		Description: "records stored (in Kinesis or the spill bucket) and answered as stored: every record of a 202, those listed in stored of a 503"}
	Spilled = Metric{Name: "SpilledRecords", Unit: Count, Statistic: "Sum", Handler: Ingest,
		Description: "accepted records written to the spill bucket because Kinesis did not take them"}
	Rejected = Metric{Name: "RejectedRecords", Unit: Count, Dimension: StatusClass, Statistic: "Sum", Handler: Ingest,
		Description: "records of a request answered 4xx or 5xx that are not stored, by StatusClass: all records of a 400 with bad records, the failed ones of a 503; 0 when the request was refused before its records were counted (401, 404, 405, 413, 415, a body that is not a JSON object with a records array, too many records) or ingest failed (500)"}
	KinesisPutLatency = Metric{Name: "KinesisPutLatency", Unit: Milliseconds, Statistic: "p99", Handler: Ingest,
		Description: "time one request spent writing its records to Kinesis: its PutRecords calls with their retries and backoff, within KINESIS_BUDGET; only requests that tried Kinesis"}
	KinesisThrottled = Metric{Name: "KinesisThrottledRecords", Unit: Count, Statistic: "Sum", Handler: Ingest,
		Description: "Kinesis records refused for throughput (ProvisionedThroughputExceeded, per record or per call), counted per attempt; a packed record (PACK_RECORDS) counts once however many envelopes it holds"}
	KinesisFaults = Metric{Name: "KinesisFaults", Unit: Count, Statistic: "Sum", Handler: Ingest,
		Description: "failed PutRecords calls (timeouts, network, 5xx, access, KMS) and Kinesis records failed with another error than throttling, counted per attempt; a packed record counts once"}
	BreakerOpen = Metric{Name: "BreakerOpen", Unit: Count, Statistic: "Sum", Handler: Ingest,
		Description: "1 for a request that spilled without trying Kinesis because its execution environment's breaker was open, 0 for the other requests that stored records"}
)

// Processor: one line per batch (the library's default processor).
var (
	BatchRecords = Metric{Name: "BatchRecords", Unit: Count, Statistic: "Sum", Handler: Processor,
		Description: "Kinesis records in the batch Lambda delivered (a packed record counts once; the other processor counts are envelopes)"}
	Written = Metric{Name: "WrittenRecords", Unit: Count, Statistic: "Sum", Handler: Processor,
		Description: "envelopes written to the sink bucket"}
	Quarantined = Metric{Name: "QuarantinedRecords", Unit: Count, Statistic: "Sum", Handler: Processor,
		Description: "records that are not valid envelopes, written under the quarantine prefix"}
	Duplicates = Metric{Name: "DuplicateRecords", Unit: Count, Statistic: "Sum", Handler: Processor,
		Description: "copies of an earlier record of the batch (same producer, id and payload), dropped"}
	Conflicts = Metric{Name: "ConflictRecords", Unit: Count, Statistic: "Sum", Handler: Processor,
		Description: "records written whose (producer, id) an earlier record of the batch had with another payload: a producer reusing ids"}
	Canaries = Metric{Name: "CanaryRecords", Unit: Count, Statistic: "Sum", Handler: Processor,
		Description: "health canary records, dropped"}
	FailedRecords = Metric{Name: "FailedRecords", Unit: Count, Statistic: "Sum", Handler: Processor,
		Description: "Kinesis records reported as BatchItemFailures (not stored yet): Lambda delivers them again, a packed record whole"}
	SinkObjects = Metric{Name: "SinkObjects", Unit: Count, Statistic: "Sum", Handler: Processor,
		Description: "objects written to the sink bucket (the quarantine object included)"}
	S3PutLatency = Metric{Name: "S3PutLatency", Unit: Milliseconds, Statistic: "p99", Handler: Processor,
		Description: "time of each PutObject the batch made, failed ones included (one value each, at most 100 per batch)"}
	S3PutFailures = Metric{Name: "S3PutFailures", Unit: Count, Statistic: "Sum", Handler: Processor,
		Description: "failed PutObject calls (0 or 1 per batch: the batch stops at the first)"}
)

// Replay: one line ("replay batch") per invocation.
var (
	ReplayedRecords = Metric{Name: "ReplayedRecords", Unit: Count, Statistic: "Sum", Handler: Replay,
		Description: "records written back to Kinesis from spill objects"}
	ReplayedObjects = Metric{Name: "ReplayedObjects", Unit: Count, Statistic: "Sum", Handler: Replay,
		Description: "spill objects replayed completely and deleted"}
	ReplayFailures = Metric{Name: "ReplayFailures", Unit: Count, Statistic: "Sum", Handler: Replay,
		Description: "messages left for SQS to deliver again (an object not completely written or not deleted, or a message that is not an S3 notification)"}
	SpillAge = Metric{Name: "SpillAge", Unit: Seconds, Statistic: "Maximum", Handler: Replay,
		Description: "age of each spill object replay tried, from its S3 event time (one value each, whether the try succeeded or not): its Maximum is the oldest spill waiting"}
)

// Health: one line per probe ("region health probe", or "region health
// probe failed").
var (
	RegionHealthy = Metric{Name: "RegionHealthy", Unit: None, Statistic: "Minimum", Handler: Health,
		Description: "the verdict after the probe: 1 healthy, 0 unhealthy (what /health/deep answers, 200 or 503)"}
	KinesisProbeLatency = Metric{Name: "KinesisProbeLatency", Unit: Milliseconds, Statistic: "p99", Handler: Health,
		Description: "time of the probe's canary PutRecord, PROBE_TIMEOUT when it did not answer"}
	KinesisProbeFailures = Metric{Name: "KinesisProbeFailures", Unit: Count, Statistic: "Sum", Handler: Health,
		Description: "1 when the canary PutRecord failed, else 0"}
	SecretsProbeLatency = Metric{Name: "SecretsProbeLatency", Unit: Milliseconds, Statistic: "p99", Handler: Health,
		Description: "time of the probe's GetSecretValue of the API-key secret (when API_KEYS_SECRET_ARN is set)"}
	SecretsProbeFailures = Metric{Name: "SecretsProbeFailures", Unit: Count, Statistic: "Sum", Handler: Health,
		Description: "1 when reading the API-key secret failed, else 0 (when API_KEYS_SECRET_ARN is set)"}
)

// All is the catalogue, by handler.
func All() []Metric {
	return []Metric{
		Requests, Accepted, Spilled, Rejected, KinesisPutLatency, KinesisThrottled, KinesisFaults, BreakerOpen,
		BatchRecords, Written, Quarantined, Duplicates, Conflicts, Canaries, FailedRecords, SinkObjects, S3PutLatency, S3PutFailures,
		ReplayedRecords, ReplayedObjects, ReplayFailures, SpillAge,
		RegionHealthy, KinesisProbeLatency, KinesisProbeFailures, SecretsProbeLatency, SecretsProbeFailures,
	}
}

// Named returns the catalogue's metric called name.
func Named(name string) (Metric, bool) {
	for _, m := range All() {
		if m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}

// StatusClassOf is the StatusClass of an HTTP status: "2xx", "4xx", "5xx"
// (and "1xx", "3xx" for completeness: ingest answers neither).
func StatusClassOf(status int) string {
	if status < 100 || status > 599 {
		return Status5xx
	}
	return string(rune('0'+status/100)) + "xx"
}
