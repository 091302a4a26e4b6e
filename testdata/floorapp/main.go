// Command floorapp is the smallest Go CDK app: one stack, one resource. Its
// synth time is the jsii floor the app's synth time is compared with
// (BenchmarkSynth in app_test.go).
package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Floor"), &awscdk.StackProps{Env: &awscdk.Environment{Region: jsii.String("us-east-1")}})
	awssqs.NewQueue(stack, jsii.String("Queue"), nil)
	app.Synth(nil)
}
