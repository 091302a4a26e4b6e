package stacks

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglobalaccelerator"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglobalacceleratorendpoints"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsroute53"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsroute53targets"
	"github.com/aws/aws-cdk-go/awscdk/v2/customresources"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// GlobalStackProps configures the GlobalStack. A TerminationProtection left
// out of StackProps defaults to Config.TerminationProtection (default on).
type GlobalStackProps struct {
	awscdk.StackProps
	// Config is the validated app configuration (required).
	Config *Config
	// Regions are the two RegionalStacks, in Config.Regions order (required).
	// Their ALBs and sink buckets reach this stack through CDK's cross-region
	// references, so every stack needs CrossRegionReferences: true.
	Regions []*RegionalStack
}

// GlobalStack is the front door shared by both regions: a Global Accelerator
// with one endpoint group per region, Route 53 health checks on each region's
// /health/deep, DNS records when a domain is set, and the two-way replication
// between the regions' sink buckets.
//
// It lives in GlobalRegion (us-west-2, Global Accelerator's control plane)
// and is deployed after both regional stacks.
type GlobalStack struct {
	awscdk.Stack
	Accelerator awsglobalaccelerator.Accelerator
	Listener    awsglobalaccelerator.Listener
	// EndpointGroups and HealthChecks are keyed by region.
	EndpointGroups map[string]awsglobalaccelerator.EndpointGroup
	HealthChecks   map[string]awsroute53.CfnHealthCheck
}

// Health check timing. Route 53 allows an interval of 10 or 30 s and a
// failure threshold of 1-10: 10 s x 3 failures marks a region unhealthy
// about 30 s after it fails, while one lost probe does not flip it.
const (
	globalCheckInterval  = 10
	globalCheckThreshold = 3
	globalDeepHealthPath = "/health/deep"
)

// NewGlobalStack builds the GlobalStack. It panics, as CDK constructs do, when
// props are missing or the regional stacks do not match Config.Regions.
func NewGlobalStack(scope constructs.Construct, id string, props *GlobalStackProps) *GlobalStack {
	if props == nil || props.Config == nil {
		panic("twinstream: NewGlobalStack: props and props.Config are required")
	}
	cfg := props.Config
	if len(cfg.Regions) != 2 || len(props.Regions) != 2 {
		panic(fmt.Sprintf("twinstream: NewGlobalStack: want 2 regional stacks for regions %v, got %d", cfg.Regions, len(props.Regions)))
	}
	for i, rs := range props.Regions {
		if rs == nil || rs.Stack == nil || rs.Pipeline == nil || rs.Pipeline.SinkBucket == nil || rs.LoadBalancer == nil {
			panic(fmt.Sprintf("twinstream: NewGlobalStack: regional stack %d is incomplete (nil stack, pipeline, sink bucket or load balancer)", i))
		}
		if got := globalStr(rs.Region()); got != cfg.Regions[i] {
			panic(fmt.Sprintf("twinstream: NewGlobalStack: regional stack %d is in region %q, want %q (Config.Regions order)", i, got, cfg.Regions[i]))
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
	g.accelerator(cfg, props.Regions)
	g.healthChecks(cfg, props.Regions)
	if cfg.Domain != nil {
		g.records(cfg, props.Regions)
	}
	g.replication(cfg, props.Regions)
	g.outputs(cfg)
	return g
}

// globalStr dereferences a CDK string (nil -> "").
func globalStr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
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
			ResourcePath:     jsii.String(globalDeepHealthPath),
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
// accelerator) and the failover pair "failover.<RecordName>": PRIMARY is the
// first region's ALB, SECONDARY the second's, each gated by its health
// check. The pair is a second path that does not depend on Global
// Accelerator. The "<region>.<RecordName>" records live in the regional
// stacks (each region deploys on its own). Producers verifying TLS on the
// failover name need it on the regional ALBs' certificates.
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
		role := "PRIMARY"
		if i == 1 {
			role = "SECONDARY"
		}
		awsroute53.NewCfnRecordSet(g.Stack, jsii.String("Failover"+globalRegionID(region)), &awsroute53.CfnRecordSetProps{
			HostedZoneId:  zone.HostedZoneId(),
			Name:          jsii.String(d.FailoverName() + "."),
			Type:          jsii.String("A"),
			Failover:      jsii.String(role),
			SetIdentifier: jsii.String(region),
			HealthCheckId: g.HealthChecks[region].AttrHealthCheckId(),
			Comment:       jsii.String(cfg.Name + ": DNS failover path, independent of Global Accelerator"),
			AliasTarget: &awsroute53.CfnRecordSet_AliasTargetProperty{
				DnsName:              rs.LoadBalancer.LoadBalancerDnsName(),
				HostedZoneId:         rs.LoadBalancer.LoadBalancerCanonicalHostedZoneId(),
				EvaluateTargetHealth: jsii.Bool(true),
			},
		})
	}
}

