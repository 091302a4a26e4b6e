package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/twinstream/twinstream/cmd/twinstream/awsfake"
	"github.com/twinstream/twinstream/cmd/twinstream/cli"
	"github.com/twinstream/twinstream/cmd/twinstream/pipeline"
	"github.com/twinstream/twinstream/cmd/twinstream/status"
	"github.com/twinstream/twinstream/e2e/internal/standin"
)

var regions = []string{"us-east-1", "us-west-2"}

// world is the golden templates' pipeline deployed into the command's
// fakes, with each region's stream, spill bucket and queues real stand-ins:
// a kinesalite per region, one gofakes3 and one local-aws-sqs for both.
type world struct {
	cf  *awsfake.CloudFormation
	ga  *awsfake.Accelerator
	r53 *awsfake.Route53
	sm  *awsfake.SecretsManager
	kin map[string]*standin.Kinesis
	s3  *standin.S3
	sqs *standin.SQS
	// queues are the regions' queue URLs by logical id prefix.
	queues map[string]string
}

func streamName(region string) string { return "twinstream-" + region + "-stream" }
func spill(region string) string      { return "twinstream-" + region + "-spill" }

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	w := &world{cf: awsfake.NewCloudFormation(t), ga: awsfake.NewAccelerator(t), r53: awsfake.NewRoute53(t), sm: awsfake.NewSecretsManager(t),
		kin: map[string]*standin.Kinesis{}, s3: standin.StartS3(t), sqs: standin.StartSQS(t), queues: map[string]string{}}
	for _, r := range regions {
		w.kin[r] = standin.StartKinesis(t, standin.KinesisOptions{Region: r, InMemory: true})
		if err := w.kin[r].CreateStream(ctx, streamName(r), 2); err != nil {
			t.Fatal(err)
		}
		if err := w.s3.CreateBucket(ctx, spill(r)); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{"PipelineReplayDeadLetterQueue", "PipelineProcessorFailureQueue"} {
			url, err := w.sqs.CreateQueue(ctx, r+"-"+q)
			if err != nil {
				t.Fatal(err)
			}
			w.queues[r+"/"+q] = url
		}
	}
	_, err := awsfake.Deploy(w.cf, w.ga, w.r53, awsfake.DeployOptions{Name: "twinstream", Dir: awsfake.Golden(), GlobalRegion: pipeline.GlobalRegion,
		Physical: func(stack, region, logical, typ string) string {
			switch {
			case stack == "twinstream-global":
				return ""
			case typ == "AWS::Kinesis::Stream":
				return streamName(region)
			case typ == "AWS::S3::Bucket" && strings.HasPrefix(logical, "PipelineSpillBucket"):
				return spill(region)
			case typ == "AWS::SQS::Queue":
				for k, url := range w.queues {
					if strings.HasPrefix(k, region+"/") && strings.HasPrefix(logical, strings.TrimPrefix(k, region+"/")) {
						return url
					}
				}
			}
			return ""
		}})
	if err != nil {
		t.Fatal(err)
	}
	w.sm.Create("twinstream/api-keys", "us-east-1", []string{"us-west-2"}, `{"keys":[]}`)
	return w
}

// clients are SDK clients on the fakes and stand-ins, by service and region.
func (w *world) clients() *cli.SDK {
	return &cli.SDK{Config: standin.AWSConfig("us-east-1"), Endpoint: func(service, region string) string {
		switch service {
		case "cloudformation":
			return w.cf.URL()
		case "globalaccelerator":
			return w.ga.URL()
		case "route53":
			return w.r53.URL()
		case "secretsmanager":
			return w.sm.URL()
		case "kinesis":
			return w.kin[region].Endpoint()
		case "s3":
			return w.s3.Endpoint()
		case "sqs":
			return w.sqs.Endpoint()
		}
		panic("no endpoint for " + service)
	}}
}

func (w *world) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Run(t.Context(), args, cli.Env{Stdout: &out, Stderr: &errb, Dir: t.TempDir(),
		Getenv:  func(k string) string { return map[string]string{"TWINSTREAM_NAME": "twinstream"}[k] },
		Clients: func(context.Context, string) (cli.Clients, error) { return w.clients(), nil }})
	return code, out.String(), errb.String()
}

