package lambdas_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// handlers are the Lambda entry points the CDK app bundles.
var handlers = []string{"ingest", "health", "processor", "replay"}

// maxBootstrapBytes is the size budget per handler binary: small binaries
// keep cold starts and deployment packages small.
const maxBootstrapBytes = 10_000_000

// TestBootstrapSizes builds every handler exactly as the CDK app bundles it
// (linux/arm64, static, stripped, in the library's module) and checks the
// size budget.
func TestBootstrapSizes(t *testing.T) {
	dir := t.TempDir()
	for _, h := range handlers {
		t.Run(h, func(t *testing.T) {
			out := filepath.Join(dir, h, "bootstrap")
			cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-tags", "lambda.norpc",
				"-ldflags=-s -w -buildid=", "-o", out, "./"+h)
			cmd.Dir = filepath.Join("..", "..", "lambdas")
			cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go build %s: %v\n%s", h, err, b)
			}
			fi, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s bootstrap linux/arm64: %d bytes (%.2f MiB)", h, fi.Size(), float64(fi.Size())/(1<<20))
			if fi.Size() > maxBootstrapBytes {
				t.Errorf("%s bootstrap: got %d bytes, want <= %d", h, fi.Size(), maxBootstrapBytes)
			}
		})
	}
}
