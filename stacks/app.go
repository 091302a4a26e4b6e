package stacks

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// DeploymentProps configure a Deployment.
type DeploymentProps struct {
	// Config is the configuration (required): name, regions, account,
	// domain, alarm email, AZs, rate limits, reserved concurrency,
	// termination protection. It is JSON-able (cdk.json's context key
	// ContextKey, read with ParseConfig) and validated here.
	Config *Config
	// Pipeline holds the pipeline settings of every region (processor
	// handler and environment, function settings, removal policy, props
	// laid over the created resources' defaults...; see PipelineProps and
	// RegionalStackProps.Pipeline for what the regional stack sets itself).
	// A construct belongs to one stack, so its construct-typed fields
	// (ApiKeys, the Existing* resources, a key inside StreamProps...) must
	// be nil here: NewDeployment panics naming the field. Default: none,
	// the production defaults.
	Pipeline *PipelineProps
	// PipelineFor, when set, is called for each region once its regional
	// stack exists and before its pipeline is built, with that stack: it
	// may define or import constructs there (an existing stream, key or
	// bucket of that region) and return them in per-region props, laid
	// over Pipeline. Default: none.
	PipelineFor func(stack awscdk.Stack, region string) *PipelineProps
}

// Deployment is a whole multi-region pipeline: one RegionalStack per
// region and the GlobalStack (Global Accelerator, Route 53 health checks
// and records, sink replication between all regions).
type Deployment struct {
	// Regional is in Config.Regions order: the primary region first.
	Regional []*RegionalStack
	Global   *GlobalStack
}

// StackID names a regional stack ("twinstream-us-east-1"); the id is also
// the CloudFormation stack name, so `cdk deploy <id>` deploys that region.
func StackID(cfg *Config, region string) string { return cfg.Name + "-" + region }

// GlobalStackID names the global stack ("twinstream-global").
func GlobalStackID(cfg *Config) string { return cfg.Name + "-global" }

// NewDeployment adds a Deployment for props.Config to app: a RegionalStack
// "<name>-<region>" per region and the GlobalStack "<name>-global" in
// GlobalRegion. Each regional stack deploys on its own; the global stack
// depends on all of them (`cdk deploy --all` deploys it last), and its
// references to their ALBs and sink buckets are strong: a regional deploy
// that would replace either fails instead of leaving the accelerator, DNS
// and replication pointing at a deleted resource (see
// GlobalStack.strongReferences).
//
// It panics (CDK style) when the configuration is invalid, when Pipeline
// holds a construct, or when app already has a stack of one of these names
// (a second Deployment of the same Name). Across apps the stack names are
// the guard's limit: CloudFormation knows stacks by name in an account and
// region, so two apps deploying one Name to one account deploy the same
// stacks, the second updating the first's. Give each pipeline its own Name
// per account.
func NewDeployment(app awscdk.App, props *DeploymentProps) *Deployment {
	fail := func(format string, args ...any) { panic(fmt.Sprintf("twinstream: NewDeployment: "+format, args...)) }
	if app == nil {
		fail("app is nil")
	}
	if props == nil || props.Config == nil {
		fail("props.Config is required")
	}
	cfg := props.Config
	if err := cfg.Validate(); err != nil {
		fail("%v", err)
	}
	if props.Pipeline != nil && props.Pipeline.ApiKeys != nil {
		fail("Pipeline.ApiKeys is set: each regional stack provides the API-key secret (%s, created in the primary region and replicated); leave it unset", apiKeysSecretName(cfg))
	}
	if fields := constructFields(props.Pipeline); len(fields) > 0 {
		fail("Pipeline.%s holds a construct, which belongs to one stack: return it from PipelineFor, for the stack of its region", strings.Join(fields, ", Pipeline."))
	}
	ids := []string{GlobalStackID(cfg)}
	for _, r := range cfg.Regions {
		ids = append(ids, StackID(cfg, r))
	}
	for _, id := range ids {
		if app.Node().TryFindChild(jsii.String(id)) != nil {
			fail("the app already has a stack %q: a Deployment named %q exists; give each Deployment its own Config.Name", id, cfg.Name)
		}
	}

	env := func(region string) *awscdk.Environment {
		e := &awscdk.Environment{Region: jsii.String(region)}
		if cfg.Account != "" {
			e.Account = jsii.String(cfg.Account)
		}
		return e
	}
	// Below the default priority (100): a team's own tags win wherever it
	// applies them, the app included (a tag on a closer scope would win
	// over a team's app-level tag of equal priority).
	low := &awscdk.TagProps{Priority: jsii.Number(deploymentTagPriority)}
	tag := func(s awscdk.Stack) {
		awscdk.Tags_Of(s).Add(jsii.String("project"), jsii.String("twinstream"), low)
		awscdk.Tags_Of(s).Add(jsii.String("pipeline"), jsii.String(cfg.Name), low)
	}
	d := &Deployment{}
	for _, r := range cfg.Regions {
		var pipelineFor func(awscdk.Stack) *PipelineProps
		if props.PipelineFor != nil {
			pipelineFor = func(s awscdk.Stack) *PipelineProps { return props.PipelineFor(s, r) }
		}
		rs := NewRegionalStack(app, StackID(cfg, r), &RegionalStackProps{
			StackProps: awscdk.StackProps{
				Env:                   env(r),
				CrossRegionReferences: jsii.Bool(true),
				Description:           jsii.String("twinstream " + cfg.Name + ": ingest pipeline in " + r),
			},
			Config:      cfg,
			Region:      r,
			Pipeline:    props.Pipeline,
			PipelineFor: pipelineFor,
		})
		tag(rs.Stack)
		d.Regional = append(d.Regional, rs)
	}
	d.Global = NewGlobalStack(app, GlobalStackID(cfg), &GlobalStackProps{
		StackProps: awscdk.StackProps{
			Env:                   env(GlobalRegion),
			CrossRegionReferences: jsii.Bool(true),
			Description:           jsii.String("twinstream " + cfg.Name + ": Global Accelerator, Route 53 health checks and failover, sink replication"),
		},
		Config:  cfg,
		Regions: d.Regional,
	})
	tag(d.Global.Stack)
	for _, r := range d.Regional {
		d.Global.AddStackDependency(r, jsii.String("the global stack reads each region's ALB and sink bucket"))
	}
	return d
}

// deploymentTagPriority is the priority of the project and pipeline tags
// NewDeployment puts on its stacks.
const deploymentTagPriority = 50
