package drill

import (
	"context"
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/twinstream/twinstream/e2e/internal/standin"
	"github.com/twinstream/twinstream/lambdas/replay/replay"
)

const esmRegion = "us-east-1"

// esmTestLog discards the pollers' logs unless -v.
func esmTestLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// waitFor polls cond until it holds or ctx ends (then the test fails).
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if !sleep(ctx, 20*time.Millisecond) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// kinesisFn is a fake processor: it keeps every event and answers with
// respond (nil: success).
type kinesisFn struct {
	mu      sync.Mutex
	calls   [][]events.KinesisEventRecord
	raw     [][]byte
	stopped atomic.Bool // set when Run has returned: later calls are leaks
	t       *testing.T
	respond func(call int, recs []events.KinesisEventRecord) ([]byte, error)
}

func (f *kinesisFn) Invoke(ctx context.Context, event []byte) ([]byte, error) {
	if f.stopped.Load() {
		f.t.Errorf("invocation after Run returned")
	}
	var ev events.KinesisEvent
	if err := json.Unmarshal(event, &ev); err != nil {
		f.t.Errorf("event: %v", err)
		return nil, err
	}
	f.mu.Lock()
	n := len(f.calls)
	f.calls = append(f.calls, ev.Records)
	f.raw = append(f.raw, event)
	f.mu.Unlock()
	if f.respond == nil {
		return []byte(`{"batchItemFailures":[]}`), nil
	}
	return f.respond(n, ev.Records)
}

// processed returns the records of calls that succeeded as a whole or in
// part, as the data strings in order of delivery, with how often each came.
func (f *kinesisFn) delivered() (order []string, count map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	count = map[string]int{}
	for _, c := range f.calls {
		for _, r := range c {
			order = append(order, string(r.Kinesis.Data))
			count[string(r.Kinesis.Data)]++
		}
	}
	return order, count
}

func (f *kinesisFn) snapshot() [][]events.KinesisEventRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// putRecords writes records with data prefix-000.. and spread partition keys.
func putRecords(t *testing.T, ctx context.Context, c *kinesis.Client, stream, prefix string, from, n int) []string {
	t.Helper()
	var in []ktypes.PutRecordsRequestEntry
	var data []string
	for i := from; i < from+n; i++ {
		d := fmt.Sprintf("%s-%03d", prefix, i)
		data = append(data, d)
		in = append(in, ktypes.PutRecordsRequestEntry{Data: []byte(d), PartitionKey: aws.String(fmt.Sprintf("pk-%d", i))})
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := c.PutRecords(cctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: in})
	if err != nil {
		t.Fatalf("put records: %v", err)
	}
	if aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("put records: %d failed", aws.ToInt32(out.FailedRecordCount))
	}
	return data
}

// runPoller runs p until the returned stop is called; stop waits for Run to
// return (failing the test if it does not within 10s).
func runPoller(t *testing.T, run func(context.Context) error, fn *kinesisFn) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: got %v, want nil", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("Run did not return within 10s of its context ending")
			}
			if fn != nil {
				fn.stopped.Store(true)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// seqLess orders Kinesis sequence numbers (decimal strings).
func seqLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// jsonKeys returns the object's keys, recursively as "a.b", for objects.
func jsonKeys(t *testing.T, raw json.RawMessage, prefix string, out map[string]bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return
	}
	for k, v := range m {
		out[prefix+k] = true
		jsonKeys(t, v, prefix+k+".", out)
	}
}

