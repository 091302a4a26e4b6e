package drill

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/twinstream/twinstream/e2e/internal/standin"
)

// AccountID is the account the local regions pretend to be in (ARNs only).
const AccountID = "123456789012"

// RegionOptions configure one local region.
type RegionOptions struct {
	Spec RegionSpec
	// Bootstraps are the handlers' built bootstraps by name (ingest, health,
	// processor, replay), as BuildBootstraps returns them.
	Bootstraps map[string]string
	// APIKeys is the API-key secret's value ({"keys":[...]}).
	APIKeys string
	// SecretName is the secret's name (both regions: the primary's secret and
	// its replica share it).
	SecretName string
	// IngestConcurrency is how many execution environments serve ingest.
	// Default 4.
	IngestConcurrency int
	// ReplayVisibility replaces the replay queue's visibility timeout, which
	// is sized for Lambda's timeouts (minutes) and would stretch a drill.
	// Default 3s.
	ReplayVisibility time.Duration
	Log              *slog.Logger
}

// Region is one local region: kinesalite, an S3 stand-in, an SQS stand-in
// and a Secrets Manager endpoint; the four handlers' bootstraps running
// under aws-lambda-rie with the environment the template gives them; an ALB
// front routing as the template's listener rules; and the two event source
// mappings (Kinesis -> processor, SQS -> replay).
type Region struct {
	Name    string
	Spec    RegionSpec
	Kinesis *standin.Kinesis
	S3      *standin.S3
	SQS     *standin.SQS
	Secrets *standin.SecretsManager
	// Local names of the template's resources.
	StreamName, SpillBucket, SinkBucket, QueueURL string
	// Front is the region's ALB; Gate relays to it and is what the
	// accelerator reaches, so the drill can make the region unreachable.
	Front *httptest.Server
	Gate  *Gate

	ingest    []*standin.RIE // ingest's execution environments
	processor *KinesisPoller
	replay    *SQSPoller
	secretARN string
}

// StartRegion starts a region; everything stops with t's cleanups.
func StartRegion(t standin.T, ctx context.Context, o RegionOptions) (*Region, error) {
	spec := o.Spec
	if o.IngestConcurrency <= 0 {
		o.IngestConcurrency = 4
	}
	if o.ReplayVisibility <= 0 {
		o.ReplayVisibility = 3 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	r := &Region{
		Name:        spec.Region,
		Spec:        spec,
		StreamName:  "twinstream-" + spec.Region,
		SpillBucket: "spill-" + spec.Region,
		SinkBucket:  "sink-" + spec.Region,
		secretARN:   fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-AbCdEf", spec.Region, AccountID, o.SecretName),
	}
	r.Kinesis = standin.StartKinesis(t, standin.KinesisOptions{Region: spec.Region})
	r.S3 = standin.StartS3(t)
	r.SQS = standin.StartSQS(t)
	r.Secrets = standin.StartSecretsManager(t, map[string]string{o.SecretName: o.APIKeys})
	if err := r.createStream(ctx); err != nil {
		return nil, err
	}
	for _, b := range []string{r.SpillBucket, r.SinkBucket} {
		if err := r.S3.CreateBucket(ctx, b); err != nil {
			return nil, err
		}
	}
	var err error
	if r.QueueURL, err = r.SQS.CreateQueue(ctx, "replay-"+spec.Region); err != nil {
		return nil, err
	}
	r.S3.OnPut(S3Notifier(r.SQS.Client(), r.QueueURL, spec.Region, r.SpillBucket, "spill/", o.Log))

	fns := map[string]Invoker{}
	for _, name := range []string{"ingest", "health", "processor", "replay"} {
		fs, ok := spec.Functions[name]
		if !ok {
			return nil, fmt.Errorf("region %s: the template has no %s function", spec.Region, name)
		}
		env, err := r.env(fs)
		if err != nil {
			return nil, err
		}
		n := 1
		if name == "ingest" {
			n = o.IngestConcurrency
		}
		var invokers []Invoker
		for range n {
			rie := standin.StartRIE(t, o.Bootstraps[name], env)
			invokers = append(invokers, rie)
			if name == "ingest" {
				r.ingest = append(r.ingest, rie)
			}
		}
		fns[name] = NewPool(invokers...)
	}
	r.Front = httptest.NewServer(NewFront(spec.Region, spec.Routes, fns))
	t.Cleanup(r.Front.Close)
	if r.Gate, err = StartGate(r.Front.Listener.Addr().String()); err != nil {
		return nil, err
	}
	t.Cleanup(func() { r.Gate.Close() })

	kc := r.Kinesis.Client(func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })
	r.processor = &KinesisPoller{Client: kc, Stream: r.StreamName, StreamARN: r.streamARN(), Region: spec.Region,
		Spec: spec.Kinesis, Fn: fns["processor"], Log: o.Log.With("region", spec.Region, "esm", "kinesis")}
	r.replay = &SQSPoller{Client: r.SQS.Client(), QueueURL: r.QueueURL, QueueARN: r.queueARN(), Region: spec.Region,
		Spec: spec.Replay, Fn: fns["replay"], Visibility: o.ReplayVisibility, Log: o.Log.With("region", spec.Region, "esm", "sqs")}
	return r, nil
}

