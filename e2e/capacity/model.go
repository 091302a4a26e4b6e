// Package capacity is the capacity and cost model of a twinstream
// deployment: from the figures in Inputs (AWS quotas and prices with their
// sources, the stacks' defaults, this repository's benchmarks, and stated
// assumptions) it computes per region the sustainable ingest rate and what
// limits it, the cost per million records at three record sizes with packed
// Kinesis records on and off next to API Gateway -> Kinesis and Firehose
// Direct PUT, and which default limit breaks first at higher rates.
// docs/capacity.md is its output (Render); TestCapacityDoc keeps the two in
// step.
//
// It is standard library only apart from lambdas/record (the envelope's
// size) and lives in the e2e module, so nothing of it reaches the library's
// go.mod.
package capacity

import (
	"math"
)

// Sizes are the record sizes (bytes of JSON data) the document covers.
var Sizes = []int{200, 2000, 20000}

const (
	gib = 1 << 30
	// The producer client's JSON per record beyond its data:
	// {"id":"<ULID>","data":<data>}, and the comma between records.
	clientRecordOverhead = len(`{"id":"`) + len(`","data":`) + len(`},`)
	// The request's wrapper {"records":[...]}.
	clientBodyOverhead = len(`{"records":[]}`)
	// Ingest's 202 lists every id: "<ULID>",
	answerQuoteComma = len(`"",`)
	// base64 in the Lambda event of a Kinesis batch.
	base64Growth = 4.0 / 3.0
)

// Flow is how one record of a size travels through a region, with packed
// Kinesis records on or off.
type Flow struct {
	Size   int
	Packed bool
	// Envelope bytes of one record.
	Envelope float64
	// Records per request: BatchSize, or fewer when the ALB's body is full.
	PerRequest int
	// Request body and answer bytes per record.
	BodyBytes, AnswerBytes float64
	// Kinesis records per record (1 unpacked; 1/records per packed record),
	// bytes written to Kinesis per record (data and partition key), and bytes
	// billed per record (each Kinesis record rounded up to 1 KiB).
	KinesisRecords, SentBytes, BilledBytes float64
	// IngestSeconds is one ingest invocation's duration.
	IngestSeconds float64
}

// cpuShare is the vCPU a function of memory MB gets.
func (in Inputs) cpuShare(memoryMB float64) float64 {
	return math.Min(memoryMB/in.LambdaMBPerVCPU.Value, 6)
}

func ceilTo(v, unit float64) float64 { return math.Ceil(v/unit) * unit }

// Flow computes how a record of size bytes travels.
func (in Inputs) Flow(size int, packed bool) Flow {
	f := Flow{Size: size, Packed: packed}
	id := in.IDBytes.Value
	f.Envelope = float64(size) + in.EnvelopeOverhead.Value
	perRecord := float64(size) + id + float64(clientRecordOverhead)
	fit := int((in.ALBMaxBody.Value - float64(clientBodyOverhead)) / perRecord)
	f.PerRequest = max(1, min(int(in.BatchSize.Value), fit))
	f.BodyBytes = perRecord + float64(clientBodyOverhead)/float64(f.PerRequest)
	f.AnswerBytes = id + float64(answerQuoteComma)
	n := float64(f.PerRequest)
	unit := in.KinesisBilledUnit.Value
	if !packed {
		f.KinesisRecords = 1
		f.SentBytes = f.Envelope + id
		f.BilledBytes = ceilTo(f.SentBytes, unit)
	} else {
		// A request's envelopes without a partition key of their own go
		// into one packed record, split when its body (the envelopes,
		// before compression) would exceed PackMaxBytes.
		k := math.Ceil(n * (f.Envelope + 1) / in.PackMaxBytes.Value)
		packed := k*in.PackHeaderBytes.Value + n*f.Envelope*in.PackRatio.Value
		f.KinesisRecords = k / n
		f.SentBytes = (packed + k*id) / n
		f.BilledBytes = k * ceilTo(packed/k+id, unit) / n
	}
	cpu := f.Envelope / in.Flow200Envelope() / in.IngestPerCore.Value
	if packed {
		cpu += f.Envelope / in.PackPerCore.Value
	}
	f.IngestSeconds = in.IngestWaitSec.Value + n*cpu/in.cpuShare(in.IngestMemoryMB.Value)
	return f
}

