package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/twinstream/twinstream/lambdas/record"
	"github.com/twinstream/twinstream/lambdas/stream"
)

func dupOf(i, line, j int) badRecord {
	return badRecord{Index: i, Line: line, Reason: fmt.Sprintf("id repeats record %d's id", j), DuplicateOf: &j}
}

// TestRepeatedIDs: a request that repeats a producer id is refused whole
// (400, nothing written), naming both records by index.
func TestRepeatedIDs(t *testing.T) {
	long := strings.Repeat(`\"`, record.MaxIDLen)
	var many strings.Builder
	many.WriteString(`{"records":[`)
	for i := range 100 {
		if i > 0 {
			many.WriteByte(',')
		}
		fmt.Fprintf(&many, `{"id":"%s","data":%d}`, long, i)
	}
	many.WriteString(`]}`)
	manyWant := []badRecord{}
	for i := 1; i < 100; i++ {
		manyWant = append(manyWant, dupOf(i, 0, 0))
	}
	tests := []struct {
		name   string
		ct     string
		body   string
		status int
		want   []badRecord
	}{
		{"JSON", TypeJSON, `{"records":[{"id":"a","data":1},{"id":"b","data":2},{"id":"a","data":1}]}`, 400,
			[]badRecord{dupOf(2, 0, 0)}},
		{"NDJSON names lines", TypeNDJSON, "{\"id\":\"x\",\"data\":1}\n\n{\"id\":\"y\",\"data\":2}\n{\"id\":\"x\",\"data\":3}\n", 400,
			[]badRecord{dupOf(2, 4, 0)}},
		{"three of one id", TypeJSON, `{"records":[{"id":"a","data":1},{"id":"a","data":2},{"id":"a","data":3}]}`, 400,
			[]badRecord{dupOf(1, 0, 0), dupOf(2, 0, 0)}},
		{"escapes are the same id", TypeJSON, `{"records":[{"id":"ab","data":1},{"id":"\u0061b","data":2}]}`, 400,
			[]badRecord{dupOf(1, 0, 0)}},
		{"a bad record's id still counts", TypeJSON, `{"records":[{"id":"a"},{"id":"a","data":2},{"id":"b","data":3,"partitionKey":7},{"id":"b","data":4}]}`, 400,
			[]badRecord{{Index: 0, Reason: reasonNoData}, dupOf(1, 0, 0), {Index: 2, Reason: reasonPKType}, dupOf(3, 0, 2)}},
		{"an invalid id does not", TypeJSON, `{"records":[{"id":"","data":1},{"id":"a","data":2},{"id":"","data":3}]}`, 400,
			[]badRecord{{Index: 0, Reason: reasonID}, {Index: 2, Reason: reasonID}}},
		{"256-byte ids are not echoed", TypeJSON, many.String(), 400, manyWant},
		{"case matters", TypeJSON, `{"records":[{"id":"a","data":1},{"id":"A","data":1}]}`, 202, nil},
		{"generated ids never repeat", TypeJSON, `{"records":[{"data":1},{"data":1},{"id":"a","data":1}]}`, 202, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := &kinesisFake{}
			sp := &spillFake{}
			r := serve(t, newHandler(t, testConfig(), k, sp, nil, nil), post(tt.ct, bearerKey, tt.body))
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.raw)
			}
			if tt.status != 400 {
				return
			}
			if !reflect.DeepEqual(r.body.Records, tt.want) {
				t.Errorf("records\n got %s\nwant %+v", r.raw, tt.want)
			}
			if k.calls != 0 || len(sp.objs) != 0 {
				t.Errorf("kinesis calls %d, spill objects %d, want none", k.calls, len(sp.objs))
			}
			if strings.Contains(r.raw, `\"\"\"\"`) {
				t.Errorf("answer echoes the ids: %.200s", r.raw)
			}
		})
	}
}

func keyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// TestProducerNamespace: the envelope's producer is the API key's id, so two
// teams' "order-1" are two records; a key rotation that lists one id with
// two hashes keeps the namespace, so a retry across it is a duplicate.
func TestProducerNamespace(t *testing.T) {
	const oldKey, newKey, otherKey = "ts-team-a-old-key", "ts-team-a-new-key", "ts-team-b-key"
	doc := fmt.Sprintf(`{"keys":[{"id":"team-a","sha256":"%s"},{"id":"team-b","sha256":"%s"},{"id":"team-a","sha256":"%s"}]}`,
		keyHash(oldKey), keyHash(otherKey), keyHash(newKey))
	sec := GetSecretValueFunc(func(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
		return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(doc)}, nil
	})
	k := &kinesisFake{}
	h := newHandler(t, testConfig(), k, &spillFake{}, sec, nil)
	body := `{"records":[{"id":"order-1","data":{"total":12}}]}`
	for _, key := range []string{oldKey, otherKey, newKey} {
		if r := serve(t, h, post(TypeJSON, "Bearer "+key, body)); r.status != http.StatusAccepted {
			t.Fatalf("key %s: status %d, want 202: %s", key, r.status, r.raw)
		}
	}
	envs := decodeEntries(t, k.entries)
	var got []string
	for _, e := range envs {
		got = append(got, e.Producer+"/"+e.ID)
	}
	if want := []string{"team-a/order-1", "team-b/order-1", "team-a/order-1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("records %v, want %v", got, want)
	}
	if envs[0].Identity() == envs[1].Identity() {
		t.Errorf("team-a's and team-b's order-1 have one identity %v, want two records", envs[0].Identity())
	}
	if !envs[0].Duplicate(&envs[2]) {
		t.Errorf("order-1 sent with team-a's old key, then retried with its new key: not a duplicate, want one")
	}
}

// TestRetryAfter503 runs a partial failure end to end through the handler
// and the real stream.Writer: Kinesis fails two of four records (ids
// generated for three), the spill bucket is down, and the 503 says which
// ids were stored and which failed. Resending the failed records with
// failedIds stores every record exactly once under the ids of the first try.
func TestRetryAfter503(t *testing.T) {
	var mu sync.Mutex
	stored := map[string]record.Envelope{} // by id
	down := true
	api := stream.PutRecordsFunc(func(_ context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
		mu.Lock()
		defer mu.Unlock()
		out := &kinesis.PutRecordsOutput{FailedRecordCount: aws.Int32(0)}
		for _, r := range in.Records {
			e, err := record.Decode(r.Data)
			if err != nil {
				return nil, err
			}
			if down && bytes.Contains(e.Data, []byte(`"hot"`)) {
				out.Records = append(out.Records, types.PutRecordsResultEntry{ErrorCode: aws.String("InternalFailure"), ErrorMessage: aws.String("fake")})
				*out.FailedRecordCount++
				continue
			}
			if _, dup := stored[e.ID]; dup {
				return nil, fmt.Errorf("id %s written twice", e.ID)
			}
			stored[e.ID] = e
			out.Records = append(out.Records, types.PutRecordsResultEntry{SequenceNumber: aws.String("1"), ShardId: aws.String("shardId-000000000000")})
		}
		return out, nil
	})
	w := &stream.Writer{Client: api, StreamName: "s", Sleep: func(context.Context, time.Duration) error { return context.DeadlineExceeded }}
	sp := &spillFake{err: errors.New("s3: service unavailable")}
	h := newHandler(t, testConfig(), w, sp, nil, nil)

	records := []string{`{"data":{"n":0}}`, `{"data":{"n":1,"k":"hot"}}`, `{"id":"mine-2","data":{"n":2,"k":"hot"}}`, `{"data":{"n":3}}`}
	r := serve(t, h, post(TypeJSON, bearerKey, `{"records":[`+strings.Join(records, ",")+`]}`))
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("first try: status %d (Retry-After %q), want 503 with Retry-After: %s", r.status, r.header.Get("Retry-After"), r.raw)
	}
	if !slices.Equal(r.body.Failed, []int{1, 2}) || len(r.body.FailedIDs) != 2 || r.body.FailedIDs[1] != "mine-2" || len(r.body.Stored) != 2 {
		t.Fatalf("first try: got stored %v failed %v failedIds %v, want 2 stored, failed [1 2] with ids [<generated> mine-2]",
			r.body.Stored, r.body.Failed, r.body.FailedIDs)
	}
	firstIDs := append(slices.Clone(r.body.Stored), r.body.FailedIDs...)

	// The producer resends the failed records, each with its failedIds id.
	var resend []string
	for k, i := range r.body.Failed {
		resend = append(resend, fmt.Sprintf(`{"id":%q,%s`, r.body.FailedIDs[k], records[i][1:]))
	}
	mu.Lock()
	down = false
	mu.Unlock()
	sp.err = nil
	r2 := serve(t, h, post(TypeJSON, bearerKey, `{"records":[`+strings.Join(resend, ",")+`]}`))
	if r2.status != http.StatusAccepted || !slices.Equal(r2.body.IDs, r.body.FailedIDs) {
		t.Fatalf("retry: status %d ids %v, want 202 with ids %v: %s", r2.status, r2.body.IDs, r.body.FailedIDs, r2.raw)
	}
	var got []string
	for id, e := range stored {
		got = append(got, id)
		var d struct{ N int }
		if err := json.Unmarshal(e.Data, &d); err != nil || e.Producer != "team-test" {
			t.Errorf("record %s: data %s producer %q, want team-test", id, e.Data, e.Producer)
		}
	}
	slices.Sort(got)
	slices.Sort(firstIDs)
	if !slices.Equal(got, firstIDs) {
		t.Errorf("stored ids %v, want the first try's %v, each once", got, firstIDs)
	}
}

