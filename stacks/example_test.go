package stacks_test

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/jsii-runtime-go"

	"github.com/twinstream/twinstream/stacks"
)

// A team runs its own pipeline in its own stack, one per region: it names
// it, points it at the API-key secret, and may bring its own processor (a Go
// main package following the contract in PipelineProps.ProcessorHandler).
// Every other prop has a production default. The ALB targets, buckets and
// metrics are fields and methods of the Pipeline.
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
	// Twinstream/orders SpilledRecords
	// 3m30s 138
}