func firstRecordKeys(t *testing.T, event []byte) []string {
	t.Helper()
	var ev struct {
		Records []json.RawMessage `json:"Records"`
	}
	if err := json.Unmarshal(event, &ev); err != nil || len(ev.Records) == 0 {
		t.Fatalf("event %s: want Records (%v)", event, err)
	}
	keys := map[string]bool{}
	jsonKeys(t, ev.Records[0], "", keys)
	var out []string
	for k := range keys {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestKinesisPollerDelivers(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	kin := standin.StartKinesis(t, standin.KinesisOptions{Region: esmRegion, InMemory: true})
	const stream = "deliver"
	if err := kin.CreateStream(ctx, stream, 2); err != nil {
		t.Fatal(err)
	}
	arn, err := kin.StreamARN(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	client := kin.Client()
	putRecords(t, ctx, client, stream, "a", 0, 25)

	fn := &kinesisFn{t: t}
	p := &KinesisPoller{Client: client, Stream: stream, StreamARN: arn, Region: esmRegion, Fn: fn, Log: esmTestLog(),
		Spec:         KinesisESM{BatchSize: 7, MaxBatchingWindow: 300 * time.Millisecond, ReportBatchItemFailures: true, MaxRetryAttempts: -1, StartingPosition: "TRIM_HORIZON"},
		PollInterval: 50 * time.Millisecond}
	stop := runPoller(t, p.Run, fn)
	// Some records arrive while the poller runs.
	waitFor(t, ctx, "the first batch", func() bool { return p.Stats().Batches > 0 })
	putRecords(t, ctx, client, stream, "a", 25, 15)
	waitFor(t, ctx, "40 records", func() bool { return p.Stats().Records >= 40 })
	stop()

	want, err := kin.ReadAll(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	calls := fn.snapshot()
	type key struct{ shard, seq string }
	got := map[key]events.KinesisEventRecord{}
	last := map[string]string{} // shard -> last sequence number delivered
	for i, c := range calls {
		if len(c) == 0 || len(c) > 7 {
			t.Errorf("call %d: got %d records, want 1 to 7 (BatchSize)", i, len(c))
		}
		for _, r := range c {
			shard, seq, _ := strings.Cut(r.EventID, ":")
			if seq != r.Kinesis.SequenceNumber {
				t.Errorf("eventID %s: want <shardId>:%s", r.EventID, r.Kinesis.SequenceNumber)
			}
			if _, dup := got[key{shard, seq}]; dup {
				t.Errorf("record %s delivered twice", r.EventID)
			}
			if l := last[shard]; l != "" && !seqLess(l, seq) {
				t.Errorf("shard %s: got %s after %s, want ascending sequence numbers", shard, seq, l)
			}
			last[shard] = seq
			got[key{shard, seq}] = r
		}
	}
	if len(got) != len(want) || len(want) != 40 {
		t.Fatalf("delivered %d records, want all %d of the stream (40)", len(got), len(want))
	}
	for _, w := range want {
		r, ok := got[key{w.ShardID, w.SequenceNumber}]
		if !ok {
			t.Errorf("record %s:%s not delivered", w.ShardID, w.SequenceNumber)
			continue
		}
		// Lambda's timestamp is a float of seconds: exact to about a microsecond.
		skew := r.Kinesis.ApproximateArrivalTimestamp.Sub(w.Arrival.Truncate(time.Millisecond)).Abs()
		if string(r.Kinesis.Data) != string(w.Data) || r.Kinesis.PartitionKey != w.PartitionKey || skew > time.Microsecond {
			t.Errorf("record %s: got data %q key %s arrival %v, want %q %s %v", r.EventID, r.Kinesis.Data, r.Kinesis.PartitionKey,
				r.Kinesis.ApproximateArrivalTimestamp.Time, w.Data, w.PartitionKey, w.Arrival)
		}
		if r.EventSource != "aws:kinesis" || r.EventName != "aws:kinesis:record" || r.EventVersion != "1.0" ||
			r.EventSourceArn != arn || r.AwsRegion != esmRegion || r.Kinesis.KinesisSchemaVersion != "1.0" ||
			!strings.HasPrefix(r.InvokeIdentityArn, "arn:aws:iam::") {
			t.Errorf("record %s: got %+v, want Lambda's constant fields", r.EventID, r)
		}
	}
	// The same fields as an event Lambda sent (the processor's fixture).
	fixture, err := os.ReadFile("../../lambdas/processor/testdata/kinesis-event.json")
	if err != nil {
		t.Fatal(err)
	}
	if g, w := firstRecordKeys(t, fn.raw[0]), firstRecordKeys(t, fixture); !slices.Equal(g, w) {
		t.Errorf("event record fields:\ngot  %v\nwant %v", g, w)
	}
	st := p.Stats()
	if st.Records != 40 || st.Failures != 0 || st.Invocations != len(calls) || st.Batches != len(calls) {
		t.Errorf("stats: got %+v, want 40 records, no failures, %d invocations and batches", st, len(calls))
	}
}

func TestKinesisPollerRetries(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	kin := standin.StartKinesis(t, standin.KinesisOptions{Region: esmRegion, InMemory: true})
	fail := func(recs []events.KinesisEventRecord, idx ...int) ([]byte, error) {
		var resp events.KinesisEventResponse
		for _, i := range idx {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: recs[i].Kinesis.SequenceNumber})
		}
		return json.Marshal(resp)
	}
	tests := []struct {
		name    string
		spec    KinesisESM
		respond func(call int, recs []events.KinesisEventRecord) ([]byte, error)
		// want are the data of each call's records, first calls only: "a-000".."a-009" written as 0..9.
		want          [][]int
		wantDiscarded int
	}{
		{
			name: "item failures: again from the lowest failed sequence number",
			spec: KinesisESM{BatchSize: 4, ReportBatchItemFailures: true, MaxRetryAttempts: -1},
			respond: func(call int, recs []events.KinesisEventRecord) ([]byte, error) {
				if call == 0 {
					return fail(recs, 3, 2) // the lowest counts
				}
				return fail(recs)
			},
			want: [][]int{{0, 1, 2, 3}, {2, 3, 4, 5}, {6, 7, 8, 9}},
		},
		{
			name: "item failure on the first record",
			spec: KinesisESM{BatchSize: 4, ReportBatchItemFailures: true, MaxRetryAttempts: -1},
			respond: func(call int, recs []events.KinesisEventRecord) ([]byte, error) {
				if call == 0 {
					return fail(recs, 0)
				}
				return fail(recs)
			},
			want: [][]int{{0, 1, 2, 3}, {0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9}},
		},
		{
			name: "unknown item identifier fails the whole batch",
			spec: KinesisESM{BatchSize: 4, ReportBatchItemFailures: true, MaxRetryAttempts: -1},
			respond: func(call int, recs []events.KinesisEventRecord) ([]byte, error) {
				if call == 0 {
					return []byte(`{"batchItemFailures":[{"itemIdentifier":""}]}`), nil
				}
				return fail(recs)
			},
			want: [][]int{{0, 1, 2, 3}, {0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9}},
		},
		{
			name: "item failures ignored without ReportBatchItemFailures",
			spec: KinesisESM{BatchSize: 4, MaxRetryAttempts: -1},
			respond: func(call int, recs []events.KinesisEventRecord) ([]byte, error) {
				return fail(recs, 0)
			},
			want: [][]int{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9}},
		},
		{
			name: "invocation error retries the same batch",
			spec: KinesisESM{BatchSize: 4, ReportBatchItemFailures: true, MaxRetryAttempts: -1},
			respond: func(call int, recs []events.KinesisEventRecord) ([]byte, error) {
				if call < 2 {
					return nil, errors.New("function error")
				}
				return fail(recs)
			},
			want: [][]int{{0, 1, 2, 3}, {0, 1, 2, 3}, {0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9}},
		},
		{
			name: "bisect on error",
			spec: KinesisESM{BatchSize: 4, BisectOnError: true, ReportBatchItemFailures: true, MaxRetryAttempts: -1},
			respond: func(call int, recs []events.KinesisEventRecord) ([]byte, error) {
				if call < 2 {
					return nil, errors.New("function error")
				}
				return fail(recs)
			},
			want: [][]int{{0, 1, 2, 3}, {0, 1}, {0}, {1, 2, 3, 4}, {5, 6, 7, 8}, {9}},
		},
		{
			name: "discarded after MaxRetryAttempts",
			spec: KinesisESM{BatchSize: 4, ReportBatchItemFailures: true, MaxRetryAttempts: 1},
			respond: func(call int, recs []events.KinesisEventRecord) ([]byte, error) {
				if string(recs[0].Kinesis.Data) == "a-000" {
					return nil, errors.New("poison")
				}
				return fail(recs)
			},
			want:          [][]int{{0, 1, 2, 3}, {0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9}},
			wantDiscarded: 4,
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream := fmt.Sprintf("retry-%d", i)
			if err := kin.CreateStream(ctx, stream, 1); err != nil {
				t.Fatal(err)
			}
			client := kin.Client()
			putRecords(t, ctx, client, stream, "a", 0, 10)
			fn := &kinesisFn{t: t, respond: tt.respond}
			p := &KinesisPoller{Client: client, Stream: stream, StreamARN: "arn:aws:kinesis:us-east-1:123456789012:stream/" + stream,
				Region: esmRegion, Fn: fn, Log: esmTestLog(), Spec: tt.spec, PollInterval: 20 * time.Millisecond}
			stop := runPoller(t, p.Run, fn)
			waitFor(t, ctx, "all calls", func() bool {
				order, _ := fn.delivered()
				return slices.Contains(order, "a-009") && len(fn.snapshot()) >= len(tt.want)
			})
			stop()
			calls := fn.snapshot()
			var got [][]int
			for _, c := range calls {
				var ns []int
				for _, r := range c {
					var n int
					fmt.Sscanf(string(r.Kinesis.Data), "a-%d", &n)
					ns = append(ns, n)
				}
				got = append(got, ns)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("calls: got %v, want %v", got, tt.want)
			}
			if st := p.Stats(); st.Discarded != tt.wantDiscarded || st.Records+st.Discarded != 10 {
				t.Errorf("stats: got %+v, want %d discarded and 10 records in all", st, tt.wantDiscarded)
			}
		})
	}
}

