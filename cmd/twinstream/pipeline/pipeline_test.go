package pipeline_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/twinstream/twinstream/cmd/twinstream/awsfake"
	"github.com/twinstream/twinstream/cmd/twinstream/pipeline"
)

// discoverer returns a Discoverer whose SDK clients reach cf.
func discoverer(cf *awsfake.CloudFormation) *pipeline.Discoverer {
	return &pipeline.Discoverer{CloudFormation: func(region string) pipeline.CloudFormation {
		return cloudformation.NewFromConfig(awsfake.Config(region), func(o *cloudformation.Options) {
			o.BaseEndpoint = aws.String(cf.URL())
		})
	}}
}

func deploy(t *testing.T, dir string, skip ...string) (*awsfake.CloudFormation, *awsfake.Deployment) {
	t.Helper()
	cf := awsfake.NewCloudFormation(t)
	cf.PageSize = 7 // every listing takes several pages
	d, err := awsfake.Deploy(cf, nil, nil, awsfake.DeployOptions{Name: "twinstream", Dir: dir, GlobalRegion: pipeline.GlobalRegion, Skip: skip})
	if err != nil {
		t.Fatal(err)
	}
	return cf, d
}

func TestDiscover(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dir     string
		regions []string
	}{
		{"two regions (the golden templates)", awsfake.Golden(), []string{"us-east-1", "us-west-2"}},
		{"three regions", filepath.Join(awsfake.Golden(), "three-region"), []string{"eu-west-1", "us-east-1", "us-west-2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cf, d := deploy(t, tc.dir)
			disc := discoverer(cf)
			p, err := disc.Global(t.Context(), "twinstream")
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(p.RegionNames(), ","); got != strings.Join(tc.regions, ",") {
				t.Fatalf("regions: got %s, want %s", got, strings.Join(tc.regions, ","))
			}
			if want := d.Physical["twinstream-global/Accelerator8EB0B6B1"]; p.AcceleratorARN != want {
				t.Errorf("accelerator: got %q, want %q", p.AcceleratorARN, want)
			}
			if p.Global.Outputs["ProducerUrl"] != "https://ingest.example.com/v1/records" {
				t.Errorf("ProducerUrl output: got %q", p.Global.Outputs["ProducerUrl"])
			}
			if err := disc.Regional(t.Context(), p); err != nil {
				t.Fatal(err)
			}
			for _, r := range p.Regions {
				id := pipeline.RegionID(r.Name)
				stack := "twinstream-" + r.Name
				checks := []struct{ what, got, want string }{
					{"endpoint group", r.EndpointGroupARN, physicalPrefix(d, "twinstream-global", "AcceleratorListenerEndpointGroup"+id)},
					{"health check", r.HealthCheckID, d.Physical["twinstream-global/HealthCheck"+id]},
					{"template path", r.TemplatePath, "/health/deep"},
					{"stream", r.StreamName, d.Physical[stack+"/PipelineStreamDD609695"]},
					{"spill bucket", r.SpillBucket, d.Physical[stack+"/PipelineSpillBucketF0F00290"]},
					{"spill prefix", r.SpillPrefix, "spill"},
					{"replay DLQ", r.ReplayDeadLetterQueue, d.Physical[stack+"/PipelineReplayDeadLetterQueue0C4AC898"]},
					{"processor failures", r.ProcessorFailureQueue, d.Physical[stack+"/PipelineProcessorFailureQueue408865CB"]},
					{"secret", r.SecretID, "twinstream/api-keys"},
					{"stack", r.Stack.Name, stack},
				}
				for _, c := range checks {
					if c.got == "" || c.got != c.want {
						t.Errorf("%s %s: got %q, want %q", r.Name, c.what, c.got, c.want)
					}
				}
				if r.TemplateDial != 100 {
					t.Errorf("%s template dial: got %v, want 100", r.Name, r.TemplateDial)
				}
				if r.StackErr != nil {
					t.Errorf("%s: %v", r.Name, r.StackErr)
				}
			}
		})
	}
}

func physicalPrefix(d *awsfake.Deployment, stack, prefix string) string {
	for k, v := range d.Physical {
		if strings.HasPrefix(k, stack+"/"+prefix) {
			return v
		}
	}
	return ""
}

func TestDiscoverErrors(t *testing.T) {
	cf, _ := deploy(t, awsfake.Golden())
	empty := awsfake.NewCloudFormation(t)
	for _, tc := range []struct {
		name    string
		cf      *awsfake.CloudFormation
		arg     string
		is      error
		message string
	}{
		{"wrong name lists the pipelines there are", cf, "orders", pipeline.ErrStackMissing, "stack orders-global: stack not found in us-west-2; pipelines deployed in this account: twinstream"},
		{"no pipeline at all", empty, "twinstream", pipeline.ErrStackMissing, "no twinstream pipeline is deployed in this account"},
		{"invalid name", cf, "Twin_Stream", nil, `pipeline name "Twin_Stream": want 3-24 lowercase letters`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := discoverer(tc.cf).Global(t.Context(), tc.arg)
			if err == nil {
				t.Fatal("got no error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("got %v, want it to wrap %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("got %q, want it to contain %q", err, tc.message)
			}
		})
	}
}

func TestDiscoverMissingRegionalStack(t *testing.T) {
	cf, _ := deploy(t, awsfake.Golden(), "twinstream-us-east-1")
	disc := discoverer(cf)
	p, err := disc.Global(t.Context(), "twinstream")
	if err != nil {
		t.Fatal(err)
	}
	if err := disc.Regional(t.Context(), p); err != nil {
		t.Fatalf("one regional stack is there: got %v, want nil", err)
	}
	east, west := p.Region("us-east-1"), p.Region("us-west-2")
	if !errors.Is(east.StackErr, pipeline.ErrStackMissing) || !strings.Contains(east.StackErr.Error(), "twinstream-us-east-1") {
		t.Errorf("us-east-1: got %v, want the missing stack named", east.StackErr)
	}
	if west.StackErr != nil || west.StreamName == "" {
		t.Errorf("us-west-2: got %v and stream %q, want it read", west.StackErr, west.StreamName)
	}
	cf.Delete("us-west-2", "twinstream-us-west-2")
	if err := disc.Regional(t.Context(), p); !errors.Is(err, pipeline.ErrStackMissing) {
		t.Errorf("no regional stack: got %v, want ErrStackMissing", err)
	}
}

func TestDiscoverAPIErrors(t *testing.T) {
	for _, op := range []string{"DescribeStacks", "ListStackResources", "GetTemplate"} {
		t.Run(op, func(t *testing.T) {
			cf, _ := deploy(t, awsfake.Golden())
			cf.Fail(op, &awsfake.APIError{Status: 403, Code: "AccessDenied", Message: "User: arn:aws:iam::123456789012:user/ops is not authorized to perform: cloudformation:" + op})
			_, err := discoverer(cf).Global(t.Context(), "twinstream")
			if err == nil || !strings.Contains(err.Error(), "AccessDenied") || !strings.Contains(err.Error(), "twinstream-global in us-west-2") {
				t.Errorf("got %v, want the AccessDenied of %s on twinstream-global in us-west-2", err, op)
			}
		})
	}
}

func TestDiscoverDeadline(t *testing.T) {
	cf, _ := deploy(t, awsfake.Golden())
	disc := discoverer(cf)
	disc.Timeout = 1 // 1ns: every call is past its deadline
	_, err := disc.Global(context.Background(), "twinstream")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want a deadline exceeded", err)
	}
}
