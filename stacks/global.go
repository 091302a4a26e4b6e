package stacks

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglobalaccelerator"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglobalacceleratorendpoints"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsroute53"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsroute53targets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/customresources"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// GlobalStackProps configures the GlobalStack. In StackProps, an Env left
// out defaults to GlobalRegion and Config.Account (another region panics:
// Global Accelerator's API is there), a TerminationProtection left out to
// Config.TerminationProtection (default on), CrossRegionReferences left out
// to true, a Description left out to one naming the pipeline.
type GlobalStackProps struct {
	awscdk.StackProps
	// Config is the configuration (required), the regional stacks' own.
	Config *Config
	// Regions are the RegionalStacks, one per region of Config.Regions and
	// in that order (required). Their ALBs and sink buckets reach this stack
	// through CDK's strong cross-stack references (see strongReferences), so
	// every stack needs CrossRegionReferences: true (NewRegionalStack and
	// NewGlobalStack set it unless told otherwise).
	Regions []*RegionalStack
}

// GlobalStack is the front door shared by the regions: a Global Accelerator
// with one endpoint group per region, a Route 53 health check on each
// region's DeepHealthPath, DNS records when a domain is set, and the
// replication of every region's sink bucket to every other region's.
//
// It lives in GlobalRegion (us-west-2, Global Accelerator's control plane)
// and is deployed after the regional stacks.
type GlobalStack struct {
	awscdk.Stack
	Accelerator awsglobalaccelerator.Accelerator
	Listener    awsglobalaccelerator.Listener
	// EndpointGroups and HealthChecks are keyed by region.
	EndpointGroups map[string]awsglobalaccelerator.EndpointGroup
	HealthChecks   map[string]awsroute53.CfnHealthCheck
	// Dashboard is the global view, named after the stack: traffic per
	// endpoint group, the Route 53 health checks, each region's headline
	// pipeline metrics.
	Dashboard awscloudwatch.Dashboard
}

// Health check timing. Route 53 allows an interval of 10 or 30 s and a
// failure threshold of 1-10: 10 s x 3 failures marks a region unhealthy
// about 30 s after it fails, while one lost probe does not flip it.
const (
	globalCheckInterval  = 10
	globalCheckThreshold = 3
)

// NewGlobalStack builds the GlobalStack. It panics, as CDK constructs do, when
// props are missing or the regional stacks do not match Config.Regions.
func NewGlobalStack(scope constructs.Construct, id string, props *GlobalStackProps) *GlobalStack {
	if props == nil || props.Config == nil {
		panic("twinstream: NewGlobalStack: props and props.Config are required")
	}
	cfg := props.Config
	if err := cfg.Validate(); err != nil {
		panic(fmt.Sprintf("twinstream: NewGlobalStack: %v", err))
	}
	if len(props.Regions) != len(cfg.Regions) {
		panic(fmt.Sprintf("twinstream: NewGlobalStack: want %d regional stacks for regions %v, got %d", len(cfg.Regions), cfg.Regions, len(props.Regions)))
	}
	for i, rs := range props.Regions {
		if rs == nil || rs.Stack == nil || rs.Pipeline == nil || rs.Pipeline.SinkBucket == nil || rs.LoadBalancer == nil {
			panic(fmt.Sprintf("twinstream: NewGlobalStack: regional stack %d is incomplete (nil stack, pipeline, sink bucket or load balancer)", i))
		}
		if got := globalStr(rs.Region()); got != cfg.Regions[i] {
			panic(fmt.Sprintf("twinstream: NewGlobalStack: regional stack %d is in region %q, want %q (Config.Regions order)", i, got, cfg.Regions[i]))
		}
		if rs.Pipeline.SinkBucket.EncryptionKey() != nil {
			panic(fmt.Sprintf("twinstream: NewGlobalStack: the sink bucket of %s has a KMS key: the replication between the regions is configured for SSE-S3 objects", cfg.Regions[i]))
		}
	}

	sp := props.StackProps
	if sp.Env == nil {
		sp.Env = &awscdk.Environment{Region: jsii.String(GlobalRegion)}
		if cfg.Account != "" {
			sp.Env.Account = jsii.String(cfg.Account)
		}
	}
	if r := globalStr(sp.Env.Region); r != GlobalRegion {
		panic(fmt.Sprintf("twinstream: NewGlobalStack: region %q: Global Accelerator resources can only be created in %s", r, GlobalRegion))
	}
	if sp.CrossRegionReferences == nil {
		sp.CrossRegionReferences = jsii.Bool(true)
	}
	// Losing this stack loses the accelerator's two static IPs producers
	// use: protected unless configured otherwise.
	if sp.TerminationProtection == nil {
		sp.TerminationProtection = jsii.Bool(cfg.TerminationProtected())
	}
	if sp.Description == nil {
		sp.Description = jsii.String(fmt.Sprintf("%s: Global Accelerator, Route 53 health checks and failover records, sink bucket replication", cfg.Name))
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &sp)
	g := &GlobalStack{
		Stack:          stack,
		EndpointGroups: map[string]awsglobalaccelerator.EndpointGroup{},
		HealthChecks:   map[string]awsroute53.CfnHealthCheck{},
	}
	g.strongReferences(props.Regions)
	if d := cfg.Domain; d != nil {
		placeholderDomainRule(g.Stack, d)
	}
	g.accelerator(cfg, props.Regions)
	g.healthChecks(cfg, props.Regions)
	if cfg.Domain != nil {
		g.records(cfg, props.Regions)
	}
	g.replication(cfg, props.Regions)
	g.Dashboard = g.dashboard(cfg, props.Regions)
	g.outputs(cfg)
	g.operatorOutputs(cfg)
	return g
}