// Flow200Envelope is the envelope size of the 200-byte record the ingest
// benchmark measured; CPU per record is taken to grow with envelope bytes.
func (in Inputs) Flow200Envelope() float64 { return 200 + in.EnvelopeOverhead.Value }

// Shards is how many shards an on-demand stream runs for rate records/s:
// enough for its bytes and its records (each shard 1 MB/s and 1,000
// records/s), and never fewer than a new stream's 4 MB/s.
func (in Inputs) Shards(f Flow, rate float64) float64 {
	bytes := rate * f.SentBytes / in.ShardWriteBytes.Value
	recs := rate * f.KinesisRecords / in.ShardWriteRecords.Value
	return math.Max(math.Ceil(math.Max(bytes, recs)), in.OnDemandStartBytes.Value/in.ShardWriteBytes.Value)
}

// StreamLimit is the records/s a stream of capacity bytes/s takes: its
// shards' bytes or records, whichever runs out first.
func (in Inputs) StreamLimit(f Flow, capacity float64) float64 {
	shards := math.Floor(capacity / in.ShardWriteBytes.Value)
	return math.Min(shards*in.ShardWriteBytes.Value/f.SentBytes, shards*in.ShardWriteRecords.Value/f.KinesisRecords)
}

// Batch is what one processor invocation gets at rate records/s per region:
// the records of a full batch (ESMBatch Kinesis records, within the 6 MB
// payload), or what one of the shards' parallel slots gathers in the
// batching window. rate <= 0: full batches.
func (in Inputs) Batch(f Flow, rate float64) float64 {
	full := math.Min(in.ESMBatch.Value/f.KinesisRecords, math.Floor(in.ESMPayload.Value/(f.SentBytes*base64Growth)))
	full = math.Max(full, 1)
	if rate <= 0 {
		return full
	}
	slots := in.Shards(f, rate) * in.ESMParallel.Value
	return math.Max(1, math.Min(full, rate/slots*in.ESMWindow.Value))
}

// ProcessorSeconds is one processor invocation's duration for batch records.
func (in Inputs) ProcessorSeconds(f Flow, batch float64) float64 {
	return batch*f.Envelope/in.Flow200Envelope()/in.ProcessorPerCore.Value/in.cpuShare(in.ProcessorMemoryMB.Value) + in.SinkPutSec.Value
}

// ProcessorPool is the concurrency left to the processor in an account at
// its default quota: the quota less ingest's and health's reserved
// concurrency and replay's maximum.
func (in Inputs) ProcessorPool() float64 {
	return in.LambdaConcurrency.Value - in.IngestReserved.Value - in.HealthReserved.Value - in.ReplayConcurrency.Value
}

// Limit is one component's ceiling on records/s per region.
type Limit struct {
	Component string
	Rate      float64 // records/s; +Inf: none
	Why       string
}

