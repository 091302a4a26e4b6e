package orders

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
	"github.com/twinstream/twinstream/lambdas/env"
	"github.com/twinstream/twinstream/lambdas/record"
)

const shard = "shardId-000000000001"

var t0 = time.Date(2026, 5, 4, 10, 15, 0, 0, time.UTC)

// order is a valid order's JSON.
func order(id string, cents int64) string {
	return fmt.Sprintf(`{"orderId":%q,"customerId":"c-1","currency":"EUR","lines":[{"sku":"tea","quantity":1,"unitPriceCents":%d}],"totalCents":%d}`, id, cents, cents)
}

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

// putFunc is a fake S3 client.
type putFunc func(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)

func (f putFunc) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	return f(ctx, in, opts...)
}

// bucket is a fake bucket: the objects put, by key; fail, when set, decides
// a put's error by its key; left is the time to the deadline of the last
// put's context.
type bucket struct {
	mu   sync.Mutex
	objs map[string]string
	fail func(key string) error
	left time.Duration
}

func (b *bucket) store() *Store {
	return &Store{Bucket: "sink", Prefix: "orders/v1", Currencies: currencies, Client: putFunc(
		func(ctx context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
			b.mu.Lock()
			defer b.mu.Unlock()
			if dl, ok := ctx.Deadline(); ok {
				b.left = time.Until(dl)
			}
			key := aws.ToString(in.Key)
			if b.fail != nil {
				if err := b.fail(key); err != nil {
					return nil, err
				}
			}
			if got := aws.ToString(in.Bucket); got != "sink" {
				return nil, fmt.Errorf("bucket %q, want sink", got)
			}
			body, err := io.ReadAll(in.Body)
			if err != nil {
				return nil, err
			}
			if n := aws.ToInt64(in.ContentLength); n != int64(len(body)) {
				return nil, fmt.Errorf("content length %d, body %d bytes", n, len(body))
			}
			if b.objs == nil {
				b.objs = map[string]string{}
			}
			b.objs[key] = string(body)
			return &s3.PutObjectOutput{}, nil
		})}
}

func TestHandle(t *testing.T) {
	a, b := envelope("order-1", order("o-1", 450)), envelope("order-2", order("o-2", 99))
	blob := envelope("blob", "")
	blob.SetBase64([]byte{0, 1, 2})
	canary := envelope("canary-eu-west-1-1", `{"probe":"health"}`)
	canary.Canary, canary.Producer = true, ""
	const (
		accepted = "orders/v1/accepted/" + shard + "/"
		rejected = "orders/v1/rejected/" + shard + "/"
		at       = `,"receivedAt":"2026-05-04T10:15:00Z","region":"eu-west-1","order":`
	)
	acceptedLine := func(id, orderID string, cents int) string {
		return `{"producer":"shop","id":"` + id + `"` + at +
			fmt.Sprintf(`{"orderId":%q,"customerId":"c-1","currency":"EUR","lines":[{"sku":"tea","quantity":1,"unitPriceCents":%d}],"totalCents":%d}}`, orderID, cents, cents) + "\n"
	}
	tests := []struct {
		name string
		recs []batch.Record
		want map[string]string
	}{
		{name: "empty batch", recs: nil, want: nil},
		{
			name: "orders in batch order, canaries and copies skipped",
			recs: recsOf(a, canary, b, a),
			want: map[string]string{accepted + "11-14.jsonl": acceptedLine("order-1", "o-1", 450) + acceptedLine("order-2", "o-2", 99)},
		},
		{name: "only canaries: nothing written", recs: recsOf(canary, canary), want: nil},
		{
			name: "records that are not orders are stored with the reason",
			recs: recsOf("not an envelope", a, envelope("order-3", `{"orderId":"o-3"}`), blob),
			want: map[string]string{
				accepted + "11-14.jsonl": acceptedLine("order-1", "o-1", 450),
				rejected + "11-14.jsonl": `{"sequenceNumber":"13","producer":"shop","id":"order-3","reason":"customerId \"\": want 1 to 64 bytes of UTF-8","data":{"orderId":"o-3"}}` + "\n" +
					`{"sequenceNumber":"14","producer":"shop","id":"blob","reason":"data is not JSON","data":"AAEC"}` + "\n" +
					`{"sequenceNumber":"11","reason":"decode envelope: invalid character 'o' in literal null (expecting 'u')","record":"bm90IGFuIGVudmVsb3Bl"}` + "\n",
			},
		},
		{
			name: "a reused id with another order is kept",
			recs: recsOf(a, envelope("order-1", order("o-1", 451))),
			want: map[string]string{accepted + "11-12.jsonl": acceptedLine("order-1", "o-1", 450) + acceptedLine("order-1", "o-1", 451)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bk := &bucket{}
			failed, err := bk.store().Handle(context.Background(), tt.recs)
			if err != nil || failed != nil {
				t.Fatalf("got failed %v, error %v, want none", failed, err)
			}
			if !reflect.DeepEqual(bk.objs, tt.want) {
				t.Errorf("got objects\n%q\nwant\n%q", bk.objs, tt.want)
			}
		})
	}
}

