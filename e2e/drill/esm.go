package drill

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// This file emulates Lambda's event source mappings (Kinesis -> processor,
// SQS -> replay) and S3's event notifications (spill bucket -> SQS), which
// the stand-ins do not have. They build the events with aws-lambda-go's
// types, so the handlers see the JSON Lambda sends.

const (
	// esmPollInterval is how often an idle shard is polled. Lambda polls
	// each shard about once a second; shorter keeps local drills short.
	esmPollInterval = 200 * time.Millisecond
	// esmCallTimeout bounds each Kinesis or SQS call.
	esmCallTimeout = 2 * time.Second
	// esmInvokeTimeout bounds each invocation: Lambda's maximum function
	// timeout (the invoker enforces the function's own).
	esmInvokeTimeout = 15 * time.Minute
	// esmDiscoverEvery is how often the shard list is read again.
	esmDiscoverEvery = time.Second
	// esmMinBackoff and esmMaxBackoff bound the wait after a failure.
	esmMinBackoff = 50 * time.Millisecond
	esmMaxBackoff = time.Second
	// esmMaxPayload is Lambda's limit on a synchronous invocation's event.
	esmMaxPayload = 6 << 20
	// esmRecordOverhead is a record's JSON around its base64 data, roughly.
	esmRecordOverhead = 600
)

// ESMStats counts what an event source mapping did.
type ESMStats struct {
	Invocations int // calls to the function
	Batches     int // invocations that answered (possibly reporting item failures)
	Records     int // records or messages the function processed (checkpointed or deleted)
	Failures    int // failed invocations plus answers reporting item failures
	Discarded   int // Kinesis records given up after MaxRetryAttempts, as Lambda does
	Errors      int // failed Kinesis or SQS calls
	LastError   string
	LastErrorAt time.Time
}

// esmStats is the shared, locked part of both pollers.
type esmStats struct {
	mu sync.Mutex
	s  ESMStats
}

func (e *esmStats) get() ESMStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.s
}

func (e *esmStats) add(f func(s *ESMStats)) {
	e.mu.Lock()
	f(&e.s)
	e.mu.Unlock()
}

func (e *esmStats) fail(err error, api bool) {
	e.add(func(s *ESMStats) {
		if api {
			s.Errors++
		} else {
			s.Failures++
		}
		s.LastError = err.Error()
		s.LastErrorAt = time.Now()
	})
}

// esmBackoff is a doubling wait with jitter, from esmMinBackoff to
// esmMaxBackoff.
type esmBackoff struct{ n int }

func (b *esmBackoff) next() time.Duration {
	d := esmMinBackoff << min(b.n, 10)
	if d > esmMaxBackoff {
		d = esmMaxBackoff
	}
	b.n++
	return d/2 + rand.N(d/2+1)
}

func (b *esmBackoff) reset() { b.n = 0 }

// sleep waits d or until ctx ends; it reports whether it waited the full d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// esmErrLog logs the first error of a streak and each new kind of error,
// not every retry, and the recovery.
type esmErrLog struct {
	log  *slog.Logger
	last string
	n    int
}

func (l *esmErrLog) failed(msg string, err error, attrs ...any) {
	l.n++
	if s := err.Error(); s != l.last {
		l.last = s
		l.log.Warn(msg, append(attrs, "err", err, "failures", l.n)...)
	}
}

func (l *esmErrLog) ok(msg string, attrs ...any) {
	if l.n > 0 {
		l.log.Info(msg, append(attrs, "after", l.n)...)
	}
	l.last, l.n = "", 0
}

