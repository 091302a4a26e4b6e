// Package batch reads the records of a Kinesis batch for a processor, the
// default one (lambdas/processor) or a team's own. It is the one place that
// parses what ingest writes to the stream, so the record format can change
// without breaking a processor that reads through it. This comment is the
// contract of a processor (PipelineProps.ProcessorHandler); the package
// example shows a handler's core, and lambdas/batch/example is a whole
// processor to copy.
//
// # Events in and out
//
// The processor is a Go main package that calls lambda.Start with a handler
// taking an events.KinesisEvent and returning an events.KinesisEventResponse
// (github.com/aws/aws-lambda-go/events); the construct builds it for
// linux/arm64 with -tags lambda.norpc. Package kinesisevent
// (lambdas/batch/kinesisevent) converts the event for [Read] and the failures
// for the response, so the rest of the code need not import aws-lambda-go.
//
// Its event source mapping on the pipeline's stream starts at the oldest
// record kept, delivers batches of up to PipelineProps.BatchSize records of
// one shard in sequence order, runs up to ParallelizationFactor batches per
// shard at once (order is kept per partition key), and has
// ReportBatchItemFailures and BisectBatchOnError on. A failing batch is
// retried RetryAttempts times within MaxRecordAge; then its shard and
// sequence range go to the ProcessorFailureQueue, and the records stay in the
// stream until its retention ends. An invocation may run for
// PipelineProps.Processor.Timeout (2 minutes by default).
//
// # Environment
//
// SINK_BUCKET, the pipeline's sink bucket, where the function may put
// objects under any key; the variables of PipelineProps.ProcessorEnvironment;
// and Lambda's own: AWS_REGION and the execution role's credentials (the AWS
// function of lambdas/env builds an SDK configuration from them).
//
// # What Read does for you
//
// [Read] returns, in batch order:
//   - Items: the envelopes to handle ([record.Envelope]: id, producer, region,
//     receivedAt, data...), each with the index and sequence number of the
//     Kinesis record that carried it;
//   - Bad: the records that are not valid envelopes, each with its error;
//
// and skips, counting them, canaries (the health probe's records, which
// travel the whole pipeline to prove it works) and copies within the batch:
// envelopes with the same producer, id and payload as an earlier Item
// ([record.Envelope.Duplicate]). Ids are unique per producer only, and an
// empty producer (envelopes older than the field) is a namespace of its own.
// The same identity with another payload is a conflict, a producer reusing
// an id: both are kept, the later one with [Item.Conflict] set. Never merge
// them.
//
// # What your code must do
//
//   - Write idempotently. Delivery is at least once: a record comes again when
//     a batch is retried, when ingest retried a write Kinesis had stored, and
//     when replay wrote back a record ingest had spilled; Read only drops the
//     copies it sees in one batch. Derive output keys from the batch (its
//     shard and first and last sequence numbers, as the default processor
//     does), so that a retried batch overwrites what it wrote, and let
//     readers de-duplicate by producer, id and payload.
//   - Keep the Bad records somewhere (the default processor writes them to a
//     quarantine prefix). Reporting them failed blocks the shard until
//     MaxRecordAge: no retry makes them valid.
//   - Report what was not handled: at the first failure, return
//     [Batch.FailedFrom](i) as the BatchItemFailures (kinesisevent.Response),
//     i being the index of the first Kinesis record not handled
//     ([Item.Index], [Bad.Index]). Everything before i must be done:
//     handled, kept as bad, or skipped. Lambda retries from i.
//   - Return a nil error, also when part of the batch failed. An error, a
//     panic or a timeout is a function error: the mapping retries the whole
//     batch, split in halves, and everything is written again.
//   - Finish before the invocation's deadline (ctx's): start no call that
//     could outlast it, and report what is left instead.
//
// # Versions
//
// Read tells the format of each Kinesis record from its data: a plain record
// holds one envelope (the JSON that [record.Envelope.Append] writes); a packed
// record (package lambdas/pack, docs/packed-format.md) holds many, compressed,
// and is what ingest and replay write unless the pipeline turns packing off.
// A stream may hold both (health canaries are always plain). Read returns one
// Item per envelope, the envelopes of one packed record consecutive and
// sharing the Index of their record. Failures are reported per Kinesis record,
// since Kinesis retries a record whole: a failure at any envelope reports its
// record, and the retry brings the record's earlier envelopes again, which
// idempotent writes absorb. A packed record that cannot be unpacked (damaged,
// or of a format version this package does not know) is one Bad holding its
// whole data; one of which only some envelopes are unreadable gives Items for
// the others and a Bad for each unreadable line. Code that reads Items, Bad
// and the counts, and reports failures through FailedFrom, reads every
// format; code that parses Record.Data itself does not.
package batch

import (
	"bytes"
	"errors"
	"hash/maphash"
	"slices"
	"sync"
	"time"

	"github.com/twinstream/twinstream/lambdas/pack"
	"github.com/twinstream/twinstream/lambdas/record"
)

// Record is one Kinesis record as the event source mapping delivers it
// (kinesisevent.Records converts the Lambda event).
type Record struct {
	ShardID        string
	SequenceNumber string
	PartitionKey   string
	Data           []byte
	ArrivalTime    time.Time
}

