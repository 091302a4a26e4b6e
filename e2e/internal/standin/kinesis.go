package standin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// KinesisOptions configures StartKinesis.
type KinesisOptions struct {
	// Region names the region in the stream ARNs kinesalite reports
	// (default DefaultRegion).
	Region string
	// InMemory keeps records in memory only, so Restart starts empty. By
	// default they are kept in a LevelDB directory under t.TempDir() and
	// survive Kill and Restart, as a crash drill needs.
	InMemory bool
}

// Kinesis is a running kinesalite 3.3.3.
//
// kinesalite differences from Kinesis that tests meet: it needs StreamName
// (it ignores StreamARN), and PutRecords never fails single records
// (FailedRecordCount is always 0).
type Kinesis struct {
	region string
	dir    string // LevelDB directory, "" in memory
	script string
	root   string
	log    *logBuffer

	endpoint string // fixed at the first start: restarts reuse the port

	mu   sync.Mutex
	port int
	p    *proc
}

// StartKinesis starts kinesalite on 127.0.0.1 and a free port, stopped when
// the test ends. It fails the test if kinesalite is not installed (run npm ci).
func StartKinesis(t T, opts KinesisOptions) *Kinesis {
	t.Helper()
	root := RepoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "node_modules", "kinesalite", "package.json")); err != nil {
		t.Fatalf("standin: kinesalite is not installed in %s/node_modules: run npm ci (or make deps): %v", root, err)
	}
	k := &Kinesis{
		region: opts.Region,
		script: filepath.Join(Dir(root), "kinesalite.js"),
		root:   root,
		log:    &logBuffer{},
	}
	if k.region == "" {
		k.region = DefaultRegion
	}
	if !opts.InMemory {
		k.dir = filepath.Join(t.TempDir(), "kinesalite")
	}
	logOnFailure(t, "kinesalite", k.log)
	t.Cleanup(func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.p != nil {
			if err := k.p.kill(); err != nil {
				t.Errorf("standin: %v", err)
			}
		}
	})
	ctx, cancel := startContext(t)
	defer cancel()
	if err := k.start(ctx); err != nil {
		t.Fatalf("standin: %v", err)
	}
	k.endpoint = fmt.Sprintf("http://127.0.0.1:%d", k.port)
	return k
}

// start runs kinesalite on k.port (0 the first time: any free port).
func (k *Kinesis) start(ctx context.Context) error {
	arg := map[string]any{"port": k.port}
	if k.dir != "" {
		arg["path"] = k.dir
	}
	p, port, err := startNode(ctx, k.root, "kinesalite", k.script, arg, k.region, k.log)
	if err != nil {
		return err
	}
	k.p, k.port = p, port
	return nil
}

// Endpoint returns the base URL, the same across restarts.
func (k *Kinesis) Endpoint() string { return k.endpoint }

// Region returns the region kinesalite puts in stream ARNs.
func (k *Kinesis) Region() string { return k.region }

// Env returns AWS_ENDPOINT_URL_KINESIS for a child process.
func (k *Kinesis) Env() []string {
	return []string{"AWS_ENDPOINT_URL_KINESIS=" + k.Endpoint()}
}

// Client returns a Kinesis client for this stand-in; optFns can, for
// example, set RetryMaxAttempts.
func (k *Kinesis) Client(optFns ...func(*kinesis.Options)) *kinesis.Client {
	endpoint := k.Endpoint()
	opts := append([]func(*kinesis.Options){func(o *kinesis.Options) {
		o.BaseEndpoint = aws.String(endpoint)
	}}, optFns...)
	return kinesis.NewFromConfig(AWSConfig(k.region), opts...)
}

// Kill stops kinesalite with SIGKILL, like a crash, and waits until it has
// exited. Calls then fail with connection refused until Restart.
func (k *Kinesis) Kill() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.p == nil {
		return errors.New("kinesalite is not running")
	}
	err := k.p.kill()
	k.p = nil
	return err
}

// Restart starts kinesalite again on the same port with the same data
// directory, killing it first if it still runs (or hangs).
func (k *Kinesis) Restart(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.killLocked(); err != nil {
		return err
	}
	return k.start(ctx)
}

// killLocked kills kinesalite if it runs (or hangs); k.mu is held.
func (k *Kinesis) killLocked() error {
	if k.p == nil {
		return nil
	}
	err := k.p.kill()
	if err == nil {
		k.p = nil
	}
	return err
}

// RestartEmpty is Restart without the data: kinesalite comes back on the
// same port with no streams at all (a region whose Kinesis lost everything;
// streams must be created again).
func (k *Kinesis) RestartEmpty(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.killLocked(); err != nil {
		return err
	}
	if k.dir != "" {
		if err := os.RemoveAll(k.dir); err != nil {
			return fmt.Errorf("kinesalite: remove data: %w", err)
		}
	}
	return k.start(ctx)
}