// globalStr dereferences a CDK string (nil -> "").
func globalStr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// strongReferences makes every reference this stack holds to a regional
// stack's ALB (its ARN, DNS name and hosted zone) and sink bucket (name,
// ARN) a strong one, whatever the app's feature flag
// @aws-cdk/core:defaultCrossStackReferences says (CDK lets a resource set
// the strength of the references to it).
//
// The global stack only reads those values when it is deployed. With weak
// references (Fn::GetStackOutput, the flag's recommended "weak"), a
// regional deploy that replaces the ALB or the sink bucket succeeds, and the
// accelerator's endpoint, the DNS records, the health checks (without a
// domain) and the replication keep pointing at the deleted resource until
// the global stack is deployed again: nothing fails, traffic just goes
// nowhere. With strong references the regional stack publishes each value
// (a CloudFormation export when it shares the global stack's region, else an
// SSM parameter there written by CDK's ExportsWriter custom resource), and
// both refuse to change or delete a value the global stack imports: the
// regional deploy that would replace the ALB or the sink fails and rolls
// back, naming the value, and so does deleting a regional stack before the
// global one. The price: such a replacement takes three deploys (the global
// stack without that region, the region, the global stack with it again),
// and each regional stack outside GlobalRegion runs CDK's export writer (a
// Node.js function, during deploys only). `cdk deploy --all` orders the
// stacks (the global stack depends on the regional ones) but cannot stop a
// deploy of one region alone; named resources (replacing a custom-named
// resource fails) would rename, so replace, today's ALBs and sink buckets;
// a check at deploy time would have to run in the global stack, which is
// not the one being deployed.
func (g *GlobalStack) strongReferences(regions []*RegionalStack) {
	for _, rs := range regions {
		for _, c := range []constructs.IConstruct{rs.LoadBalancer, rs.Pipeline.SinkBucket} {
			if r, ok := c.Node().DefaultChild().(awscdk.CfnResource); ok {
				r.ApplyCrossStackReferenceStrength(awscdk.ReferenceStrength_STRONG)
			}
		}
	}
	// CDK warns on the consumer when the app sets no default strength; this
	// stack sets its own.
	awscdk.Annotations_Of(g.Stack).AcknowledgeWarning(jsii.String("@aws-cdk/core:crossStackReferencesDefaultStrong"),
		jsii.String("the references to the regional stacks are strong by design (GlobalStack.strongReferences)"))
}

// globalRegionID turns a region into a construct id part: us-east-1 -> UsEast1.
func globalRegionID(region string) string {
	var b strings.Builder
	for _, p := range strings.Split(region, "-") {
		if p != "" {
			b.WriteString(strings.ToUpper(p[:1]) + p[1:])
		}
	}
	return b.String()
}

// globalLogicalID is the logical id of c's CfnResource in its stack s: how
// cdk-nag names a reference in a finding (it runs before CDK turns
// cross-stack references into exports).
func globalLogicalID(s awscdk.Stack, c constructs.IConstruct) string {
	el, ok := c.Node().DefaultChild().(awscdk.CfnElement)
	if !ok {
		panic(fmt.Sprintf("twinstream: %s has no CloudFormation resource", globalStr(c.Node().Path())))
	}
	return globalStr(s.GetLogicalId(el))
}