// KinesisPoller is Lambda's Kinesis event source mapping for one function.
//
// Per shard, one batch at a time (ParallelizationFactor is not emulated: the
// drill's concurrency comes from the shards): it reads from TRIM_HORIZON (or
// LATEST, per Spec) and keeps a checkpoint, the last sequence number the
// function processed. It invokes with a batch when BatchSize records are
// buffered, when MaxBatchingWindow has passed since the first, or, without
// a window, as soon as a read returns records; an idle shard is polled every
// PollInterval. On an invocation error the same batch is retried (halved
// first with BisectOnError); on batchItemFailures it reads again from the
// first failed sequence number (AT_SEQUENCE_NUMBER). After MaxRetryAttempts
// failed attempts (-1: never) the failing records are discarded, logged and
// counted, as Lambda does (its on-failure destination is not emulated).
//
// Kinesis going away (killed: refused; hung: calls time out after
// CallTimeout) costs only time: every call is retried with a backoff of up
// to about a second, and reading resumes after the checkpoint
// (AFTER_SEQUENCE_NUMBER), so no record is skipped. A stream recreated
// empty is read from TRIM_HORIZON: the poller forgets its checkpoints when
// Kinesis says the stream or shard does not exist, when a shard's starting
// sequence number changes, and when a shard rejects the checkpoint as not
// its own. Forgetting can repeat records, never skip them. Closed shards are read to their end; child shards are read at once, not
// after their parents.
type KinesisPoller struct {
	Client                    *kinesis.Client
	Stream, StreamARN, Region string
	Spec                      KinesisESM
	Fn                        Invoker
	Log                       *slog.Logger
	// PollInterval is the wait between reads of a shard that had nothing
	// new. Default 200ms.
	PollInterval time.Duration
	// CallTimeout bounds each Kinesis call. Default 2s.
	CallTimeout time.Duration
	// InvokeTimeout bounds each invocation. Default 15m.
	InvokeTimeout time.Duration
	// RoleARN is the events' invokeIdentityArn (the function's role).
	// Default: a role named "processor" in StreamARN's account.
	RoleARN string

	stats esmStats
	// lost counts the times Kinesis said the stream or a shard does not
	// exist; every shard reader forgets its checkpoint when it changes.
	lost atomic.Int64
}

// Stats returns the counts so far; safe while Run runs.
func (p *KinesisPoller) Stats() ESMStats { return p.stats.get() }

func (p *KinesisPoller) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.Default()
}

func (p *KinesisPoller) batchSize() int {
	if p.Spec.BatchSize > 0 {
		return min(p.Spec.BatchSize, 10000)
	}
	return 100 // Lambda's default for Kinesis
}

func (p *KinesisPoller) pollInterval() time.Duration {
	if p.PollInterval > 0 {
		return p.PollInterval
	}
	return esmPollInterval
}

func (p *KinesisPoller) callTimeout() time.Duration {
	if p.CallTimeout > 0 {
		return p.CallTimeout
	}
	return esmCallTimeout
}

func (p *KinesisPoller) invokeTimeout() time.Duration {
	if p.InvokeTimeout > 0 {
		return p.InvokeTimeout
	}
	return esmInvokeTimeout
}

// esmOneAttempt turns the SDK's retries off for a call: the pollers retry
// themselves, within their own backoff.
func esmOneAttempt(o *kinesis.Options) { o.RetryMaxAttempts = 1 }

// Run polls until ctx ends, then stops every shard reader and returns nil.
// It returns an error at once only for a poller that is not configured.
func (p *KinesisPoller) Run(ctx context.Context) error {
	if p.Client == nil || p.Stream == "" || p.Fn == nil {
		return errors.New("kinesis poller: Client, Stream and Fn are required")
	}
	log := p.log()
	shards := map[string]*esmShard{}
	defer func() {
		for _, s := range shards {
			s.cancel()
		}
		for _, s := range shards {
			<-s.done
		}
	}()
	first := true
	var bo esmBackoff
	el := esmErrLog{log: log}
	for ctx.Err() == nil {
		list, err := p.listShards(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			var nf *ktypes.ResourceNotFoundException
			if errors.As(err, &nf) {
				p.lost.Add(1)
			}
			p.stats.fail(fmt.Errorf("list shards: %w", err), true)
			el.failed("kinesis poller: list shards failed, retrying", err, "stream", p.Stream)
			sleep(ctx, bo.next())
			continue
		}
		el.ok("kinesis poller: list shards works again", "stream", p.Stream)
		bo.reset()
		seen := map[string]bool{}
		for _, sh := range list {
			id := aws.ToString(sh.ShardId)
			start := ""
			if sh.SequenceNumberRange != nil {
				start = aws.ToString(sh.SequenceNumberRange.StartingSequenceNumber)
			}
			seen[id] = true
			old := shards[id]
			if old != nil && old.start == start {
				continue
			}
			if old != nil {
				// Same id, new starting sequence number: the stream was
				// recreated, the old checkpoint means nothing here.
				log.Warn("kinesis poller: shard recreated, reading it from TRIM_HORIZON", "stream", p.Stream, "shard", id)
				old.cancel()
				<-old.done
			}
			position := ktypes.ShardIteratorTypeTrimHorizon
			if first && strings.EqualFold(p.Spec.StartingPosition, string(ktypes.ShardIteratorTypeLatest)) {
				position = ktypes.ShardIteratorTypeLatest
			}
			shards[id] = p.startShard(ctx, id, start, position)
		}
		for id, s := range shards {
			if !seen[id] {
				log.Warn("kinesis poller: shard gone", "stream", p.Stream, "shard", id)
				s.cancel()
				<-s.done
				delete(shards, id)
			}
		}
		first = false
		sleep(ctx, esmDiscoverEvery)
	}
	return nil
}

