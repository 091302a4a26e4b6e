package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNode checks the Node.js that the jsii runtime starts for the CDK
// constructs in these tests: jsii-runtime-go runs $JSII_NODE, else `node`
// from PATH (internal/kernel/process). It must be the version package.json
// pins (npm ci installs it in node_modules/.bin, which the Makefile puts
// first on PATH), and the pinned jsii runtime must start on it without a
// notice (end-of-life, untested or unsupported Node).
func TestNode(t *testing.T) {
	node := os.Getenv("JSII_NODE")
	if node == "" {
		var err error
		if node, err = exec.LookPath("node"); err != nil {
			t.Fatalf("node: %v", err)
		}
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", node, err)
	}
	got := strings.TrimSpace(string(out))
	t.Logf("jsii runtime's node: %s %s", node, got)

	t.Run("pinned", func(t *testing.T) {
		b, err := os.ReadFile("package.json")
		if err != nil {
			t.Fatal(err)
		}
		var pkg struct {
			DevDependencies map[string]string `json:"devDependencies"`
		}
		if err := json.Unmarshal(b, &pkg); err != nil {
			t.Fatalf("package.json: %v", err)
		}
		want := "v" + pkg.DevDependencies["node"]
		if got != want {
			t.Errorf("node %s: got %s, want %s (package.json's devDependencies.node): run the tests with make, "+
				"or with node_modules/.bin first on PATH", node, got, want)
		}
	})

	t.Run("jsii accepts it", func(t *testing.T) {
		// The runtime bundled in jsii-runtime-go, run as the Go side runs it:
		// it answers hello on stdout and writes any notice on stderr.
		dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/aws/jsii-runtime-go").Output()
		if err != nil {
			t.Fatalf("go list jsii-runtime-go: %v", err)
		}
		js := filepath.Join(strings.TrimSpace(string(dir)), "internal", "embedded", "resources", "bin", "jsii-runtime.js")
		cmd := exec.Command(node, js)
		// No silencing variable: a notice must show.
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "JSII_SILENCE_WARNING") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("jsii runtime on %s: %v\n%s", got, err, stderr.Bytes())
		}
		if !strings.Contains(stdout.String(), `"hello":"@jsii/runtime@`) {
			t.Errorf("jsii runtime on %s: got stdout %q, want its hello", got, stdout.String())
		}
		if stderr.Len() != 0 {
			t.Errorf("jsii runtime on node %s: got a notice on stderr, want none:\n%s", got, stderr.Bytes())
		}
	})
}
