package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/twinstream/twinstream/lambdas/stream"
)

func TestBreaker(t *testing.T) {
	type step struct {
		advance   time.Duration
		wantAllow bool
		v         verdict // reported when allowed
	}
	tests := []struct {
		name  string
		after int
		steps []step
	}{
		{"stays closed while Kinesis answers", 3, []step{
			{0, true, down}, {0, true, down}, {0, true, answered}, {0, true, down}, {0, true, down}, {0, true, answered},
		}},
		{"opens after 3 failed requests, for the cooldown", 3, []step{
			{0, true, down}, {0, true, down}, {0, true, down},
			{0, false, down}, {4 * time.Second, false, down},
		}},
		{"unknown neither counts nor resets", 3, []step{
			{0, true, down}, {0, true, unknown}, {0, true, down}, {0, true, unknown}, {0, true, down},
			{0, false, down},
		}},
		{"after the cooldown one request tries; a failure reopens", 3, []step{
			{0, true, down}, {0, true, down}, {0, true, down},
			{5 * time.Second, true, down},
			{0, false, down}, {4 * time.Second, false, down},
			{time.Second, true, answered},
			{0, true, down}, {0, true, down},
		}},
		{"a probe that says nothing lets the next request probe", 3, []step{
			{0, true, down}, {0, true, down}, {0, true, down},
			{5 * time.Second, true, unknown},
			{0, true, answered},
			{0, true, down},
		}},
		{"disabled", 0, []step{
			{0, true, down}, {0, true, down}, {0, true, down}, {0, true, down},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0
			b := &breaker{after: tt.after, cooldown: 5 * time.Second, now: func() time.Time { return now }}
			for i, s := range tt.steps {
				now = now.Add(s.advance)
				got := b.allow()
				if got != s.wantAllow {
					t.Fatalf("step %d: allow got %v, want %v", i, got, s.wantAllow)
				}
				if got {
					b.done(s.v)
				}
			}
		})
	}
}

func TestBreakerOneProbeAtATime(t *testing.T) {
	now := t0
	b := &breaker{after: 1, cooldown: time.Second, now: func() time.Time { return now }}
	b.allow()
	b.done(down)
	now = now.Add(time.Second)
	if !b.allow() {
		t.Fatal("after the cooldown: got no probe, want one")
	}
	if b.allow() {
		t.Error("while a probe runs: got a second one, want the others to spill")
	}
	b.done(answered)
	if !b.allow() {
		t.Error("after a good probe: got closed=false, want Kinesis tried")
	}
}

