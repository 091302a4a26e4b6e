package standin_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/twinstream/twinstream/e2e/internal/standin"
)

// testTimeout bounds each test's calls to the stand-ins.
const testTimeout = 30 * time.Second

func putN(ctx context.Context, t *testing.T, c *kinesis.Client, stream, prefix string, n int) {
	t.Helper()
	var entries []types.PutRecordsRequestEntry
	for i := range n {
		entries = append(entries, types.PutRecordsRequestEntry{
			Data:         fmt.Appendf(nil, `{"n":"%s-%d"}`, prefix, i),
			PartitionKey: aws.String(fmt.Sprintf("%s-%d", prefix, i)),
		})
	}
	out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
	if err != nil {
		t.Fatalf("PutRecords: %v", err)
	}
	if got := aws.ToInt32(out.FailedRecordCount); got != 0 {
		t.Fatalf("PutRecords FailedRecordCount: got %d, want 0", got)
	}
	if len(out.Records) != n {
		t.Fatalf("PutRecords results: got %d, want %d", len(out.Records), n)
	}
}

// dataSet returns the records' data as a set, failing on duplicates.
func dataSet(t *testing.T, recs []standin.Record) map[string]bool {
	t.Helper()
	set := map[string]bool{}
	for _, r := range recs {
		if set[string(r.Data)] {
			t.Errorf("record %s read twice", r.Data)
		}
		set[string(r.Data)] = true
	}
	return set
}

func TestKinesisPutAndReadAll(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   standin.KinesisOptions
		shards int32
		n      int
	}{
		{"one shard in memory", standin.KinesisOptions{InMemory: true}, 1, 10},
		{"four shards leveldb", standin.KinesisOptions{}, 4, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
			defer cancel()
			k := standin.StartKinesis(t, tc.opts)
			if err := k.CreateStream(ctx, "s", tc.shards); err != nil {
				t.Fatal(err)
			}
			putN(ctx, t, k.Client(), "s", "r", tc.n)
			recs, err := k.ReadAll(ctx, "s")
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != tc.n {
				t.Fatalf("ReadAll: got %d records, want %d", len(recs), tc.n)
			}
			set := dataSet(t, recs)
			for i := range tc.n {
				if want := fmt.Sprintf(`{"n":"r-%d"}`, i); !set[want] {
					t.Errorf("record %s not read back", want)
				}
			}
			shards := map[string]bool{}
			for _, r := range recs {
				shards[r.ShardID] = true
			}
			if len(shards) != int(tc.shards) {
				t.Errorf("records spread over %d shards, want %d", len(shards), tc.shards)
			}
		})
	}
}

// TestKinesisOperations checks the calls the handlers and tests make, with
// the SDK as they configure it, against kinesalite 3.3.3.
func TestKinesisOperations(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	k := standin.StartKinesis(t, standin.KinesisOptions{InMemory: true})
	if err := k.CreateStream(ctx, "ops", 2); err != nil {
		t.Fatal(err)
	}
	c := k.Client(func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })
	name := aws.String("ops")

	t.Run("DescribeStreamSummary", func(t *testing.T) {
		out, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: name})
		if err != nil {
			t.Fatal(err)
		}
		if got := aws.ToInt32(out.StreamDescriptionSummary.OpenShardCount); got != 2 {
			t.Errorf("OpenShardCount: got %d, want 2", got)
		}
	})
	t.Run("DescribeStream", func(t *testing.T) {
		out, err := c.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: name})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(out.StreamDescription.Shards); got != 2 {
			t.Errorf("shards: got %d, want 2", got)
		}
	})
	t.Run("PutRecord", func(t *testing.T) {
		out, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: name, Data: []byte("x"), PartitionKey: aws.String("p")})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.SequenceNumber) == "" {
			t.Error("PutRecord: got no sequence number")
		}
	})
	t.Run("StreamARN", func(t *testing.T) {
		arn, err := k.StreamARN(ctx, "ops")
		if err != nil {
			t.Fatal(err)
		}
		if want := "arn:aws:kinesis:" + k.Region() + ":"; len(arn) <= len(want) || arn[:len(want)] != want {
			t.Errorf("StreamARN: got %q, want prefix %q", arn, want)
		}
	})
	t.Run("unknown stream", func(t *testing.T) {
		_, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("nope"), Records: []types.PutRecordsRequestEntry{{Data: []byte("x"), PartitionKey: aws.String("p")}}})
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) {
			t.Errorf("PutRecords to a missing stream: got %v, want ResourceNotFoundException", err)
		}
	})
}

// TestKinesisKillRestartKeepsData is the crash drill's base: records
// acknowledged before a SIGKILL are there after the restart, and the stream
// takes writes again on the same endpoint.
func TestKinesisKillRestartKeepsData(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	k := standin.StartKinesis(t, standin.KinesisOptions{})
	if err := k.CreateStream(ctx, "s", 2); err != nil {
		t.Fatal(err)
	}
	c := k.Client(func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })
	endpoint := k.Endpoint()
	putN(ctx, t, c, "s", "before", 50)

	if err := k.Kill(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("s")}); err == nil {
		t.Fatal("DescribeStreamSummary after Kill: got no error, want connection refused")
	}
	if err := k.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if got := k.Endpoint(); got != endpoint {
		t.Errorf("endpoint after restart: got %s, want %s", got, endpoint)
	}
	putN(ctx, t, c, "s", "after", 50)

	recs, err := k.ReadAll(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	set := dataSet(t, recs)
	if len(set) != 100 {
		t.Errorf("records after restart: got %d, want 100", len(set))
	}
	for _, prefix := range []string{"before", "after"} {
		for i := range 50 {
			if want := fmt.Sprintf(`{"n":"%s-%d"}`, prefix, i); !set[want] {
				t.Errorf("record %s lost", want)
			}
		}
	}
}

