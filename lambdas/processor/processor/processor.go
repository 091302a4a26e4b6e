// Package processor turns batches of Kinesis records into objects in the sink
// bucket: gzipped NDJSON of envelopes under keys derived only from the batch,
// so a retried batch overwrites its objects instead of duplicating them.
// Records that are not valid envelopes go to a quarantine prefix: they are kept
// for inspection and never block the shard. It reads batches through package
// batch, as a team's own processor does (that package's doc is the contract).
package processor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/gzip"

	"github.com/twinstream/twinstream/lambdas/batch"
	"github.com/twinstream/twinstream/lambdas/metrics"
	"github.com/twinstream/twinstream/lambdas/record"
)

// Defaults for the zero values of Processor's fields.
const (
	DefaultSinkPrefix       = "records"
	DefaultQuarantinePrefix = "quarantine"
	DefaultTimeout          = 10 * time.Second
	DefaultMargin           = time.Second
)

// Content headers of every object the processor writes.
const (
	ContentType     = "application/x-ndjson"
	ContentEncoding = "gzip"
)

// PutObjectAPI is the part of the S3 client the processor uses.
type PutObjectAPI interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// PutObjectFunc adapts a function (a fake in tests) to PutObjectAPI.
type PutObjectFunc func(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)

// PutObject calls f.
func (f PutObjectFunc) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	return f(ctx, in, opts...)
}

// Record is one Kinesis record as the event source mapping delivers it.
type Record = batch.Record

// Processor writes batches to the sink bucket. Its methods are safe for
// concurrent use once the fields are set.
type Processor struct {
	Client PutObjectAPI
	// Region is the processor's own region: the sink is regional, so keys are
	// partitioned by where the object was written. The envelope keeps the
	// region that received the record.
	Region string
	Bucket string
	// SinkPrefix and QuarantinePrefix default to DefaultSinkPrefix and
	// DefaultQuarantinePrefix.
	SinkPrefix       string
	QuarantinePrefix string
	// Timeout bounds each PutObject call (DefaultTimeout when zero).
	Timeout time.Duration
	// Margin is kept free before the deadline of Run's context (the
	// invocation's): no PutObject may still run then (DefaultMargin when
	// zero). See Run.
	Margin time.Duration

	now func() time.Time // time.Now; tests set a fake clock
}

// Result says what Run did with a batch.
type Result struct {
	// Failed holds the sequence numbers of the records that were not stored,
	// in batch order: the handler reports them as BatchItemFailures and Lambda
	// retries the shard from the first one.
	Failed []string
	// Records is the batch size in Kinesis records. The other counts are
	// of envelopes (a packed Kinesis record holds many): Written ones went
	// to the sink, Quarantined ones (bad records, or bad lines of packed
	// ones) to the quarantine prefix; Canaries and Duplicates were dropped.
	// A duplicate is a copy of an earlier envelope of the batch: the same
	// producer's same id with the same payload (record.Envelope.Duplicate).
	Records, Written, Quarantined, Canaries, Duplicates int
	// Conflicts counts the written records whose identity (producer, id) an
	// earlier record of the batch had with another payload: a producer
	// reusing an id. Both are written; ConflictIDs holds the first
	// MaxConflictIDs of these identities, for the log.
	Conflicts   int
	ConflictIDs []record.Identity
	// Keys are the objects written, in order.
	Keys []string
	// PutTimes are the durations of the PutObject calls made, failed ones
	// included, in order; PutFailures counts the failed ones (at most 1:
	// Run stops at the first).
	PutTimes    []time.Duration
	PutFailures int
}

// Metrics adds the batch's metrics to its log line (see package metrics).
func (r Result) Metrics(l *metrics.Line) {
	l.Count(metrics.BatchRecords, r.Records)
	l.Count(metrics.Written, r.Written)
	l.Count(metrics.Quarantined, r.Quarantined)
	l.Count(metrics.Duplicates, r.Duplicates)
	l.Count(metrics.Conflicts, r.Conflicts)
	l.Count(metrics.Canaries, r.Canaries)
	l.Count(metrics.FailedRecords, len(r.Failed))
	l.Count(metrics.SinkObjects, len(r.Keys))
	l.Count(metrics.S3PutFailures, r.PutFailures)
	l.Durations(metrics.S3PutLatency, r.PutTimes)
}

// MaxConflictIDs bounds Result.ConflictIDs: a producer reusing every id must
// not turn one log line into megabytes.
const MaxConflictIDs = 10

// ErrDeadline marks a PutObject not started because it might not finish
// before the invocation's deadline.
var ErrDeadline = errors.New("not enough time left before the invocation's deadline")

