// Package replay drains the spill bucket back into Kinesis. Ingest spills the
// envelopes it could not write (one NDJSON object per request); S3 tells SQS
// about each new object, and the replay function reads the object, writes its
// envelopes to Kinesis with the same bytes (so the same ids; packed again into
// packed records unless the pipeline turned packing off, under the partition
// key rule of stream.Packer), and deletes the object only when every record
// is in. Anything it cannot finish is reported
// as a failed SQS message: SQS delivers it again later, and after the queue's
// maxReceiveCount the message lands in the DLQ while the object stays in the
// spill bucket. Nothing is deleted that is not in the stream.
//
// Replaying the same object twice (a redelivered message, or a delete that
// failed after the writes) writes the same envelopes again: consumers
// de-duplicate by id, as they must for Kinesis' at-least-once delivery anyway.
//
// A damaged object (a line that is not a valid envelope, or one too large for
// a Kinesis record) is not replayed at all, not even its good lines, and not
// deleted: its message fails until it reaches the DLQ, and the log says
// "SPILL OBJECT IS DAMAGED" with the line number. A human repairs the object
// in place and redrives the DLQ message; the replay then proceeds as usual.
// Replaying part of an object would leave no record of which part is in.
//
// What the deployment must provide: the event source mapping reports batch
// item failures (ReportBatchItemFailures), the queue has a DLQ, the function
// timeout exceeds batch size × (KinesisBudget + S3 calls), and the role may
// s3:GetObject, s3:DeleteObject and s3:ListBucket on the spill bucket (without
// ListBucket S3 answers 403 for a missing key, which would count as a failure
// instead of "already replayed").
package replay

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/twinstream/twinstream/lambdas/metrics"
	"github.com/twinstream/twinstream/lambdas/record"
	"github.com/twinstream/twinstream/lambdas/stream"
)

// Defaults for the zero values of Replayer's optional fields.
const (
	DefaultPrefix         = "spill"
	DefaultS3Timeout      = 10 * time.Second
	DefaultKinesisBudget  = 20 * time.Second
	DefaultMaxObjectBytes = 64 << 20
)

// Message is one SQS message: its id (reported back when it failed) and body.
type Message struct {
	ID   string
	Body string
}

// GetObjectAPI is the part of the S3 client that reads spill objects.
type GetObjectAPI interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// GetObjectFunc adapts a function to GetObjectAPI (fakes in tests).
type GetObjectFunc func(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)

// GetObject calls f.
func (f GetObjectFunc) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	return f(ctx, in, opts...)
}

// DeleteObjectAPI is the part of the S3 client that removes replayed objects.
type DeleteObjectAPI interface {
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// DeleteObjectFunc adapts a function to DeleteObjectAPI (fakes in tests).
type DeleteObjectFunc func(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)

// DeleteObject calls f.
func (f DeleteObjectFunc) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	return f(ctx, in, opts...)
}

// Putter writes entries to Kinesis: *stream.Writer, or *stream.Packer around
// it (packed records, the deployed function's default). Failed names the
// entries (envelopes) not written: a packed record Kinesis did not take
// fails every envelope in it, and so the whole object.
type Putter interface {
	Put(ctx context.Context, entries []stream.Entry) stream.Result
}

// Replayer replays spill objects named by S3 event notifications.
type Replayer struct {
	Get    GetObjectAPI
	Delete DeleteObjectAPI
	Stream Putter
	// Bucket, when set, is the only bucket replayed; events for other buckets
	// are ignored. Empty: any bucket (the function's role limits it anyway).
	Bucket string
	// Prefix is the spill key prefix (without a trailing slash); keys outside
	// it are ignored. Default DefaultPrefix.
	Prefix string
	// S3Timeout bounds each S3 call, reading the object's body included.
	// Default DefaultS3Timeout.
	S3Timeout time.Duration
	// KinesisBudget bounds the Kinesis writes (retries included) of one SQS
	// message. The function's timeout must exceed batch size × (budget + S3
	// calls). Default DefaultKinesisBudget.
	KinesisBudget time.Duration
	// MaxObjectBytes refuses larger objects rather than exhaust memory (ingest
	// writes at most a little more than the ALB's 1 MB body limit per object).
	// Default DefaultMaxObjectBytes.
	MaxObjectBytes int64
	// Log receives one line per object, per failure and per batch (the
	// batch's carries its metrics). Default slog.Default().
	Log *slog.Logger
	// Metrics puts the batch's metrics on its line (see package metrics).
	// Nil: the line carries no EMF.
	Metrics *metrics.Emitter
	// Now is the clock of the spill objects' ages. Default time.Now.
	Now func() time.Time
}

// Result says what Run did with a batch of messages.
type Result struct {
	// Failed are the ids of the messages to deliver again, in input order.
	Failed []string
	// Records were written back to Kinesis from the Objects replayed
	// completely and deleted.
	Records, Objects int
	// Ages are the ages of the spill objects tried (from their S3 event
	// time), whether the try succeeded or not; objects already gone and
	// notifications without a time are left out.
	Ages []time.Duration
}

