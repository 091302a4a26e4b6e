package stacks

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"
)

// TestDeploymentProps: settings for every region (Pipeline) and per region
// (PipelineFor, called with that region's stack) reach the pipelines, the
// per-region ones laid over the shared ones; Pipeline props win over the
// configuration's reserved concurrency; a region's RemovalPolicy also
// governs its logs bucket and flow logs; a sink bucket defined by
// PipelineFor is the one the global stack replicates.
func TestDeploymentProps(t *testing.T) {
	cfg := DefaultConfig()
	cfg.IngestReservedConcurrency = 50
	cfg.HealthReservedConcurrency = 30
	app := flaggedApp()
	calls := map[string]string{} // region -> stack name PipelineFor got
	var teamSink awss3.Bucket
	d := NewDeployment(app, &DeploymentProps{
		Config: cfg,
		Pipeline: &PipelineProps{
			ProcessorEnvironment: map[string]string{"TEAM": "orders", "TIER": "all"},
			Processor:            &FunctionSettings{MemorySize: jsii.Number(2048)},
			Health:               &FunctionSettings{ReservedConcurrency: jsii.Number(7)},
		},
		PipelineFor: func(stack awscdk.Stack, region string) *PipelineProps {
			calls[region] = *stack.StackName()
			p := &PipelineProps{ProcessorEnvironment: map[string]string{"TIER": region}}
			if region == "us-east-1" {
				p.RemovalPolicy = awscdk.RemovalPolicy_DESTROY
			} else {
				teamSink = awss3.NewBucket(stack, jsii.String("TeamSink"), &awss3.BucketProps{
					Versioned: jsii.Bool(true), EnforceSSL: jsii.Bool(true), BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
				})
				p.ExistingSinkBucket = teamSink
			}
			return p
		},
	})
	for _, r := range cfg.Regions {
		if got, want := calls[r], StackID(cfg, r); got != want {
			t.Errorf("PipelineFor(%s): got stack %q, want %q", r, got, want)
		}
	}
	templates := map[string]cfnTemplate{}
	for _, rs := range d.Regional {
		templates[*rs.Region()] = cfnTemplateOf(t, rs.Stack)
	}
	for region, tpl := range templates {
		env := regionalFunctionEnv(tpl)
		for id, p := range tpl.props("AWS::Lambda::Function") {
			switch {
			case strings.HasPrefix(id, "PipelineProcessorFunction"):
				if got := fmt.Sprint(env[id]["TEAM"], " ", env[id]["TIER"]); got != "orders "+region {
					t.Errorf("%s processor TEAM TIER: got %s, want orders %s", region, got, region)
				}
				if p["MemorySize"] != 2048.0 {
					t.Errorf("%s processor MemorySize: got %v, want 2048", region, p["MemorySize"])
				}
			case strings.HasPrefix(id, "PipelineIngestFunction"):
				if p["ReservedConcurrentExecutions"] != 50.0 {
					t.Errorf("%s ingest reserved: got %v, want the configuration's 50", region, p["ReservedConcurrentExecutions"])
				}
			case strings.HasPrefix(id, "PipelineHealthFunction"):
				if p["ReservedConcurrentExecutions"] != 7.0 {
					t.Errorf("%s health reserved: got %v, want Pipeline's 7 over the configuration's 30", region, p["ReservedConcurrentExecutions"])
				}
			}
		}
		want := "Retain"
		if region == "us-east-1" {
			want = "Delete"
		}
		for id, r := range tpl.resources("AWS::S3::Bucket") {
			if id == "TeamSink"+id[len(id)-8:] {
				continue
			}
			if got := fmt.Sprint(r["DeletionPolicy"]); got != want && !(want == "Delete" && r["DeletionPolicy"] == nil) {
				t.Errorf("%s bucket %s DeletionPolicy: got %v, want %s", region, id, r["DeletionPolicy"], want)
			}
		}
		for id, r := range tpl.resources("AWS::KMS::Key") {
			days := r["Properties"].(map[string]any)["PendingWindowInDays"]
			if strings.HasPrefix(id, "AlarmTopicKey") && (want == "Delete") != (days == 7.0) {
				t.Errorf("%s alarm key PendingWindowInDays: got %v, want 7 only when destroyed with the pipeline", region, days)
			}
		}
		for id, r := range tpl.resources("AWS::Logs::LogGroup") {
			if strings.HasPrefix(id, "FlowLogs") {
				if got := fmt.Sprint(r["DeletionPolicy"]); got != want && !(want == "Delete" && r["DeletionPolicy"] == nil) {
					t.Errorf("%s flow logs DeletionPolicy: got %v, want %s", region, r["DeletionPolicy"], want)
				}
			}
		}
	}
	if n := len(templates["us-east-1"].resources("Custom::S3AutoDeleteObjects")); n != 3 {
		t.Errorf("us-east-1 auto-delete-objects: got %d, want 3 (logs, sink, spill)", n)
	}
	if d.Regional[1].Pipeline.SinkBucket != teamSink {
		t.Errorf("us-west-2 SinkBucket: got %v, want the bucket PipelineFor defined", d.Regional[1].Pipeline.SinkBucket)
	}
	global, _ := json.Marshal(assertions.Template_FromStack(d.Global.Stack, nil).ToJSON())
	if want := globalLogicalID(d.Regional[1].Stack, teamSink); !strings.Contains(string(global), want) {
		t.Errorf("global template: got no reference to the team's sink %s, want its replication", want)
	}
}