// TestKinesisPollerOutage kills or hangs kinesalite under a running poller:
// it must resume after its checkpoint and deliver every record exactly once.
func TestKinesisPollerOutage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		fail, again func(ctx context.Context, k *standin.Kinesis) error
	}{
		{"killed and restarted with its data",
			func(ctx context.Context, k *standin.Kinesis) error { return k.Kill() },
			func(ctx context.Context, k *standin.Kinesis) error { return k.Restart(ctx) }},
		{"hung and resumed",
			func(ctx context.Context, k *standin.Kinesis) error { return k.Hang() },
			func(ctx context.Context, k *standin.Kinesis) error { return k.Resume() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			kin := standin.StartKinesis(t, standin.KinesisOptions{Region: esmRegion})
			const stream = "outage"
			if err := kin.CreateStream(ctx, stream, 2); err != nil {
				t.Fatal(err)
			}
			client := kin.Client(func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })
			putRecords(t, ctx, client, stream, "a", 0, 20)
			fn := &kinesisFn{t: t}
			p := &KinesisPoller{Client: client, Stream: stream, StreamARN: "arn:aws:kinesis:us-east-1:123456789012:stream/" + stream,
				Region: esmRegion, Fn: fn, Log: esmTestLog(), PollInterval: 20 * time.Millisecond, CallTimeout: 300 * time.Millisecond,
				Spec: KinesisESM{BatchSize: 5, ReportBatchItemFailures: true, MaxRetryAttempts: -1}}
			stop := runPoller(t, p.Run, fn)
			waitFor(t, ctx, "20 records", func() bool { return p.Stats().Records >= 20 })

			if err := tt.fail(ctx, kin); err != nil {
				t.Fatal(err)
			}
			errs := p.Stats().Errors
			waitFor(t, ctx, "the poller to see the outage", func() bool { return p.Stats().Errors >= errs+3 })
			if err := tt.again(ctx, kin); err != nil {
				t.Fatal(err)
			}
			putRecords(t, ctx, client, stream, "a", 20, 20)
			waitFor(t, ctx, "40 records", func() bool { return p.Stats().Records >= 40 })
			stop()

			_, count := fn.delivered()
			for i := range 40 {
				if n := count[fmt.Sprintf("a-%03d", i)]; n != 1 {
					t.Errorf("record a-%03d: delivered %d times, want once", i, n)
				}
			}
			if st := p.Stats(); st.Records != 40 || st.LastError == "" {
				t.Errorf("stats: got %+v, want 40 records and the outage's last error", st)
			}
		})
	}
}

