package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// Stacks are the app's three stacks: one per region, then the global one.
type Stacks struct {
	// Regional is in Config.Regions order: the primary region first.
	Regional []*RegionalStack
	Global   *GlobalStack
}

// StackID names a regional stack ("twinstream-us-east-1"); the id is also
// the CloudFormation stack name, so `cdk deploy <id>` deploys that region.
func StackID(cfg *Config, region string) string { return cfg.Name + "-" + region }

// GlobalStackID names the global stack ("twinstream-global").
func GlobalStackID(cfg *Config) string { return cfg.Name + "-global" }

// AddStacks adds twinstream's stacks for cfg to app. Each regional stack can
// be deployed on its own; the global stack reads the regional stacks' outputs
// through CDK's cross-region references, so it is deployed after them.
func AddStacks(app awscdk.App, cfg *Config) *Stacks {
	if err := cfg.Validate(); err != nil {
		panic(err.Error())
	}
	env := func(region string) *awscdk.Environment {
		e := &awscdk.Environment{Region: jsii.String(region)}
		if cfg.Account != "" {
			e.Account = jsii.String(cfg.Account)
		}
		return e
	}
	awscdk.Tags_Of(app).Add(jsii.String("project"), jsii.String("twinstream"), nil)
	awscdk.Tags_Of(app).Add(jsii.String("pipeline"), jsii.String(cfg.Name), nil)
	s := &Stacks{}
	for _, r := range cfg.Regions {
		s.Regional = append(s.Regional, NewRegionalStack(app, StackID(cfg, r), &RegionalStackProps{
			StackProps: awscdk.StackProps{
				Env:                   env(r),
				CrossRegionReferences: jsii.Bool(true),
				Description:           jsii.String("twinstream " + cfg.Name + ": ingest pipeline in " + r),
			},
			Config: cfg,
			Region: r,
		}))
	}
	s.Global = NewGlobalStack(app, GlobalStackID(cfg), &GlobalStackProps{
		StackProps: awscdk.StackProps{
			Env:                   env(GlobalRegion),
			CrossRegionReferences: jsii.Bool(true),
			Description:           jsii.String("twinstream " + cfg.Name + ": Global Accelerator, Route 53 health checks and failover, sink replication"),
		},
		Config:  cfg,
		Regions: s.Regional,
	})
	for _, r := range s.Regional {
		s.Global.AddStackDependency(r, jsii.String("the global stack reads each region's ALB and sink bucket"))
	}
	return s
}
