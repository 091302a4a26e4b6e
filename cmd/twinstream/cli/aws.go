package cli

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/globalaccelerator"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"github.com/twinstream/twinstream/cmd/twinstream/keys"
	"github.com/twinstream/twinstream/cmd/twinstream/pipeline"
	"github.com/twinstream/twinstream/cmd/twinstream/status"
	"github.com/twinstream/twinstream/cmd/twinstream/traffic"
)

// Clients gives the AWS clients the commands use, per region.
type Clients interface {
	// Check makes sure there are credentials before any call.
	Check(ctx context.Context) error
	CloudFormation(region string) pipeline.CloudFormation
	// Accelerator is Global Accelerator's control plane (us-west-2).
	Accelerator() traffic.Accelerator
	// Route53 is Route 53's global API.
	Route53() traffic.HealthChecks
	Kinesis(region string) status.Kinesis
	S3(region string) status.S3
	SQS(region string) status.SQS
	Secrets(region string) keys.Secrets
}

// SDK makes AWS SDK clients from one configuration, one per service and
// region.
type SDK struct {
	Config aws.Config
	// Endpoint, when set, names a service's endpoint in a region ("" for
	// AWS's): tests point the clients at stand-ins; S3 then uses path-style
	// addressing. Service names: cloudformation, globalaccelerator,
	// route53, kinesis, s3, sqs, secretsmanager.
	Endpoint func(service, region string) string

	mu      sync.Mutex
	clients map[string]any
}

// LoadSDK loads the SDK's default configuration (environment, shared
// config and credentials files, SSO, instance roles), with profile when set.
func LoadSDK(ctx context.Context, profile string) (*SDK, error) {
	var opts []func(*config.LoadOptions) error
	if profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	return &SDK{Config: cfg}, nil
}

// Check retrieves credentials, so that missing ones give one clear error
// instead of a failed call per region.
func (s *SDK) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if s.Config.Credentials == nil {
		return errors.New("no AWS credentials: set AWS_PROFILE (or --profile), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws sso login`")
	}
	if _, err := s.Config.Credentials.Retrieve(ctx); err != nil {
		return fmt.Errorf("no AWS credentials: set AWS_PROFILE (or --profile), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws sso login` (%w)", err)
	}
	return nil
}

// client returns the cached client for service and region, making it with
// mk the first time.
func (s *SDK) client(service, region string, mk func(cfg aws.Config, endpoint string) any) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.clients == nil {
		s.clients = map[string]any{}
	}
	k := service + "/" + region
	if c, ok := s.clients[k]; ok {
		return c
	}
	cfg := s.Config.Copy()
	cfg.Region = region
	endpoint := ""
	if s.Endpoint != nil {
		endpoint = s.Endpoint(service, region)
	}
	c := mk(cfg, endpoint)
	s.clients[k] = c
	return c
}

func base(endpoint string) *string {
	if endpoint == "" {
		return nil
	}
	return aws.String(endpoint)
}

func (s *SDK) CloudFormation(region string) pipeline.CloudFormation {
	return s.client("cloudformation", region, func(cfg aws.Config, ep string) any {
		return cloudformation.NewFromConfig(cfg, func(o *cloudformation.Options) { o.BaseEndpoint = base(ep) })
	}).(*cloudformation.Client)
}

func (s *SDK) Accelerator() traffic.Accelerator {
	return s.client("globalaccelerator", pipeline.GlobalRegion, func(cfg aws.Config, ep string) any {
		return globalaccelerator.NewFromConfig(cfg, func(o *globalaccelerator.Options) { o.BaseEndpoint = base(ep) })
	}).(*globalaccelerator.Client)
}

// route53Region is where Route 53's global API is signed.
const route53Region = "us-east-1"

func (s *SDK) Route53() traffic.HealthChecks {
	return s.client("route53", route53Region, func(cfg aws.Config, ep string) any {
		return route53.NewFromConfig(cfg, func(o *route53.Options) { o.BaseEndpoint = base(ep) })
	}).(*route53.Client)
}

func (s *SDK) Kinesis(region string) status.Kinesis {
	return s.client("kinesis", region, func(cfg aws.Config, ep string) any {
		return kinesis.NewFromConfig(cfg, func(o *kinesis.Options) { o.BaseEndpoint = base(ep) })
	}).(*kinesis.Client)
}

func (s *SDK) S3(region string) status.S3 {
	return s.client("s3", region, func(cfg aws.Config, ep string) any {
		return s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.BaseEndpoint = base(ep)
			o.UsePathStyle = ep != ""
		})
	}).(*s3.Client)
}

func (s *SDK) SQS(region string) status.SQS {
	return s.client("sqs", region, func(cfg aws.Config, ep string) any {
		return sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = base(ep) })
	}).(*sqs.Client)
}

func (s *SDK) Secrets(region string) keys.Secrets {
	return s.client("secretsmanager", region, func(cfg aws.Config, ep string) any {
		return secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = base(ep) })
	}).(*secretsmanager.Client)
}

// hint adds what to do to an AWS error whose code says it.
func hint(err error) string {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return ""
	}
	switch ae.ErrorCode() {
	case "ExpiredToken", "ExpiredTokenException", "RequestExpired":
		return "the AWS credentials have expired: refresh them (e.g. `aws sso login`)"
	case "InvalidClientTokenId", "UnrecognizedClientException", "InvalidSignatureException", "SignatureDoesNotMatch":
		return "the AWS credentials are not valid for this account: check AWS_PROFILE (or --profile)"
	case "AccessDenied", "AccessDeniedException", "AuthorizationError":
		return "the AWS credentials lack a permission this command needs (named above)"
	}
	return ""
}
