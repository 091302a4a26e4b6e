package processor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/twinstream/twinstream/lambdas/metrics"
)

// clock is a fake clock: the slow S3 below moves it instead of sleeping, so
// these tests do not depend on the machine's speed.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// slowS3 is the store answering each PutObject after took on clk, or failing
// with the context's error after the call's timeout if that is shorter. It
// records each call's start and end on clk, to check them against the
// invocation's deadline.
type slowS3 struct {
	*store
	clk   *clock
	took  time.Duration
	spans [][2]time.Time
}

func (s *slowS3) api() PutObjectFunc {
	put := s.store.api()
	return func(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
		start := s.clk.Now()
		// The call's own deadline, on the fake clock (Run makes it from
		// the processor's clock): real time, which a loaded machine can
		// stall between the deadline's making and the call, plays no part.
		d := s.took
		if dl, ok := ctx.Deadline(); ok && dl.Sub(start) < d {
			d = max(dl.Sub(start), 0)
			s.clk.advance(d)
			s.spans = append(s.spans, [2]time.Time{start, s.clk.Now()})
			return nil, context.DeadlineExceeded
		}
		s.clk.advance(d)
		s.spans = append(s.spans, [2]time.Time{start, s.clk.Now()})
		return put(ctx, in, opts...)
	}
}

// hours is a batch of n records, each in its own hour: n objects.
func hours(n int) []Record {
	items := make([]any, n)
	for i := range items {
		items[i] = env(fmt.Sprint("r", i), h10.Add(time.Duration(i)*time.Hour))
	}
	return recsOf(items...)
}

// invoke runs p on recs as an invocation with the function timeout fn would:
// its context's deadline is fn after clk's time.
func invoke(p *Processor, clk *clock, fn time.Duration, recs []Record) (Result, error) {
	ctx, cancel := context.WithDeadline(context.Background(), clk.Now().Add(fn))
	defer cancel()
	return p.Run(ctx, recs)
}

func TestRunDeadline(t *testing.T) {
	tests := []struct {
		name     string
		fn, took time.Duration // function timeout, time of one put
		puts     int           // objects written, of 3
		budget   time.Duration // the first put's timeout
	}{
		{name: "room for all", fn: 2 * time.Minute, took: 8 * time.Second, puts: 3, budget: 10 * time.Second},
		{name: "room for two: the third is not started", fn: 25 * time.Second, took: 8 * time.Second, puts: 2, budget: 10 * time.Second},
		{name: "first put ends before the deadline, the next would not", fn: 12 * time.Second, took: 1500 * time.Millisecond, puts: 1, budget: 10 * time.Second},
		{name: "function timeout under S3 timeout: the first put gets what is left", fn: 5 * time.Second, took: time.Second, puts: 1, budget: 4 * time.Second},
		{name: "first put too slow for what is left: it times out before the deadline", fn: 5 * time.Second, took: 8 * time.Second, puts: 0, budget: 4 * time.Second},
		{name: "deadline within the margin: nothing started", fn: 900 * time.Millisecond, took: time.Millisecond, puts: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &clock{t: time.Now()}
			deadline := clk.Now().Add(tt.fn)
			s := &slowS3{store: &store{}, clk: clk, took: tt.took}
			p := &Processor{Client: s.api(), Region: "us-east-1", Bucket: "sink", Timeout: 10 * time.Second, Margin: time.Second, now: clk.Now}
			recs := hours(3)
			res, err := invoke(p, clk, tt.fn, recs)
			if len(res.Keys) != tt.puts {
				t.Errorf("got %d objects written, want %d", len(res.Keys), tt.puts)
			}
			if tt.puts == 3 {
				if err != nil {
					t.Fatalf("got error %v, want nil", err)
				}
			} else {
				if err == nil {
					t.Fatal("got nil error, want one")
				}
				if want := seqs(recs[tt.puts:]); !reflect.DeepEqual(res.Failed, want) {
					t.Errorf("got failed %q, want %q", res.Failed, want)
				}
				// Not started (ErrDeadline), or the one put started timed out.
				if started := len(s.spans) > tt.puts; started == errors.Is(err, ErrDeadline) {
					t.Errorf("got error %v after %d calls, want ErrDeadline only for a put not started", err, len(s.spans))
				}
			}
			for i, sp := range s.spans {
				if sp[1].After(deadline.Add(-p.Margin)) {
					t.Errorf("put %d: ended %v before the deadline, want at least the margin %v", i+1, deadline.Sub(sp[1]), p.Margin)
				}
			}
			if len(s.spans) > 0 {
				if got := s.spans[0][1].Sub(s.spans[0][0]); tt.took > tt.budget && (got > tt.budget || got < tt.budget-100*time.Millisecond) {
					t.Errorf("first put: got timeout %v, want %v", got, tt.budget)
				}
			}
		})
	}
}