// TestDeploymentRefuses: a construct in the shared Pipeline props (it
// belongs to one stack), a second Deployment of one Name in one app, and
// pipeline props the regional stack sets itself.
func TestDeploymentRefuses(t *testing.T) {
	try := func(f func()) (msg string) {
		defer func() {
			if r := recover(); r != nil {
				msg = fmt.Sprint(r)
			}
		}()
		f()
		return ""
	}
	other := awscdk.NewStack(awscdk.NewApp(nil), jsii.String("Other"), nil)
	shared := awss3.Bucket_FromBucketName(other, jsii.String("B"), jsii.String("shared-sink"))
	for _, tt := range []struct {
		name  string
		props func() *DeploymentProps
		want  string
	}{
		{"no config", func() *DeploymentProps { return &DeploymentProps{} }, "props.Config is required"},
		{"bad config", func() *DeploymentProps {
			c := DefaultConfig()
			c.Regions = []string{"us-east-1", "us-west-2", "eu-west-1", "eu-central-1"}
			return &DeploymentProps{Config: c}
		}, "want 2 to 3 regions"},
		{"construct in shared props", func() *DeploymentProps {
			return &DeploymentProps{Config: DefaultConfig(), Pipeline: &PipelineProps{ExistingSinkBucket: shared}}
		}, "Pipeline.ExistingSinkBucket holds a construct, which belongs to one stack: return it from PipelineFor"},
		{"nested construct in shared props", func() *DeploymentProps {
			return &DeploymentProps{Config: DefaultConfig(), Pipeline: &PipelineProps{SpillBucketProps: &awss3.BucketProps{ServerAccessLogsBucket: shared}}}
		}, "Pipeline.SpillBucketProps.ServerAccessLogsBucket holds a construct"},
		{"another name", func() *DeploymentProps {
			return &DeploymentProps{Config: DefaultConfig(), Pipeline: &PipelineProps{Name: "other"}}
		}, `Pipeline.Name = "other": the pipeline is named by Config.Name ("twinstream")`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := try(func() { NewDeployment(awscdk.NewApp(nil), tt.props()) }); !strings.Contains(got, tt.want) {
				t.Errorf("got panic %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("api keys in shared props", func(t *testing.T) {
		got := try(func() {
			NewDeployment(awscdk.NewApp(nil), &DeploymentProps{Config: DefaultConfig(), Pipeline: &PipelineProps{ApiKeys: pipelineSecret(other)}})
		})
		if want := "Pipeline.ApiKeys is set: each regional stack provides the API-key secret"; !strings.Contains(got, want) {
			t.Errorf("got panic %q, want %q", got, want)
		}
	})
	t.Run("api keys", func(t *testing.T) {
		got := try(func() {
			NewDeployment(awscdk.NewApp(nil), &DeploymentProps{Config: DefaultConfig(), PipelineFor: func(s awscdk.Stack, _ string) *PipelineProps {
				return &PipelineProps{ApiKeys: pipelineSecret(s)}
			}})
		})
		if want := "Pipeline.ApiKeys is set: the stack provides the API-key secret (twinstream/api-keys"; !strings.Contains(got, want) {
			t.Errorf("got panic %q, want %q", got, want)
		}
	})
	t.Run("one name twice", func(t *testing.T) {
		app := awscdk.NewApp(nil)
		NewDeployment(app, &DeploymentProps{Config: DefaultConfig()})
		got := try(func() { NewDeployment(app, &DeploymentProps{Config: DefaultConfig()}) })
		if want := `the app already has a stack "twinstream-global": a Deployment named "twinstream" exists`; !strings.Contains(got, want) {
			t.Errorf("got panic %q, want %q", got, want)
		}
	})
}

// TestDeploymentTwoInOneApp: two Deployments of different names share an
// app; each stack is tagged with its own pipeline's name (tags on the app
// would give every stack the last one).
func TestDeploymentTwoInOneApp(t *testing.T) {
	app := flaggedApp()
	orders := DefaultConfig()
	orders.Name = "orders"
	billing := DefaultConfig()
	billing.Name = "billing"
	billing.Regions = []string{"eu-west-1", "eu-central-1"}
	a := NewDeployment(app, &DeploymentProps{Config: orders})
	b := NewDeployment(app, &DeploymentProps{Config: billing})
	for name, d := range map[string]*Deployment{"orders": a, "billing": b} {
		stacks := []awscdk.Stack{d.Global.Stack}
		for _, rs := range d.Regional {
			stacks = append(stacks, rs.Stack)
		}
		for _, s := range stacks {
			tpl := cfnTemplateOf(t, s)
			for id, r := range tpl.resources("AWS::SQS::Queue") {
				tags, _ := json.Marshal(r["Properties"].(map[string]any)["Tags"])
				if !strings.Contains(string(tags), `{"Key":"pipeline","Value":"`+name+`"}`) {
					t.Errorf("%s %s tags: got %s, want pipeline=%s", *s.StackName(), id, tags, name)
				}
			}
		}
	}
}

// TestDeploymentTeamTagsWin: a team's tags applied to the app (default
// priority) win over the project tag NewDeployment puts on each stack.
func TestDeploymentTeamTagsWin(t *testing.T) {
	app := flaggedApp()
	awscdk.Tags_Of(app).Add(jsii.String("project"), jsii.String("orders"), nil)
	d := NewDeployment(app, &DeploymentProps{Config: DefaultConfig()})
	tpl := cfnTemplateOf(t, d.Regional[0].Stack)
	for id, r := range tpl.resources("AWS::SQS::Queue") {
		tags, _ := json.Marshal(r["Properties"].(map[string]any)["Tags"])
		if !strings.Contains(string(tags), `{"Key":"project","Value":"orders"}`) {
			t.Errorf("%s tags: got %s, want project=orders (the team's)", id, tags)
		}
		if !strings.Contains(string(tags), `{"Key":"pipeline","Value":"twinstream"}`) {
			t.Errorf("%s tags: got %s, want pipeline=twinstream kept", id, tags)
		}
	}
}
