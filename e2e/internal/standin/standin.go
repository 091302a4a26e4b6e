// Package standin starts real local stand-ins for the AWS services the
// pipeline uses, for tests only: kinesalite (Kinesis) and local-aws-sqs (SQS)
// as node processes, gofakes3 (S3) in-process, and aws-lambda-rie running a
// handler's bootstrap as Lambda would. Everything listens on 127.0.0.1, on
// free ports, and is stopped by t.Cleanup; child processes also die with the
// test binary.
//
// The npm stand-ins come from the repository's node_modules (`npm ci`, which
// the Makefile's test target runs). A missing stand-in fails the test: the
// suite never skips.
package standin

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"golang.org/x/mod/modfile"
)

// Static test credentials: the stand-ins accept any signature.
const (
	AccessKeyID     = "AKIDSTANDIN"
	SecretAccessKey = "standin-secret"
)

// DefaultRegion is the region stand-ins and configs use when none is given.
const DefaultRegion = "us-east-1"

// startTimeout bounds starting a stand-in process and waiting for it to listen.
const startTimeout = 30 * time.Second

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error
)

// RepoRoot returns the repository root: the nearest directory at or above
// the working directory (a test's package directory, or wherever the drill
// command runs) whose go.mod is the library's (LibraryModule). The test
// module (e2e) sits below it, so its own go.mod is passed over. The root
// holds node_modules and the handler packages (./lambdas/...).
func RepoRoot(t T) string {
	t.Helper()
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err == nil {
			rootDir, err = findRoot(dir)
		}
		rootErr = err
	})
	if rootErr != nil {
		t.Fatalf("standin: %v", rootErr)
	}
	return rootDir
}

// LibraryModule is the module path of the library whose handlers the
// stand-ins run.
const LibraryModule = "github.com/twinstream/twinstream"

func findRoot(dir string) (string, error) {
	for start := dir; ; {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && modfile.ModulePath(b) == LibraryModule {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of module %s at or above %s", LibraryModule, start)
		}
		dir = parent
	}
}

// Dir is this package's directory below the repository root: the node
// scripts (kinesalite.js, sqs.js) are there.
func Dir(root string) string { return filepath.Join(root, "e2e", "internal", "standin") }

// AWSConfig returns an SDK configuration for the stand-ins: the region and
// static credentials, nothing read from the environment or ~/.aws, so tests
// do not depend on the machine. Service clients set BaseEndpoint themselves
// (see the Client methods).
func AWSConfig(region string) aws.Config {
	if region == "" {
		region = DefaultRegion
	}
	return aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
	}
}

// Service is a running stand-in whose endpoint a child process can be
// pointed at.
type Service interface {
	// Env returns the NAME=value lines that point the AWS SDK at the stand-in.
	Env() []string
}

// Env returns NAME=value lines for a child process (or t.Setenv via Setenv)
// whose SDK configuration (config.LoadDefaultConfig, as env.AWS does) must
// reach the given stand-ins: region, static credentials, no shared config
// files, no instance metadata lookups, and each service's endpoint.
func Env(region string, services ...Service) []string {
	if region == "" {
		region = DefaultRegion
	}
	env := []string{
		"AWS_REGION=" + region,
		"AWS_DEFAULT_REGION=" + region,
		"AWS_ACCESS_KEY_ID=" + AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + SecretAccessKey,
		"AWS_SESSION_TOKEN=",
		"AWS_PROFILE=",
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
	}
	for _, s := range services {
		env = append(env, s.Env()...)
	}
	return env
}

// Setenv sets NAME=value lines (from Env) in the test's own environment,
// restored when the test ends; for handler code that runs in-process and
// loads its configuration with env.AWS. Like t.Setenv it cannot be used in
// parallel tests.
func Setenv(t testing.TB, env []string) {
	t.Helper()
	for _, line := range env {
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("standin: env line %q: want NAME=value", line)
		}
		t.Setenv(name, value)
	}
}

// startContext bounds a stand-in start by startTimeout and by the test.
func startContext(t T) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), startTimeout)
}
