package stream

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
)

// entries makes n entries whose data is their index, so a fake can tell
// which entries a call carries.
func entries(n int) []Entry {
	es := make([]Entry, n)
	for i := range es {
		es[i] = Entry{Data: []byte(strconv.Itoa(i)), PartitionKey: "pk-" + strconv.Itoa(i)}
	}
	return es
}

// sent is what one PutRecords call carried.
type sent struct {
	stream, arn string
	idx         []int // entry indices, from the data
	keys        []string
	deadline    time.Time
}

// fake is a PutRecords client: respond decides each call's answer.
type fake struct {
	mu      sync.Mutex
	calls   []sent
	respond func(call int, ctx context.Context, idx []int) (*kinesis.PutRecordsOutput, error)
}

func (f *fake) client() PutRecordsFunc {
	return func(ctx context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
		s := sent{stream: aws.ToString(in.StreamName), arn: aws.ToString(in.StreamARN)}
		s.deadline, _ = ctx.Deadline()
		for _, r := range in.Records {
			i, err := strconv.Atoi(string(r.Data))
			if err != nil {
				return nil, fmt.Errorf("fake: data %q is not an index", r.Data)
			}
			s.idx = append(s.idx, i)
			s.keys = append(s.keys, aws.ToString(r.PartitionKey))
		}
		f.mu.Lock()
		n := len(f.calls)
		f.calls = append(f.calls, s)
		f.mu.Unlock()
		return f.respond(n, ctx, s.idx)
	}
}

func (f *fake) sentIdx() [][]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out [][]int
	for _, c := range f.calls {
		out = append(out, c.idx)
	}
	return out
}

// answer builds a PutRecords response: fail(i) gives entry i's error code, "" for written.
func answer(idx []int, fail func(i int) string) *kinesis.PutRecordsOutput {
	out := &kinesis.PutRecordsOutput{Records: make([]types.PutRecordsResultEntry, len(idx))}
	failed := int32(0)
	for k, i := range idx {
		if code := fail(i); code != "" {
			out.Records[k] = types.PutRecordsResultEntry{ErrorCode: aws.String(code), ErrorMessage: aws.String("fake " + code)}
			failed++
			continue
		}
		out.Records[k] = types.PutRecordsResultEntry{SequenceNumber: aws.String(fmt.Sprint(1000 + i)), ShardId: aws.String("shardId-000000000000")}
	}
	out.FailedRecordCount = aws.Int32(failed)
	return out
}

func allOK(idx []int) *kinesis.PutRecordsOutput { return answer(idx, func(int) string { return "" }) }

const throttled = "ProvisionedThroughputExceededException"

// sleeps records the Sleep hook's calls; it ends the retry budget (as a
// deadline would) on call number budget, and never really sleeps.
type sleeps struct {
	mu     sync.Mutex
	got    []time.Duration
	budget int // 0: unlimited
	cancel context.CancelFunc
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, d)
	if s.budget > 0 && len(s.got) >= s.budget {
		if s.cancel != nil {
			s.cancel()
		}
		return fmt.Errorf("retry budget spent: %w", context.DeadlineExceeded)
	}
	return ctx.Err()
}

