package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/twinstream/twinstream/lambdas/batch"
	"github.com/twinstream/twinstream/lambdas/record"
)

const shard = "shardId-000000000002"

var t0 = time.Date(2025, 3, 4, 10, 15, 0, 0, time.UTC)

func envelope(id, data string) record.Envelope {
	return record.Envelope{ID: id, Producer: "shop", Region: "eu-west-1", ReceivedAt: t0, PartitionKey: id,
		Encoding: record.EncodingJSON, Data: json.RawMessage(data)}
}

// recsOf builds Kinesis records with sequence numbers 11, 12, ... from
// envelopes or raw data (string).
func recsOf(items ...any) []batch.Record {
	out := make([]batch.Record, len(items))
	for i, it := range items {
		var data []byte
		switch v := it.(type) {
		case record.Envelope:
			data = v.Append(nil)
		case string:
			data = []byte(v)
		default:
			panic(fmt.Sprintf("recsOf: unexpected %T", it))
		}
		out[i] = batch.Record{ShardID: shard, SequenceNumber: fmt.Sprint(11 + i), PartitionKey: "pk", Data: data, ArrivalTime: t0}
	}
	return out
}

// bucket is a fake S3 bucket; fail, when set, decides the error of a put by
// its key.
type bucket struct {
	mu   sync.Mutex
	objs map[string]string
	fail func(key string) error
	// left is the time to the deadline of the last put's context.
	left time.Duration
}