// Hang stops the kinesalite process (SIGSTOP): connections are still
// accepted by the kernel but no request is answered, so calls run into
// their context deadline. Resume undoes it; Kill and Restart work on a hung
// process too.
func (k *Kinesis) Hang() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.p == nil {
		return errors.New("kinesalite is not running")
	}
	return k.p.signal(syscall.SIGSTOP)
}

// Resume continues a hung kinesalite (SIGCONT).
func (k *Kinesis) Resume() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.p == nil {
		return errors.New("kinesalite is not running")
	}
	return k.p.signal(syscall.SIGCONT)
}

// pollInterval is how often waits re-check a stand-in's state.
const pollInterval = 10 * time.Millisecond

// CreateStream creates a stream with the given number of shards and waits
// until it is ACTIVE.
func (k *Kinesis) CreateStream(ctx context.Context, name string, shards int32) error {
	c := k.Client()
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{
		StreamName: aws.String(name),
		ShardCount: aws.Int32(shards),
	}); err != nil {
		return fmt.Errorf("create stream %s: %w", name, err)
	}
	for {
		out, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			return fmt.Errorf("describe stream %s: %w", name, err)
		}
		if out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stream %s not active: %w", name, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// StreamARN returns the ARN kinesalite reports for a stream (for event
// fixtures; kinesalite itself only understands StreamName).
func (k *Kinesis) StreamARN(ctx context.Context, name string) (string, error) {
	out, err := k.Client().DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("describe stream %s: %w", name, err)
	}
	return aws.ToString(out.StreamDescriptionSummary.StreamARN), nil
}

// Record is a record read back from a stream.
type Record struct {
	ShardID        string
	SequenceNumber string
	PartitionKey   string
	Data           []byte
	Arrival        time.Time
}

// ReadAll returns every record in the stream: all shards from TRIM_HORIZON,
// until GetRecords returns nothing more. Records are ordered by shard ID,
// then sequence number.
func (k *Kinesis) ReadAll(ctx context.Context, stream string) ([]Record, error) {
	return readAll(ctx, k.Client(), stream)
}

// Held returns every record the stream's data directory holds, as ReadAll
// would, read by a second kinesalite started on a copy of the directory: it
// is meant for a kinesalite that is killed or hung (a stopped process has
// handed its writes to the kernel already), and changes nothing for it. It
// tells what a Kinesis that comes back empty has lost. It needs the data on
// disk (not InMemory).
func (k *Kinesis) Held(ctx context.Context, stream string) ([]Record, error) {
	if k.dir == "" {
		return nil, errors.New("kinesalite: held records: the data is in memory only")
	}
	cp, err := os.MkdirTemp(filepath.Dir(k.dir), "held-")
	if err != nil {
		return nil, fmt.Errorf("kinesalite: held records: %w", err)
	}
	defer os.RemoveAll(cp)
	k.mu.Lock()
	err = os.CopyFS(cp, os.DirFS(k.dir))
	k.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("kinesalite: held records: copy data: %w", err)
	}
	log := &logBuffer{}
	p, port, err := startNode(ctx, k.root, "kinesalite (held records)", k.script, map[string]any{"port": 0, "path": cp}, k.region, log)
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, log.String())
	}
	defer p.kill()
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	c := kinesis.NewFromConfig(AWSConfig(k.region), func(o *kinesis.Options) { o.BaseEndpoint = aws.String(endpoint) })
	return readAll(ctx, c, stream)
}

func readAll(ctx context.Context, c *kinesis.Client, stream string) ([]Record, error) {
	var shards []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(stream)}
	for {
		out, err := c.ListShards(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list shards of %s: %w", stream, err)
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == nil {
			break
		}
		// With NextToken, ListShards wants no StreamName.
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
	sort.Slice(shards, func(i, j int) bool { return aws.ToString(shards[i].ShardId) < aws.ToString(shards[j].ShardId) })

	var recs []Record
	for _, sh := range shards {
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName:        aws.String(stream),
			ShardId:           sh.ShardId,
			ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			return nil, fmt.Errorf("shard iterator for %s/%s: %w", stream, aws.ToString(sh.ShardId), err)
		}
		iter := it.ShardIterator
		for iter != nil {
			out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
			if err != nil {
				return nil, fmt.Errorf("get records from %s/%s: %w", stream, aws.ToString(sh.ShardId), err)
			}
			for _, r := range out.Records {
				recs = append(recs, Record{
					ShardID:        aws.ToString(sh.ShardId),
					SequenceNumber: aws.ToString(r.SequenceNumber),
					PartitionKey:   aws.ToString(r.PartitionKey),
					Data:           r.Data,
					Arrival:        aws.ToTime(r.ApproximateArrivalTimestamp),
				})
			}
			// kinesalite answers an empty page exactly when the shard is
			// read to its end (its MillisBehindLatest is always 0).
			if len(out.Records) == 0 {
				break
			}
			iter = out.NextShardIterator
		}
	}
	return recs, nil
}