func rangeInts(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func TestBatches(t *testing.T) {
	big := make([]byte, 5<<20)
	mib := big[:1<<20]
	sized := func(sizes ...int) []Entry {
		es := make([]Entry, len(sizes))
		for i, n := range sizes {
			es[i] = Entry{Data: mib[:n-1], PartitionKey: "k"} // key counts: 1 byte
		}
		return es
	}
	tests := []struct {
		name    string
		entries []Entry
		want    []int // batch lengths
	}{
		{"none", nil, nil},
		{"one", entries(1), []int{1}},
		{"500", entries(500), []int{500}},
		{"501", entries(501), []int{500, 1}},
		{"1001", entries(1001), []int{500, 500, 1}},
		{"exactly 5 MiB", sized(1<<20, 1<<20, 1<<20, 1<<20, 1<<20), []int{5}},
		{"5 MiB and one byte", sized(1<<20, 1<<20, 1<<20, 1<<20, 1<<20, 1), []int{5, 1}},
		{"one byte over 5 MiB in the middle", sized(1<<20, 1<<20, 1<<20, 1<<20, 1<<20-10, 11, 5), []int{5, 2}},
		{"key bytes count", []Entry{{Data: big[:5<<20-8], PartitionKey: "12345678"}, {Data: nil, PartitionKey: "x"}}, []int{1, 1}},
		{"multibyte keys count in bytes", []Entry{{Data: big[:5<<20-3], PartitionKey: "€"}, {PartitionKey: "a"}}, []int{1, 1}},
	}
	// Small ones then big ones: their bytes add up.
	mixed := append(entries(10), sized(1<<20, 1<<20, 1<<20, 1<<20, 1<<20)...)
	tests = append(tests, struct {
		name    string
		entries []Entry
		want    []int
	}{"small and big", mixed, []int{14, 1}})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs := Batches(tt.entries)
			var lens []int
			next := 0
			for _, b := range bs {
				lens = append(lens, len(b))
				size := 0
				for _, i := range b {
					if i != next {
						t.Fatalf("got index %d, want %d (all entries, in order)", i, next)
					}
					next++
					size += len(tt.entries[i].Data) + len(tt.entries[i].PartitionKey)
				}
				if len(b) > MaxBatchRecords || (len(b) > 1 && size > MaxBatchBytes) {
					t.Errorf("got a batch of %d entries and %d bytes, want at most %d and %d", len(b), size, MaxBatchRecords, MaxBatchBytes)
				}
			}
			if next != len(tt.entries) {
				t.Errorf("got %d entries in batches, want %d", next, len(tt.entries))
			}
			if !reflect.DeepEqual(lens, tt.want) {
				t.Errorf("batch lengths: got %v, want %v", lens, tt.want)
			}
		})
	}
}

func TestPutAllOK(t *testing.T) {
	tests := []struct {
		name       string
		w          Writer
		n          int
		wantStream string
		wantARN    string
		wantCalls  int
	}{
		{"stream name", Writer{StreamName: "s"}, 3, "s", "", 1},
		{"arn preferred", Writer{StreamName: "s", StreamARN: "arn:aws:kinesis:eu-west-1:1:stream/s"}, 3, "", "arn:aws:kinesis:eu-west-1:1:stream/s", 1},
		{"500 in one call", Writer{StreamName: "s"}, 500, "s", "", 1},
		{"1200 in three calls", Writer{StreamName: "s"}, 1200, "s", "", 3},
		{"none", Writer{StreamName: "s"}, 0, "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fake{respond: func(_ int, _ context.Context, idx []int) (*kinesis.PutRecordsOutput, error) { return allOK(idx), nil }}
			w := tt.w
			w.Client = f.client()
			w.Sleep = func(context.Context, time.Duration) error { t.Error("got a sleep, want none"); return nil }
			es := entries(tt.n)
			res := w.Put(context.Background(), es)
			if len(res.Failed) != 0 || res.Err != nil || res.Calls != tt.wantCalls {
				t.Fatalf("got %+v, want no failures, nil error, %d calls", res, tt.wantCalls)
			}
			var all []int
			for _, c := range f.calls {
				if c.stream != tt.wantStream || c.arn != tt.wantARN {
					t.Errorf("stream name, arn: got %q, %q, want %q, %q", c.stream, c.arn, tt.wantStream, tt.wantARN)
				}
				for k, i := range c.idx {
					if c.keys[k] != es[i].PartitionKey {
						t.Errorf("entry %d key: got %q, want %q", i, c.keys[k], es[i].PartitionKey)
					}
				}
				if c.deadline.IsZero() {
					t.Error("got a call without a deadline, want CallTimeout applied")
				}
				all = append(all, c.idx...)
			}
			if !reflect.DeepEqual(all, rangeInts(0, tt.n)) {
				t.Errorf("sent: got %v, want 0..%d in order", all, tt.n-1)
			}
		})
	}
}

func TestPutPartialFailureRetriesOnlyFailed(t *testing.T) {
	// Call 1: entries 1 and 3 throttled; call 2: 3 fails again (InternalFailure); call 3: in.
	fails := []map[int]string{{1: throttled, 3: throttled}, {3: "InternalFailure"}, {}}
	f := &fake{respond: func(n int, _ context.Context, idx []int) (*kinesis.PutRecordsOutput, error) {
		return answer(idx, func(i int) string { return fails[n][i] }), nil
	}}
	s := &sleeps{}
	w := Writer{Client: f.client(), StreamName: "s", Sleep: s.sleep}
	res := w.Put(context.Background(), entries(5))
	if len(res.Failed) != 0 || res.Err != nil || res.Calls != 3 {
		t.Fatalf("got %+v, want no failures, nil error, 3 calls", res)
	}
	want := [][]int{{0, 1, 2, 3, 4}, {1, 3}, {3}}
	if got := f.sentIdx(); !reflect.DeepEqual(got, want) {
		t.Errorf("sent: got %v, want %v", got, want)
	}
	if len(s.got) != 2 {
		t.Errorf("sleeps: got %d, want 2", len(s.got))
	}
}