// Pollers runs the region's two event source mappings until ctx ends.
func (r *Region) Pollers(ctx context.Context) {
	go r.processor.Run(ctx)
	go r.replay.Run(ctx)
}

func (r *Region) createStream(ctx context.Context) error {
	shards := int32(r.Spec.Shards)
	if shards <= 0 {
		shards = 2 // on-demand: kinesalite has no on-demand mode
	}
	return r.Kinesis.CreateStream(ctx, r.StreamName, shards)
}

// RecycleIngest replaces every ingest execution environment with a new one
// (see standin.RIE.Recycle): what they cached, such as the API keys, is gone.
func (r *Region) RecycleIngest(ctx context.Context) error {
	errs := make(chan error, len(r.ingest))
	for _, rie := range r.ingest {
		go func() { errs <- rie.Recycle(ctx) }()
	}
	var first error
	for range r.ingest {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// RecreateStream creates the stream again after kinesalite came back empty.
func (r *Region) RecreateStream(ctx context.Context) error { return r.createStream(ctx) }

func (r *Region) streamARN() string {
	return fmt.Sprintf("arn:aws:kinesis:%s:%s:stream/%s", r.Name, AccountID, r.StreamName)
}

func (r *Region) queueARN() string {
	return fmt.Sprintf("arn:aws:sqs:%s:%s:replay-%s", r.Name, AccountID, r.Name)
}

// env is a function's environment as Lambda would give it: the template's
// variables with references resolved to the local resources, the variables
// Lambda itself sets, and the stand-ins' endpoints.
func (r *Region) env(fs FunctionSpec) ([]string, error) {
	vars, err := fs.ResolveEnv(r.resolve)
	if err != nil {
		return nil, fmt.Errorf("region %s, function %s: %w", r.Name, fs.Name, err)
	}
	out := standin.Env(r.Name, r.Kinesis, r.S3, r.SQS, r.Secrets)
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	timeout := fs.Timeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	memory := fs.MemoryMB
	if memory <= 0 {
		memory = 128
	}
	return append(out,
		"AWS_LAMBDA_FUNCTION_NAME=twinstream-"+fs.Name,
		"AWS_LAMBDA_FUNCTION_TIMEOUT="+strconv.Itoa(int((timeout+time.Second-1)/time.Second)),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE="+strconv.Itoa(memory),
		"AWS_LAMBDA_LOG_FORMAT=JSON",
	), nil
}

// resolve maps a template reference to the local resource it names.
func (r *Region) resolve(v Value) (string, error) {
	if v.Ref == "" {
		return v.Literal, nil
	}
	switch v.RefType {
	case "AWS::Kinesis::Stream":
		return r.StreamName, nil
	case "AWS::S3::Bucket":
		switch {
		case strings.Contains(v.Ref, "SpillBucket"):
			return r.SpillBucket, nil
		case strings.Contains(v.Ref, "SinkBucket"):
			return r.SinkBucket, nil
		}
	case "AWS::SecretsManager::Secret":
		return r.secretARN, nil
	}
	return "", fmt.Errorf("no local resource for %s (%s)", v.Ref, v.RefType)
}