func (w *world) status(t *testing.T) (int, *status.Report) {
	t.Helper()
	code, out, errs := w.run(t, "status", "--json")
	var r status.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("status --json: %v\nstdout:\n%s\nstderr:\n%s", err, out, errs)
	}
	return code, &r
}

func TestStatus(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	code, r := w.status(t)
	if code != cli.ExitOK || len(r.Attention) != 0 || len(r.Errors) != 0 {
		t.Fatalf("a quiet pipeline: exit %d, attention %q, errors %q; want 0 and none", code, r.Attention, r.Errors)
	}
	for _, reg := range r.Regions {
		if reg.Stream.Status != "ACTIVE" || reg.Stream.OpenShards != 2 || reg.Stream.Name != streamName(reg.Region) {
			t.Errorf("%s stream: got %+v, want %s ACTIVE with 2 shards", reg.Region, reg.Stream, streamName(reg.Region))
		}
	}

	// Region us-east-1 spilled 3 requests, replay gave up on 2 objects and
	// the processor on a batch in us-west-2.
	start := time.Now()
	for i := range 3 {
		key := fmt.Sprintf("spill/region=us-east-1/dt=%s/hr=%s/01KSPILL%d.ndjson", start.UTC().Format("2006-01-02"), start.UTC().Format("15"), i)
		if _, err := w.s3.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(spill("us-east-1")), Key: aws.String(key), Body: strings.NewReader("{}\n")}); err != nil {
			t.Fatal(err)
		}
	}
	// Not under the spill prefix: not counted.
	if _, err := w.s3.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(spill("us-east-1")), Key: aws.String("other/x"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		queue string
		n     int
	}{{"us-east-1/PipelineReplayDeadLetterQueue", 2}, {"us-west-2/PipelineProcessorFailureQueue", 1}} {
		for range m.n {
			if _, err := w.sqs.Client().SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(w.queues[m.queue]), MessageBody: aws.String("{}")}); err != nil {
				t.Fatal(err)
			}
		}
	}
	code, r = w.status(t)
	east, west := r.Regions[0], r.Regions[1]
	if code != cli.ExitAttention {
		t.Errorf("exit %d, want %d (attention)", code, cli.ExitAttention)
	}
	if east.Spill.Objects != 3 || east.Spill.Oldest == nil || east.Spill.OldestAgeSeconds > time.Since(start).Seconds()+1 {
		t.Errorf("us-east-1 spill: got %+v, want 3 objects, the oldest written just now", east.Spill)
	}
	if east.ReplayDeadLetter.Messages != 2 || west.ProcessorFailures.Messages != 1 || east.ProcessorFailures.Messages != 0 {
		t.Errorf("queues: got %+v %+v %+v, want 2, 1 and 0 messages", east.ReplayDeadLetter, west.ProcessorFailures, east.ProcessorFailures)
	}
	attention := strings.Join(r.Attention, "\n")
	for _, want := range []string{"us-east-1: 3 spill objects wait for replay", "us-east-1: replay dead-letter queue holds 2 messages", "us-west-2: processor failure queue holds 1 message"} {
		if !strings.Contains(attention, want) {
			t.Errorf("attention lacks %q:\n%s", want, attention)
		}
	}

	// us-west-2's Kinesis is down: status says so and reads the rest.
	if err := w.kin["us-west-2"].Kill(); err != nil {
		t.Fatal(err)
	}
	code, r = w.status(t)
	if code != cli.ExitFailure || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "us-west-2: describe stream "+streamName("us-west-2")) {
		t.Errorf("Kinesis down: exit %d, errors %q; want 1 and the failed describe", code, r.Errors)
	}
	if r.Regions[1].ProcessorFailures.Messages != 1 || r.Regions[0].Stream.Status != "ACTIVE" {
		t.Errorf("Kinesis down in us-west-2: got %+v, want the other parts read", r.Regions)
	}
	// The table says it too.
	code, out, _ := w.run(t, "status")
	if code != cli.ExitFailure || !strings.Contains(out, "could not read:") || !strings.Contains(out, "3 objects, oldest") {
		t.Errorf("status table: exit %d\n%s", code, out)
	}
}