// globalListenerPort is 443 with a domain (TLS terminates on the ALBs; the
// accelerator forwards TCP), else 80.
func globalListenerPort(cfg *Config) float64 {
	if cfg.Domain != nil {
		return 443
	}
	return 80
}

func (g *GlobalStack) accelerator(cfg *Config, regions []*RegionalStack) {
	g.Accelerator = awsglobalaccelerator.NewAccelerator(g.Stack, jsii.String("Accelerator"), &awsglobalaccelerator.AcceleratorProps{
		AcceleratorName: jsii.String(cfg.Name),
		IpAddressType:   awsglobalaccelerator.IpAddressType_IPV4,
	})
	g.Listener = g.Accelerator.AddListener(jsii.String("Listener"), &awsglobalaccelerator.ListenerOptions{
		PortRanges: &[]*awsglobalaccelerator.PortRange{{FromPort: jsii.Number(globalListenerPort(cfg))}},
		Protocol:   awsglobalaccelerator.ConnectionProtocol_TCP,
		// No stickiness: any connection may go to either region, so a region
		// that fails loses no clients pinned to it.
		ClientAffinity: awsglobalaccelerator.ClientAffinity_NONE,
	})
	for _, rs := range regions {
		region := globalStr(rs.Region())
		// No GA health-check settings: for an ALB endpoint Global Accelerator
		// ignores them and uses the ALB's target groups instead, healthy only
		// when every target group has a healthy target (DESIGN.md, "Facts").
		// The regional stack's region-health target group (/health/deep)
		// is what moves traffic off a region whose Kinesis fails.
		//
		// TrafficDialPercentage is the manual switch (operator CLI). The
		// template keeps 100: a deploy that updates this group restores it.
		g.EndpointGroups[region] = g.Listener.AddEndpointGroup(jsii.String("EndpointGroup"+globalRegionID(region)), &awsglobalaccelerator.EndpointGroupOptions{
			Region: jsii.String(region),
			Endpoints: &[]awsglobalaccelerator.IEndpoint{
				awsglobalacceleratorendpoints.NewApplicationLoadBalancerEndpoint(rs.LoadBalancer, &awsglobalacceleratorendpoints.ApplicationLoadBalancerEndpointOptions{
					// Producers' addresses reach the ALB and the ingest logs.
					PreserveClientIp: jsii.Bool(true),
				}),
			},
			TrafficDialPercentage: jsii.Number(100),
		})
	}
}

// healthChecks creates one Route 53 health check per region on /health/deep.
// They drive the DNS failover pair and are what an operator watches to see
// each region's verdict from outside AWS's network.
//
// No CloudWatch alarms on them here: Route 53 publishes HealthCheckStatus
// only in us-east-1, and this stack is in us-west-2, so an alarm would need
// its own us-east-1 stack. (And in the outage this project exists for,
// CloudWatch itself degraded: the checks act without it.)
func (g *GlobalStack) healthChecks(cfg *Config, regions []*RegionalStack) {
	for _, rs := range regions {
		region := globalStr(rs.Region())
		hc := &awsroute53.CfnHealthCheck_HealthCheckConfigProperty{
			ResourcePath:     jsii.String(DeepHealthPath),
			RequestInterval:  jsii.Number(globalCheckInterval),
			FailureThreshold: jsii.Number(globalCheckThreshold),
			MeasureLatency:   jsii.Bool(false),
		}
		if cfg.Domain != nil {
			// The regional name is on the ALB's certificate; SNI makes the
			// ALB present it (Route 53 does not validate it anyway).
			hc.Type = jsii.String("HTTPS")
			hc.FullyQualifiedDomainName = jsii.String(region + "." + cfg.Domain.RecordName)
			hc.Port = jsii.Number(443)
			hc.EnableSni = jsii.Bool(true)
		} else {
			hc.Type = jsii.String("HTTP")
			hc.FullyQualifiedDomainName = rs.LoadBalancer.LoadBalancerDnsName()
			hc.Port = jsii.Number(80)
		}
		g.HealthChecks[region] = awsroute53.NewCfnHealthCheck(g.Stack, jsii.String("HealthCheck"+globalRegionID(region)), &awsroute53.CfnHealthCheckProps{
			HealthCheckConfig: hc,
			HealthCheckTags: &[]*awsroute53.CfnHealthCheck_HealthCheckTagProperty{
				{Key: jsii.String("Name"), Value: jsii.String(cfg.Name + "-" + region + "-deep")},
			},
		})
	}
}