// TestRunDeadlineProgress runs the mapping's retries with a slow S3: every
// invocation writes at least one object and reports the rest, so the shard
// moves on, down to function timeouts shorter than S3_TIMEOUT; no put ever
// runs into the deadline.
func TestRunDeadlineProgress(t *testing.T) {
	tests := []struct {
		fn, took time.Duration
	}{
		{2 * time.Minute, 9 * time.Second},
		{2 * time.Minute, 500 * time.Millisecond},
		{11 * time.Second, 3 * time.Second},
		{3 * time.Second, time.Second},
		{1100 * time.Millisecond, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.fn, "/", tt.took), func(t *testing.T) {
			clk := &clock{t: time.Now()}
			s := &slowS3{store: &store{}, clk: clk, took: tt.took}
			p := &Processor{Client: s.api(), Region: "us-east-1", Bucket: "sink", Timeout: 10 * time.Second, Margin: time.Second, now: clk.Now}
			recs := hours(30)
			start := 0
			for n := 1; ; n++ {
				deadline := clk.Now().Add(tt.fn)
				res, err := invoke(p, clk, tt.fn, recs[start:])
				for _, sp := range s.spans {
					if sp[1].After(deadline.Add(-p.Margin)) {
						t.Fatalf("invocation %d: a put ended %v before the deadline, want at least %v", n, deadline.Sub(sp[1]), p.Margin)
					}
				}
				s.spans = nil
				if err == nil {
					break
				}
				if !errors.Is(err, ErrDeadline) || len(res.Keys) == 0 {
					t.Fatalf("invocation %d: got %d objects written, %v, want progress and ErrDeadline", n, len(res.Keys), err)
				}
				start += failedFrom(t, recs[start:], res.Failed)
				clk.advance(time.Second) // the mapping's next invocation
			}
			checkStored(t, recs, len(recs), s.store)
		})
	}
}

// TestRunSlowS3NearDeadline runs on the real clock: S3 hangs, and Run still
// returns before its context's deadline, reporting every record.
func TestRunSlowS3NearDeadline(t *testing.T) {
	hang := PutObjectFunc(func(ctx context.Context, _ *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	p := &Processor{Client: hang, Region: "us-east-1", Bucket: "sink", Margin: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	recs := recsOf(env("a", h10), env("b", h11))
	res, err := p.Run(ctx, recs)
	if ctx.Err() != nil {
		t.Errorf("Run returned after the deadline, want before (a Lambda timeout)")
	}
	if !errors.Is(err, context.DeadlineExceeded) || !reflect.DeepEqual(res.Failed, seqs(recs)) {
		t.Errorf("got %q, %v, want all failed with the put's deadline", res.Failed, err)
	}
}

// TestRunPutTimes: Run times every PutObject it makes, the failed one too,
// and the batch's metrics say so (one value per put).
func TestRunPutTimes(t *testing.T) {
	clk := &clock{t: time.Now()}
	s := &slowS3{store: &store{fail: func(n int, _ string) error {
		if n == 3 {
			return errors.New("s3 down")
		}
		return nil
	}}, clk: clk, took: 250 * time.Millisecond}
	p := &Processor{Client: s.api(), Region: "us-east-1", Bucket: "sink", now: clk.Now}
	recs := append(hours(3), recsOf("not an envelope", canary("c", h10))...)
	res, err := invoke(p, clk, time.Minute, recs)
	if err == nil {
		t.Fatal("got nil error, want the third put's")
	}
	want := []time.Duration{250 * time.Millisecond, 250 * time.Millisecond, 250 * time.Millisecond}
	if !reflect.DeepEqual(res.PutTimes, want) || res.PutFailures != 1 {
		t.Errorf("got put times %v, %d failures, want %v, 1", res.PutTimes, res.PutFailures, want)
	}
	e, err := metrics.New("ns")
	if err != nil {
		t.Fatal(err)
	}
	l := e.Line()
	res.Metrics(&l)
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).LogAttrs(context.Background(), slog.LevelError, "batch", l.Attrs(clk.Now())...)
	data, err := metrics.Extract(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]float64{}
	for _, d := range data {
		if m, ok := metrics.Named(d.Name); !ok || m.Handler != metrics.Processor || m.Unit != d.Unit || len(d.Dimensions) != 0 {
			t.Errorf("%s (%s, %v): not one of the processor's metrics", d.Name, d.Unit, d.Dimensions)
		}
		got[d.Name] = d.Values
	}
	// Records: 3 hours then a bad one and a canary; the third put (hour 3)
	// fails, so its record and the two after it are reported.
	wantVals := map[string][]float64{"BatchRecords": {5}, "WrittenRecords": {2}, "QuarantinedRecords": {0}, "DuplicateRecords": {0},
		"ConflictRecords": {0}, "CanaryRecords": {1}, "FailedRecords": {3}, "SinkObjects": {2}, "S3PutFailures": {1},
		"S3PutLatency": {250, 250, 250}}
	if !reflect.DeepEqual(got, wantVals) {
		t.Errorf("got %v\nwant %v", got, wantVals)
	}
	for _, m := range metrics.All() {
		if _, ok := got[m.Name]; m.Handler == metrics.Processor && !ok {
			t.Errorf("%s: in the catalogue as processor's, never written", m.Name)
		}
	}
}