func TestPutPermanentThrottling(t *testing.T) {
	throttle := func(i int) string {
		if i == 0 || i == 2 || i == 5 {
			return throttled
		}
		return ""
	}
	t.Run("budget ends in sleep", func(t *testing.T) {
		f := &fake{respond: func(_ int, _ context.Context, idx []int) (*kinesis.PutRecordsOutput, error) {
			return answer(idx, throttle), nil
		}}
		s := &sleeps{budget: 4}
		w := Writer{Client: f.client(), StreamName: "s", Sleep: s.sleep}
		res := w.Put(context.Background(), entries(7))
		if want := []int{0, 2, 5}; !reflect.DeepEqual(res.Failed, want) {
			t.Errorf("failed: got %v, want %v", res.Failed, want)
		}
		if res.Calls != 4 {
			t.Errorf("calls: got %d, want 4", res.Calls)
		}
		if res.Err == nil || !errors.Is(res.Err, context.DeadlineExceeded) || !strings.Contains(res.Err.Error(), throttled) {
			t.Errorf("err: got %v, want the throttling error and the deadline", res.Err)
		}
		if want := [][]int{{0, 1, 2, 3, 4, 5, 6}, {0, 2, 5}, {0, 2, 5}, {0, 2, 5}}; !reflect.DeepEqual(f.sentIdx(), want) {
			t.Errorf("sent: got %v, want %v", f.sentIdx(), want)
		}
	})
	t.Run("real deadline and default sleep", func(t *testing.T) {
		f := &fake{respond: func(_ int, _ context.Context, idx []int) (*kinesis.PutRecordsOutput, error) {
			return answer(idx, throttle), nil
		}}
		w := Writer{Client: f.client(), StreamName: "s", BaseBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		res := w.Put(ctx, entries(7))
		if want := []int{0, 2, 5}; !reflect.DeepEqual(res.Failed, want) {
			t.Errorf("failed: got %v, want %v", res.Failed, want)
		}
		if res.Err == nil || !errors.Is(res.Err, context.DeadlineExceeded) {
			t.Errorf("err: got %v, want one wrapping context.DeadlineExceeded", res.Err)
		}
		if res.Calls < 1 || res.Calls != len(f.calls) {
			t.Errorf("calls: got %d, fake saw %d, want equal and > 0", res.Calls, len(f.calls))
		}
	})
}

func TestPutNotRetryable(t *testing.T) {
	opErr := func(err error) error {
		return &smithy.OperationError{ServiceID: "Kinesis", OperationName: "PutRecords", Err: err}
	}
	tests := []struct {
		name      string
		err       error
		wantCalls int
	}{
		{"resource not found", opErr(&smithy.GenericAPIError{Code: "ResourceNotFoundException", Message: "Stream s not found"}), 1},
		{"typed resource not found", opErr(&types.ResourceNotFoundException{Message: aws.String("no stream")}), 1},
		{"access denied", opErr(&types.AccessDeniedException{Message: aws.String("no")}), 1},
		{"validation", opErr(&smithy.GenericAPIError{Code: "ValidationException"}), 1},
		{"kms disabled", opErr(&types.KMSDisabledException{}), 1},
		// Retryable errors for contrast: the budget (3 sleeps) ends them.
		{"internal failure", opErr(&smithy.GenericAPIError{Code: "InternalFailure"}), 3},
		{"throttled call", opErr(&types.ProvisionedThroughputExceededException{}), 3},
		{"network", opErr(errors.New("dial tcp: connection refused")), 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fake{respond: func(int, context.Context, []int) (*kinesis.PutRecordsOutput, error) { return nil, tt.err }}
			s := &sleeps{budget: 3}
			w := Writer{Client: f.client(), StreamName: "s", Sleep: s.sleep}
			res := w.Put(context.Background(), entries(3))
			if res.Calls != tt.wantCalls || len(f.calls) != tt.wantCalls {
				t.Errorf("calls: got %d (fake saw %d), want %d", res.Calls, len(f.calls), tt.wantCalls)
			}
			if want := []int{0, 1, 2}; !reflect.DeepEqual(res.Failed, want) {
				t.Errorf("failed: got %v, want %v", res.Failed, want)
			}
			var ae smithy.APIError
			if wantAE := errors.As(tt.err, &ae); wantAE && !errors.As(res.Err, &ae) {
				t.Errorf("err: got %v, want it to wrap the API error", res.Err)
			}
		})
	}
}