// records creates, in the hosted zone, the producers' name (an alias to the
// accelerator) and "failover.<RecordName>", a second path to the regions
// that does not depend on Global Accelerator, each region's record an alias
// to its ALB gated by its health check:
//   - with two regions, a failover pair: PRIMARY is the first region's ALB,
//     SECONDARY the second's (Route 53's failover routing takes exactly one
//     of each);
//   - with more, latency records, one per region (Route 53 takes one latency
//     record per region for a name): Route 53 answers with the healthy
//     region closest to the resolver, and with the closest of all when none
//     is healthy (fail open, as the accelerator does).
//
// The "<region>.<RecordName>" records live in the regional stacks (each
// region deploys on its own). Producers verifying TLS on the failover name
// need it on the regional ALBs' certificates (it is).
func (g *GlobalStack) records(cfg *Config, regions []*RegionalStack) {
	d := cfg.Domain
	zone := awsroute53.HostedZone_FromHostedZoneAttributes(g.Stack, jsii.String("Zone"), &awsroute53.HostedZoneAttributes{
		HostedZoneId: jsii.String(d.HostedZoneID),
		ZoneName:     jsii.String(d.ZoneName),
	})
	awsroute53.NewARecord(g.Stack, jsii.String("AcceleratorAlias"), &awsroute53.ARecordProps{
		Zone:       zone,
		RecordName: jsii.String(d.RecordName),
		Target:     awsroute53.RecordTarget_FromAlias(awsroute53targets.NewGlobalAcceleratorTarget(g.Accelerator, nil)),
		Comment:    jsii.String(cfg.Name + ": producers' name, alias to the Global Accelerator"),
	})
	for i, rs := range regions {
		region := globalStr(rs.Region())
		rec := &awsroute53.CfnRecordSetProps{
			HostedZoneId:  zone.HostedZoneId(),
			Name:          jsii.String(d.FailoverName() + "."),
			Type:          jsii.String("A"),
			SetIdentifier: jsii.String(region),
			HealthCheckId: g.HealthChecks[region].AttrHealthCheckId(),
			AliasTarget: &awsroute53.CfnRecordSet_AliasTargetProperty{
				DnsName:              rs.LoadBalancer.LoadBalancerDnsName(),
				HostedZoneId:         rs.LoadBalancer.LoadBalancerCanonicalHostedZoneId(),
				EvaluateTargetHealth: jsii.Bool(true),
			},
		}
		id := "Failover" + globalRegionID(region)
		if len(regions) == 2 {
			rec.Failover = jsii.String([]string{"PRIMARY", "SECONDARY"}[i])
			rec.Comment = jsii.String(cfg.Name + ": DNS failover path, independent of Global Accelerator")
		} else {
			id = "Latency" + globalRegionID(region)
			rec.Region = jsii.String(region)
			rec.Comment = jsii.String(cfg.Name + ": DNS path by latency to a healthy region, independent of Global Accelerator")
		}
		awsroute53.NewCfnRecordSet(g.Stack, jsii.String(id), rec)
	}
}