// Replay replays the objects each message names and returns the ids of the
// messages that must be delivered again, in input order. A message fails when
// its body is not an S3 event notification, or when any object it names was
// not completely written to Kinesis and deleted. S3's test event and objects
// that are already gone count as success.
func (r *Replayer) Replay(ctx context.Context, msgs []Message) []string {
	return r.Run(ctx, msgs).Failed
}

// Run is Replay, and says what it did; it logs one line about the batch
// ("replay batch"), with its metrics.
func (r *Replayer) Run(ctx context.Context, msgs []Message) Result {
	var res Result
	for _, m := range msgs {
		if err := r.message(ctx, m, &res); err != nil {
			res.Failed = append(res.Failed, m.ID)
		}
	}
	l := r.Metrics.Line()
	l.Count(metrics.ReplayedRecords, res.Records)
	l.Count(metrics.ReplayedObjects, res.Objects)
	l.Count(metrics.ReplayFailures, len(res.Failed))
	l.Durations(metrics.SpillAge, res.Ages)
	level := slog.LevelInfo
	if len(res.Failed) > 0 {
		level = slog.LevelWarn
	}
	r.log().LogAttrs(ctx, level, "replay batch", append([]slog.Attr{slog.Int("messages", len(msgs)), slog.Int("failed", len(res.Failed)),
		slog.Int("objects", res.Objects), slog.Int("records", res.Records)}, l.Attrs(r.now())...)...)
	return res
}

func (r *Replayer) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// message handles one SQS message. A panic (a bug) fails only this message:
// the others of the batch still count, and SQS keeps this one.
func (r *Replayer) message(ctx context.Context, m Message, res *Result) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("replay panicked: %v", p)
			r.log().ErrorContext(ctx, "replay panicked; message left for retry", "message", m.ID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	if err := ctx.Err(); err != nil {
		r.log().WarnContext(ctx, "no time left; message left for retry", "message", m.ID, "err", err)
		return err
	}
	ev, err := ParseEvent([]byte(m.Body))
	if err != nil {
		// SQS retries it, then keeps it in the DLQ: a human can look.
		r.log().ErrorContext(ctx, "message is not an S3 event notification; left for retry and the DLQ", "message", m.ID, "err", err, "body", clip(m.Body, 512))
		return err
	}
	if ev.Test {
		r.log().InfoContext(ctx, "ignored S3 test event", "message", m.ID)
		return nil
	}
	budget, cancel := context.WithTimeout(ctx, r.kinesisBudget())
	defer cancel()
	var first error
	for _, o := range ev.Objects {
		if err := r.object(ctx, budget, o, res); err != nil {
			r.log().ErrorContext(ctx, "spill object not replayed; it stays in the bucket and the message is left for retry",
				"message", m.ID, "bucket", o.Bucket, "key", o.Key, "err", err)
			if first == nil {
				first = err
			}
		}
	}
	return first
}

// object replays one object: S3 calls use ctx with S3Timeout each, Kinesis
// writes use budget. It adds what it did to res.
func (r *Replayer) object(ctx, budget context.Context, o Object, res *Result) error {
	if r.Bucket != "" && o.Bucket != r.Bucket {
		r.log().WarnContext(ctx, "ignored object of another bucket", "bucket", o.Bucket, "key", o.Key, "want", r.Bucket)
		return nil
	}
	if !strings.HasPrefix(o.Key, r.prefix()) {
		r.log().WarnContext(ctx, "ignored object outside the spill prefix", "bucket", o.Bucket, "key", o.Key, "prefix", r.prefix())
		return nil
	}
	if !strings.HasPrefix(o.EventName, "ObjectCreated:") {
		r.log().InfoContext(ctx, "ignored event", "event", o.EventName, "bucket", o.Bucket, "key", o.Key)
		return nil
	}
	start := time.Now()
	entries, found, err := r.read(ctx, o)
	if found || err != nil {
		// An object waiting, whether or not this try gets it in.
		if !o.Time.IsZero() {
			res.Ages = append(res.Ages, max(r.now().Sub(o.Time), 0))
		}
	}
	if err != nil {
		return err
	}
	if !found {
		// A redelivered message whose object an earlier run replayed and deleted.
		r.log().InfoContext(ctx, "spill object already gone; nothing to replay", "bucket", o.Bucket, "key", o.Key)
		return nil
	}
	calls := 0
	if len(entries) > 0 {
		res := r.Stream.Put(budget, entries)
		calls = res.Calls
		if len(res.Failed) > 0 {
			err := res.Err
			if err == nil {
				err = errors.New("not written")
			}
			return fmt.Errorf("%d of %d records not written to kinesis after %d calls: %w", len(res.Failed), len(entries), res.Calls, err)
		}
	}
	if err := r.delete(ctx, o); err != nil {
		// The records are in: the retry writes them again (same ids) and deletes.
		return fmt.Errorf("records written, but delete failed: %w", err)
	}
	r.log().InfoContext(ctx, "replayed spill object", "bucket", o.Bucket, "key", o.Key,
		"records", len(entries), "calls", calls, "ms", time.Since(start).Milliseconds())
	res.Records += len(entries)
	res.Objects++
	return nil
}

