package standin

import (
	"os"
	"path/filepath"
	"testing"
)

// writeModule writes dir/go.mod declaring module path.
func writeModule(t *testing.T, dir, path string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module "+path+"\n\ngo 1.26.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFindRoot: the root is the library's module, not the test module's
// go.mod nearer to the test's directory.
func TestFindRoot(t *testing.T) {
	root := t.TempDir()
	writeModule(t, root, LibraryModule)
	writeModule(t, filepath.Join(root, "e2e"), LibraryModule+"/e2e")
	deep := filepath.Join(root, "e2e", "internal", "standin")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{root, filepath.Join(root, "e2e"), deep} {
		if got, err := findRoot(dir); err != nil || got != root {
			t.Errorf("findRoot(%s): got %q, %v, want %q", dir, got, err, root)
		}
	}

	other := t.TempDir()
	writeModule(t, other, "example.com/other")
	if got, err := findRoot(other); err == nil {
		t.Errorf("findRoot in another module: got %q, want an error", got)
	}
}

// TestModuleOf: a package is built in the module that holds it.
func TestModuleOf(t *testing.T) {
	root := t.TempDir()
	writeModule(t, root, LibraryModule)
	writeModule(t, filepath.Join(root, "e2e"), LibraryModule+"/e2e")
	tests := []struct {
		pkg, dir, rel string
	}{
		{"./lambdas/ingest", root, "./lambdas/ingest"},
		{"./e2e/internal/standin/testdata/echo", filepath.Join(root, "e2e"), "./internal/standin/testdata/echo"},
		{"./e2e", filepath.Join(root, "e2e"), "."},
	}
	for _, tt := range tests {
		t.Run(tt.pkg, func(t *testing.T) {
			dir, rel, err := moduleOf(root, tt.pkg)
			if err != nil || dir != tt.dir || rel != tt.rel {
				t.Errorf("got %q, %q, %v, want %q, %q", dir, rel, err, tt.dir, tt.rel)
			}
		})
	}
	if _, _, err := moduleOf(root, "lambdas/ingest"); err == nil {
		t.Errorf("a path without ./: got no error, want one")
	}
}