// ErrNoReceivedAt marks an envelope without a receive time: the sink is
// partitioned by it, so batch.Read returns such a record as bad and it is
// quarantined.
var ErrNoReceivedAt = batch.ErrNoReceivedAt

// Process stores a batch and returns the sequence numbers to report as
// BatchItemFailures. err explains them; the handler reports failed to Lambda
// rather than returning err, which would make Lambda retry the whole batch.
func (p *Processor) Process(ctx context.Context, recs []Record) (failed []string, err error) {
	res, err := p.Run(ctx, recs)
	return res.Failed, err
}

// object is one S3 object to write: the batch's items of one hour, in batch
// order, or the batch's quarantine object (all of batch.Bad).
type object struct {
	// first and last are the indexes in the batch of the Kinesis records of
	// the object's first and last line.
	first, last int
	quarantine  bool
	hour        time.Time
	items       []int // sink only: indexes in batch.Items
	conflicts   int   // sink only: how many of items are conflicts
}

// Run stores a batch: one object per hour of receivedAt present in the batch
// (however the hours interleave, as they do when replayed records meet live
// ones) and one for the quarantined records. Objects are written in the order
// of their first Kinesis record; at the first failed write it stops and
// reports every Kinesis record from that object's first record on (a packed
// record is reported whole: Kinesis retries records, not envelopes). All
// records before it are stored (in objects already written, quarantined, or
// dropped as canaries or copies of an earlier envelope, which is in a written
// object too), so Lambda's retry from there loses nothing. Envelopes of the
// reported records that are in objects already written are written again by
// the retry: extra copies, as at-least-once delivery allows.
//
// A key is <prefix>/region/dt/hr/<shard>-<firstSeq>-<lastSeq>, and within a
// batch each object has its own hour and first record. Every object written
// before the failure has its first record before the reported one or at it,
// and every object of the retry (which starts at the reported record) has its
// first record at or after it, so their keys differ, at every step of a chain
// of retries, except for objects starting at the reported record itself: a
// packed record holding envelopes of two hours starts two objects, and when
// the second one's write fails the retry writes the first one's key again.
// A whole batch retried (a function error, or bisection after one) starting
// at the same record produces the same key only for the same hour, first and
// last record, and the records between those are the same (a batch is
// consecutive records of the shard, or of its partition-key group when
// batches run in parallel), classified the same way: the same content.
// Starting later (the second half of a bisected batch, or a retry from a
// packed record), an object of the same key can only hold more envelopes,
// since fewer earlier records can make one of them a copy: a retry never
// overwrites an object with fewer records.
//
// Run never starts a PutObject that could still run at its context's
// deadline less Margin: it reports the failure, from that object's first
// record, with ErrDeadline. A Lambda timeout would instead be a function
// error, which makes the mapping retry the whole batch, bisected, under other
// object keys. A put may take Timeout, so one starts only with Timeout left,
// except the invocation's first: it gets what is left, at most Timeout, so
// that every invocation writes an object even when the function timeout is
// shorter than Timeout plus Margin. Each invocation then moves the shard
// forward by at least one object while S3 answers in the time there is.
//
// The quarantine object is handled like the sink objects: a failed quarantine
// write is reported from the first quarantined record, because quarantined
// data must be kept, and S3 failing for it means S3 is failing, not that the
// records are bad. Bad records themselves never cause a failure. The
// quarantine object is partitioned by its first record's Kinesis arrival time
// (a bad record has no trustworthy receivedAt), which a retry sees unchanged.
func (p *Processor) Run(ctx context.Context, recs []Record) (Result, error) {
	res := Result{Records: len(recs)}
	if len(recs) == 0 {
		return res, nil
	}
	b := batch.Read(recs)
	if p.Client == nil || p.Bucket == "" {
		res.Failed = b.FailedFrom(0)
		return res, errors.New("processor: s3 client and bucket are required")
	}
	res.Canaries, res.Duplicates = b.Canaries, b.Duplicates
	objs := group(b)

	s := scratchPool.Get().(*scratch)
	defer scratchPool.Put(s)
	for _, o := range objs {
		var key string
		if o.quarantine {
			key = p.key(p.quarantinePrefix(), recs[o.first].ArrivalTime, recs, o)
			s.raw = quarantineLines(s.raw[:0], b)
		} else {
			key = p.key(p.sinkPrefix(), o.hour, recs, o)
			s.raw = sinkLines(s.raw[:0], b.Items, o)
		}
		err := gzipTo(&s.gz, s.raw)
		var timeout time.Duration
		if err == nil {
			timeout, err = p.budget(ctx, len(res.Keys) == 0)
		}
		if err == nil {
			start := p.clock()
			err = p.put(ctx, key, s.gz.Bytes(), timeout)
			res.PutTimes = append(res.PutTimes, p.clock().Sub(start))
			if err != nil {
				res.PutFailures++
			}
		}
		if err != nil {
			res.Failed = b.FailedFrom(o.first)
			return res, fmt.Errorf("write s3://%s/%s: %w", p.Bucket, key, err)
		}
		res.Keys = append(res.Keys, key)
		if o.quarantine {
			res.Quarantined += len(b.Bad)
			continue
		}
		res.Written += len(o.items)
		res.Conflicts += o.conflicts
		for _, i := range o.items {
			if o.conflicts == 0 || len(res.ConflictIDs) == MaxConflictIDs {
				break
			}
			if b.Items[i].Conflict {
				res.ConflictIDs = append(res.ConflictIDs, b.Items[i].Envelope.Identity())
			}
		}
	}
	return res, nil
}