// listShards returns the stream's shards.
func (p *KinesisPoller) listShards(ctx context.Context) ([]ktypes.Shard, error) {
	var shards []ktypes.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(p.Stream)}
	for range 100 {
		cctx, cancel := context.WithTimeout(ctx, p.callTimeout())
		out, err := p.Client.ListShards(cctx, in, esmOneAttempt)
		cancel()
		if err != nil {
			return nil, err
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == nil {
			return shards, nil
		}
		// With NextToken, ListShards wants no StreamName.
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
	return nil, errors.New("list shards: more than 100 pages")
}

func (p *KinesisPoller) startShard(ctx context.Context, id, start string, position ktypes.ShardIteratorType) *esmShard {
	sctx, cancel := context.WithCancel(ctx)
	s := &esmShard{
		p: p, id: id, start: start, position: position, lost: p.lost.Load(),
		cancel: cancel, done: make(chan struct{}),
		limit: p.batchSize(),
		el:    esmErrLog{log: p.log().With("stream", p.Stream, "shard", id)},
	}
	go s.run(sctx)
	return s
}

// esmShard reads one shard. Its fields other than the first few belong to
// its goroutine.
type esmShard struct {
	p        *KinesisPoller
	id       string
	start    string // starting sequence number: the shard's identity
	position ktypes.ShardIteratorType
	cancel   context.CancelFunc
	done     chan struct{}

	checkpoint string          // last sequence number processed
	at         string          // first failed sequence number to read again from
	iter       *string         // nil: get a new one from at / checkpoint / position
	buf        []ktypes.Record // read, not processed: the records after checkpoint, in order
	bufSince   time.Time       // when buf got its first record
	closed     bool            // the shard ends after buf
	limit      int             // batch size for the next invocation (bisected after errors)
	attempts   int             // failed invocations since the checkpoint last moved
	lost       int64           // p.lost when the checkpoint was last valid
	el         esmErrLog
}

func (s *esmShard) run(ctx context.Context) {
	defer close(s.done)
	var bo esmBackoff
	for ctx.Err() == nil {
		if lost := s.p.lost.Load(); lost != s.lost {
			// The stream was missing, maybe seen by another shard's
			// reader or the shard listing: this checkpoint may be in a
			// stream that no longer exists.
			s.lost = lost
			s.forget("stream gone", nil)
		}
		if s.iter == nil && !s.closed {
			if err := s.iterator(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				s.p.stats.fail(fmt.Errorf("shard %s: get shard iterator: %w", s.id, err), true)
				s.el.failed("kinesis poller: get shard iterator failed, retrying", err, "checkpoint", s.checkpoint)
				sleep(ctx, bo.next())
				continue
			}
		}
		caughtUp := true
		if !s.closed && len(s.buf) < s.p.batchSize() {
			n, err := s.read(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				// Read again from the checkpoint with a new iterator: the
				// old one may be expired or from a stand-in that restarted.
				s.iter, s.buf = nil, nil
				s.gone(err)
				s.p.stats.fail(fmt.Errorf("shard %s: get records: %w", s.id, err), true)
				s.el.failed("kinesis poller: get records failed, retrying", err, "checkpoint", s.checkpoint)
				sleep(ctx, bo.next())
				continue
			}
			s.el.ok("kinesis poller: reading again", "checkpoint", s.checkpoint)
			caughtUp = n == 0
		}
		if len(s.buf) == 0 {
			if s.closed {
				s.p.log().Info("kinesis poller: shard read to its end", "stream", s.p.Stream, "shard", s.id)
				return
			}
			sleep(ctx, s.p.pollInterval())
			continue
		}
		if wait := s.wait(); wait > 0 {
			if caughtUp {
				sleep(ctx, min(wait, s.p.pollInterval()))
			}
			continue
		}
		if s.invoke(ctx) {
			bo.reset()
		} else if ctx.Err() == nil {
			sleep(ctx, bo.next())
		}
	}
}

// wait returns how long the batching window still holds the batch back
// (0: invoke now).
func (s *esmShard) wait() time.Duration {
	if s.closed || len(s.buf) >= s.p.batchSize() || len(s.buf) >= s.limit {
		return 0
	}
	left := s.p.Spec.MaxBatchingWindow - time.Since(s.bufSince)
	if left <= 0 || esmPayload(s.buf) >= esmMaxPayload {
		return 0
	}
	return left
}

// iterator gets an iterator at the first failed record, else after the
// checkpoint, else at the starting position.
func (s *esmShard) iterator(ctx context.Context) error {
	in := &kinesis.GetShardIteratorInput{StreamName: aws.String(s.p.Stream), ShardId: aws.String(s.id), ShardIteratorType: s.position}
	switch {
	case s.at != "":
		in.ShardIteratorType, in.StartingSequenceNumber = ktypes.ShardIteratorTypeAtSequenceNumber, aws.String(s.at)
	case s.checkpoint != "":
		in.ShardIteratorType, in.StartingSequenceNumber = ktypes.ShardIteratorTypeAfterSequenceNumber, aws.String(s.checkpoint)
	}
	cctx, cancel := context.WithTimeout(ctx, s.p.callTimeout())
	out, err := s.p.Client.GetShardIterator(cctx, in, esmOneAttempt)
	cancel()
	if err != nil {
		var bad *ktypes.InvalidArgumentException
		if in.StartingSequenceNumber != nil && errors.As(err, &bad) {
			// The shard does not know the sequence number: it is a new
			// shard under the old id. Everything in it is unprocessed.
			s.forget("checkpoint not in the shard", err)
		}
		s.gone(err)
		return err
	}
	s.iter = out.ShardIterator
	s.buf = nil
	return nil
}

// gone tells every shard reader to forget its checkpoint when err says the
// shard or its stream does not exist: what appears under the name later is
// a new stream, to be read from the start. (kinesalite numbers records by
// the second, so a stream recreated within the same second as the old one
// would accept the old checkpoints and skip the new records before them.)
// In Kinesis a shard also disappears when it is closed and past retention;
// the drill does not reshard, and forgetting repeats records, never skips.
func (s *esmShard) gone(err error) {
	var nf *ktypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		s.p.lost.Add(1)
	}
}