// Limits are the ceilings of the components records pass through in a
// region, at the defaults, for flow f: the first is the ingest front (ALB
// has no request-rate quota; it is listed with +Inf).
func (in Inputs) Limits(f Flow) []Limit {
	n := float64(f.PerRequest)
	full := in.Batch(f, 0)
	slots := math.Min(in.Shards(f, in.StreamLimit(f, in.OnDemandMaxBytes.Value))*in.ESMParallel.Value, in.ProcessorPool())
	return []Limit{
		{"ALB", math.Inf(1), "no request-rate quota: it scales (LCUs are billed); a step far above the traffic it has seen can meet a scaling lag"},
		{"ingest Lambda", in.IngestReserved.Value * n / f.IngestSeconds, fmtf("%s reserved x %d records per %s invocation", num(in.IngestReserved.Value), f.PerRequest, dur(f.IngestSeconds))},
		{"Kinesis, new stream", in.StreamLimit(f, in.OnDemandStartBytes.Value), "4 MB/s = 4 shards until on-demand scales up"},
		{"Kinesis, scaled", in.StreamLimit(f, in.OnDemandMaxBytes.Value), "10 GB/s = 10,240 shards (us-east-1, us-west-2, eu-west-1)"},
		{"Kinesis, scaled (other regions)", in.StreamLimit(f, in.OnDemandMaxOther.Value), "200 MB/s = 200 shards"},
		{"processor", slots * full / in.ProcessorSeconds(f, full), fmtf("%s concurrent batches of %s records, %s each", num(slots), num(full), dur(in.ProcessorSeconds(f, full)))},
	}
}

// Sustainable is the lowest ceiling of Limits past the new-stream one
// (on-demand scales up to the traffic it has seen), and the component it is
// in, for regions where Kinesis scales to 10 GB/s.
func (in Inputs) Sustainable(f Flow) Limit {
	best := Limit{Rate: math.Inf(1)}
	for _, l := range in.Limits(f) {
		if l.Component == "Kinesis, new stream" || l.Component == "Kinesis, scaled (other regions)" {
			continue
		}
		if l.Rate < best.Rate {
			best = l
		}
	}
	return best
}

// SpillLimit is the records/s ingest can spill while Kinesis is down: one
// object per request, S3PutPerPrefix PUTs per second in each partition the
// keys spread over.
func (in Inputs) SpillLimit(f Flow) float64 {
	return in.S3PutPerPrefix.Value * in.SpillPrefixes.Value * float64(f.PerRequest)
}

// DrainRate is the records/s replay writes back with its maximum
// concurrency.
func (in Inputs) DrainRate() float64 {
	return in.ReplayConcurrency.Value * in.ReplayPerInvocSec.Value
}

// Line is one component's cost per million records.
type Line struct {
	Component string
	Detail    string
	Dollars   float64
}

// Costs are the cost per million records of flow f at rate records/s per
// region (the rate decides the processor's batch), by component; Storage is
// the sink's storage per month kept, both regions' copies, apart.
type Costs struct {
	Lines   []Line
	Storage float64
}

// Total sums the lines.
func (c Costs) Total() float64 {
	t := 0.0
	for _, l := range c.Lines {
		t += l.Dollars
	}
	return t
}