// TestKinesisPollerStreamRecreated replaces the stream under a running
// poller with an empty one: the poller must read the new shards from the
// start, though its checkpoints point into the old ones.
func TestKinesisPollerStreamRecreated(t *testing.T) {
	t.Parallel()
	restartEmpty := func(ctx context.Context, k *standin.Kinesis, stream string) error {
		if err := k.Kill(); err != nil {
			return err
		}
		return k.Restart(ctx)
	}
	tests := []struct {
		name   string
		remove func(ctx context.Context, k *standin.Kinesis, stream string) error
		// seen: create the stream again only after the poller was told
		// it does not exist. Otherwise at once, a second or more after the
		// first stream: kinesalite's sequence numbers count seconds, so
		// only then can the poller tell the streams apart without the gap.
		seen bool
	}{
		{"kinesalite restarted empty, the poller sees the stream missing", restartEmpty, true},
		{"kinesalite restarted empty and the stream created at once", restartEmpty, false},
		{"stream deleted and created again", func(ctx context.Context, k *standin.Kinesis, stream string) error {
			if _, err := k.Client().DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(stream)}); err != nil {
				return err
			}
			for {
				if _, err := k.Client().DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)}); err != nil {
					return nil
				}
				if !sleep(ctx, 10*time.Millisecond) {
					return ctx.Err()
				}
			}
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			kin := standin.StartKinesis(t, standin.KinesisOptions{Region: esmRegion, InMemory: true})
			const stream = "recreated"
			created := time.Now()
			if err := kin.CreateStream(ctx, stream, 2); err != nil {
				t.Fatal(err)
			}
			client := kin.Client(func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })
			putRecords(t, ctx, client, stream, "old", 0, 10)
			fn := &kinesisFn{t: t}
			p := &KinesisPoller{Client: client, Stream: stream, StreamARN: "arn:aws:kinesis:us-east-1:123456789012:stream/" + stream,
				Region: esmRegion, Fn: fn, Log: esmTestLog(), PollInterval: 20 * time.Millisecond, CallTimeout: 300 * time.Millisecond,
				Spec: KinesisESM{BatchSize: 100, ReportBatchItemFailures: true, MaxRetryAttempts: -1}}
			stop := runPoller(t, p.Run, fn)
			waitFor(t, ctx, "the old records", func() bool { return p.Stats().Records >= 10 })

			if !tt.seen {
				waitFor(t, ctx, "a later second", func() bool { return time.Since(created) > 1100*time.Millisecond })
			}
			if err := tt.remove(ctx, kin, stream); err != nil {
				t.Fatal(err)
			}
			if tt.seen {
				waitFor(t, ctx, "the poller to miss the stream", func() bool {
					return strings.Contains(p.Stats().LastError, "ResourceNotFoundException")
				})
			}
			if err := kin.CreateStream(ctx, stream, 2); err != nil {
				t.Fatal(err)
			}
			putRecords(t, ctx, client, stream, "new", 0, 10)
			waitFor(t, ctx, "the new records", func() bool {
				_, count := fn.delivered()
				for i := range 10 {
					if count[fmt.Sprintf("new-%03d", i)] == 0 {
						return false
					}
				}
				return true
			})
			stop()
			_, count := fn.delivered()
			for i := range 10 {
				if n := count[fmt.Sprintf("old-%03d", i)]; n != 1 {
					t.Errorf("record old-%03d: delivered %d times, want once", i, n)
				}
			}
		})
	}
}