func TestJudge(t *testing.T) {
	tests := []struct {
		name            string
		res             stream.Result
		entries, failed int
		want            verdict
	}{
		{"all written", stream.Result{Calls: 1}, 3, 0, answered},
		{"some written despite faults", stream.Result{Faults: 2, Calls: 2}, 3, 2, answered},
		{"all throttled", stream.Result{Throttled: 9, Calls: 3}, 3, 3, answered},
		{"all failed, a fault", stream.Result{Faults: 1, Calls: 1}, 3, 3, down},
		{"all failed, throttled and faults", stream.Result{Throttled: 3, Faults: 3, Calls: 2}, 3, 3, down},
		{"nothing known", stream.Result{}, 3, 3, unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := judge(tt.res, tt.entries, tt.failed); got != tt.want {
				t.Errorf("judge: got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestBreakerSpillsWithoutWaiting: with Kinesis failing, the fourth request
// no longer calls Kinesis and is still answered 202 from the spill bucket;
// after the cooldown Kinesis is tried again.
func TestBreakerSpillsWithoutWaiting(t *testing.T) {
	c := &clock{t: t0}
	k := &kinesisFake{fail: failAll}
	sp := &spillFake{}
	h := newHandler(t, testConfig(), k, sp, nil, c.Now)
	send := func() reply {
		t.Helper()
		res := serve(t, h, post("application/json", bearerKey, jsonRecords(2)))
		if res.status != http.StatusAccepted {
			t.Fatalf("status: got %d, want 202: %s", res.status, res.raw)
		}
		return res.body
	}
	for i := range 4 {
		r := send()
		if *r.Spilled != 2 {
			t.Fatalf("request %d: got %d spilled, want 2", i, *r.Spilled)
		}
	}
	if k.calls != 3 {
		t.Errorf("Kinesis calls for 4 requests: got %d, want 3 (the 4th spills at once)", k.calls)
	}
	c.Add(DefaultBreakerCooldown)
	k.fail = nil
	if r := send(); *r.Spilled != 0 || k.calls != 4 {
		t.Errorf("after the cooldown: got %d spilled, %d calls, want 0 and 4", *r.Spilled, k.calls)
	}
}

// kinesisAPI is a PutRecords fake for the real stream.Writer: respond gives
// each call's answer; it counts calls.
type kinesisAPI struct {
	mu      sync.Mutex
	calls   int
	respond func(ctx context.Context, n int) (*kinesis.PutRecordsOutput, error)
}

func (k *kinesisAPI) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	k.mu.Lock()
	k.calls++
	k.mu.Unlock()
	return k.respond(ctx, len(in.Records))
}

func (k *kinesisAPI) count() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.calls
}

// recordCodes answers every record of a call with code ("" for written).
func recordCodes(code string) func(context.Context, int) (*kinesis.PutRecordsOutput, error) {
	return func(_ context.Context, n int) (*kinesis.PutRecordsOutput, error) {
		out := &kinesis.PutRecordsOutput{FailedRecordCount: aws.Int32(0)}
		for i := range n {
			if code == "" {
				out.Records = append(out.Records, types.PutRecordsResultEntry{SequenceNumber: aws.String(fmt.Sprint(i)), ShardId: aws.String("shardId-000000000000")})
				continue
			}
			out.Records = append(out.Records, types.PutRecordsResultEntry{ErrorCode: aws.String(code), ErrorMessage: aws.String("fake " + code)})
			*out.FailedRecordCount++
		}
		return out, nil
	}
}

func callError(err error) func(context.Context, int) (*kinesis.PutRecordsOutput, error) {
	return func(context.Context, int) (*kinesis.PutRecordsOutput, error) {
		return nil, &smithy.OperationError{ServiceID: "Kinesis", OperationName: "PutRecords", Err: err}
	}
}

// writerHandler serves with the real stream.Writer over api. Its retries
// end on every third sleep (as a spent budget would), without sleeping:
// 3 calls per request.
func writerHandler(t *testing.T, api stream.PutRecordsAPI, sp *spillFake, now func() time.Time) *Handler {
	var mu sync.Mutex
	sleeps := 0
	w := &stream.Writer{Client: api, StreamName: "s", CallTimeout: 5 * time.Millisecond, Sleep: func(context.Context, time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		if sleeps++; sleeps%3 == 0 {
			return fmt.Errorf("retry budget spent: %w", context.DeadlineExceeded)
		}
		return nil
	}}
	return newHandler(t, testConfig(), w, sp, nil, now)
}

// TestBreakerIgnoresHotShard: requests whose records were all throttled
// (one hot shard) keep trying Kinesis; the breaker opens only on
// call-level failures.
func TestBreakerIgnoresHotShard(t *testing.T) {
	hang := func(ctx context.Context, _ int) (*kinesis.PutRecordsOutput, error) {
		<-ctx.Done()
		return nil, &smithy.OperationError{ServiceID: "Kinesis", OperationName: "PutRecords", Err: ctx.Err()}
	}
	tests := []struct {
		name     string
		respond  func(context.Context, int) (*kinesis.PutRecordsOutput, error)
		wantOpen bool
	}{
		{"every record throttled (hot shard)", recordCodes(stream.ThrottledCode), false},
		{"whole calls throttled", callError(&types.ProvisionedThroughputExceededException{Message: aws.String("Rate exceeded")}), false},
		{"every record InternalFailure", recordCodes("InternalFailure"), true},
		{"calls time out", hang, true},
		{"5xx", callError(&smithy.GenericAPIError{Code: "InternalFailure", Message: "oops"}), true},
		{"network", callError(errors.New("dial tcp 127.0.0.1:1: connection refused")), true},
		{"access denied", callError(&types.AccessDeniedException{Message: aws.String("no")}), true},
		{"KMS key disabled", callError(&types.KMSDisabledException{Message: aws.String("disabled")}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &kinesisAPI{respond: tt.respond}
			sp := &spillFake{}
			h := writerHandler(t, api, sp, func() time.Time { return t0 })
			var before int
			for i := range DefaultBreakerAfter + 2 {
				before = api.count()
				r := serve(t, h, post("application/json", bearerKey, jsonRecords(3)))
				if r.status != http.StatusAccepted || *r.body.Spilled != 3 {
					t.Fatalf("request %d: got %d %s, want 202 with 3 spilled", i, r.status, r.raw)
				}
			}
			called := api.count() > before
			if tt.wantOpen == called {
				t.Errorf("request %d: called Kinesis %v, want %v (breaker open: %v)", DefaultBreakerAfter+2, called, !tt.wantOpen, tt.wantOpen)
			}
		})
	}
}

// TestBreakerThrottlingCloses: an answer that is throttling only ends a
// run of failures, and a throttled probe closes the breaker.
func TestBreakerThrottlingCloses(t *testing.T) {
	c := &clock{t: t0}
	k := &kinesisFake{fail: failAll}
	h := newHandler(t, testConfig(), k, &spillFake{}, nil, c.Now)
	send := func() {
		t.Helper()
		if r := serve(t, h, post("application/json", bearerKey, jsonRecords(1))); r.status != http.StatusAccepted {
			t.Fatalf("status %d, want 202: %s", r.status, r.raw)
		}
	}
	send()
	send()
	k.throttle = true
	send() // ends the run: two faults, then an answer
	k.throttle = false
	send()
	send()
	if send(); k.calls != 6 {
		t.Fatalf("kinesis calls %d, want 6 (a throttled answer resets the count)", k.calls)
	}
	send()
	if k.calls != 6 {
		t.Fatalf("kinesis calls %d, want 6 (open after 3 faults in a row)", k.calls)
	}
	c.Add(DefaultBreakerCooldown)
	k.throttle = true
	send() // the probe, throttled
	k.throttle = false
	k.fail = nil
	send()
	if k.calls != 8 {
		t.Errorf("kinesis calls %d, want 8 (a throttled probe closes the breaker)", k.calls)
	}
}

// TestBreakerProbePanics: a panic inside the probing request's Kinesis
// call answers 500 and does not leave the breaker probing for ever.
func TestBreakerProbePanics(t *testing.T) {
	c := &clock{t: t0}
	k := &kinesisFake{fail: failAll}
	var panicNext bool
	put := PutFunc(func(ctx context.Context, entries []stream.Entry) stream.Result {
		if panicNext {
			panicNext = false
			panic("boom")
		}
		return k.Put(ctx, entries)
	})
	sp := &spillFake{}
	h := newHandler(t, testConfig(), put, sp, nil, c.Now)
	for range DefaultBreakerAfter {
		serve(t, h, post("application/json", bearerKey, jsonRecords(1)))
	}
	c.Add(DefaultBreakerCooldown)
	panicNext = true
	if r := serve(t, h, post("application/json", bearerKey, jsonRecords(1))); r.status != http.StatusInternalServerError {
		t.Fatalf("probe that panics: status %d, want 500: %s", r.status, r.raw)
	}
	k.fail = nil
	r := serve(t, h, post("application/json", bearerKey, jsonRecords(1)))
	if r.status != http.StatusAccepted || *r.body.Spilled != 0 || k.calls != DefaultBreakerAfter+1 {
		t.Errorf("after the panic: got %d %s with %d kinesis calls, want 202, 0 spilled, %d calls (the next request probes)",
			r.status, r.raw, k.calls, DefaultBreakerAfter+1)
	}
}
