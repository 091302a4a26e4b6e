package stacks

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// Stack outputs: the stable names the operator CLI (and any tool) finds a
// deployed pipeline's resources by, from the stacks "<name>-<region>" and
// "<name>-global" alone (CloudFormation DescribeStacks). They are an API:
// a release renames none of them without saying so in CHANGELOG.md.
const (
	// Regional stacks.
	OutputLoadBalancerDNSName      = "LoadBalancerDnsName"      // the region's ALB
	OutputEndpointURL              = "EndpointUrl"              // the region's ingest URL, bypassing the accelerator
	OutputStreamName               = "StreamName"               // the Kinesis stream
	OutputSinkBucketName           = "SinkBucketName"           // where the processor stores records
	OutputSpillBucketName          = "SpillBucketName"          // where ingest spills
	OutputSpillPrefix              = "SpillPrefix"              // the spill objects' key prefix, "spill/"
	OutputReplayQueueURL           = "ReplayQueueUrl"           // one message per spill object not yet replayed
	OutputReplayDeadLetterQueueURL = "ReplayDeadLetterQueueUrl" // spill objects replay gave up on
	OutputProcessorFailureQueueURL = "ProcessorFailureQueueUrl" // stream batches the processor gave up on
	OutputAPIKeysSecretName        = "ApiKeysSecretName"        // "<name>/api-keys", the same name in every region
	OutputAPIKeysPrimaryRegion     = "ApiKeysPrimaryRegion"     // the region whose secret is written (the others are replicas)
	OutputAlarmTopicArn            = "AlarmTopicArn"            // the region's alarms
	OutputDashboardName            = "DashboardName"            // the region's CloudWatch dashboard
	OutputMetricsNamespace         = "MetricsNamespace"         // the handlers' metrics, "Twinstream/<name>/<stack name>"

	// The global stack; per-region outputs are the prefix followed by
	// RegionOutputSuffix(region), e.g. EndpointGroupArnUsEast1.
	OutputRegions                = "Regions"            // the regions, comma-separated, the primary first
	OutputAcceleratorArn         = "AcceleratorArn"     // its control plane is in GlobalRegion
	OutputAcceleratorDNSName     = "AcceleratorDnsName" // the accelerator's own DNS name
	OutputProducerURL            = "ProducerUrl"        // where producers POST records
	OutputFailoverURL            = "FailoverUrl"        // the DNS failover path (with a domain only)
	OutputEndpointGroupArnPrefix = "EndpointGroupArn"   // + region: the traffic dial is on it
	OutputHealthCheckIDPrefix    = "HealthCheckId"      // + region: the Route 53 health check on its /health/deep
)

// RegionOutputSuffix is how a region appears in output names and construct
// ids: each dash-separated part capitalized, us-east-1 -> UsEast1.
func RegionOutputSuffix(region string) string { return globalRegionID(region) }

func newOutput(scope awscdk.Stack, name, description string, value *string) {
	awscdk.NewCfnOutput(scope, jsii.String(name), &awscdk.CfnOutputProps{
		Value:       value,
		Description: jsii.String(description),
	})
}

// outputs are the regional stack's outputs for the operator (besides
// LoadBalancerDnsName and EndpointUrl, made with the ALB).
func (s *RegionalStack) outputs(cfg *Config) {
	p := s.Pipeline
	newOutput(s.Stack, OutputStreamName, "Kinesis stream ingest writes to", p.Stream.StreamName())
	newOutput(s.Stack, OutputSinkBucketName, "S3 bucket the processor stores records in", p.SinkBucket.BucketName())
	newOutput(s.Stack, OutputSpillBucketName, "S3 bucket ingest spills to when Kinesis does not take records", p.SpillBucket.BucketName())
	newOutput(s.Stack, OutputSpillPrefix, "key prefix of the spill objects in the spill bucket", jsii.String(pipelineSpillPrefix+"/"))
	newOutput(s.Stack, OutputReplayQueueURL, "SQS queue holding one message per spill object not yet replayed into the stream", p.ReplayQueue.QueueUrl())
	newOutput(s.Stack, OutputReplayDeadLetterQueueURL, "SQS dead-letter queue of spill objects replay gave up on (replay them by hand)", p.ReplayDeadLetterQueue.QueueUrl())
	newOutput(s.Stack, OutputProcessorFailureQueueURL, "SQS queue describing stream batches the processor gave up on", p.ProcessorFailureQueue.QueueUrl())
	newOutput(s.Stack, OutputAPIKeysSecretName, "Secrets Manager secret of the API key hashes, by name (the same in every region)", jsii.String(apiKeysSecretName(cfg)))
	newOutput(s.Stack, OutputAPIKeysPrimaryRegion, "region whose API-key secret is written; the others hold read-only replicas", jsii.String(cfg.Primary()))
	newOutput(s.Stack, OutputAlarmTopicArn, "SNS topic of this region's alarms", s.AlarmTopic.TopicArn())
	newOutput(s.Stack, OutputDashboardName, "CloudWatch dashboard of this region", s.Dashboard.DashboardName())
	newOutput(s.Stack, OutputMetricsNamespace, "CloudWatch namespace of the handlers' metrics", p.MetricNamespace())
}

// operatorOutputs are the global stack's outputs for the operator (besides
// those for producers, see outputs).
func (g *GlobalStack) operatorOutputs(cfg *Config) {
	newOutput(g.Stack, OutputRegions, "regions of the pipeline, comma-separated, the primary first", jsii.String(strings.Join(cfg.Regions, ",")))
	newOutput(g.Stack, OutputAcceleratorArn, "Global Accelerator (its API is in "+GlobalRegion+")", g.Accelerator.AcceleratorArn())
	for _, region := range cfg.Regions {
		newOutput(g.Stack, OutputEndpointGroupArnPrefix+RegionOutputSuffix(region),
			"Global Accelerator endpoint group of "+region+" (its traffic dial is the manual switch)", g.EndpointGroups[region].EndpointGroupArn())
		newOutput(g.Stack, OutputHealthCheckIDPrefix+RegionOutputSuffix(region),
			"Route 53 health check on "+region+"'s "+DeepHealthPath+" (its metrics are in "+Route53MetricsRegion+")", g.HealthChecks[region].AttrHealthCheckId())
	}
	newOutput(g.Stack, OutputDashboardName, "CloudWatch dashboard of all regions", g.Dashboard.DashboardName())
}