// replication makes each region's sink bucket replicate to every other
// region's: one S3 replication configuration per source bucket (the V2
// schema, one rule per destination, each with its own priority and a filter
// matching every key, delete markers replicated), so every object reaches
// every region.
//
// It cannot live in the regional stacks: S3 rejects a replication
// configuration whose destination bucket does not exist yet, so no region
// could be deployed on its own, and the stacks would reference each other.
// This stack is deployed after the regions: it creates the replication
// roles (IAM is global) and applies each bucket's configuration with an
// AwsCustomResource calling PutBucketReplication in the bucket's own region.
// Bucket names and ARNs arrive through strong cross-stack references.
//
// Replicating in every direction does not loop: S3 never replicates a
// replica again (only replica metadata changes can be synced, and that is
// not enabled).
//
// Each source's custom resource and role are named after the first other
// region ("Replication<Src>To<First>"), and so is its fixed physical id: the
// ids of a two-region deployment, kept when a region is added. A new logical
// or physical id would make CloudFormation delete the old resource after
// creating the new one, and the old one's delete call removes the bucket's
// whole replication configuration.
func (g *GlobalStack) replication(cfg *Config, regions []*RegionalStack) {
	// One log group for the custom resources' shared provider function.
	logs := awslogs.NewLogGroup(g.Stack, jsii.String("ReplicationLogs"), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_ONE_MONTH,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	for _, src := range regions {
		var dsts []*RegionalStack
		for _, rs := range regions {
			if rs != src {
				dsts = append(dsts, rs)
			}
		}
		srcRegion, first := globalStr(src.Region()), globalStr(dsts[0].Region())
		srcBucket := src.Pipeline.SinkBucket
		id := "Replication" + globalRegionID(srcRegion) + "To" + globalRegionID(first)

		var dstRegions []string
		var dstObjects []*string
		var rules []any
		for i, dst := range dsts {
			dstRegion := globalStr(dst.Region())
			dstRegions = append(dstRegions, dstRegion)
			dstObjects = append(dstObjects, dst.Pipeline.SinkBucket.ArnForObjects(jsii.String("*")))
			rules = append(rules, map[string]any{
				"ID":                      "to-" + dstRegion,
				"Status":                  "Enabled",
				"Priority":                i + 1,
				"Filter":                  map[string]any{"Prefix": ""},
				"DeleteMarkerReplication": map[string]any{"Status": "Enabled"},
				"Destination": map[string]any{
					"Bucket":       dst.Pipeline.SinkBucket.BucketArn(),
					"StorageClass": "STANDARD",
				},
			})
		}

		// The role S3 assumes to copy objects: read versions on the source,
		// write replicas on the destinations, nothing else. An inline policy
		// is created with the role, so it is in place before S3 uses it.
		role := awsiam.NewRole(g.Stack, jsii.String(id+"Role"), &awsiam.RoleProps{
			AssumedBy:   awsiam.NewServicePrincipal(jsii.String("s3.amazonaws.com"), nil),
			Description: jsii.String(fmt.Sprintf("%s: S3 replication of the sink bucket %s -> %s", cfg.Name, srcRegion, strings.Join(dstRegions, ", "))),
			InlinePolicies: &map[string]awsiam.PolicyDocument{
				"Replication": awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{
					Statements: &[]awsiam.PolicyStatement{
						awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
							Actions:   jsii.Strings("s3:GetReplicationConfiguration", "s3:ListBucket"),
							Resources: &[]*string{srcBucket.BucketArn()},
						}),
						awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
							Actions:   jsii.Strings("s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"),
							Resources: &[]*string{srcBucket.ArnForObjects(jsii.String("*"))},
						}),
						awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
							Actions:   jsii.Strings("s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"),
							Resources: &dstObjects,
						}),
					},
				}),
			},
		})
		// cdk-nag names a resource by the token that reaches this stack (a
		// strong reference: an imported value or an export reader's
		// attribute; an existing bucket imported by name has a literal ARN),
		// so match the sink buckets' ARNs + "/*" only.
		objects := []any{}
		for _, rs := range append([]*RegionalStack{src}, dsts...) {
			objects = append(objects, &cdknag.RegexAppliesTo{Regex: jsii.String(globalNagObjects(rs.Pipeline.SinkBucket))})
		}
		cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
			Id:        jsii.String("AwsSolutions-IAM5"),
			Reason:    jsii.String("S3 replication reads and writes object versions: its object-level actions apply to every object key of the sink buckets (bucket ARN + /*), the narrowest resource S3 allows for them."),
			AppliesTo: &objects,
		}}, jsii.Bool(false))

		put := &customresources.AwsSdkCall{
			Service: jsii.String("S3"),
			Action:  jsii.String("putBucketReplication"),
			Region:  jsii.String(srcRegion),
			Parameters: map[string]any{
				"Bucket": srcBucket.BucketName(),
				"ReplicationConfiguration": map[string]any{
					"Role":  role.RoleArn(),
					"Rules": rules,
				},
			},
			// Fixed: a new physical id would make CloudFormation delete the
			// "old" resource, i.e. remove the configuration just applied.
			PhysicalResourceId: customresources.PhysicalResourceId_Of(jsii.String(fmt.Sprintf("%s-sink-replication-%s-to-%s", cfg.Name, srcRegion, first))),
		}
		customresources.NewAwsCustomResource(g.Stack, jsii.String(id), &customresources.AwsCustomResourceProps{
			ResourceType: jsii.String("Custom::BucketReplication"),
			OnCreate:     put,
			OnUpdate:     put,
			OnDelete: &customresources.AwsSdkCall{
				Service:    jsii.String("S3"),
				Action:     jsii.String("deleteBucketReplication"),
				Region:     jsii.String(srcRegion),
				Parameters: map[string]any{"Bucket": srcBucket.BucketName()},
			},
			// DeleteBucketReplication is authorized by s3:PutReplicationConfiguration.
			Policy: customresources.AwsCustomResourcePolicy_FromStatements(&[]awsiam.PolicyStatement{
				awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
					Actions:   jsii.Strings("s3:PutReplicationConfiguration", "s3:GetReplicationConfiguration"),
					Resources: &[]*string{srcBucket.BucketArn()},
				}),
				awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
					Actions:   jsii.Strings("iam:PassRole"),
					Resources: jsii.Strings(*role.RoleArn()),
				}),
			}),
			// The SDK in Lambda's Node runtime has these S3 calls: no download
			// from npm at deploy time.
			InstallLatestAwsSdk: jsii.Bool(false),
			LogGroup:            logs,
		})
	}
	g.suppressProvider()
}

