package stream

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
)

// kinesisReply is one answer of the stand-in Kinesis endpoint.
type kinesisReply struct {
	status int
	body   string // "" for a success echoing one record per request record
}

// kinesisServer answers PutRecords in the awsJson1_1 protocol the SDK's
// Kinesis client speaks (X-Amz-Target, application/x-amz-json-1.1), with
// the given replies in turn. It records each request's records.
type kinesisServer struct {
	t       *testing.T
	replies []kinesisReply
	mu      sync.Mutex
	got     [][]string // partition keys per request
	data    [][]string
}

func (k *kinesisServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := len(k.got)
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		k.t.Errorf("request %d: got %s %s, want POST /", n, r.Method, r.URL.Path)
	}
	if got, want := r.Header.Get("X-Amz-Target"), "Kinesis_20131202.PutRecords"; got != want {
		k.t.Errorf("request %d X-Amz-Target: got %q, want %q", n, got, want)
	}
	if got, want := r.Header.Get("Content-Type"), "application/x-amz-json-1.1"; got != want {
		k.t.Errorf("request %d Content-Type: got %q, want %q", n, got, want)
	}
	if r.Header.Get("Authorization") == "" {
		k.t.Errorf("request %d: got no Authorization header, want a SigV4 signature", n)
	}
	var in struct {
		StreamName string
		Records    []struct {
			Data         string
			PartitionKey string
		}
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &in); err != nil {
		k.t.Errorf("request %d body %q: %v", n, body, err)
	}
	if in.StreamName != "orders" {
		k.t.Errorf("request %d StreamName: got %q, want %q", n, in.StreamName, "orders")
	}
	var keys, data []string
	for _, rec := range in.Records {
		b, err := base64.StdEncoding.DecodeString(rec.Data)
		if err != nil {
			k.t.Errorf("request %d data %q: %v", n, rec.Data, err)
		}
		keys = append(keys, rec.PartitionKey)
		data = append(data, string(b))
	}
	k.got = append(k.got, keys)
	k.data = append(k.data, data)

	reply := kinesisReply{status: http.StatusInternalServerError, body: `{"__type":"InternalFailure","message":"no reply left"}`}
	if n < len(k.replies) {
		reply = k.replies[n]
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", fmt.Sprintf("req-%d", n))
	if reply.body == "" {
		out := map[string]any{"FailedRecordCount": 0}
		var recs []map[string]string
		for i := range in.Records {
			recs = append(recs, map[string]string{"SequenceNumber": fmt.Sprintf("4959%040d", n*1000+i), "ShardId": "shardId-000000000000"})
		}
		out["Records"] = recs
		b, _ := json.Marshal(out)
		reply.body = string(b)
	}
	w.WriteHeader(reply.status)
	io.WriteString(w, reply.body)
}

// sdkClient is a real Kinesis client pointed at url. Static credentials and
// options only: config.LoadDefaultConfig would read the machine's settings.
func sdkClient(url string) *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region:           "eu-west-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint:     aws.String(url),
		RetryMaxAttempts: 1, // the Writer retries, within its caller's deadline
	})
}

func TestPutWithSDKClient(t *testing.T) {
	const (
		throttleBody = `{"__type":"ProvisionedThroughputExceededException","message":"Rate exceeded for shard shardId-000000000000 in stream orders under account 123456789012."}`
		notFoundBody = `{"__type":"ResourceNotFoundException","message":"Stream orders under account 123456789012 not found."}`
		internalBody = `{"__type":"InternalFailure","message":"oops"}`
	)
	partial := `{"FailedRecordCount":1,"Records":[` +
		`{"SequenceNumber":"1","ShardId":"shardId-000000000000"},` +
		`{"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"Rate exceeded for shard"}]}`
	tests := []struct {
		name       string
		replies    []kinesisReply
		wantCalls  int
		wantFailed []int
		wantSent   [][]string // data per request
		wantCode   string     // API error code Result.Err must carry
		// Result's Throttled and Faults, as the real SDK's errors give them
		wantThrottled, wantFaults int
	}{
		{"throttled then ok",
			[]kinesisReply{{400, throttleBody}, {200, ""}},
			2, nil, [][]string{{"a", "b"}, {"a", "b"}}, "", 2, 0},
		{"record throttled inside a successful call",
			[]kinesisReply{{200, partial}, {200, ""}},
			2, nil, [][]string{{"a", "b"}, {"b"}}, "", 1, 0},
		{"server error then ok",
			[]kinesisReply{{500, internalBody}, {200, ""}},
			2, nil, [][]string{{"a", "b"}, {"a", "b"}}, "", 0, 1},
		{"stream not found is not retried",
			[]kinesisReply{{400, notFoundBody}, {200, ""}},
			1, []int{0, 1}, [][]string{{"a", "b"}}, "ResourceNotFoundException", 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks := &kinesisServer{t: t, replies: tt.replies}
			srv := httptest.NewServer(ks) // listens on 127.0.0.1
			defer srv.Close()
			w := Writer{Client: sdkClient(srv.URL), StreamName: "orders", CallTimeout: 5 * time.Second,
				BaseBackoff: time.Millisecond, MaxBackoff: time.Millisecond}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res := w.Put(ctx, []Entry{{Data: []byte("a"), PartitionKey: "ka"}, {Data: []byte("b"), PartitionKey: "kb"}})
			if res.Calls != tt.wantCalls || !reflect.DeepEqual(res.Failed, tt.wantFailed) {
				t.Errorf("got %+v, want %d calls, failed %v", res, tt.wantCalls, tt.wantFailed)
			}
			if res.Throttled != tt.wantThrottled || res.Faults != tt.wantFaults {
				t.Errorf("got Throttled %d, Faults %d, want %d, %d", res.Throttled, res.Faults, tt.wantThrottled, tt.wantFaults)
			}
			if !reflect.DeepEqual(ks.data, tt.wantSent) {
				t.Errorf("sent: got %v, want %v", ks.data, tt.wantSent)
			}
			if tt.wantCode == "" {
				if res.Err != nil {
					t.Errorf("err: got %v, want nil", res.Err)
				}
				return
			}
			var ae smithy.APIError
			if !errors.As(res.Err, &ae) || ae.ErrorCode() != tt.wantCode {
				t.Errorf("err: got %v, want API error %s", res.Err, tt.wantCode)
			}
		})
	}
}

// The SDK's own error for a throttled call is what Retryable sees in production.
func TestSDKThrottleErrorIsRetryable(t *testing.T) {
	ks := &kinesisServer{t: t, replies: []kinesisReply{
		{400, `{"__type":"ProvisionedThroughputExceededException","message":"Rate exceeded for shard"}`}}}
	srv := httptest.NewServer(ks)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := sdkClient(srv.URL).PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("orders"),
		Records: []types.PutRecordsRequestEntry{{Data: []byte("a"), PartitionKey: aws.String("ka")}}})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ProvisionedThroughputExceededException" {
		t.Fatalf("got %v, want a ProvisionedThroughputExceededException API error", err)
	}
	if !Retryable(err) {
		t.Errorf("Retryable(%v): got false, want true", err)
	}
}
