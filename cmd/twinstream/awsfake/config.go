package awsfake

import (
	"path/filepath"
	"runtime"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Config is an SDK configuration for the fakes: region and static
// credentials, nothing read from the environment or ~/.aws.
func Config(region string) aws.Config {
	return aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDFAKE", "fake-secret", ""),
		// One attempt: a fake's error is the answer under test.
		RetryMaxAttempts: 1,
	}
}

// Golden is the repository's folder of golden templates (testdata/ at the
// root, cdk.json's configuration: pipeline "twinstream" in us-east-1 and
// us-west-2); testdata/three-region holds a three-region app's.
func Golden() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata")
}
