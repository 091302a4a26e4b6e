// Package stream writes records to Kinesis with PutRecords: batches within the
// API's limits, retries of the records that failed (whole-call errors and the
// per-record failures of a successful call) with jittered backoff, and a
// deadline on every call so a hung Kinesis cannot hang the caller.
package stream

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
)

// PutRecords API limits.
const (
	MaxBatchRecords = 500
	MaxBatchBytes   = 5 << 20
)

// PutRecordsAPI is the part of the Kinesis client the writer uses.
type PutRecordsAPI interface {
	PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
}

// PutRecordsFunc adapts a function to PutRecordsAPI (fakes in tests).
type PutRecordsFunc func(ctx context.Context, in *kinesis.PutRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)

// PutRecords calls f.
func (f PutRecordsFunc) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	return f(ctx, in, opts...)
}

// Entry is one record to write.
type Entry struct {
	Data         []byte
	PartitionKey string
	// AnyShard says the record has no partition key of its own (ingest
	// gave it its id): it carries no wish for ordering, so a Packer may
	// pack it with other such records under another key. Writer ignores it.
	AnyShard bool
}

// Writer writes entries to one stream. The zero values of the optional fields
// give the defaults documented on each.
type Writer struct {
	Client PutRecordsAPI
	// StreamARN names the stream (preferred: it works across accounts).
	StreamARN string
	// StreamName names the stream when StreamARN is empty.
	StreamName string
	// CallTimeout bounds each PutRecords call. Default 2s.
	CallTimeout time.Duration
	// BaseBackoff is the first retry's backoff ceiling; it doubles per attempt
	// up to MaxBackoff and the actual sleep is uniform in [0, ceiling) ("full
	// jitter"). Defaults 25ms and 1s.
	BaseBackoff, MaxBackoff time.Duration
	// Sleep waits d or until ctx ends. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error

	// jitter picks the sleep in (0, ceil]; nil: uniformly at random. Tests
	// set it to see the ceilings.
	jitter func(ceil time.Duration) time.Duration
}

// Result says what happened to a Put.
type Result struct {
	// Failed holds the indices (into the entries given to Put) of entries that
	// were not written, in ascending order. Empty when all were written.
	Failed []int
	// Calls counts PutRecords calls made.
	Calls int
	// Err is the last error seen for the failed entries (nil when none failed).
	Err error
	// Throttled counts the records Kinesis refused for throughput
	// (ProvisionedThroughputExceeded, for the record or for its whole call),
	// over every attempt. Throttling says a shard is busy (one hot partition
	// key is enough), not that Kinesis is down.
	Throttled int
	// Faults counts the failures that are not throttling, over every attempt:
	// each failed call (timeout, network, 5xx, access, KMS, missing stream,
	// invalid request, an answer that does not match the request) and each
	// record Kinesis failed with another error code (InternalFailure). A call
	// cut short by the end of ctx after Kinesis had answered an earlier call of
	// the same Put is not one: the caller's budget ran out while retrying.
	Faults int
}

// Put writes entries until all are in, a non-retryable error occurs, or ctx
// ends (the caller's deadline is the retry budget). It never returns early
// without saying, through Failed, which entries are not in the stream.
func (w *Writer) Put(ctx context.Context, entries []Entry) Result {
	var res Result
	// An entry Kinesis rejects would fail the whole call, and with it the
	// other entries of its batch: report it without sending it.
	var keep []bool
	for i, e := range entries {
		if validKey(e.PartitionKey) {
			continue
		}
		if keep == nil {
			keep = make([]bool, len(entries))
			for j := range keep {
				keep[j] = true
			}
		}
		keep[i] = false
		res.Failed = append(res.Failed, i)
	}
	if len(res.Failed) > 0 {
		res.Err = fmt.Errorf("put records: %d entries have a partition key Kinesis rejects (empty or over 256 characters), first at index %d",
			len(res.Failed), res.Failed[0])
	}
	heard := false // Kinesis answered a call of this Put
	for _, batch := range batches(entries, keep) {
		pending := batch
		var err error // the last error for this batch's pending entries
		for attempt := 0; len(pending) > 0; attempt++ {
			if attempt > 0 {
				if serr := w.sleep(ctx, w.backoff(attempt)); serr != nil {
					err = lastErr(err, serr)
					break
				}
			}
			if cerr := ctx.Err(); cerr != nil {
				err = lastErr(err, fmt.Errorf("put records: %w", cerr))
				break
			}
			o := w.call(ctx, entries, pending)
			pending, err = o.still, o.err
			res.Calls++
			res.Throttled += o.throttled
			res.Faults += o.faults
			if o.cut && !heard {
				// Cut by the caller's deadline before Kinesis ever
				// answered: as good as a timeout.
				res.Faults++
			}
			heard = heard || o.answered
			if !o.retry {
				break
			}
		}
		if len(pending) > 0 {
			res.Failed = append(res.Failed, pending...)
			res.Err = err
		}
	}
	if len(res.Failed) == 0 {
		res.Err = nil
	} else if res.Err == nil {
		res.Err = errors.New("put records: not written")
	}
	slices.Sort(res.Failed)
	return res
}

// validKey reports whether Kinesis accepts k as a partition key.
func validKey(k string) bool {
	return k != "" && utf8.RuneCountInString(k) <= 256
}

func lastErr(prev, err error) error {
	if prev != nil {
		return fmt.Errorf("%w (then %w)", prev, err)
	}
	return err
}