// replication makes each region's sink bucket replicate to the other's.
//
// It cannot live in the regional stacks: S3 rejects a replication
// configuration whose destination bucket does not exist yet, so neither
// region could be deployed on its own, and the two stacks would reference
// each other. This stack is deployed after both regions: it creates the two
// replication roles (IAM is global) and applies each bucket's configuration
// with an AwsCustomResource calling PutBucketReplication in the bucket's own
// region. Bucket names and ARNs arrive through CDK's cross-region references.
//
// Replicating both ways does not loop: S3 never replicates a replica again
// (only replica metadata changes can be synced, and that is not enabled).
func (g *GlobalStack) replication(cfg *Config, regions []*RegionalStack) {
	// One log group for the custom resources' shared provider function.
	logs := awslogs.NewLogGroup(g.Stack, jsii.String("ReplicationLogs"), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_ONE_MONTH,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	for i, src := range regions {
		dst := regions[1-i]
		srcRegion, dstRegion := globalStr(src.Region()), globalStr(dst.Region())
		srcBucket, dstBucket := src.Pipeline.SinkBucket, dst.Pipeline.SinkBucket
		id := "Replication" + globalRegionID(srcRegion) + "To" + globalRegionID(dstRegion)

		// The role S3 assumes to copy objects: read versions on the source,
		// write replicas on the destination, nothing else. An inline policy
		// is created with the role, so it is in place before S3 uses it.
		role := awsiam.NewRole(g.Stack, jsii.String(id+"Role"), &awsiam.RoleProps{
			AssumedBy:   awsiam.NewServicePrincipal(jsii.String("s3.amazonaws.com"), nil),
			Description: jsii.String(fmt.Sprintf("%s: S3 replication of the sink bucket %s -> %s", cfg.Name, srcRegion, dstRegion)),
			InlinePolicies: &map[string]awsiam.PolicyDocument{
				"Replication": awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{
					Statements: &[]awsiam.PolicyStatement{
						awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
							Actions:   jsii.Strings("s3:GetReplicationConfiguration", "s3:ListBucket"),
							Resources: jsii.Strings(*srcBucket.BucketArn()),
						}),
						awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
							Actions:   jsii.Strings("s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"),
							Resources: jsii.Strings(*srcBucket.ArnForObjects(jsii.String("*"))),
						}),
						awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
							Actions:   jsii.Strings("s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"),
							Resources: jsii.Strings(*dstBucket.ArnForObjects(jsii.String("*"))),
						}),
					},
				}),
			},
		})
		// cdk-nag names a resource by the token that reaches this stack: a
		// cross-region reference (Fn::GetStackOutput of the regional stack's
		// output for the bucket's ARN, or with older feature flags an
		// imported value), so match the two sink buckets' ARNs + "/*" only.
		objects := []any{}
		for _, b := range []constructs.IConstruct{srcBucket, dstBucket} {
			objects = append(objects, &cdknag.RegexAppliesTo{Regex: jsii.String(
				"/^Resource::.*" + regexp.QuoteMeta(globalLogicalID(awscdk.Stack_Of(b), b)) + ".*Arn.*\\/\\*$/")})
		}
		cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
			Id:        jsii.String("AwsSolutions-IAM5"),
			Reason:    jsii.String("S3 replication reads and writes object versions: its object-level actions apply to every object key of the two sink buckets (bucket ARN + /*), the narrowest resource S3 allows for them."),
			AppliesTo: &objects,
		}}, jsii.Bool(false))

		put := &customresources.AwsSdkCall{
			Service: jsii.String("S3"),
			Action:  jsii.String("putBucketReplication"),
			Region:  jsii.String(srcRegion),
			Parameters: map[string]any{
				"Bucket": srcBucket.BucketName(),
				"ReplicationConfiguration": map[string]any{
					"Role": role.RoleArn(),
					"Rules": []any{map[string]any{
						"ID":                      "to-" + dstRegion,
						"Status":                  "Enabled",
						"Priority":                1,
						"Filter":                  map[string]any{"Prefix": ""},
						"DeleteMarkerReplication": map[string]any{"Status": "Enabled"},
						"Destination": map[string]any{
							"Bucket":       dstBucket.BucketArn(),
							"StorageClass": "STANDARD",
						},
					}},
				},
			},
			// Fixed: a new physical id would make CloudFormation delete the
			// "old" resource, i.e. remove the configuration just applied.
			PhysicalResourceId: customresources.PhysicalResourceId_Of(jsii.String(fmt.Sprintf("%s-sink-replication-%s-to-%s", cfg.Name, srcRegion, dstRegion))),
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
					Resources: jsii.Strings(*srcBucket.BucketArn()),
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

func (g *GlobalStack) outputs(cfg *Config) {
	awscdk.NewCfnOutput(g.Stack, jsii.String("AcceleratorDnsName"), &awscdk.CfnOutputProps{
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
		awscdk.NewCfnOutput(g.Stack, jsii.String("FailoverUrl"), &awscdk.CfnOutputProps{
			Description: jsii.String("DNS failover path (Route 53 health checks, no accelerator)"),
			Value:       jsii.String("https://failover." + cfg.Domain.RecordName + "/v1/records"),
		})
	}
	awscdk.NewCfnOutput(g.Stack, jsii.String("ProducerUrl"), &awscdk.CfnOutputProps{
		Description: jsii.String("Where producers POST records"),
		Value:       url,
	})
}
