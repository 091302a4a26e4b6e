package stacks

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// PlaceholderDomainRuleID is the logical id of the CloudFormation rule a
// stack carries when its domain is the placeholder (see
// placeholderDomainRule).
const PlaceholderDomainRuleID = "TwinstreamPlaceholderDomain"

// placeholderDomainMessage is the rule's AssertDescription: what
// CloudFormation answers the deploy with.
func placeholderDomainMessage(d *Domain) string {
	return fmt.Sprintf("twinstream: domain.hostedZoneId is %s, the example zone of cdk.json, which cannot be deployed (ACM and Route 53 would fail late): "+
		"set domain (hostedZoneId, zoneName, recordName) to a public hosted zone of this account, or remove domain to deploy without TLS. "+
		"CloudFormation refused this stack before creating or changing any resource.", d.HostedZoneID)
}

// placeholderDomainRule makes CloudFormation refuse to deploy stack when its
// domain is cdk.json's placeholder, so `cdk deploy` stops at once with a
// message instead of failing late at ACM's certificate validation and Route
// 53 (about 10 minutes in, with a rollback), while `cdk synth` keeps
// working with no AWS account (the golden templates use the placeholder).
//
// A template's Rules are evaluated when a change set is created, before any
// resource is touched; an assertion that evaluates to false refuses the
// operation with its AssertDescription (the CDK bootstrap-version rule,
// CheckBootstrapVersion, works the same way). The assertion here compares
// two literals, the configured hosted zone id and the placeholder: it is
// false exactly when they are equal, and the rule is only added then. A
// check in the app itself cannot tell `cdk deploy` from `cdk synth` (the CLI
// runs the same synth for both), and an account in the environment (with
// credentials) does not mean a deploy either. No synth warning either: every
// `cdk synth` of cdk.json's example would print it (through the validation
// report, which reads like a failure).
func placeholderDomainRule(stack awscdk.Stack, d *Domain) {
	if !d.Placeholder() {
		return
	}
	awscdk.NewCfnRule(stack, jsii.String(PlaceholderDomainRuleID), &awscdk.CfnRuleProps{
		Assertions: &[]*awscdk.CfnRuleAssertion{{
			Assert:            awscdk.Fn_ConditionNot(awscdk.Fn_ConditionEquals(jsii.String(d.HostedZoneID), jsii.String(PlaceholderHostedZoneID))),
			AssertDescription: jsii.String(placeholderDomainMessage(d)),
		}},
	})
}