// forget drops the position in the shard: it is read from TRIM_HORIZON.
func (s *esmShard) forget(why string, err error) {
	if s.checkpoint != "" || s.at != "" {
		attrs := []any{"stream", s.p.Stream, "shard", s.id, "checkpoint", s.checkpoint}
		if err != nil {
			attrs = append(attrs, "err", err)
		}
		s.p.log().Warn("kinesis poller: "+why+", reading the shard from TRIM_HORIZON", attrs...)
	}
	s.at, s.checkpoint, s.position = "", "", ktypes.ShardIteratorTypeTrimHorizon
	s.iter, s.buf, s.closed = nil, nil, false
}

// read appends the next records to buf; it returns how many came.
func (s *esmShard) read(ctx context.Context) (int, error) {
	cctx, cancel := context.WithTimeout(ctx, s.p.callTimeout())
	out, err := s.p.Client.GetRecords(cctx, &kinesis.GetRecordsInput{
		ShardIterator: s.iter,
		Limit:         aws.Int32(int32(max(1, s.p.batchSize()-len(s.buf)))),
	}, esmOneAttempt)
	cancel()
	if err != nil {
		return 0, err
	}
	if len(s.buf) == 0 && len(out.Records) > 0 {
		s.bufSince = time.Now()
	}
	s.buf = append(s.buf, out.Records...)
	s.iter = out.NextShardIterator
	s.closed = s.iter == nil
	return len(out.Records), nil
}

// esmPayload estimates the event size of records.
func esmPayload(recs []ktypes.Record) int {
	n := 0
	for _, r := range recs {
		n += (len(r.Data)+2)/3*4 + esmRecordOverhead
	}
	return n
}

// batch returns the next batch: the first records of buf, at most limit,
// within Lambda's payload limit, at least one.
func (s *esmShard) batch() []ktypes.Record {
	n, size := 0, 0
	for n < len(s.buf) && n < s.limit {
		size += esmPayload(s.buf[n : n+1])
		if n > 0 && size > esmMaxPayload {
			break
		}
		n++
	}
	return s.buf[:n]
}

