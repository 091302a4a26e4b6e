package status_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/globalaccelerator"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kinesistypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/twinstream/twinstream/cmd/twinstream/awsfake"
	"github.com/twinstream/twinstream/cmd/twinstream/pipeline"
	"github.com/twinstream/twinstream/cmd/twinstream/status"
	"github.com/twinstream/twinstream/cmd/twinstream/traffic"
)

type kinesisFunc func(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, opts ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)

func (f kinesisFunc) DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, opts ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error) {
	return f(ctx, in, opts...)
}

type s3Func func(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)

func (f s3Func) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	return f(ctx, in, opts...)
}

type sqsFunc func(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)

func (f sqsFunc) GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	return f(ctx, in, opts...)
}

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// world is a deployed pipeline: the stacks, accelerator and health checks
// in the fakes; streams, spill objects and queue depths in maps the
// function fakes answer from (keyed by the discovered names).
type world struct {
	ga      *awsfake.Accelerator
	p       *pipeline.Pipeline
	sw      *traffic.Switch
	c       *status.Collector
	streams map[string]string           // stream name -> status
	spill   map[string][]s3types.Object // bucket -> objects under spill/
	queues  map[string]int              // queue URL -> messages
	fail    map[string]error            // "kinesis", "s3", "sqs" -> error
}

func newWorld(t *testing.T, skip ...string) *world {
	t.Helper()
	cf, ga, r53 := awsfake.NewCloudFormation(t), awsfake.NewAccelerator(t), awsfake.NewRoute53(t)
	if _, err := awsfake.Deploy(cf, ga, r53, awsfake.DeployOptions{Name: "twinstream", Dir: awsfake.Golden(), GlobalRegion: pipeline.GlobalRegion, Skip: skip}); err != nil {
		t.Fatal(err)
	}
	disc := &pipeline.Discoverer{CloudFormation: func(region string) pipeline.CloudFormation {
		return cloudformation.NewFromConfig(awsfake.Config(region), func(o *cloudformation.Options) { o.BaseEndpoint = aws.String(cf.URL()) })
	}}
	p, err := disc.Global(t.Context(), "twinstream")
	if err != nil {
		t.Fatal(err)
	}
	_ = disc.Regional(t.Context(), p)
	reader := traffic.Reader{
		GA:  globalaccelerator.NewFromConfig(awsfake.Config("us-west-2"), func(o *globalaccelerator.Options) { o.BaseEndpoint = aws.String(ga.URL()) }),
		R53: route53.NewFromConfig(awsfake.Config("us-east-1"), func(o *route53.Options) { o.BaseEndpoint = aws.String(r53.URL()) }),
	}
	w := &world{ga: ga, p: p, sw: &traffic.Switch{Reader: reader, Out: &bytes.Buffer{}},
		streams: map[string]string{}, spill: map[string][]s3types.Object{}, queues: map[string]int{}, fail: map[string]error{}}
	for _, r := range p.Regions {
		if r.StreamName != "" {
			w.streams[r.StreamName] = "ACTIVE"
		}
	}
	w.c = &status.Collector{Traffic: reader, Now: func() time.Time { return now },
		Kinesis: func(region string) status.Kinesis {
			return kinesisFunc(func(_ context.Context, in *kinesis.DescribeStreamSummaryInput, _ ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error) {
				if err := w.fail["kinesis"]; err != nil {
					return nil, err
				}
				st, ok := w.streams[*in.StreamName]
				if !ok {
					return nil, fmt.Errorf("ResourceNotFoundException: stream %s in %s", *in.StreamName, region)
				}
				return &kinesis.DescribeStreamSummaryOutput{StreamDescriptionSummary: &kinesistypes.StreamDescriptionSummary{
					StreamName: in.StreamName, StreamStatus: kinesistypes.StreamStatus(st), OpenShardCount: aws.Int32(2)}}, nil
			})
		},
		S3: func(string) status.S3 {
			return s3Func(func(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
				if err := w.fail["s3"]; err != nil {
					return nil, err
				}
				if !strings.HasPrefix(*in.Prefix, "spill/") {
					return nil, fmt.Errorf("listed prefix %q, want spill/ or below", *in.Prefix)
				}
				return listObjects(w.spill[*in.Bucket], in), nil
			})
		},
		SQS: func(string) status.SQS {
			return sqsFunc(func(_ context.Context, in *sqs.GetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
				if err := w.fail["sqs"]; err != nil {
					return nil, err
				}
				return &sqs.GetQueueAttributesOutput{Attributes: map[string]string{
					"ApproximateNumberOfMessages": strconv.Itoa(w.queues[*in.QueueUrl]), "ApproximateNumberOfMessagesNotVisible": "0"}}, nil
			})
		},
	}
	return w
}

func (w *world) collect(t *testing.T) (*status.Report, string) {
	t.Helper()
	r := w.c.Collect(t.Context(), w.p)
	var b bytes.Buffer
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	return r, b.String()
}