// TestHandleFailures: when a put fails, Lambda is told to retry from the
// first record of the object not stored, and every record before it is
// stored or skipped.
func TestHandleFailures(t *testing.T) {
	a := envelope("order-1", order("o-1", 450))
	canary := envelope("canary-1", `{}`)
	canary.Canary = true
	down := errors.New("s3 down")
	tests := []struct {
		name       string
		recs       []batch.Record
		failKind   string
		wantFailed []string
		wantKeys   []string
	}{
		{
			name: "accepted fails first", recs: recsOf(canary, a, "bad", a), failKind: "accepted",
			wantFailed: []string{"12", "13", "14"},
		},
		{
			name: "rejected after accepted", recs: recsOf(a, "bad", a), failKind: "rejected",
			wantFailed: []string{"12", "13"}, wantKeys: []string{"orders/v1/accepted/" + shard + "/11-13.jsonl"},
		},
		{
			name: "rejected first", recs: recsOf("bad", a), failKind: "rejected",
			wantFailed: []string{"11", "12"},
		},
		{
			name: "accepted after rejected", recs: recsOf("bad", a, "bad"), failKind: "accepted",
			wantFailed: []string{"12", "13"}, wantKeys: []string{"orders/v1/rejected/" + shard + "/11-13.jsonl"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bk := &bucket{fail: func(key string) error {
				if strings.Contains(key, "/"+tt.failKind+"/") {
					return down
				}
				return nil
			}}
			failed, err := bk.store().Handle(context.Background(), tt.recs)
			if !errors.Is(err, down) {
				t.Errorf("got error %v, want %v", err, down)
			}
			if !reflect.DeepEqual(failed, tt.wantFailed) {
				t.Errorf("got failed %v, want %v", failed, tt.wantFailed)
			}
			var keys []string
			for k := range bk.objs {
				keys = append(keys, k)
			}
			if !reflect.DeepEqual(keys, tt.wantKeys) {
				t.Errorf("got objects %v, want %v", keys, tt.wantKeys)
			}
		})
	}
}

// TestHandleDeadline: a put ends a margin before the invocation's deadline,
// so the failure is reported instead of the function timing out.
func TestHandleDeadline(t *testing.T) {
	bk := &bucket{}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := bk.store().Handle(ctx, recsOf(envelope("order-1", order("o-1", 1)))); err != nil {
		t.Fatal(err)
	}
	if bk.left > 3*time.Second-margin || bk.left <= 0 {
		t.Errorf("put's time to its deadline: got %v, want at most %v", bk.left, 3*time.Second-margin)
	}
}

func TestFromEnv(t *testing.T) {
	base := map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "SECRET",
		"SINK_BUCKET": "sink", "CURRENCIES": "EUR, USD"}
	tests := []struct {
		name    string
		set     map[string]string
		unset   string
		want    *Store
		wantErr string
	}{
		{name: "defaults", want: &Store{Bucket: "sink", Prefix: "orders", Currencies: currencies}},
		{name: "prefix", set: map[string]string{"ORDERS_PREFIX": "/orders/v1/", "CURRENCIES": "EUR"},
			want: &Store{Bucket: "sink", Prefix: "orders/v1", Currencies: map[string]bool{"EUR": true}}},
		{name: "no bucket, no currencies", unset: "SINK_BUCKET", set: map[string]string{"CURRENCIES": ""},
			wantErr: `environment variable SINK_BUCKET is required; environment variable CURRENCIES is required`},
		{name: "bad currency", set: map[string]string{"CURRENCIES": "EUR,eur"}, wantErr: `CURRENCIES: "eur" is not an ISO 4217 code`},
		{name: "long currency", set: map[string]string{"CURRENCIES": "EURO"}, wantErr: `CURRENCIES: "EURO" is not an ISO 4217 code`},
		{name: "no region", unset: "AWS_REGION", wantErr: "AWS_REGION is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{}
			for k, v := range base {
				vars[k] = v
			}
			for k, v := range tt.set {
				vars[k] = v
			}
			delete(vars, tt.unset)
			r := &env.Reader{Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
			s, err := FromEnv(context.Background(), r)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if s.Client == nil {
				t.Error("got no S3 client")
			}
			s.Client = nil
			if !reflect.DeepEqual(s, tt.want) {
				t.Errorf("got %+v, want %+v", s, tt.want)
			}
		})
	}
}
