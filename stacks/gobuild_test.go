package stacks

import (
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tempModule writes a small module: a main package importing lib, and an
// unrelated package other. It changes into it, as the CDK CLI runs the app
// from cdk.json's folder.
func tempModule(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":          "module example.com/h\n\ngo 1.24\n",
		"cmd/fn/main.go":  "package main\n\nimport \"example.com/h/lib\"\n\nfunc main() { println(lib.Name) }\n",
		"lib/lib.go":      "package lib\n\nconst Name = \"a\"\n",
		"other/other.go":  "package other\n\nconst X = 1\n",
		"lib/lib_test.go": "package lib\n",
	}
	for name, body := range files {
		write(t, filepath.Join(dir, name), body)
	}
	t.Chdir(dir)
	return dir
}

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSourceHash(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		body    string
		changes bool
	}{
		{"nothing changed", "", "", false},
		{"handler's own file", "cmd/fn/main.go", "package main\n\nimport \"example.com/h/lib\"\n\nfunc main() { println(lib.Name, 1) }\n", true},
		{"imported package", "lib/lib.go", "package lib\n\nconst Name = \"b\"\n", true},
		{"new file in imported package", "lib/more.go", "package lib\n\nconst More = 2\n", true},
		{"go.mod", "go.mod", "module example.com/h\n\ngo 1.25\n", true},
		{"go.sum appears", "go.sum", "", true},
		{"package not imported", "other/other.go", "package other\n\nconst X = 2\n", false},
		{"test file of imported package", "lib/lib_test.go", "package lib\n\nconst T = 3\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tempModule(t)
			before, err := SourceHash("./cmd/fn")
			if err != nil {
				t.Fatal(err)
			}
			if tt.file != "" {
				write(t, filepath.Join(dir, tt.file), tt.body)
			}
			after, err := SourceHash("./cmd/fn")
			if err != nil {
				t.Fatal(err)
			}
			if got := before != after; got != tt.changes {
				t.Errorf("hash changed: got %v, want %v (%s -> %s)", got, tt.changes, before, after)
			}
		})
	}
}

func TestSourceHashIndependentOfLocation(t *testing.T) {
	a := tempModule(t)
	ha, err := SourceHash("./cmd/fn")
	if err != nil {
		t.Fatal(err)
	}
	b := tempModule(t)
	hb, err := SourceHash("./cmd/fn")
	if err != nil {
		t.Fatal(err)
	}
	if a == b || ha != hb {
		t.Errorf("same sources in %s and %s: got hashes %s and %s, want equal", a, b, ha, hb)
	}
}

func TestSourceHashErrors(t *testing.T) {
	dir := tempModule(t)
	write(t, filepath.Join(dir, "lib/lib.go"), "package lib\n\nimport \"example.com/h/missing\"\n")
	if _, err := SourceHash("./cmd/fn"); err == nil {
		t.Error("import of a missing package: got no error, want one")
	}
	if _, err := SourceHash("./nope"); err == nil {
		t.Error("missing package: got no error, want one")
	}
}

func TestBuildBootstrap(t *testing.T) {
	tempModule(t)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	bs := &bundles{done: map[string]bundle{}}
	b, err := bs.get("./cmd/fn")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(b.dir, "bootstrap")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		t.Errorf("bootstrap mode: got %v, want executable", fi.Mode())
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 || f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
		t.Errorf("bootstrap: got machine %v, OS ABI %v, want linux arm64", f.Machine, f.OSABI)
	}
	if entries, _ := os.ReadDir(b.dir); len(entries) != 1 {
		t.Errorf("asset folder: got %d entries, want only bootstrap", len(entries))
	}
	// Built once: a second request returns the same bundle without building.
	if again, err := bs.get("./cmd/fn"); err != nil || again != b {
		t.Errorf("second get: got %+v, %v, want %+v", again, err, b)
	}
}

func TestBuildBootstrapReproducible(t *testing.T) {
	tempModule(t)
	var sums [2][]byte
	for i := range sums {
		t.Setenv("XDG_CACHE_HOME", t.TempDir())
		b, err := (&bundles{done: map[string]bundle{}}).get("./cmd/fn")
		if err != nil {
			t.Fatal(err)
		}
		if sums[i], err = os.ReadFile(filepath.Join(b.dir, "bootstrap")); err != nil {
			t.Fatal(err)
		}
	}
	if string(sums[0]) != string(sums[1]) {
		t.Error("two builds of the same sources: got different binaries, want identical")
	}
}

func TestBuildFailurePanicsWithMessage(t *testing.T) {
	dir := tempModule(t)
	write(t, filepath.Join(dir, "cmd/fn/main.go"), "package main\n\nfunc main() { undefinedThing() }\n")
	defer func() {
		msg, _ := recover().(string)
		if msg == "" || !strings.Contains(msg, "undefinedThing") || !strings.Contains(msg, "./cmd/fn") {
			t.Errorf("panic: got %q, want the package and the compiler's message", msg)
		}
	}()
	GoCode("./cmd/fn")
}

// TestGoCodeRejectsNonHandlers: synth stops, naming the package, when pkg is
// not a command (go build would ship a library archive as bootstrap) or does
// not exist.
func TestGoCodeRejectsNonHandlers(t *testing.T) {
	tests := []struct {
		name, pkg string
		want      []string
	}{
		{"library package by directory", "./lib", []string{"./lib", "example.com/h/lib", "is package lib, not package main"}},
		{"library package by import path", "example.com/h/lib", []string{"example.com/h/lib", "is package lib, not package main"}},
		{"missing directory", "./nope", []string{"./nope", "directory not found"}},
		{"missing import path", "example.com/h/nope", []string{"example.com/h/nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tempModule(t)
			t.Setenv("XDG_CACHE_HOME", t.TempDir())
			var msg string
			func() {
				defer func() { msg, _ = recover().(string) }()
				GoCode(tt.pkg)
			}()
			if msg == "" {
				t.Fatalf("GoCode(%q): got no panic, want one", tt.pkg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("GoCode(%q): got panic %q, want it to contain %q", tt.pkg, msg, w)
				}
			}
		})
	}
}