func TestKinesisPollerConfig(t *testing.T) {
	p := &KinesisPoller{}
	if err := p.Run(t.Context()); err == nil {
		t.Errorf("Run without Client: got nil, want an error")
	}
	q := &SQSPoller{}
	if err := q.Run(t.Context()); err == nil {
		t.Errorf("Run without Client: got nil, want an error")
	}
}

// sqsFn is a fake replay function.
type sqsFn struct {
	mu      sync.Mutex
	calls   []events.SQSEvent
	raw     [][]byte
	respond func(call int, ev events.SQSEvent) ([]byte, error)
}

func (f *sqsFn) Invoke(ctx context.Context, event []byte) ([]byte, error) {
	var ev events.SQSEvent
	if err := json.Unmarshal(event, &ev); err != nil {
		return nil, err
	}
	f.mu.Lock()
	n := len(f.calls)
	f.calls = append(f.calls, ev)
	f.raw = append(f.raw, event)
	f.mu.Unlock()
	return f.respond(n, ev)
}

// deliveries returns, per message body, its deliveries' receive counts.
func (f *sqsFn) deliveries() map[string][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]string{}
	for _, ev := range f.calls {
		for _, m := range ev.Records {
			out[m.Body] = append(out[m.Body], m.Attributes["ApproximateReceiveCount"])
		}
	}
	return out
}

