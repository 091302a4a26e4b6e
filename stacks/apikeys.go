package stacks

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/customresources"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// The API-key secret is data, not infrastructure: operators put the
// producers' key hashes in it after the first deploy, and no deploy may ever
// write over them. So the primary region's stack does not own the secret
// (AWS::SecretsManager::Secret) but makes sure it exists, with three
// AwsCustomResource steps that only ever create, never write a value or
// delete:
//
//  1. RestoreSecret (ResourceNotFoundException and InvalidRequestException
//     ignored: no such secret, or one not scheduled for deletion): a secret
//     an operator scheduled for deletion blocks its name for the 7-30 day
//     recovery window, so CreateSecret would fail; restoring it brings it
//     back with its hashes. (Its replica is gone: Secrets Manager refuses to
//     delete a primary secret that still has replicas.) Should a restore
//     fail for another reason, step 2 fails on the blocked name and the
//     deploy stops with Secrets Manager's message.
//  2. CreateSecret with the empty key list {"keys":[]} and a replica in
//     every other region (ResourceExistsException ignored): a first deploy
//     creates it; a redeploy, including one after `cdk destroy`, adopts the
//     one that is there, hashes untouched.
//  3. ReplicateSecretToRegions, one step per other region, without
//     ForceOverwriteReplicaSecret: puts back a replica a restored (or
//     hand-made) secret lacks, and adds the replica of a region added to
//     the configuration later. One region per call, so one region's answer
//     cannot stand for another's. Its InvalidParameterException and
//     InvalidRequestException are ignored: they are the answers documented
//     for a request that does not fit the secret's state, as a region that
//     already holds the replica (every redeploy) may get; a region holding a
//     standalone secret of that name keeps it (replication then reports
//     Failed in DescribeSecret's ReplicationStatus). The price: a real
//     failure here is not a deploy failure; it shows as that region's deep
//     health check failing (it reads the secret) and in that
//     ReplicationStatus.
//
// None has an update path that writes: on a stack update each step repeats
// its idempotent call, and on delete (stack deletion or replacement) none
// calls anything, so `cdk destroy` leaves the secret and its replica. Both
// regions read the secret by name, the replica having the primary's name.
//
// The alternatives, and why not: the CloudFormation resource with
// RemovalPolicy RETAIN writes its SecretString whenever that property
// changes or the resource is replaced, and after `cdk destroy` the next
// create fails on the existing name; CloudFormation's auto-import of
// existing named resources (`cdk deploy --import-existing-resources`) needs
// that flag on exactly the deploy after a destroy, does not help with a
// secret scheduled for deletion, and leaves a SecretString in the template;
// `cdk import` is a manual step. The cost of the ensure steps is CDK's
// AwsCustomResource provider (a Node.js Lambda function that runs only
// during deploys) in the primary region's stack.

// apiKeysSecretName is the secret's name in every region (replicas keep the
// primary's name).
func apiKeysSecretName(cfg *Config) string { return cfg.Name + "/api-keys" }

// apiKeysEmpty is the value a new secret starts with: no key, no secret.
const apiKeysEmpty = `{"keys":[]}`

// newApiKeys returns the API-key secret, by name (every region), after
// making sure in the primary region that it exists, replicated to the
// others.
func (s *RegionalStack) newApiKeys(cfg *Config, region string) awssecretsmanager.ISecret {
	name := apiKeysSecretName(cfg)
	if region == cfg.Primary() {
		s.ApiKeysReady = ensureApiKeys(s, cfg, name, cfg.Peers(region))
	}
	// Until the primary region's stack has run, another region has no
	// replica: ingest there cannot read the keys and answers 503 (retry
	// later), it never accepts data unauthenticated.
	return awssecretsmanager.Secret_FromSecretNameV2(s, jsii.String("ApiKeys"), jsii.String(name))
}

