// Package status reads, for every region of a deployed pipeline, what an
// operator needs to see in an outage: the accelerator endpoint's health and
// traffic dial, the Route 53 health check's verdict and path (with the drift
// from the template a drain leaves), the Kinesis stream's status, the spill
// backlog waiting for replay, and the depths of the replay dead-letter and
// processor failure queues.
package status

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/twinstream/twinstream/cmd/twinstream/pipeline"
	"github.com/twinstream/twinstream/cmd/twinstream/traffic"
)

// Kinesis is the part of the Kinesis client used here.
type Kinesis interface {
	DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, opts ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
}

// S3 is the part of the S3 client used here.
type S3 interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// SQS is the part of the SQS client used here.
type SQS interface {
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// Collector reads a pipeline's state.
type Collector struct {
	// Traffic reads the accelerator and the Route 53 health checks.
	Traffic traffic.Reader
	Kinesis func(region string) Kinesis
	S3      func(region string) S3
	SQS     func(region string) SQS
	// Timeout bounds each call (default 10s).
	Timeout time.Duration
	// SpillScanLimit caps the spill objects listed per region (default
	// 10,000): beyond it the count reads "at least".
	SpillScanLimit int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Report is a pipeline's state.
type Report struct {
	Pipeline    string         `json:"pipeline"`
	GlobalStack pipeline.Stack `json:"globalStack"`
	Accelerator Accelerator    `json:"accelerator"`
	Regions     []*Region      `json:"regions"`
	// Attention lists what needs an operator; Errors what could not be
	// read.
	Attention []string `json:"attention"`
	Errors    []string `json:"errors"`
}

// Accelerator is the accelerator's deployment status.
type Accelerator struct {
	ARN    string `json:"arn"`
	Status string `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Region is one region's state. A part that could not be read has Error set.
type Region struct {
	Region            string          `json:"region"`
	Stack             *pipeline.Stack `json:"stack,omitempty"`
	StackError        string          `json:"stackError,omitempty"`
	Accelerator       Endpoint        `json:"accelerator"`
	Route53           HealthCheck     `json:"route53"`
	Stream            Stream          `json:"stream"`
	Spill             Spill           `json:"spill"`
	ReplayDeadLetter  Queue           `json:"replayDeadLetterQueue"`
	ProcessorFailures Queue           `json:"processorFailureQueue"`
}

// Endpoint is the region's endpoint group.
type Endpoint struct {
	EndpointGroupARN string `json:"endpointGroupArn"`
	*traffic.Group
	Health       string  `json:"health,omitempty"`
	TemplateDial float32 `json:"templateTrafficDial"`
	Drift        bool    `json:"drift"`
	Error        string  `json:"error,omitempty"`
}

// HealthCheck is the region's Route 53 health check.
type HealthCheck struct {
	ID string `json:"healthCheckId"`
	*traffic.Check
	Healthy      bool   `json:"healthy"`
	TemplatePath string `json:"templatePath"`
	Drift        bool   `json:"drift"`
	Drained      bool   `json:"drained"`
	Error        string `json:"error,omitempty"`
}

// Stream is the region's Kinesis stream.
type Stream struct {
	Name       string `json:"name"`
	Status     string `json:"status,omitempty"`
	OpenShards int32  `json:"openShards,omitempty"`
	Error      string `json:"error,omitempty"`
}

// Spill is what waits under the spill prefix for replay.
type Spill struct {
	Bucket  string `json:"bucket"`
	Prefix  string `json:"prefix"`
	Objects int    `json:"objects"`
	// AtLeast says the listing stopped at the scan limit.
	AtLeast          bool       `json:"atLeast,omitempty"`
	Oldest           *time.Time `json:"oldest,omitempty"`
	OldestAgeSeconds float64    `json:"oldestAgeSeconds,omitempty"`
	Error            string     `json:"error,omitempty"`
}

// Queue is an SQS queue's depth: messages waiting and in flight.
type Queue struct {
	URL      string `json:"url"`
	Messages int    `json:"messages"`
	InFlight int    `json:"inFlight"`
	Error    string `json:"error,omitempty"`
}

func (c *Collector) call(ctx context.Context) (context.Context, context.CancelFunc) {
	t := c.Timeout
	if t <= 0 {
		t = 10 * time.Second
	}
	return context.WithTimeout(ctx, t)
}

func (c *Collector) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Collect reads everything, every region at once. It does not fail: what
// could not be read is in Report.Errors (and the parts' Error fields).
func (c *Collector) Collect(ctx context.Context, p *pipeline.Pipeline) *Report {
	r := &Report{Pipeline: p.Name, GlobalStack: p.Global, Accelerator: Accelerator{ARN: p.AcceleratorARN}, Attention: []string{}, Errors: []string{}}
	var wg sync.WaitGroup
	wg.Go(func() {
		st, err := c.Traffic.AcceleratorStatus(ctx, p.AcceleratorARN)
		r.Accelerator.Status, r.Accelerator.Error = st, errString(err)
	})
	for _, reg := range p.Regions {
		rs := &Region{Region: reg.Name}
		r.Regions = append(r.Regions, rs)
		wg.Go(func() { c.region(ctx, reg, rs) })
	}
	wg.Wait()
	r.assess(p)
	return r
}

// region reads one region's parts, one after another.
func (c *Collector) region(ctx context.Context, reg *pipeline.Region, rs *Region) {
	rs.Accelerator = Endpoint{EndpointGroupARN: reg.EndpointGroupARN, TemplateDial: reg.TemplateDial}
	if g, err := c.Traffic.Group(ctx, reg.EndpointGroupARN); err != nil {
		rs.Accelerator.Error = err.Error()
	} else {
		rs.Accelerator.Group, rs.Accelerator.Health = &g, g.Health()
		rs.Accelerator.Drift = g.Dial != reg.TemplateDial
	}
	rs.Route53 = HealthCheck{ID: reg.HealthCheckID, TemplatePath: reg.TemplatePath}
	if hc, err := c.Traffic.Check(ctx, reg.HealthCheckID); err != nil {
		rs.Route53.Error = err.Error()
	} else if err := c.Traffic.Observe(ctx, reg.HealthCheckID, &hc); err != nil {
		rs.Route53.Error = err.Error()
	} else {
		rs.Route53.Check, rs.Route53.Healthy = &hc, hc.Healthy()
		rs.Route53.Drift = hc.Path != reg.TemplatePath
		rs.Route53.Drained = hc.Path == traffic.DrainedPath
	}

	if reg.StackErr != nil {
		rs.StackError = reg.StackErr.Error()
		return
	}
	st := reg.Stack
	rs.Stack = &st
	rs.Stream = c.stream(ctx, reg)
	rs.Spill = c.spill(ctx, reg)
	rs.ReplayDeadLetter = c.queue(ctx, reg.Name, reg.ReplayDeadLetterQueue)
	rs.ProcessorFailures = c.queue(ctx, reg.Name, reg.ProcessorFailureQueue)
}

func (c *Collector) stream(ctx context.Context, reg *pipeline.Region) Stream {
	s := Stream{Name: reg.StreamName}
	cctx, cancel := c.call(ctx)
	defer cancel()
	out, err := c.Kinesis(reg.Name).DescribeStreamSummary(cctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(reg.StreamName)})
	if err != nil {
		s.Error = fmt.Sprintf("describe stream %s: %v", reg.StreamName, err)
		return s
	}
	if d := out.StreamDescriptionSummary; d != nil {
		s.Status, s.OpenShards = string(d.StreamStatus), aws.ToInt32(d.OpenShardCount)
	}
	return s
}

// spill counts the objects under the spill prefix and finds the oldest.
// When the count stops at the limit, the objects listed are not the oldest:
// ingest spreads spill keys over hash prefixes
// (<prefix>/<2 hex>/region=/dt=/hr=/<ULID>.ndjson), and keys sort by time
// only under each of them; oldestSpill then reads the first of each.
func (c *Collector) spill(ctx context.Context, reg *pipeline.Region) Spill {
	s := Spill{Bucket: reg.SpillBucket, Prefix: reg.SpillPrefix}
	limit := c.SpillScanLimit
	if limit <= 0 {
		limit = 10000
	}
	prefix := strings.TrimSuffix(reg.SpillPrefix, "/") + "/"
	var token *string
	for {
		cctx, cancel := c.call(ctx)
		out, err := c.S3(reg.Name).ListObjectsV2(cctx, &s3.ListObjectsV2Input{Bucket: aws.String(reg.SpillBucket), Prefix: aws.String(prefix), ContinuationToken: token})
		cancel()
		if err != nil {
			s.Error = fmt.Sprintf("list s3://%s/%s: %v", reg.SpillBucket, prefix, err)
			return s
		}
		for _, o := range out.Contents {
			s.Objects++
			if t := o.LastModified; t != nil && (s.Oldest == nil || t.Before(*s.Oldest)) {
				tt := t.UTC()
				s.Oldest = &tt
			}
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			break
		}
		if s.Objects >= limit {
			s.AtLeast = true
			break
		}
		token = out.NextContinuationToken
	}
	if s.AtLeast {
		oldest, err := c.oldestSpill(ctx, reg.Name, reg.SpillBucket, prefix)
		if err != nil {
			s.Error = err.Error()
			return s
		}
		if oldest != nil && (s.Oldest == nil || oldest.Before(*s.Oldest)) {
			s.Oldest = oldest
		}
	}
	if s.Oldest != nil {
		s.OldestAgeSeconds = c.now().Sub(*s.Oldest).Round(time.Second).Seconds()
	}
	return s
}

// spillListers bounds oldestSpill's concurrent listings (one per hash
// prefix, 256 with ingest's layout).
const spillListers = 16

// oldestSpill returns the oldest LastModified among the objects right
// under prefix and the first object under each prefix one level below it:
// the oldest of all, as long as keys sort by time under each of those
// prefixes (ingest's layout, and the layout before the hash prefix, whose
// one sub-prefix was region=<r>/).
func (c *Collector) oldestSpill(ctx context.Context, region, bucket, prefix string) (*time.Time, error) {
	var (
		mu     sync.Mutex
		oldest *time.Time
	)
	consider := func(objs []s3types.Object) {
		mu.Lock()
		defer mu.Unlock()
		for _, o := range objs {
			if t := o.LastModified; t != nil && (oldest == nil || t.Before(*oldest)) {
				tt := t.UTC()
				oldest = &tt
			}
		}
	}
	var subs []string
	var token *string
	for {
		cctx, cancel := c.call(ctx)
		out, err := c.S3(region).ListObjectsV2(cctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix),
			Delimiter: aws.String("/"), ContinuationToken: token})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s by prefix: %w", bucket, prefix, err)
		}
		consider(out.Contents)
		for _, cp := range out.CommonPrefixes {
			subs = append(subs, aws.ToString(cp.Prefix))
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			break
		}
		token = out.NextContinuationToken
	}
	errs := make([]error, len(subs))
	sem := make(chan struct{}, spillListers)
	var wg sync.WaitGroup
	for i, sub := range subs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			cctx, cancel := c.call(ctx)
			defer cancel()
			out, err := c.S3(region).ListObjectsV2(cctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(sub), MaxKeys: aws.Int32(1)})
			if err != nil {
				errs[i] = fmt.Errorf("list s3://%s/%s: %w", bucket, sub, err)
				return
			}
			consider(out.Contents)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return oldest, nil
}

func (c *Collector) queue(ctx context.Context, region, url string) Queue {
	q := Queue{URL: url}
	cctx, cancel := c.call(ctx)
	defer cancel()
	out, err := c.SQS(region).GetQueueAttributes(cctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		q.Error = fmt.Sprintf("get attributes of queue %s: %v", url, err)
		return q
	}
	q.Messages, _ = strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	q.InFlight, _ = strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return q
}

// assess fills Attention and Errors.
func (r *Report) assess(p *pipeline.Pipeline) {
	attn := func(format string, args ...any) { r.Attention = append(r.Attention, fmt.Sprintf(format, args...)) }
	fail := func(format string, args ...any) { r.Errors = append(r.Errors, fmt.Sprintf(format, args...)) }
	if badStack(p.Global.Status) {
		attn("stack %s is %s", p.Global.Name, p.Global.Status)
	}
	if r.Accelerator.Error != "" {
		fail("accelerator: %s", r.Accelerator.Error)
	} else if r.Accelerator.Status != "DEPLOYED" {
		attn("accelerator is %s: a change is still deploying", r.Accelerator.Status)
	}
	for _, rs := range r.Regions {
		n := rs.Region
		if rs.StackError != "" {
			fail("%s: %s", n, rs.StackError)
		} else if badStack(rs.Stack.Status) {
			attn("%s: stack %s is %s", n, rs.Stack.Name, rs.Stack.Status)
		}
		a, h := rs.Accelerator, rs.Route53
		if a.Error != "" {
			fail("%s: accelerator endpoint group: %s", n, a.Error)
		}
		if h.Error != "" {
			fail("%s: route 53 health check: %s", n, h.Error)
		}
		if a.Group != nil && h.Check != nil {
			drainedGA, drainedR53 := a.Dial == 0, h.Drained
			switch {
			case drainedGA && drainedR53:
				attn("%s is drained (traffic dial 0, health check path %s): `twinstream restore %s` when done. Drift: the template says dial %s and path %s, and a deploy of %s that updates them restores the region", n, h.Path, n, pctF(a.TemplateDial), h.TemplatePath, p.Global.Name)
			case drainedGA != drainedR53:
				attn("%s is half drained (traffic dial %s, health check path %s): run `twinstream drain %s` or `twinstream restore %s` to make both paths agree", n, pctF(a.Dial), h.Path, n, n)
			default:
				if a.Drift {
					attn("%s: traffic dial %s differs from the template's %s (drift: a deploy of %s that updates the endpoint group resets it)", n, pctF(a.Dial), pctF(a.TemplateDial), p.Global.Name)
				}
				if h.Drift {
					attn("%s: route 53 health check path %s differs from the template's %s (drift)", n, h.Path, h.TemplatePath)
				}
			}
		}
		if a.Group != nil && !a.Group.Healthy() {
			attn("%s: accelerator endpoint %s: the accelerator sends its traffic to other regions", n, a.Health)
		}
		if h.Check != nil {
			if !h.Healthy && !h.Drained {
				attn("%s: route 53 counts the region unhealthy (%s): the DNS failover path leaves it out", n, h.Verdict())
			}
			if h.Disabled || h.Inverted {
				attn("%s: route 53 health check is disabled or inverted: Route 53 counts the region healthy whatever it answers", n)
			}
		}
		if rs.Stack == nil {
			continue
		}
		if rs.Stream.Error != "" {
			fail("%s: %s", n, rs.Stream.Error)
		} else if rs.Stream.Status != "ACTIVE" {
			attn("%s: stream %s is %s", n, rs.Stream.Name, rs.Stream.Status)
		}
		if rs.Spill.Error != "" {
			fail("%s: %s", n, rs.Spill.Error)
		} else if rs.Spill.Objects > 0 {
			attn("%s: %s wait for replay, the oldest %s old", n, plural(count(rs.Spill.Objects, rs.Spill.AtLeast), rs.Spill.Objects, "spill object"), age(rs.Spill.OldestAgeSeconds))
		}
		for _, q := range []struct {
			what, meaning string
			q             Queue
		}{
			{"replay dead-letter queue", "spill objects replay gave up on: they stay in the spill bucket", rs.ReplayDeadLetter},
			{"processor failure queue", "batches the processor gave up on: their records stay in the stream for its retention", rs.ProcessorFailures},
		} {
			if q.q.Error != "" {
				fail("%s: %s", n, q.q.Error)
			} else if q.q.Messages+q.q.InFlight > 0 {
				attn("%s: %s holds %s (%s)", n, q.what, plural(strconv.Itoa(q.q.Messages+q.q.InFlight), q.q.Messages+q.q.InFlight, "message"), q.meaning)
			}
		}
	}
}

// badStack says a stack status needs a look: in progress, failed or
// rolled back.
func badStack(s string) bool {
	return !strings.HasSuffix(s, "_COMPLETE") || strings.Contains(s, "ROLLBACK") || strings.Contains(s, "FAILED")
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func pctF(d float32) string { return strconv.FormatFloat(float64(d), 'g', -1, 32) }

func count(n int, atLeast bool) string {
	if atLeast {
		return "at least " + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// plural is "<n> <noun>" with an s unless n is 1.
func plural(n string, count int, noun string) string {
	if count == 1 {
		return n + " " + noun
	}
	return n + " " + noun + "s"
}

// age prints seconds as 1h2m3s.
func age(seconds float64) string {
	return (time.Duration(seconds) * time.Second).String()
}