// group sorts the batch into objects, ordered by their first record: one per
// hour of receivedAt, and one for the bad records. batch.Read has dropped
// canaries and copies, and kept conflicts (the same identity with another
// payload) as records of their own.
func group(b *batch.Batch) []*object {
	var (
		objs []*object
		// cur is the previous item's object, hours every hour's object
		// (made when a second hour appears): most batches have one.
		cur   *object
		hours map[int64]*object
	)
	for i := range b.Items {
		it := &b.Items[i]
		h := it.Envelope.ReceivedAt.UTC().Truncate(time.Hour)
		if cur == nil || !cur.hour.Equal(h) {
			if cur != nil && hours == nil {
				hours = map[int64]*object{cur.hour.Unix(): cur}
			}
			cur = hours[h.Unix()]
			if cur == nil {
				cur = &object{first: it.Index, hour: h}
				objs = append(objs, cur)
				if hours != nil {
					hours[h.Unix()] = cur
				}
			}
		}
		cur.items = append(cur.items, i)
		cur.last = it.Index
		if it.Conflict {
			cur.conflicts++
		}
	}
	if len(b.Bad) > 0 {
		q := &object{first: b.Bad[0].Index, last: b.Bad[len(b.Bad)-1].Index, quarantine: true}
		at := slices.IndexFunc(objs, func(o *object) bool { return o.first > q.first })
		if at < 0 {
			at = len(objs)
		}
		objs = slices.Insert(objs, at, q)
	}
	return objs
}

// key is <prefix>/region=<r>/dt=<yyyy-mm-dd>/hr=<hh>/<shard>-<firstSeq>-<lastSeq>.ndjson.gz.
func (p *Processor) key(prefix string, t time.Time, recs []Record, o *object) string {
	t = t.UTC()
	first, last := recs[o.first], recs[o.last]
	return fmt.Sprintf("%s/region=%s/dt=%s/hr=%02d/%s-%s-%s.ndjson.gz",
		prefix, p.Region, t.Format(time.DateOnly), t.Hour(),
		keyPart(first.ShardID, "unknown"), keyPart(first.SequenceNumber, "0"), keyPart(last.SequenceNumber, "0"))
}

