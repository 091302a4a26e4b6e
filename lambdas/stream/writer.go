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
			var retry bool
			pending, retry, err = w.call(ctx, entries, pending)
			res.Calls++
			if !retry {
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

// call makes one PutRecords call for the entries at idx and returns the indices
// still to write, whether retrying them may help, and the error.
func (w *Writer) call(ctx context.Context, entries []Entry, idx []int) ([]int, bool, error) {
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
		return idx, Retryable(err) && ctx.Err() == nil, fmt.Errorf("put records: %w", err)
	}
	if out == nil || len(out.Records) != len(idx) {
		return idx, true, errors.New("put records: response does not match request")
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
			return nil, false, nil
		}
	}
	var still []int
	var code, msg string
	for i, r := range out.Records {
		if r.ErrorCode == nil && r.SequenceNumber != nil {
			continue
		}
		still = append(still, idx[i])
		if code == "" {
			code, msg = aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage)
		}
	}
	if len(still) == 0 {
		// FailedRecordCount said some failed, every record says it is in.
		return nil, false, nil
	}
	if code == "" {
		code = "no sequence number"
	}
	return still, true, fmt.Errorf("put records: %d of %d records failed, first: %s: %s", len(still), len(idx), code, msg)
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