func queueEmpty(ctx context.Context, c *sqs.Client, url string) bool {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	out, err := c.GetQueueAttributes(cctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		return false
	}
	return out.Attributes["ApproximateNumberOfMessages"] == "0" && out.Attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
}

func TestSQSPoller(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	q := standin.StartSQS(t)
	client := q.Client()
	tests := []struct {
		name    string
		spec    SQSESM
		respond func(call int, ev events.SQSEvent) ([]byte, error)
		want    map[string][]string // body -> receive counts of its deliveries
	}{
		{
			name: "item failure comes back after the visibility timeout",
			spec: SQSESM{BatchSize: 5, ReportBatchItemFailures: true},
			respond: func(call int, ev events.SQSEvent) ([]byte, error) {
				var resp events.SQSEventResponse
				for _, m := range ev.Records {
					if m.Body == "m2" && m.Attributes["ApproximateReceiveCount"] == "1" {
						resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
					}
				}
				return json.Marshal(resp)
			},
			want: map[string][]string{"m0": {"1"}, "m1": {"1"}, "m2": {"1", "2"}, "m3": {"1"}},
		},
		{
			name: "invocation error: the whole batch comes back",
			spec: SQSESM{BatchSize: 5, ReportBatchItemFailures: true},
			respond: func(call int, ev events.SQSEvent) ([]byte, error) {
				if call == 0 {
					return nil, errors.New("function error")
				}
				return []byte(`{"batchItemFailures":[]}`), nil
			},
			want: map[string][]string{"m0": {"1", "2"}, "m1": {"1", "2"}, "m2": {"1", "2"}, "m3": {"1", "2"}},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, err := q.CreateQueue(ctx, fmt.Sprintf("replay-%d", i))
			if err != nil {
				t.Fatal(err)
			}
			var entries []sqstypes.SendMessageBatchRequestEntry
			for j := range 4 {
				e := sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(j)), MessageBody: aws.String(fmt.Sprintf("m%d", j))}
				if j == 0 {
					e.MessageAttributes = map[string]sqstypes.MessageAttributeValue{"kind": {DataType: aws.String("String"), StringValue: aws.String("spill")}}
				}
				entries = append(entries, e)
			}
			if _, err := client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries}); err != nil {
				t.Fatal(err)
			}
			fn := &sqsFn{respond: tt.respond}
			arn := "arn:aws:sqs:us-east-1:123456789012:replay"
			p := &SQSPoller{Client: client, QueueURL: url, QueueARN: arn, Region: esmRegion, Spec: tt.spec, Fn: fn,
				Visibility: time.Second, Log: esmTestLog()}
			stop := runPoller(t, p.Run, nil)
			waitFor(t, ctx, "every delivery", func() bool {
				d := fn.deliveries()
				for body, counts := range tt.want {
					if len(d[body]) < len(counts) {
						return false
					}
				}
				return queueEmpty(ctx, client, url)
			})
			stop()
			if got := fn.deliveries(); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("deliveries (receive counts): got %v, want %v", got, tt.want)
			}
			if st := p.Stats(); st.Records != 4 {
				t.Errorf("stats: got %+v, want 4 records deleted", st)
			}

			// The event is Lambda's.
			fn.mu.Lock()
			first, raw := fn.calls[0], fn.raw[0]
			fn.mu.Unlock()
			var m0 events.SQSMessage
			for _, m := range first.Records {
				if m.Body == "m0" {
					m0 = m
				}
			}
			if m0.MessageId == "" || m0.ReceiptHandle == "" || m0.EventSource != "aws:sqs" || m0.EventSourceARN != arn ||
				m0.AWSRegion != esmRegion || m0.Md5OfBody != fmt.Sprintf("%x", md5.Sum([]byte("m0"))) {
				t.Errorf("message: got %+v, want Lambda's fields", m0)
			}
			for _, a := range []string{"ApproximateReceiveCount", "SentTimestamp", "ApproximateFirstReceiveTimestamp"} {
				if m0.Attributes[a] == "" {
					t.Errorf("attributes: got %v, want %s", m0.Attributes, a)
				}
			}
			if a := m0.MessageAttributes["kind"]; aws.ToString(a.StringValue) != "spill" || a.DataType != "String" {
				t.Errorf("message attributes: got %+v, want kind=spill (String)", m0.MessageAttributes)
			}
			keys := firstRecordKeys(t, raw)
			for _, k := range []string{"messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody",
				"md5OfMessageAttributes", "eventSource", "eventSourceARN", "awsRegion"} {
				if !slices.Contains(keys, k) {
					t.Errorf("event record fields: got %v, want %s", keys, k)
				}
			}
		})
	}
}