// read fetches and parses the object; found is false when it does not exist.
func (r *Replayer) read(ctx context.Context, o Object) (entries []stream.Entry, found bool, err error) {
	cctx, cancel := context.WithTimeout(ctx, r.s3Timeout())
	defer cancel()
	out, err := r.Get.GetObject(cctx, &s3.GetObjectInput{Bucket: aws.String(o.Bucket), Key: aws.String(o.Key)})
	if err != nil {
		if Gone(err) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("get object: %w", err)
	}
	if out == nil || out.Body == nil {
		return nil, false, errors.New("get object: response has no body")
	}
	defer out.Body.Close()
	entries, err = ReadEntries(out.Body, r.maxObjectBytes())
	if err != nil {
		var bad *BadObjectError
		if errors.As(err, &bad) {
			// Not retryable: the message will end in the DLQ, the object stays.
			r.log().ErrorContext(ctx, "SPILL OBJECT IS DAMAGED: not replayed, not deleted; a human must repair it and resend the DLQ message",
				"bucket", o.Bucket, "key", o.Key, "err", err)
		}
		return nil, true, fmt.Errorf("read object: %w", err)
	}
	return entries, true, nil
}

func (r *Replayer) delete(ctx context.Context, o Object) error {
	cctx, cancel := context.WithTimeout(ctx, r.s3Timeout())
	defer cancel()
	_, err := r.Delete.DeleteObject(cctx, &s3.DeleteObjectInput{Bucket: aws.String(o.Bucket), Key: aws.String(o.Key)})
	if err != nil && !Gone(err) {
		return fmt.Errorf("delete object: %w", err)
	}
	return nil
}

// BadObjectError says a spill object cannot be replayed as it is: a line is
// not a valid envelope or is too large for Kinesis. Retrying does not help.
type BadObjectError struct {
	Line int // 1-based; 0 when the object as a whole is at fault
	Err  error
}

func (e *BadObjectError) Error() string {
	if e.Line == 0 {
		return e.Err.Error()
	}
	return fmt.Sprintf("line %d: %v", e.Line, e.Err)
}

func (e *BadObjectError) Unwrap() error { return e.Err }

// ReadEntries parses a spill object: NDJSON, one envelope per line, blank
// lines and CRLF allowed, lines of any length. Each entry's Data is the
// envelope line as stored (so the record keeps its id and bytes), its
// PartitionKey the envelope's, and AnyShard says the key is the id. If any line is bad it returns no entries and a
// *BadObjectError: the object is replayed whole or not at all.
func ReadEntries(rd io.Reader, maxBytes int64) ([]stream.Entry, error) {
	br := bufio.NewReaderSize(io.LimitReader(rd, maxBytes+1), 64<<10)
	var entries []stream.Entry
	var total int64
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		total += int64(len(line))
		if total > maxBytes {
			return nil, &BadObjectError{Err: fmt.Errorf("object is larger than %d bytes", maxBytes)}
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("read line %d: %w", n, err)
		}
		if b := bytes.TrimSpace(line); len(b) > 0 {
			env, derr := record.Decode(b)
			if derr != nil {
				return nil, &BadObjectError{Line: n, Err: derr}
			}
			if size := len(b) + len(env.PartitionKey); size > record.MaxKinesisRecord {
				return nil, &BadObjectError{Line: n, Err: fmt.Errorf("envelope of id %q is %d bytes with its partition key, over the Kinesis record limit of %d", env.ID, size, record.MaxKinesisRecord)}
			}
			// An envelope whose partition key is its id was most likely sent
			// without one (ingest gave it its id): no wish for ordering, so a
			// Packer packs it with the others. (A producer's own key equal to
			// its record's id is taken for that too: a spilled record's order
			// is not kept anyway, it comes back after later ones.)
			entries = append(entries, stream.Entry{Data: b, PartitionKey: env.PartitionKey, AnyShard: env.PartitionKey == env.ID})
		}
		if err == io.EOF {
			return entries, nil
		}
	}
}

func (r *Replayer) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

// prefix returns the key prefix with one trailing slash, so "spill" does not
// match "spillover/...".
func (r *Replayer) prefix() string {
	p := strings.Trim(r.Prefix, "/")
	if p == "" {
		p = DefaultPrefix
	}
	return p + "/"
}

func (r *Replayer) s3Timeout() time.Duration {
	if r.S3Timeout > 0 {
		return r.S3Timeout
	}
	return DefaultS3Timeout
}

func (r *Replayer) kinesisBudget() time.Duration {
	if r.KinesisBudget > 0 {
		return r.KinesisBudget
	}
	return DefaultKinesisBudget
}

func (r *Replayer) maxObjectBytes() int64 {
	if r.MaxObjectBytes > 0 {
		return r.MaxObjectBytes
	}
	return DefaultMaxObjectBytes
}

// clip shortens s for a log line.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
