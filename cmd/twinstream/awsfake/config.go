package awsfake

import (
	"errors"
	"net"
	"path/filepath"
	"runtime"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Config is an SDK configuration for the fakes: region and static
// credentials, nothing read from the environment or ~/.aws.
func Config(region string) aws.Config {
	return aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDFAKE", "fake-secret", ""),
		Retryer:     closedConnRetryer,
	}
}

// closedConnRetryer answers a fake's error at once (it is the answer under
// test), but retries a connection the transport closed under a response:
// smithy-go closes a request's body when the answer arrives, and
// net/http's write loop may still be checking that body for extra bytes,
// which closes the connection (aws-sdk-go-v2 #2737; the CLI's default
// retryer retries net.ErrClosed too). Seen here on the global template,
// the largest answer.
func closedConnRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 3
		o.RateLimiter = ratelimit.None
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		o.Retryables = []retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
			if errors.Is(err, net.ErrClosed) {
				return aws.TrueTernary
			}
			return aws.FalseTernary
		})}
	})
}

// Golden is the repository's folder of golden templates (testdata/ at the
// root, cdk.json's configuration: pipeline "twinstream" in us-east-1 and
// us-west-2); testdata/three-region holds a three-region app's.
func Golden() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata")
}