func containsAll(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, s := range want {
		if !strings.Contains(got, s) {
			t.Errorf("%s lacks %q:\n%s", what, s, got)
		}
	}
}

func TestStatusHealthy(t *testing.T) {
	w := newWorld(t)
	r, table := w.collect(t)
	if len(r.Attention) != 0 || len(r.Errors) != 0 {
		t.Errorf("got attention %q and errors %q, want none", r.Attention, r.Errors)
	}
	containsAll(t, "table", table,
		"pipeline twinstream   stack twinstream-global UPDATE_COMPLETE   accelerator DEPLOYED",
		"producers: https://ingest.example.com/v1/records   failover: https://failover.ingest.example.com/v1/records",
		"us-east-1", "us-west-2", "HEALTHY", "healthy (8/8 checkers OK)", "/health/deep", "ACTIVE, 2 shards",
		"all regions healthy")

	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Pipeline string
		Regions  []struct {
			Region      string
			Accelerator struct {
				TrafficDial float32
				Health      string
			}
			Route53 struct {
				Path    string
				Healthy bool
			}
			Stream struct{ Status string }
			Spill  struct{ Objects int }
		}
		Attention []string
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Regions) != 2 || doc.Regions[0].Region != "us-east-1" || doc.Regions[0].Accelerator.TrafficDial != 100 ||
		doc.Regions[0].Accelerator.Health != "HEALTHY" || doc.Regions[0].Route53.Path != "/health/deep" || !doc.Regions[0].Route53.Healthy ||
		doc.Regions[0].Stream.Status != "ACTIVE" || doc.Attention == nil {
		t.Errorf("JSON: got %s", b.String())
	}
}

func TestStatusDrained(t *testing.T) {
	w := newWorld(t)
	if err := w.sw.Drain(t.Context(), w.p, "us-east-1", traffic.Options{}); err != nil {
		t.Fatal(err)
	}
	r, table := w.collect(t)
	containsAll(t, "table", table, "0 (template 100)", "/health/drained (template /health/deep)", "unhealthy (0/8 checkers OK)")
	if len(r.Attention) != 1 || !strings.Contains(r.Attention[0], "us-east-1 is drained") || !strings.Contains(r.Attention[0], "Drift") {
		t.Errorf("attention: got %q, want one line saying us-east-1 is drained, with the drift", r.Attention)
	}
	if !r.Regions[0].Accelerator.Drift || !r.Regions[0].Route53.Drift || !r.Regions[0].Route53.Drained {
		t.Errorf("us-east-1: got %+v %+v, want drift on both and drained", r.Regions[0].Accelerator, r.Regions[0].Route53)
	}
}

func TestStatusHalfDrained(t *testing.T) {
	w := newWorld(t)
	// Someone set the dial by hand (the README's old manual failover).
	if _, err := w.sw.GA.UpdateEndpointGroup(t.Context(), &globalaccelerator.UpdateEndpointGroupInput{
		EndpointGroupArn: aws.String(w.p.Region("us-west-2").EndpointGroupARN), TrafficDialPercentage: aws.Float32(0)}); err != nil {
		t.Fatal(err)
	}
	r, _ := w.collect(t)
	if len(r.Attention) != 1 || !strings.Contains(r.Attention[0], "us-west-2 is half drained (traffic dial 0, health check path /health/deep)") {
		t.Errorf("attention: got %q, want us-west-2 half drained", r.Attention)
	}
}

// listObjects answers ListObjectsV2 as S3 does, over objs: keys in order,
// under the prefix, grouped by the delimiter, within MaxKeys; at most two
// per page, so a listing takes pages.
func listObjects(objs []s3types.Object, in *s3.ListObjectsV2Input) *s3.ListObjectsV2Output {
	objs = slices.Clone(objs)
	slices.SortFunc(objs, func(a, b s3types.Object) int { return strings.Compare(*a.Key, *b.Key) })
	type entry struct {
		obj    *s3types.Object
		prefix string
	}
	var entries []entry
	for i, o := range objs {
		rest, ok := strings.CutPrefix(*o.Key, *in.Prefix)
		if !ok {
			continue
		}
		if d := aws.ToString(in.Delimiter); d != "" {
			if j := strings.Index(rest, d); j >= 0 {
				p := *in.Prefix + rest[:j+len(d)]
				if len(entries) == 0 || entries[len(entries)-1].prefix != p {
					entries = append(entries, entry{prefix: p})
				}
				continue
			}
		}
		entries = append(entries, entry{obj: &objs[i]})
	}
	page := 2
	if in.MaxKeys != nil {
		page = min(page, int(*in.MaxKeys))
	}
	from, _ := strconv.Atoi(aws.ToString(in.ContinuationToken))
	to := min(len(entries), from+page)
	out := &s3.ListObjectsV2Output{IsTruncated: aws.Bool(to < len(entries))}
	for _, e := range entries[from:to] {
		if e.obj != nil {
			out.Contents = append(out.Contents, *e.obj)
		} else {
			out.CommonPrefixes = append(out.CommonPrefixes, s3types.CommonPrefix{Prefix: aws.String(e.prefix)})
		}
	}
	if to < len(entries) {
		out.NextContinuationToken = aws.String(strconv.Itoa(to))
	}
	return out
}