// invoke sends the next batch and moves the checkpoint past what the
// function processed. It reports whether the whole batch succeeded.
func (s *esmShard) invoke(ctx context.Context) bool {
	p := s.p
	batch := s.batch()
	failedAt, err := s.call(ctx, batch)
	if ctx.Err() != nil {
		return false // stopping: the batch is neither done nor failed
	}
	if err == nil && failedAt < 0 {
		s.commit(batch)
		p.stats.add(func(st *ESMStats) { st.Batches++; st.Records += len(batch) })
		return true
	}
	attrs := []any{"stream", p.Stream, "shard", s.id, "first", aws.ToString(batch[0].SequenceNumber), "records", len(batch)}
	if err != nil {
		p.stats.fail(fmt.Errorf("shard %s: invoke: %w", s.id, err), false)
		s.attempts++
		if s.exhausted() {
			s.discard(batch, err)
			return false
		}
		if p.Spec.BisectOnError && len(batch) > 1 {
			s.limit = (len(batch) + 1) / 2
		}
		p.log().Warn("kinesis poller: invocation failed, retrying the batch", append(attrs, "err", err, "attempt", s.attempts, "next", s.limit)...)
		return false
	}
	// The function reported item failures: records before the first
	// failed one are done, the rest is read again from it.
	p.stats.add(func(st *ESMStats) { st.Batches++; st.Records += failedAt; st.Failures++ })
	failed := aws.ToString(batch[failedAt].SequenceNumber)
	p.stats.add(func(st *ESMStats) {
		st.LastError = fmt.Sprintf("shard %s: function reported a failure at %s", s.id, failed)
		st.LastErrorAt = time.Now()
	})
	if failedAt > 0 {
		s.commit(batch[:failedAt])
	}
	s.attempts++
	if s.exhausted() {
		s.discard(s.buf[:len(batch)-failedAt], errors.New("batch item failures"))
		return false
	}
	p.log().Warn("kinesis poller: function reported item failures, reading again from the first",
		append(attrs, "failedAt", failed, "attempt", s.attempts)...)
	// Reading again also finds a closed shard's end again.
	s.at, s.iter, s.buf, s.closed = failed, nil, nil, false
	return false
}

// call invokes the function with batch. It returns the index of the first
// record the function reported failed (-1: none) or the invocation's error.
func (s *esmShard) call(ctx context.Context, batch []ktypes.Record) (int, error) {
	p := s.p
	role := p.RoleARN
	if role == "" {
		role = fmt.Sprintf("arn:aws:iam::%s:role/processor", esmAccount(p.StreamARN))
	}
	ev := events.KinesisEvent{Records: make([]events.KinesisEventRecord, len(batch))}
	index := make(map[string]int, len(batch))
	for i, r := range batch {
		seq := aws.ToString(r.SequenceNumber)
		index[seq] = i
		rec := events.KinesisEventRecord{
			AwsRegion:         p.Region,
			EventID:           s.id + ":" + seq,
			EventName:         "aws:kinesis:record",
			EventSource:       "aws:kinesis",
			EventSourceArn:    p.StreamARN,
			EventVersion:      "1.0",
			InvokeIdentityArn: role,
			Kinesis: events.KinesisRecord{
				// Kinesis keeps arrival times in milliseconds.
				ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: aws.ToTime(r.ApproximateArrivalTimestamp).Truncate(time.Millisecond)},
				Data:                        r.Data,
				PartitionKey:                aws.ToString(r.PartitionKey),
				SequenceNumber:              seq,
				KinesisSchemaVersion:        "1.0",
			},
		}
		if r.EncryptionType != "" && r.EncryptionType != ktypes.EncryptionTypeNone {
			rec.Kinesis.EncryptionType = string(r.EncryptionType)
		}
		ev.Records[i] = rec
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return -1, fmt.Errorf("encode event: %w", err)
	}
	p.stats.add(func(st *ESMStats) { st.Invocations++ })
	ictx, cancel := context.WithTimeout(ctx, p.invokeTimeout())
	out, err := p.Fn.Invoke(ictx, body)
	cancel()
	if err != nil {
		return -1, err
	}
	if !p.Spec.ReportBatchItemFailures {
		return -1, nil
	}
	return esmFirstFailed(out, index)
}

// esmFirstFailed reads the batchItemFailures of a response as Lambda does:
// no response, no list or an empty one is success; the lowest failed
// sequence number counts; an identifier that is empty or not in the batch
// fails the whole batch.
func esmFirstFailed(out []byte, index map[string]int) (int, error) {
	var resp events.KinesisEventResponse
	if len(out) == 0 || json.Unmarshal(out, &resp) != nil {
		return -1, nil
	}
	first := -1
	for _, f := range resp.BatchItemFailures {
		i, ok := index[f.ItemIdentifier]
		if !ok {
			return -1, fmt.Errorf("batchItemFailures: itemIdentifier %q is not in the batch", f.ItemIdentifier)
		}
		if first < 0 || i < first {
			first = i
		}
	}
	return first, nil
}