// outcome is what one PutRecords call did.
type outcome struct {
	still []int // indices still to write
	retry bool  // whether retrying them may help
	err   error
	// throttled and faults count as Result's fields do; cut says the call
	// failed because ctx ended, which Put counts as a fault only when
	// Kinesis has not answered before. answered: Kinesis sent an answer
	// (a response or an API error).
	throttled, faults int
	cut, answered     bool
}

// ThrottledCode is the error code of a record or call refused for throughput.
const ThrottledCode = "ProvisionedThroughputExceededException"

// call makes one PutRecords call for the entries at idx.
func (w *Writer) call(ctx context.Context, entries []Entry, idx []int) outcome {
	in := &kinesis.PutRecordsInput{Records: make([]types.PutRecordsRequestEntry, len(idx))}
	if w.StreamARN != "" {
		in.StreamARN = aws.String(w.StreamARN)
	} else {
		in.StreamName = aws.String(w.StreamName)
	}
	for i, j := range idx {
		in.Records[i] = types.PutRecordsRequestEntry{Data: entries[j].Data, PartitionKey: aws.String(entries[j].PartitionKey)}
	}
	callCtx, cancel := context.WithTimeout(ctx, w.callTimeout())
	out, err := w.Client.PutRecords(callCtx, in)
	cancel()
	if err != nil {
		o := outcome{still: idx, retry: Retryable(err) && ctx.Err() == nil, err: fmt.Errorf("put records: %w", err)}
		var ae smithy.APIError
		o.answered = errors.As(err, &ae)
		switch {
		case o.answered && ae.ErrorCode() == ThrottledCode:
			o.throttled = len(idx)
		case !o.answered && ctx.Err() != nil:
			o.cut = true
		default:
			o.faults = 1
		}
		return o
	}
	if out == nil || len(out.Records) != len(idx) {
		return outcome{still: idx, retry: true, err: errors.New("put records: response does not match request"), faults: 1, answered: true}
	}
	if aws.ToInt32(out.FailedRecordCount) == 0 {
		// Trust the per-record results over the count, in case they disagree;
		// a record is in only with a sequence number (as the loop below says).
		failedAny := false
		for _, r := range out.Records {
			if r.ErrorCode != nil || r.SequenceNumber == nil {
				failedAny = true
				break
			}
		}
		if !failedAny {
			return outcome{answered: true}
		}
	}
	o := outcome{retry: true, answered: true}
	var code, msg string
	for i, r := range out.Records {
		if r.ErrorCode == nil && r.SequenceNumber != nil {
			continue
		}
		o.still = append(o.still, idx[i])
		if aws.ToString(r.ErrorCode) == ThrottledCode {
			o.throttled++
		} else {
			o.faults++
		}
		if code == "" {
			code, msg = aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage)
		}
	}
	if len(o.still) == 0 {
		// FailedRecordCount said some failed, every record says it is in.
		return outcome{answered: true}
	}
	if code == "" {
		code = "no sequence number"
	}
	o.err = fmt.Errorf("put records: %d of %d records failed, first: %s: %s", len(o.still), len(idx), code, msg)
	return o
}

func (w *Writer) callTimeout() time.Duration {
	if w.CallTimeout > 0 {
		return w.CallTimeout
	}
	return 2 * time.Second
}

// backoff returns the sleep before the given retry (attempt >= 1).
func (w *Writer) backoff(attempt int) time.Duration {
	ceil := w.ceiling(attempt)
	if w.jitter != nil {
		return w.jitter(ceil)
	}
	return time.Duration(rand.Int64N(int64(ceil)) + 1)
}

// ceiling is BaseBackoff doubled per attempt after the first, at most MaxBackoff.
func (w *Writer) ceiling(attempt int) time.Duration {
	base, max := w.BaseBackoff, w.MaxBackoff
	if base <= 0 {
		base = 25 * time.Millisecond
	}
	if max <= 0 {
		max = time.Second
	}
	ceil := min(base, max)
	for i := 1; i < attempt && ceil < max; i++ {
		if ceil > max/2 { // doubling would pass max (or overflow)
			return max
		}
		ceil *= 2
	}
	return ceil
}

func (w *Writer) sleep(ctx context.Context, d time.Duration) error {
	if w.Sleep != nil {
		return w.Sleep(ctx, d)
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return fmt.Errorf("retry budget spent: %w", context.DeadlineExceeded)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Retryable reports whether a failed call may succeed when made again:
// throttling, timeouts, network and server errors are; a missing stream,
// denied access or an invalid request are not.
func Retryable(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ResourceNotFoundException", "AccessDeniedException", "ValidationException",
			"InvalidArgumentException", "KMSAccessDeniedException", "KMSDisabledException",
			"KMSInvalidStateException", "KMSNotFoundException", "KMSOptInRequired",
			"UnrecognizedClientException", "InvalidSignatureException":
			return false
		}
	}
	return true
}

// Batches splits entries into PutRecords calls of at most MaxBatchRecords
// entries and MaxBatchBytes of data plus partition keys, keeping order.
func Batches(entries []Entry) [][]int {
	return batches(entries, nil)
}

// batches is Batches over the entries keep marks (all when keep is nil).
func batches(entries []Entry, keep []bool) [][]int {
	var out [][]int
	var cur []int
	size := 0
	for i, e := range entries {
		if keep != nil && !keep[i] {
			continue
		}
		n := len(e.Data) + len(e.PartitionKey)
		if len(cur) > 0 && (len(cur) == MaxBatchRecords || size+n > MaxBatchBytes) {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, i)
		size += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}