// Costs computes the variable cost per million records.
func (in Inputs) Costs(f Flow, rate float64) Costs {
	const m = 1e6
	requests := m / float64(f.PerRequest)
	inBytes := m*f.BodyBytes + requests*in.HeaderBytes.Value/2
	outBytes := m*f.AnswerBytes + requests*in.HeaderBytes.Value/2
	lambda := func(invocations, seconds, memoryMB float64) float64 {
		return invocations*in.LambdaPerMillion.Value/m + invocations*seconds*memoryMB/1024*in.LambdaArmGBs.Value
	}
	batch := in.Batch(f, rate)
	invocations := m / batch
	procSec := in.ProcessorSeconds(f, batch)
	billedGB := m * f.BilledBytes / gib
	sentGB := m * f.SentBytes / gib
	sinkGB := m * f.Envelope * in.SinkGzipRatio.Value / gib
	retentionMonths := (in.RetentionHours.Value - 24) / in.Month.Value
	var c Costs
	add := func(component, detail string, dollars float64) {
		c.Lines = append(c.Lines, Line{component, detail, dollars})
	}
	add("ALB", fmtf("%s GB processed / %s GB per LCU-hour", num3(inBytes/gib+outBytes/gib), num(in.ALBLambdaGBPerLC.Value)), (inBytes+outBytes)/gib/in.ALBLambdaGBPerLC.Value*in.ALBLCUHour.Value)
	add("WAF", fmtf("%s requests", num(requests)), requests/m*in.WAFPerMillion.Value)
	add("Global Accelerator", fmtf("DT-Premium on %s GB in", num3(inBytes/gib)), inBytes/gib*in.GAPremiumGB.Value)
	add("data transfer out", fmtf("%s GB of answers", num3(outBytes/gib)), outBytes/gib*in.DataOutGB.Value)
	add("Lambda ingest", fmtf("%s invocations x %s at %s MB", num(requests), dur(f.IngestSeconds), num(in.IngestMemoryMB.Value)), lambda(requests, f.IngestSeconds, in.IngestMemoryMB.Value))
	add("Kinesis data in", fmtf("%s GB billed (%s B per record)", num3(billedGB), num(f.BilledBytes)), billedGB*in.KinesisInGB.Value)
	add("Kinesis data out", fmtf("%s GB read by the processor", num3(sentGB)), sentGB*in.KinesisOutGB.Value)
	add("Kinesis retention", fmtf("%s GB kept %s h beyond 24 h", num3(billedGB), num(in.RetentionHours.Value-24)), billedGB*retentionMonths*in.KinesisRetGBMo.Value)
	add("Lambda processor", fmtf("%s invocations of %s records x %s", num(invocations), num(batch), dur(procSec)), lambda(invocations, procSec, in.ProcessorMemoryMB.Value))
	add("S3 sink PUTs", fmtf("%s objects", num(invocations)), invocations/1000*in.S3PutPer1000.Value)
	add("sink replication", fmtf("%s GB gzip'd to the other region, %s PUTs", num3(sinkGB), num(invocations)), sinkGB*in.InterRegionGB.Value+invocations/1000*in.S3PutPer1000.Value)
	logs := (requests + invocations) * in.LogBytesPerCall.Value / gib
	add("CloudWatch Logs", fmtf("%s GB (%s B per invocation)", num3(logs), num(in.LogBytesPerCall.Value)), logs*in.LogsGB.Value)
	c.Storage = 2 * sinkGB * in.S3GBMonth.Value
	return c
}

// Fixed is the cost per month of a two-region deployment that does not
// depend on the records sent.
func (in Inputs) Fixed() []Line {
	h := in.Month.Value
	checksPerSecond := 1.0/5 + 1.0/30 // the deep-health and ingest target groups' intervals
	checks := 2 * in.ALBNodes.Value * checksPerSecond * 3600 * h
	// About one canary per deep check reaches Kinesis (the cache lives 3 s,
	// checks come every 5 s per node): 1 KiB billed each.
	canaryGB := 2 * in.ALBNodes.Value / 5 * 3600 * h * in.KinesisBilledUnit.Value / gib
	return []Line{
		{"ALB", "2 load balancers", 2 * h * in.ALBHour.Value},
		{"Kinesis streams", "2 on-demand streams", 2 * h * in.KinesisHour.Value},
		{"Global Accelerator", "1 accelerator", h * in.GAHour.Value},
		{"WAF", "2 web ACLs of 2 rules", 2 * (in.WAFACLMonth.Value + 2*in.WAFRuleMonth.Value)},
		{"KMS", fmtf("%s keys", num(2*in.KMSKeys.Value)), 2 * in.KMSKeys.Value * in.KMSKeyMonth.Value},
		{"health checks", fmtf("%s health invocations, their logs, %s GB of canaries", num(checks), num3(canaryGB)),
			checks*in.LambdaPerMillion.Value/1e6 + checks*in.LogBytesPerCall.Value/gib*in.LogsGB.Value + canaryGB*in.KinesisInGB.Value},
	}
}

// PerMillionAt spreads the fixed monthly cost over the records two regions
// take at rate records/s each.
func (in Inputs) PerMillionAt(fixed []Line, rate float64) float64 {
	t := 0.0
	for _, l := range fixed {
		t += l.Dollars
	}
	return t / (2 * rate * 3600 * in.Month.Value / 1e6)
}

