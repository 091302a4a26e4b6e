package main

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestGoModLibraryOnly: a team's module inherits this module's go.mod, so it
// must hold only what the library and its handlers build with: no module
// that only this module's tests use, and no tool directive. (Every non-test
// package here is the library's; test-only code and its dependencies, the
// stand-ins, the drill and the pinned tools, live in the e2e module.)
func TestGoModLibraryOnly(t *testing.T) {
	modules := func(args ...string) []string {
		t.Helper()
		cmd := exec.Command("go", append([]string{"list", "-deps", "-f", "{{if not .Standard}}{{with .Module}}{{.Path}}{{end}}{{end}}"}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		var ms []string
		for _, m := range strings.Fields(string(out)) {
			if !slices.Contains(ms, m) {
				ms = append(ms, m)
			}
		}
		return ms
	}
	built := modules("./...")
	for _, m := range modules("-test", "./...") {
		if !slices.Contains(built, m) {
			t.Errorf("module %s is used only by tests: move those tests to the e2e module", m)
		}
	}

	out, err := exec.Command("go", "mod", "edit", "-json").Output()
	if err != nil {
		t.Fatalf("go mod edit -json: %v", err)
	}
	var mod struct {
		Tool []struct{ Path string }
	}
	if err := json.Unmarshal(out, &mod); err != nil {
		t.Fatal(err)
	}
	for _, tool := range mod.Tool {
		t.Errorf("go.mod: tool %s: got a tool directive, want tools pinned in e2e/go.mod", tool.Path)
	}
}
