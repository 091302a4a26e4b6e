package stacks_test

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	elbv2 "github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/jsii-runtime-go"

	"github.com/twinstream/twinstream/lambdas/metrics"
	"github.com/twinstream/twinstream/stacks"
)

// A team gets the whole multi-region deployment for its own pipeline: a
// regional stack per region (ALB, WAF, TLS, alarms, the pipeline) and the
// global stack (Global Accelerator, Route 53 health checks and records,
// replication between the sinks). Settings for every region go in Pipeline;
// constructs of one region's stack come from PipelineFor.
func ExampleNewDeployment() {
	app := awscdk.NewApp(nil)
	d := stacks.NewDeployment(app, &stacks.DeploymentProps{
		Config: &stacks.Config{
			Name:    "orders",
			Regions: []string{"us-east-1", "eu-west-1"},
			Domain: &stacks.Domain{
				HostedZoneID: "Z1ORDERSEXAMPLE",
				ZoneName:     "orders.example.com",
				RecordName:   "ingest.orders.example.com",
			},
			AlarmEmail: "oncall@orders.example.com",
		},
		Pipeline: &stacks.PipelineProps{
			// The team's own processor, an import path of its module:
			// ProcessorHandler: "github.com/acme/orders/lambdas/processor",
			ProcessorEnvironment: map[string]string{"TABLE": "orders"},
			Processor:            &stacks.FunctionSettings{MemorySize: jsii.Number(2048)},
		},
		PipelineFor: func(stack awscdk.Stack, region string) *stacks.PipelineProps {
			// Bucket names are global: the account keeps them apart.
			return &stacks.PipelineProps{SinkBucketProps: &awss3.BucketProps{
				BucketName: jsii.String("orders-sink-" + region + "-" + *stack.Account()),
			}}
		},
	})
	app.Synth(nil)

	for _, r := range d.Regional {
		fmt.Println(*r.StackName(), *r.Region(), *r.Pipeline.MetricNamespace())
	}
	fmt.Println(*d.Global.StackName(), *d.Global.Region(), len(d.Global.EndpointGroups), "endpoint groups")
	// Output:
	// orders-us-east-1 us-east-1 Twinstream/orders/orders-us-east-1
	// orders-eu-west-1 eu-west-1 Twinstream/orders/orders-eu-west-1
	// orders-global us-west-2 2 endpoint groups
}

// A team that builds its own stacks runs a pipeline in each region's stack:
// it names it, points it at the API-key secret (imported here by name, as a
// replicated secret is: the functions then get the name, which resolves to
// the region's replica), and may bring its own processor (a Go main package
// following the contract in PipelineProps.ProcessorHandler). Every other
// prop has a production default. The buckets, functions and metrics are
// fields and methods of the Pipeline.
func ExampleNewPipeline() {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("orders-us-east-1"), &awscdk.StackProps{
		Env: &awscdk.Environment{Region: jsii.String("us-east-1")},
	})
	keys := awssecretsmanager.Secret_FromSecretNameV2(stack, jsii.String("ApiKeys"), jsii.String("orders/api-keys"))

	orders := stacks.NewPipeline(stack, "Orders", &stacks.PipelineProps{
		Name:    "orders",
		ApiKeys: keys,
		// The team's own processor, an import path or a folder:
		// ProcessorHandler: "github.com/acme/orders/lambdas/processor",
		// ProcessorEnvironment: map[string]string{"TABLE": "orders"},
	})

	// A consumer (here a role of the analytics account) reads the sink.
	analytics := awsiam.NewRole(stack, jsii.String("Analytics"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewAccountPrincipal(jsii.String("111122223333")),
	})
	orders.GrantReadSink(analytics)

	fmt.Println(*orders.Stream.Node().Path())
	fmt.Println(*orders.MetricSpilled(nil).Namespace(), *orders.MetricSpilled(nil).MetricName())
	fmt.Println(orders.ReplayTimeout, orders.ReplayMaxReceiveCount)
	// Output:
	// orders-us-east-1/Orders/Stream
	// Twinstream/orders/orders-us-east-1 SpilledRecords
	// 3m30s 138
}

// Behind its own ALB, a team attaches the pipeline to a listener: the
// ingest and region-health target groups, their health checks (the deep
// check Global Accelerator follows) and the listener rules come with the
// pipeline.
func ExamplePipeline_AttachToListener() {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("orders-eu-west-1"), &awscdk.StackProps{
		Env: &awscdk.Environment{Region: jsii.String("eu-west-1")},
	})
	orders := stacks.NewPipeline(stack, "Orders", &stacks.PipelineProps{
		Name:    "orders",
		ApiKeys: awssecretsmanager.Secret_FromSecretNameV2(stack, jsii.String("ApiKeys"), jsii.String("orders/api-keys")),
	})
	vpc := awsec2.NewVpc(stack, jsii.String("Vpc"), &awsec2.VpcProps{NatGateways: jsii.Number(0),
		SubnetConfiguration: &[]*awsec2.SubnetConfiguration{{Name: jsii.String("Public"), SubnetType: awsec2.SubnetType_PUBLIC}}})
	alb := elbv2.NewApplicationLoadBalancer(stack, jsii.String("Alb"), &elbv2.ApplicationLoadBalancerProps{Vpc: vpc, InternetFacing: jsii.Bool(true)})
	listener := alb.AddListener(jsii.String("Http"), &elbv2.BaseApplicationListenerProps{
		Port:          jsii.Number(80),
		DefaultAction: elbv2.ListenerAction_FixedResponse(jsii.Number(404), nil),
	})

	tgs := orders.AttachToListener(listener, nil)

	fmt.Println(*tgs.Ingest.Node().Path())
	fmt.Println(*tgs.Health.Node().Path(), stacks.DeepHealthPath, stacks.DeepHealthInterval, stacks.DeepHealthThreshold)
	// Output:
	// orders-eu-west-1/Orders/IngestTargetGroup
	// orders-eu-west-1/Orders/HealthTargetGroup /health/deep 5s 2
}

// A team's own stack shows the pipeline on its own dashboard, a row per
// part of the pipeline (ingest, processor, spill backlog and replay, region
// health), and may alarm on any of the handlers' metrics: package metrics
// lists them, each with its unit, dimension and default statistic.
func ExamplePipeline_Widgets() {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("orders-us-east-1"), &awscdk.StackProps{
		Env: &awscdk.Environment{Region: jsii.String("us-east-1")},
	})
	orders := stacks.NewPipeline(stack, "Orders", &stacks.PipelineProps{
		Name:    "orders",
		ApiKeys: awssecretsmanager.Secret_FromSecretNameV2(stack, jsii.String("ApiKeys"), jsii.String("orders/api-keys")),
	})

	dashboard := awscloudwatch.NewDashboard(stack, jsii.String("OrdersDashboard"), nil)
	rows := orders.Widgets()
	for _, row := range rows {
		dashboard.AddWidgets(row...)
	}
	failed := orders.Metric(metrics.Rejected, &awscloudwatch.MetricOptions{
		DimensionsMap: &map[string]*string{metrics.StatusClass: jsii.String(metrics.Status5xx)},
		Period:        awscdk.Duration_Minutes(jsii.Number(1)),
	})

	fmt.Println(len(rows), "rows")
	fmt.Println(*failed.Namespace(), *failed.MetricName(), *failed.Statistic())
	// Output:
	// 4 rows
	// Twinstream/orders/orders-us-east-1 RejectedRecords Sum
}