// Item is one envelope to handle.
type Item struct {
	Envelope record.Envelope
	// Index is the position in the batch of the Kinesis record that carried
	// the envelope (Batch.Records[Index]); SequenceNumber is its sequence
	// number. Several Items may share one.
	Index          int
	SequenceNumber string
	// Conflict says an earlier Item of the batch has the same identity
	// (producer, id) with another payload: the producer reused the id. Both
	// are records; keep both.
	Conflict bool
}

// Bad is a Kinesis record, or a part of one, that is not a valid envelope.
type Bad struct {
	// Index is the record's position in the batch (Batch.Records[Index]).
	Index int
	// Data is what could not be read: the record's whole data, or for a
	// packed record that was unpacked, the line (one envelope's place in
	// its body) that is not an envelope.
	Data []byte
	// Err says why; errors.Is finds the record package's errors (ErrID,
	// ErrData...), the pack package's (ErrVersion, ErrCorrupt...) and
	// ErrNoReceivedAt.
	Err error
}

// Batch is what Read found in a batch.
type Batch struct {
	// Records is the batch as given to Read.
	Records []Record
	// Items are the envelopes to handle and Bad the records that are not
	// envelopes, each in batch order.
	Items []Item
	Bad   []Bad
	// Canaries and Duplicates count the envelopes skipped: health probes,
	// and copies of an earlier Item. Conflicts counts the Items flagged
	// Conflict.
	Canaries, Duplicates, Conflicts int
}

// ErrNoReceivedAt marks an envelope without a receive time. Ingest always
// sets one, and processors partition by it.
var ErrNoReceivedAt = errors.New("envelope has no receivedAt")

// Read decodes a batch. It never fails: what it cannot read is in Bad.
func Read(recs []Record) *Batch {
	b := &Batch{Records: recs, Items: make([]Item, 0, len(recs))}
	r := reader{b: b, seen: make(map[record.Identity]int, len(recs))}
	var buf *[]byte // for the bodies of packed records, one at a time
	for i := range recs {
		data := recs[i].Data
		if !pack.IsPacked(data) {
			r.add(i, data, false)
			continue
		}
		if buf == nil {
			buf = bodies.Get().(*[]byte)
			defer bodies.Put(buf)
		}
		body, err := pack.Decode(*buf, data)
		if err != nil {
			b.Bad = append(b.Bad, Bad{Index: i, Data: data, Err: err})
			continue
		}
		*buf = body[:0]
		for line := range pack.Lines(body) {
			r.add(i, line, true)
		}
	}
	return b
}

// bodies holds buffers of pack.MaxBody for the bodies of packed records:
// envelopes are decoded out of them (record.Decode copies), so one buffer
// serves a whole batch and the next.
var bodies = sync.Pool{New: func() any { b := pack.NewBuffer(); return &b }}

// reader adds a batch's envelopes to b.
type reader struct {
	b *Batch
	// seen maps an identity to its first Item; others holds the later
	// Items of an identity (conflicts) by payload, so a producer reusing
	// one id throughout a batch costs no more than distinct ids. Made on
	// the first conflict.
	seen   map[record.Identity]int
	others map[payloadKey][]int
}

// add reads one envelope of record i; reused says data is in a reused buffer
// (kept only as a copy).
func (r *reader) add(i int, data []byte, reused bool) {
	b := r.b
	e, err := record.Decode(data)
	if err == nil && e.ReceivedAt.IsZero() {
		err = ErrNoReceivedAt
	}
	if err != nil {
		if reused {
			data = bytes.Clone(data)
		}
		b.Bad = append(b.Bad, Bad{Index: i, Data: data, Err: err})
		return
	}
	if e.Canary {
		b.Canaries++
		return
	}
	id := e.Identity()
	conflict := false
	if j, ok := r.seen[id]; ok {
		if e.Duplicate(&b.Items[j].Envelope) {
			b.Duplicates++
			return
		}
		k := payloadKey{id, e.Encoding, maphash.Bytes(payloadSeed, e.Data)}
		if slices.ContainsFunc(r.others[k], func(j int) bool { return e.Duplicate(&b.Items[j].Envelope) }) {
			b.Duplicates++
			return
		}
		if r.others == nil {
			r.others = make(map[payloadKey][]int)
		}
		r.others[k] = append(r.others[k], len(b.Items))
		conflict = true
		b.Conflicts++
	} else {
		r.seen[id] = len(b.Items)
	}
	b.Items = append(b.Items, Item{Envelope: e, Index: i, SequenceNumber: b.Records[i].SequenceNumber, Conflict: conflict})
}

// payloadKey groups the conflicting Items of one identity by payload. The
// hash only narrows the search: Duplicate compares the bytes.
type payloadKey struct {
	id       record.Identity
	encoding string
	sum      uint64
}

var payloadSeed = maphash.MakeSeed()

// FailedFrom returns the sequence numbers to report as BatchItemFailures when
// the records from Records[i] on were not handled: all of them, in batch
// order (Lambda retries from the first). i <= 0 reports the whole batch,
// i >= len(Records) nothing.
func (b *Batch) FailedFrom(i int) []string {
	i = max(i, 0)
	if i >= len(b.Records) {
		return nil
	}
	out := make([]string, len(b.Records)-i)
	for n, r := range b.Records[i:] {
		out[n] = r.SequenceNumber
	}
	return out
}