// SpillCosts is the extra cost per million records spilled during a Kinesis
// outage and replayed: an S3 object per request (kept 30 days as a
// noncurrent version after replay deletes it), its notification through
// SQS, and replay's invocations.
func (in Inputs) SpillCosts(f Flow) []Line {
	const m = 1e6
	objects := m / float64(f.PerRequest)
	gb := m * f.Envelope / gib
	replaySec := in.ReplayBatch.Value * float64(f.PerRequest) / in.ReplayPerInvocSec.Value
	invocations := objects / in.ReplayBatch.Value
	return []Line{
		{"S3 PUT, GET", fmtf("%s objects written and read", num(objects)), objects / 1000 * (in.S3PutPer1000.Value + in.S3GetPer1000.Value)},
		{"S3 storage", fmtf("%s GB kept 30 days (noncurrent versions)", num3(gb)), gb * in.S3GBMonth.Value * 30 * 24 / in.Month.Value},
		{"SQS", fmtf("%s messages sent, received, deleted", num(objects)), 3 * objects / m * in.SQSPerMillion.Value},
		{"Lambda replay", fmtf("%s invocations x %s at %s MB", num(invocations), dur(replaySec), num(in.ReplayMemoryMB.Value)),
			invocations*in.LambdaPerMillion.Value/m + invocations*replaySec*in.ReplayMemoryMB.Value/1024*in.LambdaArmGBs.Value},
	}
}

// Alternative is another way to take the same records into a region.
type Alternative struct {
	Name  string
	Lines []Line
	// Rate is its records/s ceiling per region at default quotas, and what
	// sets it.
	Rate float64
	Why  string
}

// Alternatives are API Gateway -> Kinesis (REST API with PutRecords, HTTP
// API with its PutRecord integration) and Firehose Direct PUT, each taking
// the producers' records as they are (no envelope, no packing), for flow
// f's size and batching, at rate records/s per region. API Gateway's
// records go on to the same processor and sink as twinstream's; Firehose
// writes S3 itself.
func (in Inputs) Alternatives(f Flow, rate float64) []Alternative {
	const m = 1e6
	raw := Flow{Size: f.Size, PerRequest: f.PerRequest, Envelope: float64(f.Size), KinesisRecords: 1,
		SentBytes: float64(f.Size) + in.IDBytes.Value}
	raw.BilledBytes = ceilTo(raw.SentBytes, in.KinesisBilledUnit.Value)
	stream := func(g Flow) []Line {
		billedGB := m * g.BilledBytes / gib
		batch := in.Batch(g, rate)
		procSec := in.ProcessorSeconds(g, batch)
		inv := m / batch
		return []Line{
			{"Kinesis data in", fmtf("%s GB billed", num3(billedGB)), billedGB * in.KinesisInGB.Value},
			{"Kinesis out, retention", "", m*g.SentBytes/gib*in.KinesisOutGB.Value + billedGB*(in.RetentionHours.Value-24)/in.Month.Value*in.KinesisRetGBMo.Value},
			{"processor, S3 PUTs", fmtf("%s invocations", num(inv)), inv*in.LambdaPerMillion.Value/m + inv*procSec*in.ProcessorMemoryMB.Value/1024*in.LambdaArmGBs.Value + inv/1000*in.S3PutPer1000.Value},
		}
	}
	restAPI := Alternative{Name: fmtf("API Gateway REST API -> Kinesis PutRecords (%d records per request)", f.PerRequest),
		Lines: append([]Line{{"API Gateway", fmtf("%s requests", num(m/float64(f.PerRequest))), m / float64(f.PerRequest) / m * in.APIGWRestPerM.Value}}, stream(raw)...)}
	restAPI.Rate, restAPI.Why = in.APIGWRPS.Value*float64(f.PerRequest), fmtf("API Gateway's %s requests/s per account", num(in.APIGWRPS.Value))
	if s := in.StreamLimit(raw, in.OnDemandMaxBytes.Value); s < restAPI.Rate {
		restAPI.Rate, restAPI.Why = s, "the stream, scaled (1,000 records/s per shard)"
	}
	units := math.Ceil(float64(f.Size) / (512 * 1024))
	httpAPI := Alternative{Name: "API Gateway HTTP API -> Kinesis PutRecord (one record per request)",
		Lines: append([]Line{{"API Gateway", fmtf("%s requests", num(m*units)), units * in.APIGWHTTPPerM.Value}}, stream(raw)...),
		Rate:  in.APIGWRPS.Value, Why: fmtf("API Gateway's %s requests/s per account, one record each", num(in.APIGWRPS.Value))}
	unitGB := m * ceilTo(float64(f.Size), in.FirehoseUnit.Value) / gib
	// Firehose writes an object when its buffer (5 MiB by default) fills or
	// every 300 s.
	objects := math.Max(rate*float64(f.Size)/(5<<20), 1.0/300) * m / rate
	firehose := Alternative{Name: "Firehose Direct PUT -> S3 (PutRecordBatch, one Firehose record per producer record)",
		Lines: []Line{
			{"Firehose ingestion", fmtf("%s GB billed (5 KB steps)", num3(unitGB)), unitGB * in.FirehoseGB.Value},
			{"S3 PUTs", fmtf("%s objects (5 MiB buffers)", num3(objects)), objects / 1000 * in.S3PutPer1000.Value},
		}}
	firehose.Rate, firehose.Why = in.FirehoseRecords.Value, "the stream's default records/s"
	if b := in.FirehoseBytes.Value / float64(f.Size); b < firehose.Rate {
		firehose.Rate, firehose.Why = b, "the stream's default bytes/s"
	}
	return []Alternative{restAPI, httpAPI, firehose}
}