func (b *bucket) api() putObjectFunc {
	return func(ctx context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
		b.mu.Lock()
		defer b.mu.Unlock()
		if dl, ok := ctx.Deadline(); ok {
			b.left = time.Until(dl)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		key := aws.ToString(in.Key)
		if b.fail != nil {
			if err := b.fail(key); err != nil {
				return nil, err
			}
		}
		if aws.ToString(in.Bucket) != "sink" {
			return nil, fmt.Errorf("bucket %q, want sink", aws.ToString(in.Bucket))
		}
		body, err := io.ReadAll(in.Body)
		if err != nil {
			return nil, err
		}
		if b.objs == nil {
			b.objs = map[string]string{}
		}
		b.objs[key] = string(body)
		return &s3.PutObjectOutput{}, nil
	}
}

func newSink(b *bucket) *sink { return &sink{client: b.api(), bucket: "sink", prefix: "orders"} }

func TestHandle(t *testing.T) {
	a, b := envelope("order-1", `{"total":12}`), envelope("order-2", `{"total": 7}`)
	bin := envelope("blob", "")
	bin.SetBase64([]byte{0, 1, 2})
	canary := envelope("canary-eu-west-1-1", `{"probe":"health"}`)
	canary.Canary, canary.Producer = true, ""
	const (
		payloads = "orders/payloads/" + shard + "/"
		bad      = "orders/bad/" + shard + "/"
	)
	tests := []struct {
		name string
		recs []batch.Record
		want map[string]string
	}{
		{name: "empty batch", recs: nil, want: nil},
		{
			name: "payloads in batch order, canaries and copies skipped, a reused id kept",
			recs: recsOf(a, canary, b, a, bin, envelope("order-1", `{"total":13}`)),
			want: map[string]string{payloads + "11-16.jsonl": `{"total":12}` + "\n" + `{"total":7}` + "\n" + `"AAEC"` + "\n" + `{"total":13}` + "\n"},
		},
		{name: "only canaries: nothing written", recs: recsOf(canary, canary), want: nil},
		{
			name: "bad records kept apart",
			recs: recsOf("not an envelope", a),
			want: map[string]string{
				payloads + "11-12.jsonl": `{"total":12}` + "\n",
				bad + "11-12.jsonl":      `{"sequenceNumber":"11","error":"decode envelope: invalid character 'o' in literal null (expecting 'u')","data":"bm90IGFuIGVudmVsb3Bl"}` + "\n",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bk := &bucket{}
			failed, err := newSink(bk).handle(context.Background(), tt.recs)
			if err != nil || failed != nil {
				t.Fatalf("got %q, %v, want no failure", failed, err)
			}
			if !reflect.DeepEqual(bk.objs, tt.want) {
				t.Errorf("got objects %q, want %q", bk.objs, tt.want)
			}
		})
	}
}

func TestHandleFailure(t *testing.T) {
	a := envelope("order-1", `{"total":12}`)
	recs := recsOf(a, "bad", envelope("order-2", `{"total":7}`), "bad again")
	boom := errors.New("s3 down")
	tests := []struct {
		name   string
		failOn string // key part of the failing put
		failed []string
		stored []string
	}{
		{name: "payloads fail: all", failOn: "/payloads/", failed: []string{"11", "12", "13", "14"}},
		{name: "bad records fail: from the first bad one", failOn: "/bad/", failed: []string{"12", "13", "14"},
			stored: []string{"orders/payloads/" + shard + "/11-14.jsonl"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bk := &bucket{fail: func(key string) error {
				if strings.Contains(key, tt.failOn) {
					return boom
				}
				return nil
			}}
			failed, err := newSink(bk).handle(context.Background(), recs)
			if !errors.Is(err, boom) {
				t.Errorf("got error %v, want %v", err, boom)
			}
			if !reflect.DeepEqual(failed, tt.failed) {
				t.Errorf("got failed %q, want %q", failed, tt.failed)
			}
			var stored []string
			for k := range bk.objs {
				stored = append(stored, k)
			}
			if !reflect.DeepEqual(stored, tt.stored) {
				t.Errorf("got stored %q, want %q", stored, tt.stored)
			}

			// Lambda retries from the first failed record, S3 back: every
			// envelope and bad record of the batch is then stored.
			bk.fail = nil
			k := len(recs) - len(failed)
			if failed, err := newSink(bk).handle(context.Background(), recs[k:]); err != nil || failed != nil {
				t.Fatalf("retry: got %q, %v, want no failure", failed, err)
			}
			all := strings.Join(values(bk.objs), "")
			for _, want := range []string{`{"total":12}`, `{"total":7}`, `"sequenceNumber":"12"`, `"sequenceNumber":"14"`} {
				if !strings.Contains(all, want) {
					t.Errorf("after the retry: %s not stored in %q", want, bk.objs)
				}
			}
		})
	}
}

func values(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestHandleDeadline: a put never runs past the invocation's deadline less
// the margin, so the failures are reported before Lambda's timeout.
func TestHandleDeadline(t *testing.T) {
	recs := recsOf(envelope("order-1", `1`))
	tests := []struct {
		name   string
		left   time.Duration
		failed []string
	}{
		{name: "time enough", left: time.Minute},
		{name: "less than the margin: nothing written, all reported", left: margin / 2, failed: []string{"11"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tt.left)
			defer cancel()
			bk := &bucket{}
			failed, err := newSink(bk).handle(ctx, recs)
			if !reflect.DeepEqual(failed, tt.failed) || (err != nil) != (tt.failed != nil) {
				t.Fatalf("got %q, %v, want %q", failed, err, tt.failed)
			}
			if tt.failed == nil && bk.left > putTimeout {
				t.Errorf("got a put with %v to its deadline, want at most %v", bk.left, putTimeout)
			}
			if tt.failed != nil && len(bk.objs) != 0 {
				t.Errorf("got objects %q, want none", bk.objs)
			}
		})
	}
}

// TestHandleSameBatchSameObject: a whole batch retried (after a function
// error) rewrites its object with the same content.
func TestHandleSameBatchSameObject(t *testing.T) {
	recs := recsOf(envelope("order-1", `1`), "bad", envelope("order-2", `2`))
	var runs [2]*bucket
	for i := range runs {
		runs[i] = &bucket{}
		if _, err := newSink(runs[i]).handle(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
	}
	if len(runs[0].objs) != 2 || !reflect.DeepEqual(runs[0].objs, runs[1].objs) {
		t.Errorf("got %q then %q, want the same two objects", runs[0].objs, runs[1].objs)
	}
}