// keyPart keeps s safe for an object key: shard ids and sequence numbers are
// [A-Za-z0-9-] in practice, anything else becomes '_'.
func keyPart(s, def string) string {
	if s == "" {
		return def
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
}

func (p *Processor) sinkPrefix() string {
	if p.SinkPrefix == "" {
		return DefaultSinkPrefix
	}
	return strings.TrimRight(p.SinkPrefix, "/")
}

func (p *Processor) quarantinePrefix() string {
	if p.QuarantinePrefix == "" {
		return DefaultQuarantinePrefix
	}
	return strings.TrimRight(p.QuarantinePrefix, "/")
}

// sinkLines appends one envelope per line. Append re-encodes the envelope in
// its one canonical form, which keeps the bytes deterministic whatever the
// producer of the Kinesis record wrote.
func sinkLines(dst []byte, items []batch.Item, o *object) []byte {
	for _, i := range o.items {
		e := &items[i].Envelope
		// A raw CR or LF can only be whitespace between JSON tokens (JSON
		// strings cannot hold them). Decode should already return compact
		// data; this cheap guard keeps the line one line regardless.
		if bytes.IndexByte(e.Data, '\n') >= 0 || bytes.IndexByte(e.Data, '\r') >= 0 {
			var b bytes.Buffer
			if json.Compact(&b, e.Data) == nil {
				e.Data = b.Bytes()
			}
		}
		dst = e.Append(dst)
		dst = append(dst, '\n')
	}
	return dst
}

// quarantineLine is one record that is not a valid envelope, with what is
// needed to find it in the stream and to repair it.
type quarantineLine struct {
	ShardID        string    `json:"shardId"`
	SequenceNumber string    `json:"sequenceNumber"`
	PartitionKey   string    `json:"partitionKey"`
	ArrivalTime    time.Time `json:"arrivalTime"`
	Error          string    `json:"error"`
	Data           []byte    `json:"data"` // base64
}

// quarantineLines appends one line per bad record: Data is what batch.Read
// could not read (the Kinesis record's whole data, or the line of a packed
// record that is not an envelope).
func quarantineLines(dst []byte, b *batch.Batch) []byte {
	for _, bad := range b.Bad {
		r := &b.Records[bad.Index]
		line, err := json.Marshal(quarantineLine{
			ShardID:        r.ShardID,
			SequenceNumber: r.SequenceNumber,
			PartitionKey:   r.PartitionKey,
			ArrivalTime:    r.ArrivalTime.UTC(),
			Error:          bad.Err.Error(),
			Data:           bad.Data,
		})
		if err != nil {
			// Only a time outside years 0-9999 fails to marshal: keep the
			// record's data rather than lose it.
			line, _ = json.Marshal(quarantineLine{ShardID: r.ShardID, SequenceNumber: r.SequenceNumber,
				PartitionKey: r.PartitionKey, Error: bad.Err.Error(), Data: bad.Data})
		}
		dst = append(dst, line...)
		dst = append(dst, '\n')
	}
	return dst
}

// scratch holds the buffers of one Run; pooled because every batch needs
// them and they grow to the batch size.
type scratch struct {
	raw []byte
	gz  bytes.Buffer
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// github.com/klauspost/compress/gzip measured faster than compress/gzip on
// this data (see BenchmarkGzip); the output is standard gzip. Level 1
// (BestSpeed) compresses 200-byte JSON envelopes 2.4x faster than the
// default level for objects 5% larger (ratio 0.158 against 0.150): gzip
// was half of the processor's CPU, and a processor CPU-second costs far
// more than the storage of the extra bytes. The writer is pooled: a new one
// allocates its large window each time.
var gzipPool = sync.Pool{New: func() any {
	w, err := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	if err != nil {
		panic(err) // BestSpeed is a valid level: unreachable
	}
	return w
}}

// gzipTo replaces dst's content with the gzip of raw. The header carries no
// name or time, so the same raw bytes always give the same object.
func gzipTo(dst *bytes.Buffer, raw []byte) error {
	dst.Reset()
	zw := gzipPool.Get().(*gzip.Writer)
	defer gzipPool.Put(zw)
	zw.Reset(dst)
	if _, err := zw.Write(raw); err != nil {
		return fmt.Errorf("gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("gzip: %w", err)
	}
	return nil
}

// budget returns the timeout of the next PutObject, or ErrDeadline when it
// must not start (see Run). first says no object is written yet.
func (p *Processor) budget(ctx context.Context, first bool) (time.Duration, error) {
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	dl, ok := ctx.Deadline()
	if !ok {
		return timeout, nil
	}
	margin := p.Margin
	if margin <= 0 {
		margin = DefaultMargin
	}
	left := dl.Sub(p.clock()) - margin
	switch {
	case left >= timeout:
		return timeout, nil
	case first && left > 0:
		return left, nil
	}
	return 0, fmt.Errorf("put not started with %v to the deadline (margin %v, put timeout %v): %w",
		(left + margin).Round(time.Millisecond), margin, timeout, ErrDeadline)
}

// clock returns the time: time.Now, or the tests' fake clock.
func (p *Processor) clock() time.Time {
	if p.now != nil {
		return p.now()
	}
	return time.Now()
}

func (p *Processor) put(ctx context.Context, key string, body []byte, timeout time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// The deadline is on the clock budget read, so a test's fake S3 can
	// time the call exactly on its fake clock; in Lambda both are time.Now.
	ctx, cancel := context.WithDeadline(ctx, p.clock().Add(timeout))
	defer cancel()
	_, err := p.Client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:          aws.String(p.Bucket),
		Key:             aws.String(key),
		Body:            bytes.NewReader(body),
		ContentLength:   aws.Int64(int64(len(body))),
		ContentType:     aws.String(ContentType),
		ContentEncoding: aws.String(ContentEncoding),
	})
	return err
}
