package lambdas_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/twinstream/twinstream/e2e/internal/standin"
	"github.com/twinstream/twinstream/lambdas/ingest/ingest"
	"github.com/twinstream/twinstream/lambdas/processor/processor"
	"github.com/twinstream/twinstream/lambdas/record"
	"github.com/twinstream/twinstream/lambdas/replay/replay"
	"github.com/twinstream/twinstream/lambdas/stream"
)

const (
	region      = "us-east-1"
	streamName  = "records"
	spillBucket = "spill"
	sinkBucket  = "sink"
	apiKey      = "test-key-7f3c"
)

// region is one region's pipeline wired to real stand-ins: kinesalite,
// gofakes3 and local-aws-sqs, with the handler packages in-process.
type pipeline struct {
	kin      *standin.Kinesis
	s3       *standin.S3
	sqs      *standin.SQS
	queueURL string
	ingest   *httptest.Server
}

func keysSecret() string {
	sum := sha256.Sum256([]byte(apiKey))
	return fmt.Sprintf(`{"keys":[{"id":"drill","sha256":%q}]}`, hex.EncodeToString(sum[:]))
}

func startPipeline(t *testing.T) *pipeline {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := &pipeline{kin: standin.StartKinesis(t, standin.KinesisOptions{Region: region}), s3: standin.StartS3(t), sqs: standin.StartSQS(t)}
	if err := p.kin.CreateStream(ctx, streamName, 2); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{spillBucket, sinkBucket} {
		if err := p.s3.CreateBucket(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if p.queueURL, err = p.sqs.CreateQueue(ctx, "spill-events"); err != nil {
		t.Fatal(err)
	}
	secret := keysSecret()
	h, err := ingest.New(ingest.Config{
		Region:        region,
		SpillBucket:   spillBucket,
		KeysSecretARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:api-keys",
		KinesisBudget: 800 * time.Millisecond,
		SpillTimeout:  2 * time.Second,
	}, ingest.Deps{
		Kinesis: p.writer(300 * time.Millisecond),
		S3:      p.s3.Client(),
		Secrets: ingest.GetSecretValueFunc(func(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
			return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(secret)}, nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	p.ingest = httptest.NewServer(h)
	t.Cleanup(p.ingest.Close)
	return p
}

// writer is what ingest and replay write with when deployed: packed records
// (PACK_RECORDS defaults to true) through a writer with their call timeout.
func (p *pipeline) writer(callTimeout time.Duration) *stream.Packer {
	return &stream.Packer{Next: &stream.Writer{
		Client:      p.kin.Client(func(o *kinesis.Options) { o.RetryMaxAttempts = 1 }),
		StreamName:  streamName,
		CallTimeout: callTimeout,
	}}
}

// produce runs producers that send batches of records with unique ids until
// stop is closed, retrying a request until it is answered 202, as a real client
// does. It returns the ids acknowledged with 202.
func produce(t *testing.T, url string, producers int, stop <-chan struct{}) (acked map[string]bool, requests int) {
	t.Helper()
	var mu sync.Mutex
	acked = map[string]bool{}
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A steady rate (one request per 50 ms per producer), as the
			// outage would find it: spilling answers fast, and an unpaced
			// producer would only measure how fast the stand-ins are.
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				var body bytes.Buffer
				for k := 0; k < 20; k++ {
					fmt.Fprintf(&body, `{"id":"p%d-%d-%d","data":{"producer":%d,"n":%d,"k":%d,"pad":"%s"}}`+"\n", p, n, k, p, n, k, strings.Repeat("x", 120))
				}
				for attempt := 0; attempt < 20; attempt++ {
					ids, status := post(t, client, url, body.Bytes())
					mu.Lock()
					requests++
					for _, id := range ids {
						acked[id] = true
					}
					mu.Unlock()
					if status == http.StatusAccepted {
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	return acked, requests
}

func post(t *testing.T, c *http.Client, url string, body []byte) ([]string, int) {
	req, err := http.NewRequest(http.MethodPost, url+"/v1/records", bytes.NewReader(body))
	if err != nil {
		t.Error(err)
		return nil, 0
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := c.Do(req)
	if err != nil {
		return nil, 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return nil, resp.StatusCode
	}
	var a struct {
		Accepted int      `json:"accepted"`
		IDs      []string `json:"ids"`
	}
	if err := json.Unmarshal(b, &a); err != nil || a.Accepted != len(a.IDs) {
		t.Errorf("202 body %s: accepted must equal the number of ids (err %v)", b, err)
	}
	return a.IDs, resp.StatusCode
}

func streamIDs(t *testing.T, ctx context.Context, k *standin.Kinesis) ([]standin.Record, map[string]bool) {
	t.Helper()
	recs, err := k.ReadAll(ctx, streamName)
	if err != nil {
		t.Fatalf("read stream: %v", err)
	}
	envs, err := standin.Envelopes(recs)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, e := range envs {
		ids[e.ID] = true
	}
	return recs, ids
}

// objectIDs decodes NDJSON envelopes of every object under prefix.
func objectIDs(t *testing.T, ctx context.Context, s *standin.S3, bucket, prefix string) (ids map[string]int, objects []standin.Object) {
	t.Helper()
	objs, err := s.Objects(ctx, bucket, prefix)
	if err != nil {
		t.Fatalf("list %s/%s: %v", bucket, prefix, err)
	}
	ids = map[string]int{}
	for _, o := range objs {
		for _, line := range bytes.Split(o.Body, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			e, err := record.Decode(line)
			if err != nil {
				t.Fatalf("object %s: %v", o.Key, err)
			}
			ids[e.ID]++
		}
	}
	return ids, objs
}

// s3KeyEscape encodes a key as S3 does in event notifications.
func s3KeyEscape(key string) string {
	return strings.ReplaceAll(url.QueryEscape(key), "%2F", "/")
}

// notify sends the ObjectCreated notification S3 would send for each spill
// object (gofakes3 has no notifications).
func (p *pipeline) notify(t *testing.T, ctx context.Context, objs []standin.Object) {
	t.Helper()
	for _, o := range objs {
		body := fmt.Sprintf(`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":%q,"eventName":"ObjectCreated:Put","s3":{"s3SchemaVersion":"1.0","bucket":{"name":%q,"arn":"arn:aws:s3:::%s"},"object":{"key":%q,"size":%d}}}]}`,
			region, spillBucket, spillBucket, s3KeyEscape(o.Key), len(o.Body))
		if _, err := p.sqs.Client().SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &p.queueURL, MessageBody: aws.String(body)}); err != nil {
			t.Fatalf("send notification: %v", err)
		}
	}
}

// drainReplay receives the queue's messages as the SQS event source mapping
// does and runs the replay handler on them, deleting the messages it reports
// as done.
func (p *pipeline) drainReplay(t *testing.T, ctx context.Context) (invocations int) {
	t.Helper()
	r := &replay.Replayer{Get: p.s3.Client(), Delete: p.s3.Client(), Stream: p.writer(time.Second), Bucket: spillBucket, Prefix: "spill", KinesisBudget: 5 * time.Second}
	q := p.sqs.Client()
	for empty := 0; empty < 2; {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &p.queueURL, MaxNumberOfMessages: 10, VisibilityTimeout: 30, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		if len(out.Messages) == 0 {
			empty++
			continue
		}
		msgs := make([]replay.Message, len(out.Messages))
		for i, m := range out.Messages {
			msgs[i] = replay.Message{ID: aws.ToString(m.MessageId), Body: aws.ToString(m.Body)}
		}
		invocations++
		failed := map[string]bool{}
		for _, id := range r.Replay(ctx, msgs) {
			failed[id] = true
		}
		if len(failed) > 0 {
			t.Fatalf("replay after recovery: messages %v failed", failed)
		}
		for _, m := range out.Messages {
			if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &p.queueURL, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("delete message: %v", err)
			}
		}
	}
	return invocations
}

// process runs the processor over the whole stream, per shard in batches of
// 100, as the Kinesis event source mapping would.
func (p *pipeline) process(t *testing.T, ctx context.Context, recs []standin.Record) {
	t.Helper()
	proc := &processor.Processor{Client: p.s3.Client(), Region: region, Bucket: sinkBucket, SinkPrefix: "records", QuarantinePrefix: "quarantine"}
	byShard := map[string][]processor.Record{}
	var shards []string
	for _, r := range recs {
		if byShard[r.ShardID] == nil {
			shards = append(shards, r.ShardID)
		}
		byShard[r.ShardID] = append(byShard[r.ShardID], processor.Record{ShardID: r.ShardID, SequenceNumber: r.SequenceNumber, PartitionKey: r.PartitionKey, Data: r.Data, ArrivalTime: r.Arrival})
	}
	sort.Strings(shards)
	for _, s := range shards {
		all := byShard[s]
		for len(all) > 0 {
			n := min(100, len(all))
			failed, err := proc.Process(ctx, all[:n])
			if len(failed) > 0 || err != nil {
				t.Fatalf("process shard %s: failed %v: %v", s, failed, err)
			}
			all = all[n:]
		}
	}
}

// TestOutageNoLoss is the fault test of the issue: Kinesis fails while
// producers send (killed like a crashed fleet, or hung), every record
// answered 202 is afterwards in the stream or the spill bucket; after
// recovery, replay drains the spill and the processor puts every acknowledged
// id into the sink.
func TestOutageNoLoss(t *testing.T) {
	for _, variant := range []string{"kill", "hang"} {
		t.Run(variant, func(t *testing.T) {
			p := startPipeline(t)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()

			stop := make(chan struct{})
			var acked map[string]bool
			var requests int
			done := make(chan struct{})
			go func() {
				acked, requests = produce(t, p.ingest.URL, 4, stop)
				close(done)
			}()
			time.Sleep(time.Second) // steady state before the failure
			switch variant {
			case "kill":
				if err := p.kin.Kill(); err != nil {
					t.Fatal(err)
				}
			case "hang":
				if err := p.kin.Hang(); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(3 * time.Second) // Kinesis down while producers keep sending
			close(stop)
			<-done

			// Kinesis comes back with its data.
			switch variant {
			case "kill":
				if err := p.kin.Restart(ctx); err != nil {
					t.Fatal(err)
				}
			case "hang":
				if err := p.kin.Resume(); err != nil {
					t.Fatal(err)
				}
			}
			_, inStream := streamIDs(t, ctx, p.kin)
			spilled, spillObjs := objectIDs(t, ctx, p.s3, spillBucket, "spill/")
			var missing []string
			for id := range acked {
				if !inStream[id] && spilled[id] == 0 {
					missing = append(missing, id)
				}
			}
			t.Logf("%s: %d requests, %d ids acknowledged, %d in the stream, %d in %d spill objects",
				variant, requests, len(acked), len(inStream), len(spilled), len(spillObjs))
			if len(missing) > 0 {
				sort.Strings(missing)
				t.Fatalf("acknowledged but neither in the stream nor spilled: got %d ids (first %q), want 0", len(missing), missing[0])
			}
			if len(acked) == 0 || len(inStream) == 0 || len(spilled) == 0 {
				t.Fatalf("the drill did not exercise both paths: got %d acked, %d in stream, %d spilled, want all > 0", len(acked), len(inStream), len(spilled))
			}

			// Replay drains the spill bucket through S3 notifications on SQS.
			p.notify(t, ctx, spillObjs)
			inv := p.drainReplay(t, ctx)
			if left, _ := objectIDs(t, ctx, p.s3, spillBucket, "spill/"); len(left) != 0 {
				t.Fatalf("spill bucket after replay: got %d ids left, want 0", len(left))
			}

			// The processor runs over the whole stream into the sink.
			recs, inStream := streamIDs(t, ctx, p.kin)
			p.process(t, ctx, recs)
			sink, sinkObjs := objectIDs(t, ctx, p.s3, sinkBucket, "records/")
			lost, dups := 0, 0
			for id := range acked {
				if sink[id] == 0 {
					lost++
				}
			}
			for _, n := range sink {
				dups += n - 1
			}
			t.Logf("%s: %d replay invocations; stream holds %d ids in %d records; sink holds %d ids in %d objects, %d duplicate lines; lost %d",
				variant, inv, len(inStream), len(recs), len(sink), len(sinkObjs), dups, lost)
			if lost != 0 {
				t.Fatalf("acknowledged ids missing from the sink: got %d, want 0", lost)
			}
		})
	}
}