func TestS3Notifier(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	s3s := standin.StartS3(t)
	q := standin.StartSQS(t)
	url, err := q.CreateQueue(ctx, "spill-notifications")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"spill", "other"} {
		if err := s3s.CreateBucket(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	s3s.OnPut(S3Notifier(q.Client(), url, esmRegion, "spill", "spill/", esmTestLog()))
	tests := []struct {
		name, bucket, key string
		wantKey           string // the notification's key, "" for no notification
	}{
		{"under the prefix", "spill", "spill/region=us-east-1/a b+c.ndjson", "spill/region%3Dus-east-1/a+b%2Bc.ndjson"},
		{"other prefix", "spill", "sink/x.ndjson", ""},
		{"prefix must be a prefix", "spill", "x/spill/y", ""},
		{"other bucket", "other", "spill/x.ndjson", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := "{\"id\":\"1\"}\n"
			if _, err := s3s.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(tt.bucket), Key: aws.String(tt.key),
				Body: strings.NewReader(body)}); err != nil {
				t.Fatal(err)
			}
			// OnPut runs before the put is answered: the message is there.
			var msgs []sqstypes.Message
			for {
				out, err := q.Client().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
				if err != nil {
					t.Fatal(err)
				}
				if len(out.Messages) == 0 {
					break
				}
				msgs = append(msgs, out.Messages...)
				for _, m := range out.Messages {
					if _, err := q.Client().DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
						t.Fatal(err)
					}
				}
			}
			if tt.wantKey == "" {
				if len(msgs) != 0 {
					t.Fatalf("notifications: got %d (%s), want none", len(msgs), aws.ToString(msgs[0].Body))
				}
				return
			}
			if len(msgs) != 1 {
				t.Fatalf("notifications: got %d, want 1", len(msgs))
			}
			raw := aws.ToString(msgs[0].Body)
			var ev events.S3Event
			if err := json.Unmarshal([]byte(raw), &ev); err != nil || len(ev.Records) != 1 {
				t.Fatalf("notification %s: got %d records (%v), want one S3 event record", raw, len(ev.Records), err)
			}
			r := ev.Records[0]
			if r.EventSource != "aws:s3" || r.EventName != "ObjectCreated:Put" || r.AWSRegion != esmRegion || r.EventTime.IsZero() ||
				r.S3.Bucket.Name != "spill" || r.S3.Bucket.Arn != "arn:aws:s3:::spill" || r.S3.Object.Size != int64(len(body)) {
				t.Errorf("record: got %+v, want an ObjectCreated:Put of s3://spill with size %d", r, len(body))
			}
			if r.S3.Object.Key != tt.wantKey || r.S3.Object.URLDecodedKey != tt.key {
				t.Errorf("key: got %q (decoded %q), want %q (decoded %q)", r.S3.Object.Key, r.S3.Object.URLDecodedKey, tt.wantKey, tt.key)
			}
			if strings.Contains(raw, "urlDecodedKey") {
				t.Errorf("notification %s: has urlDecodedKey, which S3 does not send", raw)
			}
			// The replay function reads it as the object just written.
			pe, err := replay.ParseEvent([]byte(raw))
			if err != nil || len(pe.Objects) != 1 || pe.Objects[0].Key != tt.key || pe.Objects[0].Bucket != "spill" {
				t.Errorf("replay.ParseEvent: got %+v (%v), want s3://spill/%s", pe, err, tt.key)
			}
		})
	}
}