// Need is what rate records/s per region asks of one default limit.
type Need struct {
	Component     string
	Need, Default float64
	Unit          string
	Fix           string
}

// Over reports whether the need exceeds the default.
func (n Need) Over() bool { return n.Need > n.Default }

// Needs lists what rate records/s per region asks of each default limit
// (regions where on-demand Kinesis scales to 10 GB/s).
func (in Inputs) Needs(f Flow, rate float64) []Need {
	n := float64(f.PerRequest)
	ingestConc := rate / n * f.IngestSeconds
	batch := in.Batch(f, rate)
	procConc := rate / batch * in.ProcessorSeconds(f, batch)
	// Reserved concurrency is taken from the account whether used or not.
	account := math.Max(ingestConc, in.IngestReserved.Value) + in.HealthReserved.Value + in.ReplayConcurrency.Value + procConc
	shards := math.Ceil(math.Max(rate*f.SentBytes/in.ShardWriteBytes.Value, rate*f.KinesisRecords/in.ShardWriteRecords.Value))
	return []Need{
		{"ingest reserved concurrency", ingestConc, in.IngestReserved.Value, "", "raise ingestReservedConcurrency"},
		{"Lambda concurrency per account", account, in.LambdaConcurrency.Value, "", "raise the account quota (Service Quotas)"},
		{"Kinesis shards of a new stream", shards, math.Floor(in.OnDemandStartBytes.Value / in.ShardWriteBytes.Value), "shards", "on-demand scales itself to up to double its peak; a new stream, or a step far above the peak, throttles until it has"},
		{"Kinesis shards when scaled up", shards, math.Floor(in.OnDemandMaxBytes.Value / in.ShardWriteBytes.Value), "shards", "more streams (a pipeline per stream), or ask Kinesis for more"},
		{"spill PUTs while Kinesis is down", rate / n, in.S3PutPerPrefix.Value * in.SpillPrefixes.Value, fmtf("PUT/s (%s S3 partitions)", num(in.SpillPrefixes.Value)), "spread spill keys over more S3 partitions"},
		{"WAF limit, one producer IP", rate / n, in.WAFPerIP.Value / 300, "requests/s", "more producer IPs, or raise rateLimitPerIp"},
	}
}