// commit moves the checkpoint past recs, the first records of buf.
func (s *esmShard) commit(recs []ktypes.Record) {
	s.checkpoint = aws.ToString(recs[len(recs)-1].SequenceNumber)
	s.buf = s.buf[len(recs):]
	if len(s.buf) > 0 {
		s.bufSince = time.Now()
	}
	s.at, s.attempts, s.limit = "", 0, s.p.batchSize()
}

// exhausted reports whether MaxRetryAttempts retries have failed.
func (s *esmShard) exhausted() bool {
	retries := s.p.Spec.MaxRetryAttempts
	return retries >= 0 && s.attempts > retries
}

// discard gives up on recs (the first records of buf) as Lambda does after
// its last retry: they are skipped, logged and counted.
func (s *esmShard) discard(recs []ktypes.Record, err error) {
	s.p.log().Error("kinesis poller: retries exhausted, records discarded",
		"stream", s.p.Stream, "shard", s.id, "first", aws.ToString(recs[0].SequenceNumber),
		"last", aws.ToString(recs[len(recs)-1].SequenceNumber), "records", len(recs), "attempts", s.attempts, "err", err)
	s.p.stats.add(func(st *ESMStats) { st.Discarded += len(recs) })
	s.commit(recs)
}

// esmAccount returns the account of an ARN ("" if it is none).
func esmAccount(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}

// SQSPoller is Lambda's SQS event source mapping for one function. It
// receives up to BatchSize messages (at most 10: one ReceiveMessage; larger
// batches would need a batching window), setting the visibility timeout to
// Visibility on each receive (0: the queue's), invokes, and deletes every message the function did not list in
// batchItemFailures (all of them when ReportBatchItemFailures is off). A
// failed invocation deletes nothing. Messages not deleted come back after
// the visibility timeout; redrive to a dead-letter queue is the queue's
// business. SQS errors are retried with a backoff of up to about a second.
//
// Lambda long-polls; this poller short-polls and waits 200ms after an empty
// receive, because local-aws-sqs answers a long poll only when it ends and
// hands out a message again within one long poll when the visibility
// timeout is shorter than the wait.
type SQSPoller struct {
	Client                     *sqs.Client
	QueueURL, QueueARN, Region string
	Spec                       SQSESM
	Fn                         Invoker
	Visibility                 time.Duration
	Log                        *slog.Logger
	// CallTimeout bounds each SQS call (plus the long poll). Default 2s.
	CallTimeout time.Duration
	// InvokeTimeout bounds each invocation. Default 15m.
	InvokeTimeout time.Duration

	stats esmStats
}

// Stats returns the counts so far; safe while Run runs.
func (p *SQSPoller) Stats() ESMStats { return p.stats.get() }

func (p *SQSPoller) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.Default()
}

func (p *SQSPoller) callTimeout() time.Duration {
	if p.CallTimeout > 0 {
		return p.CallTimeout
	}
	return esmCallTimeout
}

// Run polls until ctx ends and returns nil then; it returns an error at
// once only for a poller that is not configured.
func (p *SQSPoller) Run(ctx context.Context) error {
	if p.Client == nil || p.QueueURL == "" || p.Fn == nil {
		return errors.New("sqs poller: Client, QueueURL and Fn are required")
	}
	var bo esmBackoff
	el := esmErrLog{log: p.log().With("queue", p.QueueURL)}
	for ctx.Err() == nil {
		msgs, err := p.receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			p.stats.fail(fmt.Errorf("receive: %w", err), true)
			el.failed("sqs poller: receive failed, retrying", err)
			sleep(ctx, bo.next())
			continue
		}
		el.ok("sqs poller: receiving again")
		bo.reset()
		if len(msgs) == 0 {
			sleep(ctx, esmPollInterval)
			continue
		}
		p.handle(ctx, msgs)
	}
	return nil
}

func (p *SQSPoller) receive(ctx context.Context) ([]sqstypes.Message, error) {
	n := p.Spec.BatchSize
	if n <= 0 || n > 10 {
		n = 10
	}
	in := &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(p.QueueURL),
		MaxNumberOfMessages:         int32(n),
		WaitTimeSeconds:             0,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		//lint:ignore SA1019 local-aws-sqs reads only the older, deprecated name.
		AttributeNames:        []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll},
		MessageAttributeNames: []string{"All"},
	}
	if p.Visibility > 0 {
		in.VisibilityTimeout = int32((p.Visibility + time.Second - 1) / time.Second)
	}
	cctx, cancel := context.WithTimeout(ctx, p.callTimeout())
	defer cancel()
	out, err := p.Client.ReceiveMessage(cctx, in, func(o *sqs.Options) { o.RetryMaxAttempts = 1 })
	if err != nil {
		return nil, err
	}
	return out.Messages, nil
}