func TestStatusAttention(t *testing.T) {
	w := newWorld(t)
	east := w.p.Region("us-east-1")
	w.ga.SetHealth(east.EndpointGroupARN, "UNHEALTHY")
	w.streams[east.StreamName] = "UPDATING"
	// Ingest's keys: a hash prefix first, so the oldest need not list first.
	w.spill[east.SpillBucket] = []s3types.Object{
		{Key: aws.String("spill/f0/region=us-east-1/dt=2026-12-01/hr=11/01A.ndjson"), LastModified: aws.Time(now.Add(-45 * time.Minute))},
		{Key: aws.String("spill/0a/region=us-east-1/dt=2026-12-01/hr=11/01B.ndjson"), LastModified: aws.Time(now.Add(-30 * time.Minute))},
		{Key: aws.String("spill/3c/region=us-east-1/dt=2026-12-01/hr=11/01C.ndjson"), LastModified: aws.Time(now.Add(-20 * time.Minute))},
	}
	w.queues[east.ReplayDeadLetterQueue] = 2
	w.queues[w.p.Region("us-west-2").ProcessorFailureQueue] = 1
	r, table := w.collect(t)
	containsAll(t, "table", table, "UNHEALTHY", "UPDATING, 2 shards", "3 objects, oldest 45m0s")
	containsAll(t, "attention", strings.Join(r.Attention, "\n"),
		"us-east-1: accelerator endpoint UNHEALTHY",
		"us-east-1: stream "+east.StreamName+" is UPDATING",
		"us-east-1: 3 spill objects wait for replay, the oldest 45m0s old",
		"us-east-1: replay dead-letter queue holds 2 messages",
		"us-west-2: processor failure queue holds 1 message (")
	if s := r.Regions[0].Spill; s.Objects != 3 || s.OldestAgeSeconds != 2700 || s.AtLeast {
		t.Errorf("spill: got %+v, want 3 objects, oldest 2700 s", s)
	}

	w.c.SpillScanLimit = 2
	r, _ = w.collect(t)
	if s := r.Regions[0].Spill; s.Objects != 2 || !s.AtLeast || s.OldestAgeSeconds != 2700 {
		t.Errorf("spill at the scan limit: got %+v, want at least 2 and the oldest still found", s)
	}

	// Keys of the layout before the hash prefix (an object left from an
	// earlier release) count the same way.
	w.spill[east.SpillBucket] = append(w.spill[east.SpillBucket],
		s3types.Object{Key: aws.String("spill/region=us-east-1/dt=2026-12-01/hr=10/01Z.ndjson"), LastModified: aws.Time(now.Add(-90 * time.Minute))},
		s3types.Object{Key: aws.String("spill/region=us-east-1/dt=2026-12-01/hr=11/01Y.ndjson"), LastModified: aws.Time(now.Add(-10 * time.Minute))})
	r, _ = w.collect(t)
	if s := r.Regions[0].Spill; s.Objects != 2 || !s.AtLeast || s.OldestAgeSeconds != 5400 {
		t.Errorf("spill at the scan limit, both layouts: got %+v, want at least 2 and the oldest, 5400 s", s)
	}
}

func TestStatusErrors(t *testing.T) {
	t.Run("regional stack missing", func(t *testing.T) {
		w := newWorld(t, "twinstream-us-west-2")
		r, table := w.collect(t)
		if len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "us-west-2: stack twinstream-us-west-2: stack not found in us-west-2") {
			t.Errorf("errors: got %q, want the missing stack", r.Errors)
		}
		// The global stack's parts of the region are still read.
		if r.Regions[1].Accelerator.Group == nil || r.Regions[1].Route53.Check == nil {
			t.Errorf("us-west-2: got %+v, want its endpoint group and health check read", r.Regions[1])
		}
		containsAll(t, "table", table, "ERROR (see below)", "could not read:")
	})
	t.Run("AWS errors", func(t *testing.T) {
		w := newWorld(t)
		w.fail["kinesis"] = errors.New("api error AccessDeniedException: not authorized to perform kinesis:DescribeStreamSummary")
		w.fail["sqs"] = errors.New("api error AccessDenied")
		w.ga.Fail("DescribeEndpointGroup", &awsfake.APIError{Code: "AccessDeniedException", Message: "no"})
		r, _ := w.collect(t)
		all := strings.Join(r.Errors, "\n")
		containsAll(t, "errors", all, "us-east-1: describe stream", "kinesis:DescribeStreamSummary", "us-west-2: get attributes of queue", "us-east-1: accelerator endpoint group: describe endpoint group")
	})
}