func TestPutCallTimeout(t *testing.T) {
	hang := func(ctx context.Context) (*kinesis.PutRecordsOutput, error) {
		<-ctx.Done()
		return nil, &smithy.OperationError{ServiceID: "Kinesis", OperationName: "PutRecords", Err: ctx.Err()}
	}
	t.Run("hung call is cut and retried", func(t *testing.T) {
		f := &fake{respond: func(n int, ctx context.Context, idx []int) (*kinesis.PutRecordsOutput, error) {
			if n == 0 {
				return hang(ctx)
			}
			return allOK(idx), nil
		}}
		const timeout = 20 * time.Millisecond
		w := Writer{Client: f.client(), StreamName: "s", CallTimeout: timeout, Sleep: (&sleeps{}).sleep}
		before := time.Now()
		res := w.Put(context.Background(), entries(2))
		if len(res.Failed) != 0 || res.Err != nil || res.Calls != 2 {
			t.Fatalf("got %+v, want no failures, nil error, 2 calls", res)
		}
		if d := f.calls[0].deadline; d.IsZero() || d.After(before.Add(timeout+time.Second)) {
			// The bound is loose on purpose: it checks CallTimeout, not speed.
			t.Errorf("first call deadline: got %v, want within %v of the start", d, timeout)
		}
	})
	t.Run("caller deadline shorter than call timeout", func(t *testing.T) {
		f := &fake{respond: func(_ int, ctx context.Context, _ []int) (*kinesis.PutRecordsOutput, error) { return hang(ctx) }}
		w := Writer{Client: f.client(), StreamName: "s", CallTimeout: time.Hour}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		res := w.Put(ctx, entries(2))
		if res.Calls != 1 {
			t.Errorf("calls: got %d, want 1 (no retry after the caller's deadline)", res.Calls)
		}
		if want := []int{0, 1}; !reflect.DeepEqual(res.Failed, want) {
			t.Errorf("failed: got %v, want %v", res.Failed, want)
		}
		if !errors.Is(res.Err, context.DeadlineExceeded) {
			t.Errorf("err: got %v, want context.DeadlineExceeded", res.Err)
		}
	})
	t.Run("default call timeout", func(t *testing.T) {
		f := &fake{respond: func(_ int, _ context.Context, idx []int) (*kinesis.PutRecordsOutput, error) { return allOK(idx), nil }}
		w := Writer{Client: f.client(), StreamName: "s"}
		before := time.Now()
		w.Put(context.Background(), entries(1))
		if d := f.calls[0].deadline; d.Before(before.Add(2*time.Second)) || d.After(time.Now().Add(2*time.Second)) {
			t.Errorf("deadline: got %v after start, want 2s", d.Sub(before))
		}
	})
}