// globalNagObjects is the cdk-nag finding pattern for the object ARNs of a
// sink bucket as this stack sees them: by the logical id for a bucket
// defined in its regional stack, by any ARN for an imported one.
func globalNagObjects(b awss3.IBucket) string {
	if c, ok := b.Node().DefaultChild().(awscdk.CfnElement); ok {
		return "/^Resource::.*" + regexp.QuoteMeta(globalStr(awscdk.Stack_Of(b).GetLogicalId(c))) + ".*Arn.*\\/\\*$/"
	}
	return "/^Resource::.*" + regexp.QuoteMeta(globalStr(b.BucketName())) + ".*\\/\\*$/"
}

// suppressProvider suppresses, on the AwsCustomResource singleton provider
// function only, the findings CDK's own construct causes.
func (g *GlobalStack) suppressProvider() {
	path := globalStr(g.Node().Path()) + "/AWS" + strings.ReplaceAll(globalStr(customresources.AwsCustomResource_PROVIDER_FUNCTION_UUID()), "-", "")
	cdknag.NagSuppressions_AddResourceSuppressionsByPath(g.Stack, jsii.String(path+"/ServiceRole/Resource"), &[]*cdknag.NagPackSuppression{{
		Id:        jsii.String("AwsSolutions-IAM4"),
		Reason:    jsii.String("CDK's AwsCustomResource provider uses AWSLambdaBasicExecutionRole (write its own logs only); its S3 and iam:PassRole rights are separate, resource-scoped statements."),
		AppliesTo: &[]interface{}{"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"},
	}}, jsii.Bool(false))
}

// outputs are the global stack's outputs for producers.
func (g *GlobalStack) outputs(cfg *Config) {
	awscdk.NewCfnOutput(g.Stack, jsii.String(OutputAcceleratorDNSName), &awscdk.CfnOutputProps{
		Description: jsii.String("Global Accelerator DNS name"),
		Value:       g.Accelerator.DnsName(),
	})
	ips := g.Accelerator.Ipv4Addresses()
	for i := range 2 {
		awscdk.NewCfnOutput(g.Stack, jsii.String(fmt.Sprintf("AcceleratorIp%d", i+1)), &awscdk.CfnOutputProps{
			Description: jsii.String(fmt.Sprintf("Global Accelerator static IPv4 address %d of 2", i+1)),
			Value:       awscdk.Fn_Select(jsii.Number(i), ips),
		})
	}
	url := awscdk.Fn_Join(jsii.String(""), jsii.Strings("http://", *g.Accelerator.DnsName(), "/v1/records"))
	if cfg.Domain != nil {
		url = jsii.String("https://" + cfg.Domain.RecordName + "/v1/records")
		awscdk.NewCfnOutput(g.Stack, jsii.String(OutputFailoverURL), &awscdk.CfnOutputProps{
			Description: jsii.String("DNS failover path (Route 53 health checks, no accelerator)"),
			Value:       jsii.String("https://failover." + cfg.Domain.RecordName + "/v1/records"),
		})
	}
	awscdk.NewCfnOutput(g.Stack, jsii.String(OutputProducerURL), &awscdk.CfnOutputProps{
		Description: jsii.String("Where producers POST records"),
		Value:       url,
	})
}
