// Command orders is the orders team's CDK app: the twinstream pipeline
// "orders" in two regions behind Global Accelerator, with the team's own
// processor. cdk.json holds the configuration (context key "twinstream")
// and the stage.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/twinstream/twinstream/stacks"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	if _, err := deployment(app); err != nil {
		fmt.Fprintln(os.Stderr, err)
		jsii.Close()
		os.Exit(1)
	}
	app.Synth(nil)
}

// deployment adds the orders pipeline's stacks to app: one per region and
// the global one.
func deployment(app awscdk.App) (*stacks.Deployment, error) {
	cfg, err := stacks.LoadConfig(app)
	if err != nil {
		return nil, err
	}
	pipeline := &stacks.PipelineProps{
		ProcessorHandler:     "github.com/acme/orders/lambdas/processor",
		ProcessorEnvironment: map[string]string{"ORDERS_PREFIX": "orders/v1", "CURRENCIES": "EUR,GBP,USD"},
		Processor:            &stacks.FunctionSettings{MemorySize: jsii.Number(512)},
	}
	// A dev stage can be destroyed, data and all (cdk destroy --all); any
	// other stage keeps the production defaults: data retained, stacks
	// protected.
	if app.Node().TryGetContext(jsii.String("stage")) == "dev" {
		pipeline.RemovalPolicy = awscdk.RemovalPolicy_DESTROY
		cfg.TerminationProtection = jsii.Bool(false)
	}
	return stacks.NewDeployment(app, &stacks.DeploymentProps{Config: cfg, Pipeline: pipeline}), nil
}