func TestPutBadResponses(t *testing.T) {
	tests := []struct {
		name       string
		first      func(idx []int) *kinesis.PutRecordsOutput
		wantCalls  int
		wantFailed []int
	}{
		{"too few records", func(idx []int) *kinesis.PutRecordsOutput { return allOK(idx[1:]) }, 2, nil},
		{"too many records", func(idx []int) *kinesis.PutRecordsOutput { return allOK(append(idx, 99)) }, 2, nil},
		{"nil output", func([]int) *kinesis.PutRecordsOutput { return nil }, 2, nil},
		{"count says failed, records say written", func(idx []int) *kinesis.PutRecordsOutput {
			out := allOK(idx)
			out.FailedRecordCount = aws.Int32(1)
			return out
		}, 1, nil},
		{"count says none, a record failed", func(idx []int) *kinesis.PutRecordsOutput {
			out := answer(idx, func(i int) string {
				if i == 1 {
					return "InternalFailure"
				}
				return ""
			})
			out.FailedRecordCount = nil
			return out
		}, 2, nil},
		{"record without sequence number", func(idx []int) *kinesis.PutRecordsOutput {
			out := allOK(idx)
			out.Records[2].SequenceNumber = nil
			out.FailedRecordCount = aws.Int32(0)
			return out
		}, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fake{respond: func(n int, _ context.Context, idx []int) (*kinesis.PutRecordsOutput, error) {
				if n == 0 {
					return tt.first(idx), nil
				}
				return allOK(idx), nil
			}}
			w := Writer{Client: f.client(), StreamName: "s", Sleep: (&sleeps{}).sleep}
			res := w.Put(context.Background(), entries(3))
			if res.Calls != tt.wantCalls || !reflect.DeepEqual(res.Failed, tt.wantFailed) || res.Err != nil {
				t.Errorf("got %+v, want %d calls, failed %v, nil error", res, tt.wantCalls, tt.wantFailed)
			}
		})
	}
	t.Run("always mismatched", func(t *testing.T) {
		f := &fake{respond: func(_ int, _ context.Context, idx []int) (*kinesis.PutRecordsOutput, error) {
			return allOK(idx[1:]), nil
		}}
		w := Writer{Client: f.client(), StreamName: "s", Sleep: (&sleeps{budget: 2}).sleep}
		res := w.Put(context.Background(), entries(3))
		if want := []int{0, 1, 2}; !reflect.DeepEqual(res.Failed, want) || res.Calls != 2 {
			t.Errorf("got %+v, want failed %v after 2 calls", res, want)
		}
		if res.Err == nil || !strings.Contains(res.Err.Error(), "does not match") {
			t.Errorf("err: got %v, want a mismatch error", res.Err)
		}
	})
}