// ensureApiKeys adds the steps (see above) and returns what completes them:
// the replica steps.
func ensureApiKeys(s *RegionalStack, cfg *Config, name string, peers []string) constructs.IDependable {
	// The secret's ARN is arn:...:secret:<name>-<6 random characters>. The
	// exact name without a suffix is listed too because it is how a secret
	// that does not exist (yet) can be authorized against; no real secret's
	// ARN matches it.
	arns := []*string{
		s.FormatArn(&awscdk.ArnComponents{Service: jsii.String("secretsmanager"), Resource: jsii.String("secret"),
			ResourceName: jsii.String(name), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME}),
		s.FormatArn(&awscdk.ArnComponents{Service: jsii.String("secretsmanager"), Resource: jsii.String("secret"),
			ResourceName: jsii.String(name + "-??????"), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME}),
	}
	replicas := func(regions ...string) []any {
		var out []any
		for _, r := range regions {
			out = append(out, map[string]any{"Region": r})
		}
		return out
	}
	// Replication only to the configured regions (the
	// secretsmanager:AddReplicaRegions condition key, which CreateSecret and
	// ReplicateSecretToRegions share).
	only := func(regions ...string) map[string]any {
		return map[string]any{"ForAllValues:StringEquals": map[string]any{"secretsmanager:AddReplicaRegions": regions}}
	}
	logs := awslogs.NewLogGroup(s, jsii.String("ApiKeysLogs"), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_ONE_MONTH,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	allow := func(action string, conditions map[string]any) awsiam.PolicyStatement {
		sp := &awsiam.PolicyStatementProps{Actions: jsii.Strings("secretsmanager:" + action), Resources: &arns}
		if conditions != nil {
			sp.Conditions = &conditions
		}
		return awsiam.NewPolicyStatement(sp)
	}
	step := func(id, typ, action, physical string, params map[string]any, ignore string, grants ...awsiam.PolicyStatement) customresources.AwsCustomResource {
		call := &customresources.AwsSdkCall{
			Service:                  jsii.String("SecretsManager"),
			Action:                   jsii.String(action),
			Parameters:               params,
			IgnoreErrorCodesMatching: jsii.String(ignore),
			// Fixed: a new physical id would make CloudFormation "delete" the
			// old one, which is harmless here (no OnDelete) but noisy.
			PhysicalResourceId: customresources.PhysicalResourceId_Of(jsii.String(physical)),
		}
		return customresources.NewAwsCustomResource(s, jsii.String(id), &customresources.AwsCustomResourceProps{
			ResourceType: jsii.String(typ),
			OnCreate:     call,
			OnUpdate:     call,
			// No OnDelete: the secret outlives the stack (keys are data).
			Policy: customresources.AwsCustomResourcePolicy_FromStatements(&grants),
			// Lambda's Node.js runtime has the Secrets Manager client: no
			// download from npm at deploy time.
			InstallLatestAwsSdk: jsii.Bool(false),
			LogGroup:            logs,
		})
	}
	physical := func(action string) string { return name + "#" + strings.ToLower(action) }
	restore := step("ApiKeysRestore", "Custom::ApiKeysSecretRestore", "RestoreSecret", physical("RestoreSecret"),
		map[string]any{"SecretId": name},
		"^(ResourceNotFoundException|InvalidRequestException)$",
		allow("RestoreSecret", nil))
	create := step("ApiKeysSecret", ApiKeysSecretResourceType, "CreateSecret", physical("CreateSecret"),
		map[string]any{
			"Name":              name,
			"Description":       fmt.Sprintf(`twinstream %s API keys as SHA-256 hashes: {"keys":[{"id":"team-a","sha256":"<hex>"}]}`, cfg.Name),
			"SecretString":      apiKeysEmpty,
			"AddReplicaRegions": replicas(peers...),
		},
		"^ResourceExistsException$",
		// CreateSecret with AddReplicaRegions also needs ReplicateSecretToRegions.
		allow("CreateSecret", only(peers...)), allow("ReplicateSecretToRegions", only(peers...)))
	create.Node().AddDependency(restore)
	ready := constructs.NewDependencyGroup()
	for i, peer := range peers {
		// The first other region keeps the ids it had when there were only
		// two regions: a new logical or physical id would replace the step.
		id, phys := "ApiKeysReplica", physical("ReplicateSecretToRegions")
		if i > 0 {
			id, phys = id+globalRegionID(peer), phys+"#"+peer
		}
		repl := step(id, "Custom::ApiKeysSecretReplica", "ReplicateSecretToRegions", phys,
			map[string]any{"SecretId": name, "AddReplicaRegions": replicas(peer), "ForceOverwriteReplicaSecret": false},
			"^(InvalidParameterException|InvalidRequestException)$",
			allow("ReplicateSecretToRegions", only(peer)))
		repl.Node().AddDependency(create)
		ready.Add(repl)
	}

	suppressAwsCustomResourceProvider(s.Stack)
	return ready
}

// ApiKeysSecretResourceType is the custom resource that creates the API-key
// secret if it does not exist: it is in the primary region's stack only.
const ApiKeysSecretResourceType = "Custom::ApiKeysSecret"

// suppressAwsCustomResourceProvider suppresses, on CDK's AwsCustomResource
// singleton provider function of stack only, the finding CDK's own
// construct causes.
func suppressAwsCustomResourceProvider(stack awscdk.Stack) {
	path := *stack.Node().Path() + "/AWS" + strings.ReplaceAll(*customresources.AwsCustomResource_PROVIDER_FUNCTION_UUID(), "-", "")
	cdknag.NagSuppressions_AddResourceSuppressionsByPath(stack, jsii.String(path+"/ServiceRole/Resource"), &[]*cdknag.NagPackSuppression{{
		Id:        jsii.String("AwsSolutions-IAM4"),
		Reason:    jsii.String("CDK's AwsCustomResource provider uses AWSLambdaBasicExecutionRole (write its own logs only); its API rights are separate, resource-scoped statements."),
		AppliesTo: &[]interface{}{"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"},
	}}, jsii.Bool(false))
}