// handle invokes the function with msgs and deletes what it processed.
func (p *SQSPoller) handle(ctx context.Context, msgs []sqstypes.Message) {
	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(msgs))}
	byID := make(map[string]int, len(msgs))
	for i, m := range msgs {
		ev.Records[i] = p.message(m)
		byID[aws.ToString(m.MessageId)] = i
	}
	body, err := json.Marshal(ev)
	if err != nil {
		p.stats.fail(fmt.Errorf("encode event: %w", err), false)
		return
	}
	p.stats.add(func(st *ESMStats) { st.Invocations++ })
	timeout := p.InvokeTimeout
	if timeout <= 0 {
		timeout = esmInvokeTimeout
	}
	ictx, cancel := context.WithTimeout(ctx, timeout)
	out, err := p.Fn.Invoke(ictx, body)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			p.stats.fail(fmt.Errorf("invoke: %w", err), false)
			p.log().Warn("sqs poller: invocation failed, the messages come back after the visibility timeout",
				"queue", p.QueueURL, "messages", len(msgs), "err", err)
		}
		return
	}
	failed := map[int]bool{}
	if p.Spec.ReportBatchItemFailures {
		var resp events.SQSEventResponse
		if len(out) > 0 && json.Unmarshal(out, &resp) == nil {
			for _, f := range resp.BatchItemFailures {
				i, ok := byID[f.ItemIdentifier]
				if !ok {
					// Lambda fails the whole batch on an unknown identifier.
					p.stats.fail(fmt.Errorf("batchItemFailures: itemIdentifier %q is not in the batch", f.ItemIdentifier), false)
					return
				}
				failed[i] = true
			}
		}
	}
	if len(failed) > 0 {
		p.stats.fail(fmt.Errorf("function reported %d of %d messages failed", len(failed), len(msgs)), false)
	}
	var del []sqstypes.DeleteMessageBatchRequestEntry
	for i, m := range msgs {
		if !failed[i] {
			del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
		}
	}
	p.stats.add(func(st *ESMStats) { st.Batches++ })
	if len(del) == 0 {
		return
	}
	// Deleting is not bounded by ctx alone: messages the function processed
	// should not come back just because the drill is stopping.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.callTimeout())
	defer cancel()
	res, err := p.Client.DeleteMessageBatch(cctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(p.QueueURL), Entries: del})
	if err != nil {
		// They come back after the visibility timeout: a duplicate, not a loss.
		p.stats.fail(fmt.Errorf("delete: %w", err), true)
		p.log().Warn("sqs poller: delete failed, the messages will be delivered again", "queue", p.QueueURL, "err", err)
		return
	}
	for _, f := range res.Failed {
		p.stats.fail(fmt.Errorf("delete message %s: %s", aws.ToString(f.Id), aws.ToString(f.Message)), true)
	}
	p.stats.add(func(st *ESMStats) { st.Records += len(res.Successful) })
}

// message converts a received message to the event record Lambda sends.
func (p *SQSPoller) message(m sqstypes.Message) events.SQSMessage {
	out := events.SQSMessage{
		MessageId:              aws.ToString(m.MessageId),
		ReceiptHandle:          aws.ToString(m.ReceiptHandle),
		Body:                   aws.ToString(m.Body),
		Md5OfBody:              aws.ToString(m.MD5OfBody),
		Md5OfMessageAttributes: aws.ToString(m.MD5OfMessageAttributes),
		Attributes:             map[string]string{},
		MessageAttributes:      map[string]events.SQSMessageAttribute{},
		EventSourceARN:         p.QueueARN,
		EventSource:            "aws:sqs",
		AWSRegion:              p.Region,
	}
	if out.Md5OfBody == "" {
		sum := md5.Sum([]byte(out.Body))
		out.Md5OfBody = hex.EncodeToString(sum[:])
	}
	for k, v := range m.Attributes {
		out.Attributes[k] = v
	}
	for k, a := range m.MessageAttributes {
		out.MessageAttributes[k] = events.SQSMessageAttribute{
			StringValue:      a.StringValue,
			BinaryValue:      a.BinaryValue,
			StringListValues: append([]string{}, a.StringListValues...),
			BinaryListValues: append([][]byte{}, a.BinaryListValues...),
			DataType:         aws.ToString(a.DataType),
		}
	}
	return out
}