func TestCeiling(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name      string
		base, max time.Duration
		want      []time.Duration // attempts 1, 2, ...
	}{
		{"defaults", 0, 0, []time.Duration{25 * ms, 50 * ms, 100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second}},
		{"custom", 10 * ms, 35 * ms, []time.Duration{10 * ms, 20 * ms, 35 * ms, 35 * ms}},
		{"base above max", 2 * time.Second, 0, []time.Duration{time.Second, time.Second}},
		{"equal", 5 * ms, 5 * ms, []time.Duration{5 * ms, 5 * ms, 5 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := Writer{BaseBackoff: tt.base, MaxBackoff: tt.max}
			var got []time.Duration
			for a := 1; a <= len(tt.want); a++ {
				got = append(got, w.ceiling(a))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("no overflow", func(t *testing.T) {
		w := Writer{BaseBackoff: 3, MaxBackoff: math.MaxInt64}
		prev := time.Duration(0)
		for a := 1; a < 200; a++ {
			c := w.ceiling(a)
			if c < prev || c <= 0 {
				t.Fatalf("attempt %d: got %v after %v, want a positive, non-decreasing ceiling", a, c, prev)
			}
			prev = c
		}
		if prev != math.MaxInt64 {
			t.Errorf("attempt 199: got %v, want the maximum %v", prev, time.Duration(math.MaxInt64))
		}
	})
}

func TestBackoffJitter(t *testing.T) {
	w := Writer{BaseBackoff: 8 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
	for a := 1; a <= 6; a++ {
		ceil := w.ceiling(a)
		for range 2000 {
			if d := w.backoff(a); d <= 0 || d > ceil {
				t.Fatalf("attempt %d: got %v, want in (0, %v]", a, d, ceil)
			}
		}
	}
}

func TestSleepHookGetsGrowingCeilings(t *testing.T) {
	ms := time.Millisecond
	f := &fake{respond: func(_ int, _ context.Context, idx []int) (*kinesis.PutRecordsOutput, error) {
		return answer(idx, func(int) string { return throttled }), nil
	}}
	s := &sleeps{budget: 7}
	w := Writer{Client: f.client(), StreamName: "s", BaseBackoff: 10 * ms, MaxBackoff: 100 * ms, Sleep: s.sleep,
		jitter: func(c time.Duration) time.Duration { return c }}
	res := w.Put(context.Background(), entries(2))
	want := []time.Duration{10 * ms, 20 * ms, 40 * ms, 80 * ms, 100 * ms, 100 * ms, 100 * ms}
	if !reflect.DeepEqual(s.got, want) {
		t.Errorf("sleeps: got %v, want %v", s.got, want)
	}
	if res.Calls != 7 || len(res.Failed) != 2 {
		t.Errorf("got %+v, want 7 calls and both entries failed", res)
	}
	// With the real jitter each sleep stays under its ceiling.
	s = &sleeps{budget: 7}
	w.jitter, w.Sleep = nil, s.sleep
	w.Put(context.Background(), entries(2))
	for i, d := range s.got {
		if d <= 0 || d > want[i] {
			t.Errorf("sleep %d: got %v, want in (0, %v]", i, d, want[i])
		}
	}
}

func TestPutMultipleBatches(t *testing.T) {
	validation := &smithy.OperationError{ServiceID: "Kinesis", OperationName: "PutRecords",
		Err: &smithy.GenericAPIError{Code: "ValidationException", Message: "bad batch"}}
	t.Run("one batch fails, the others succeed", func(t *testing.T) {
		f := &fake{respond: func(_ int, _ context.Context, idx []int) (*kinesis.PutRecordsOutput, error) {
			if idx[0] == 500 {
				return nil, validation
			}
			return allOK(idx), nil
		}}
		w := Writer{Client: f.client(), StreamName: "s", Sleep: (&sleeps{}).sleep}
		res := w.Put(context.Background(), entries(1200))
		if want := rangeInts(500, 1000); !reflect.DeepEqual(res.Failed, want) {
			t.Errorf("failed: got %d entries %v..., want 500..999", len(res.Failed), res.Failed[:min(3, len(res.Failed))])
		}
		if res.Calls != 3 {
			t.Errorf("calls: got %d, want 3", res.Calls)
		}
		if !errors.Is(res.Err, validation.Err) {
			t.Errorf("err: got %v, want the validation error", res.Err)
		}
	})
	t.Run("failures in two batches are merged in order", func(t *testing.T) {
		// Batch 1 (0-499) throttles 7 and 3; batch 3 (1000-1199) throttles 1100
		// and 1001; every retry is throttled until the 2 sleeps per batch run out.
		f := &fake{respond: func(_ int, _ context.Context, idx []int) (*kinesis.PutRecordsOutput, error) {
			return answer(idx, func(i int) string {
				if i == 7 || i == 3 || i == 1100 || i == 1001 {
					return throttled
				}
				return ""
			}), nil
		}}
		n := 0
		w := Writer{Client: f.client(), StreamName: "s", Sleep: func(context.Context, time.Duration) error {
			n++
			if n%2 == 0 {
				return errors.New("no more budget for this batch")
			}
			return nil
		}}
		res := w.Put(context.Background(), entries(1200))
		if want := []int{3, 7, 1001, 1100}; !reflect.DeepEqual(res.Failed, want) {
			t.Errorf("failed: got %v, want %v", res.Failed, want)
		}
		if res.Calls != 5 {
			t.Errorf("calls: got %d, want 5 (2 + 1 + 2)", res.Calls)
		}
	})
	t.Run("budget spent in the first batch", func(t *testing.T) {
		f := &fake{respond: func(_ int, _ context.Context, idx []int) (*kinesis.PutRecordsOutput, error) {
			return answer(idx, func(i int) string {
				if i == 3 || i == 7 {
					return throttled
				}
				return ""
			}), nil
		}}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s := &sleeps{budget: 1, cancel: cancel}
		w := Writer{Client: f.client(), StreamName: "s", Sleep: s.sleep}
		res := w.Put(ctx, entries(1200))
		if want := append([]int{3, 7}, rangeInts(500, 1200)...); !reflect.DeepEqual(res.Failed, want) {
			t.Errorf("failed: got %d entries, want %d (3, 7, 500..1199)", len(res.Failed), len(want))
		}
		// Only real calls count: the later batches were never sent.
		if res.Calls != 1 || len(f.calls) != 1 {
			t.Errorf("calls: got %d (fake saw %d), want 1", res.Calls, len(f.calls))
		}
		if !errors.Is(res.Err, context.Canceled) {
			t.Errorf("err: got %v, want context.Canceled", res.Err)
		}
	})
	t.Run("error is from the failed batch, not a recovered one", func(t *testing.T) {
		f := &fake{respond: func(n int, _ context.Context, idx []int) (*kinesis.PutRecordsOutput, error) {
			if idx[0] == 0 {
				return nil, validation
			}
			if n == 1 { // batch 2's first try: a transient failure
				return answer(idx, func(i int) string {
					if i == 600 {
						return "InternalFailure"
					}
					return ""
				}), nil
			}
			return allOK(idx), nil
		}}
		w := Writer{Client: f.client(), StreamName: "s", Sleep: (&sleeps{}).sleep}
		res := w.Put(context.Background(), entries(1000))
		if want := rangeInts(0, 500); !reflect.DeepEqual(res.Failed, want) {
			t.Errorf("failed: got %d entries, want 0..499", len(res.Failed))
		}
		if !errors.Is(res.Err, validation.Err) {
			t.Errorf("err: got %v, want the first batch's validation error", res.Err)
		}
	})
}

func TestPutBadPartitionKeys(t *testing.T) {
	es := entries(5)
	es[1].PartitionKey = ""
	es[3].PartitionKey = strings.Repeat("é", 257)
	es[4].PartitionKey = strings.Repeat("é", 256) // 512 bytes, 256 characters: fine
	f := &fake{respond: func(_ int, _ context.Context, idx []int) (*kinesis.PutRecordsOutput, error) { return allOK(idx), nil }}
	w := Writer{Client: f.client(), StreamName: "s"}
	res := w.Put(context.Background(), es)
	if want := []int{1, 3}; !reflect.DeepEqual(res.Failed, want) {
		t.Errorf("failed: got %v, want %v", res.Failed, want)
	}
	if want := [][]int{{0, 2, 4}}; !reflect.DeepEqual(f.sentIdx(), want) {
		t.Errorf("sent: got %v, want %v", f.sentIdx(), want)
	}
	if res.Err == nil || !strings.Contains(res.Err.Error(), "partition key") {
		t.Errorf("err: got %v, want a partition key error", res.Err)
	}
}

func TestPutCanceledBeforeStart(t *testing.T) {
	f := &fake{respond: func(_ int, _ context.Context, idx []int) (*kinesis.PutRecordsOutput, error) { return allOK(idx), nil }}
	w := Writer{Client: f.client(), StreamName: "s"}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := w.Put(ctx, entries(3))
	if res.Calls != 0 || len(f.calls) != 0 {
		t.Errorf("calls: got %d (fake saw %d), want 0", res.Calls, len(f.calls))
	}
	if want := []int{0, 1, 2}; !reflect.DeepEqual(res.Failed, want) || !errors.Is(res.Err, context.Canceled) {
		t.Errorf("got %+v, want failed %v and context.Canceled", res, want)
	}
}

func TestDefaultSleep(t *testing.T) {
	var w Writer
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	soon, cancel2 := context.WithTimeout(context.Background(), time.Hour)
	defer cancel2()
	tests := []struct {
		name string
		ctx  context.Context
		d    time.Duration
		want error
	}{
		{"short sleep", context.Background(), time.Microsecond, nil},
		{"canceled", canceled, time.Hour, context.Canceled},
		{"deadline before the wake-up", soon, 2 * time.Hour, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := w.sleep(tt.ctx, tt.d); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestRetryable(t *testing.T) {
	op := func(err error) error {
		return fmt.Errorf("put records: %w", &smithy.OperationError{ServiceID: "Kinesis", OperationName: "PutRecords", Err: err})
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"throttled", op(&types.ProvisionedThroughputExceededException{}), true},
		{"generic throttled", op(&smithy.GenericAPIError{Code: throttled}), true},
		{"internal failure", op(&smithy.GenericAPIError{Code: "InternalFailure"}), true},
		{"kms throttling", op(&types.KMSThrottlingException{}), true},
		{"timeout", op(context.DeadlineExceeded), true},
		{"plain error", errors.New("connection reset"), true},
		{"not found", op(&types.ResourceNotFoundException{}), false},
		{"generic not found", op(&smithy.GenericAPIError{Code: "ResourceNotFoundException"}), false},
		{"access denied", op(&smithy.GenericAPIError{Code: "AccessDeniedException"}), false},
		{"invalid argument", op(&types.InvalidArgumentException{}), false},
		{"validation", op(&smithy.GenericAPIError{Code: "ValidationException"}), false},
		{"kms not found", op(&types.KMSNotFoundException{}), false},
		{"kms opt in", op(&types.KMSOptInRequired{}), false},
		{"bad signature", op(&smithy.GenericAPIError{Code: "InvalidSignatureException"}), false},
		{"unknown key", op(&smithy.GenericAPIError{Code: "UnrecognizedClientException"}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Retryable(tt.err); got != tt.want {
				t.Errorf("Retryable(%v): got %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestLastErr(t *testing.T) {
	a, b := errors.New("a"), context.DeadlineExceeded
	got := lastErr(a, b)
	if !errors.Is(got, a) || !errors.Is(got, b) {
		t.Errorf("got %v, want it to wrap both", got)
	}
	if got := lastErr(nil, b); got != b {
		t.Errorf("got %v, want %v", got, b)
	}
}

// TestPutCountsThrottlingApart: Result tells throttling (a busy shard) from
// the failures that say Kinesis is not answering, so a caller can keep one
// hot partition key from looking like an outage.
func TestPutCountsThrottlingApart(t *testing.T) {
	opErr := func(err error) error {
		return &smithy.OperationError{ServiceID: "Kinesis", OperationName: "PutRecords", Err: err}
	}
	fail := func(err error) func(int, context.Context, []int) (*kinesis.PutRecordsOutput, error) {
		return func(int, context.Context, []int) (*kinesis.PutRecordsOutput, error) { return nil, err }
	}
	codes := func(code func(i int) string) func(int, context.Context, []int) (*kinesis.PutRecordsOutput, error) {
		return func(_ int, _ context.Context, idx []int) (*kinesis.PutRecordsOutput, error) {
			return answer(idx, code), nil
		}
	}
	firstThen := func(first, then func(int, context.Context, []int) (*kinesis.PutRecordsOutput, error)) func(int, context.Context, []int) (*kinesis.PutRecordsOutput, error) {
		return func(n int, ctx context.Context, idx []int) (*kinesis.PutRecordsOutput, error) {
			if n == 0 {
				return first(n, ctx, idx)
			}
			return then(n, ctx, idx)
		}
	}
	hang := func(_ int, ctx context.Context, _ []int) (*kinesis.PutRecordsOutput, error) {
		<-ctx.Done()
		return nil, opErr(ctx.Err())
	}
	ok := codes(func(int) string { return "" })
	tests := []struct {
		name          string
		respond       func(int, context.Context, []int) (*kinesis.PutRecordsOutput, error)
		deadline      time.Duration // 0: none; the fake's sleeps end the budget after 3
		wantFailed    int
		wantThrottled int
		wantFaults    int
	}{
		{"all written", ok, 0, 0, 0, 0},
		{"hot shard: every record throttled", codes(func(int) string { return throttled }), 0, 4, 12, 0},
		{"hot shard: some records throttled", codes(func(i int) string {
			if i%2 == 0 {
				return throttled
			}
			return ""
		}), 0, 2, 6, 0},
		{"whole call throttled", fail(opErr(&types.ProvisionedThroughputExceededException{})), 0, 4, 12, 0},
		{"throttled once, then written", firstThen(codes(func(int) string { return throttled }), ok), 0, 0, 4, 0},
		{"InternalFailure records", codes(func(i int) string {
			if i == 1 {
				return "InternalFailure"
			}
			return ""
		}), 0, 1, 0, 3},
		{"throttled and InternalFailure", codes(func(i int) string {
			return map[bool]string{true: throttled, false: "InternalFailure"}[i < 2]
		}), 0, 4, 6, 6},
		{"5xx call", fail(opErr(&smithy.GenericAPIError{Code: "InternalFailure"})), 0, 4, 0, 3},
		{"network", fail(opErr(errors.New("dial tcp: connection refused"))), 0, 4, 0, 3},
		{"access denied (not retried)", fail(opErr(&types.AccessDeniedException{})), 0, 4, 0, 1},
		{"KMS throttling is the whole stream's key", fail(opErr(&types.KMSThrottlingException{})), 0, 4, 0, 3},
		{"answer does not match", func(_ int, _ context.Context, idx []int) (*kinesis.PutRecordsOutput, error) {
			return allOK(idx[1:]), nil
		}, 0, 4, 0, 3},
		{"hung call cut by the caller's deadline", hang, 20 * time.Millisecond, 4, 0, 1},
		{"throttled, then the deadline cuts the retry", firstThen(codes(func(int) string { return throttled }), hang), 20 * time.Millisecond, 4, 4, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fake{respond: tt.respond}
			s := &sleeps{budget: 3}
			ctx := context.Background()
			if tt.deadline > 0 {
				s.budget = 0 // the deadline ends it
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			w := Writer{Client: f.client(), StreamName: "s", Sleep: s.sleep, CallTimeout: time.Hour}
			res := w.Put(ctx, entries(4))
			if len(res.Failed) != tt.wantFailed || res.Throttled != tt.wantThrottled || res.Faults != tt.wantFaults {
				t.Errorf("got %d failed, Throttled %d, Faults %d, want %d, %d, %d (calls %d, err %v)",
					len(res.Failed), res.Throttled, res.Faults, tt.wantFailed, tt.wantThrottled, tt.wantFaults, res.Calls, res.Err)
			}
		})
	}
}
