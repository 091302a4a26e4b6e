// Command twinstream is the CDK app: it reads the configuration from the
// cdk.json context key "twinstream" and adds the Deployment (a regional
// stack per region and the global stack), as any team's app would.
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
	app := awscdk.NewApp(&awscdk.AppProps{
		// CDK's built-in CloudFormation validation (cfn-lint compiled to
		// WebAssembly) takes 2.3 s of a 4.7 s synth. The tests run it over
		// the same app on every CI run (TestCloudFormationValidation), so
		// `cdk synth` and deploys skip it.
		BuiltinCloudFormationValidation: jsii.Bool(false),
	})
	cfg, err := stacks.LoadConfig(app)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		jsii.Close()
		os.Exit(1)
	}
	stacks.NewDeployment(app, &stacks.DeploymentProps{Config: cfg})
	app.Synth(nil)
}