// s3Notification is an S3 event notification as S3 writes it to SQS.
// aws-lambda-go's S3Event would add urlDecodedKey, which S3 does not send.
type s3Notification struct {
	Records []s3NotificationRecord `json:"Records"`
}

type s3NotificationRecord struct {
	EventVersion string `json:"eventVersion"`
	EventSource  string `json:"eventSource"`
	AWSRegion    string `json:"awsRegion"`
	EventTime    string `json:"eventTime"`
	EventName    string `json:"eventName"`
	UserIdentity struct {
		PrincipalID string `json:"principalId"`
	} `json:"userIdentity"`
	RequestParameters struct {
		SourceIPAddress string `json:"sourceIPAddress"`
	} `json:"requestParameters"`
	ResponseElements map[string]string `json:"responseElements"`
	S3               struct {
		SchemaVersion   string `json:"s3SchemaVersion"`
		ConfigurationID string `json:"configurationId"`
		Bucket          struct {
			Name          string `json:"name"`
			OwnerIdentity struct {
				PrincipalID string `json:"principalId"`
			} `json:"ownerIdentity"`
			ARN string `json:"arn"`
		} `json:"bucket"`
		Object struct {
			Key       string `json:"key"`
			Size      int64  `json:"size"`
			Sequencer string `json:"sequencer"`
		} `json:"object"`
	} `json:"s3"`
}

// s3Sequencer orders notifications, as S3's sequencer does per key.
var s3Sequencer atomic.Uint64

// s3Attempts bounds sending one notification (each within esmCallTimeout).
const s3Attempts = 3

// S3Notifier returns a standin.S3 OnPut callback that sends S3's
// ObjectCreated:Put notification to the queue for puts to bucket under
// prefix, and ignores other puts. The key is URL-encoded as S3 does it
// (form encoding, '/' kept). The object's eTag and versionId are left out:
// the stand-in's callback does not know them. A failed send is retried
// twice and then logged: the put has succeeded by then, and the object
// waits in the bucket for a manual replay, as with a lost S3 notification.
func S3Notifier(client *sqs.Client, queueURL, region, bucket, prefix string, log *slog.Logger) func(bucket, key string, size int64) {
	if log == nil {
		log = slog.Default()
	}
	return func(b, key string, size int64) {
		if b != bucket || !strings.HasPrefix(key, prefix) {
			return
		}
		body, err := json.Marshal(s3Event(region, b, key, size, time.Now()))
		if err != nil {
			log.Error("s3 notifier: encode event", "bucket", b, "key", key, "err", err)
			return
		}
		var bo esmBackoff
		for attempt := 1; ; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), esmCallTimeout)
			_, err = client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(string(body))})
			cancel()
			if err == nil {
				return
			}
			if attempt == s3Attempts {
				log.Error("s3 notifier: notification lost", "bucket", b, "key", key, "err", err)
				return
			}
			time.Sleep(bo.next())
		}
	}
}

// s3Event builds the notification of one put.
func s3Event(region, bucket, key string, size int64, at time.Time) s3Notification {
	var r s3NotificationRecord
	r.EventVersion = "2.1"
	r.EventSource = "aws:s3"
	r.AWSRegion = region
	r.EventTime = at.UTC().Format("2006-01-02T15:04:05.000Z")
	r.EventName = "ObjectCreated:Put"
	r.UserIdentity.PrincipalID = "AWS:AROADRILLINGEST:twinstream-ingest"
	r.RequestParameters.SourceIPAddress = "127.0.0.1"
	seq := uint64(at.UnixNano()) + s3Sequencer.Add(1)
	r.ResponseElements = map[string]string{
		"x-amz-request-id": fmt.Sprintf("%016X", seq),
		"x-amz-id-2":       fmt.Sprintf("drill/%x", seq),
	}
	r.S3.SchemaVersion = "1.0"
	r.S3.ConfigurationID = "spill-notification"
	r.S3.Bucket.Name = bucket
	r.S3.Bucket.OwnerIdentity.PrincipalID = "A3DRILLOWNER"
	r.S3.Bucket.ARN = "arn:aws:s3:::" + bucket
	r.S3.Object.Key = strings.ReplaceAll(url.QueryEscape(key), "%2F", "/")
	r.S3.Object.Size = size
	r.S3.Object.Sequencer = fmt.Sprintf("%018X", seq)
	return s3Notification{Records: []s3NotificationRecord{r}}
}
