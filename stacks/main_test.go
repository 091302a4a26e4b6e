package stacks

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"

	"github.com/aws/jsii-runtime-go"
)

// TestMain closes the jsii runtime (a node process) after all tests of the
// package, which synthesize their apps once each.
func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

// cdkFeatureFlags are cdk.json's context entries other than the config.
func cdkFeatureFlags() (map[string]any, error) {
	b, err := os.ReadFile("../cdk.json")
	if err != nil {
		return nil, err
	}
	var c struct{ Context map[string]any }
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("cdk.json: %w", err)
	}
	delete(c.Context, ContextKey)
	return c.Context, nil
}

// flaggedApp is an App with cdk.json's feature flags, so tests synthesize
// what `cdk synth` would (cross-region references, for one, differ).
func flaggedApp() awscdk.App {
	ctx, err := cdkFeatureFlags()
	if err != nil {
		panic(err)
	}
	return awscdk.NewApp(&awscdk.AppProps{Context: &ctx})
}