func TestKinesisRestartInMemoryStartsEmpty(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	k := standin.StartKinesis(t, standin.KinesisOptions{InMemory: true})
	if err := k.CreateStream(ctx, "s", 1); err != nil {
		t.Fatal(err)
	}
	if err := k.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := k.ReadAll(ctx, "s")
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("ReadAll after in-memory restart: got %v, want ResourceNotFoundException", err)
	}
}

func TestKinesisRestartEmptyDropsData(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	k := standin.StartKinesis(t, standin.KinesisOptions{})
	if err := k.CreateStream(ctx, "s", 1); err != nil {
		t.Fatal(err)
	}
	endpoint := k.Endpoint()
	if err := k.RestartEmpty(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := k.ReadAll(ctx, "s")
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) || k.Endpoint() != endpoint {
		t.Errorf("after RestartEmpty: got %v at %s, want ResourceNotFoundException at %s", err, k.Endpoint(), endpoint)
	}
}

// TestKinesisHang: while kinesalite hangs, a call runs into its context
// deadline; after Resume the same client works again.
func TestKinesisHang(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	k := standin.StartKinesis(t, standin.KinesisOptions{})
	if err := k.CreateStream(ctx, "s", 1); err != nil {
		t.Fatal(err)
	}
	c := k.Client(func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })
	if err := k.Hang(); err != nil {
		t.Fatal(err)
	}
	callCtx, callCancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err := c.PutRecord(callCtx, &kinesis.PutRecordInput{StreamName: aws.String("s"), Data: []byte("x"), PartitionKey: aws.String("p")})
	callCancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("PutRecord while hung: got %v, want context.DeadlineExceeded", err)
	}
	if err := k.Resume(); err != nil {
		t.Fatal(err)
	}
	putN(ctx, t, c, "s", "resumed", 1)

	// A hung process can be restarted (and is killed at cleanup).
	if err := k.Hang(); err != nil {
		t.Fatal(err)
	}
	if err := k.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	putN(ctx, t, c, "s", "restarted", 1)
	if err := k.Hang(); err != nil {
		t.Fatal(err)
	}
}

// TestKinesisKillDuringWrites: a SIGKILL while a producer is writing loses
// nothing kinesalite acknowledged (LevelDB's log is written before the
// answer), which the ingest crash drill relies on.
func TestKinesisKillDuringWrites(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	k := standin.StartKinesis(t, standin.KinesisOptions{})
	if err := k.CreateStream(ctx, "s", 2); err != nil {
		t.Fatal(err)
	}
	c := k.Client(func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })

	const batch = 20
	warm := make(chan struct{})
	type result struct {
		acked []string
		err   error
	}
	done := make(chan result)
	go func() {
		var res result
		for n := 0; ; n++ {
			entries := make([]types.PutRecordsRequestEntry, batch)
			ids := make([]string, batch)
			for i := range entries {
				ids[i] = fmt.Sprintf("b%d-%d", n, i)
				entries[i] = types.PutRecordsRequestEntry{Data: []byte(ids[i]), PartitionKey: aws.String(ids[i])}
			}
			out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: entries})
			if err != nil {
				res.err = err
				break
			}
			if aws.ToInt32(out.FailedRecordCount) == 0 {
				res.acked = append(res.acked, ids...)
			}
			if n == 10 {
				close(warm)
			}
		}
		done <- res
	}()
	<-warm
	if err := k.Kill(); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if ctx.Err() != nil {
		t.Fatalf("producer stopped by the test deadline, want by the kill: %v", res.err)
	}
	if err := k.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	recs, err := k.ReadAll(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	set := dataSet(t, recs)
	for _, id := range res.acked {
		if !set[id] {
			t.Errorf("acknowledged record %s lost by the kill", id)
		}
	}
	t.Logf("%d records acknowledged before the kill, %d in the stream after restart", len(res.acked), len(set))
}

// TestKinesisHeld: the records a killed or hung kinesalite holds can be
// read without bringing it back, and reading them changes nothing.
func TestKinesisHeld(t *testing.T) {
	for _, how := range []string{"kill", "hang"} {
		t.Run(how, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
			defer cancel()
			k := standin.StartKinesis(t, standin.KinesisOptions{})
			if err := k.CreateStream(ctx, "s", 2); err != nil {
				t.Fatal(err)
			}
			c := k.Client(func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })
			putN(ctx, t, c, "s", "held", 40)
			stop, back := k.Kill, func() error { return k.Restart(ctx) }
			if how == "hang" {
				stop, back = k.Hang, k.Resume
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			recs, err := k.Held(ctx, "s")
			if err != nil {
				t.Fatal(err)
			}
			if set := dataSet(t, recs); len(set) != 40 || !set[`{"n":"held-39"}`] {
				t.Errorf("held records: got %d, want the 40 put", len(set))
			}
			if err := back(); err != nil {
				t.Fatal(err)
			}
			putN(ctx, t, c, "s", "after", 1)
			recs, err = k.ReadAll(ctx, "s")
			if err != nil || len(recs) != 41 {
				t.Errorf("records after: got %d, %v, want 41", len(recs), err)
			}
		})
	}
	t.Run("in memory", func(t *testing.T) {
		k := standin.StartKinesis(t, standin.KinesisOptions{InMemory: true})
		if _, err := k.Held(t.Context(), "s"); err == nil {
			t.Errorf("Held in memory: got no error, want one")
		}
	})
}