// TestAcknowledgedIsStored walks every way to a 202: each id it lists is in
// Kinesis or in the spill object, once, under the key's producer.
func TestAcknowledgedIsStored(t *testing.T) {
	tests := []struct {
		name     string
		fail     func(int) bool
		breaker  bool // open the breaker first
		deadline time.Duration
		gzip     bool
	}{
		{name: "all in kinesis"},
		{name: "some spilled", fail: func(i int) bool { return i%3 == 0 }},
		{name: "all spilled", fail: failAll},
		{name: "breaker open", breaker: true},
		{name: "no time for kinesis", deadline: time.Second},
		{name: "gzip body, some spilled", fail: func(i int) bool { return i > 2 }, gzip: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := &kinesisFake{fail: tt.fail}
			sp := &spillFake{}
			h := newHandler(t, testConfig(), k, sp, nil, nil)
			if tt.breaker {
				k.fail = failAll
				for range DefaultBreakerAfter {
					serve(t, h, post(TypeJSON, bearerKey, jsonRecords(1)))
				}
				k.entries, sp.objs, k.fail = nil, nil, nil
			}
			body := `{"records":[{"id":"a","data":1},{"data":2},{"id":"c","dataBase64":"AA=="},{"data":4},{"id":"e","partitionKey":"p","data":5}]}`
			r := post(TypeJSON, bearerKey, body)
			if tt.gzip {
				r = gzipped(r, body, "gzip")
			}
			if tt.deadline > 0 {
				ctx, cancel := context.WithTimeout(context.Background(), tt.deadline)
				defer cancel()
				r = r.WithContext(ctx)
			}
			calls := k.calls
			res := serve(t, h, r)
			if res.status != http.StatusAccepted {
				t.Fatalf("status %d, want 202: %s", res.status, res.raw)
			}
			if skip := tt.breaker || tt.deadline > 0; skip != (k.calls == calls) || (skip && *res.body.Spilled != 5) {
				t.Errorf("kinesis calls %d -> %d, spilled %d: want kinesis skipped (all spilled) %v", calls, k.calls, *res.body.Spilled, skip)
			}
			where := map[string]string{}
			for _, e := range append(decodeEntries(t, k.entries), spilledEnvelopes(t, sp)...) {
				if prev, ok := where[e.ID]; ok {
					t.Errorf("id %s stored twice (%s)", e.ID, prev)
				}
				where[e.ID] = e.Producer
			}
			if len(where) != len(res.body.IDs) {
				t.Errorf("%d records stored, %d acknowledged", len(where), len(res.body.IDs))
			}
			for _, id := range res.body.IDs {
				if p, ok := where[id]; !ok || p != "team-test" {
					t.Errorf("acknowledged id %s: stored %v with producer %q, want stored with team-test", id, ok, p)
				}
			}
		})
	}
}
