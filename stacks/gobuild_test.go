package stacks

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
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
	keepBuildCache(t)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	bs := &bundles{}
	b, err := bs.get("./cmd/fn")
	if err != nil {
		t.Fatal(err)
	}
	if bi := bootstrap(t, filepath.Join(b.dir, "bootstrap")); bi.Main.Path != "example.com/h" {
		t.Errorf("main module: got %s, want example.com/h", bi.Main.Path)
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
		b, err := (&bundles{}).get("./cmd/fn")
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

// TestNestedModule: a folder of the library's tree with its own go.mod (an
// example app's module) is not the library's, nor is any folder under it.
func TestNestedModule(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "go.mod"), "module example.com/lib\n")
	write(t, filepath.Join(root, "examples/app/go.mod"), "module example.com/lib/examples/app\n")
	tests := []struct {
		rel  string
		want bool
	}{
		{"", false},
		{"lambdas/ingest", false},
		{"examples", false},
		{"examples/app", true},
		{"examples/app/processor", true},
	}
	for _, tt := range tests {
		if got := nestedModule(root, tt.rel); got != tt.want {
			t.Errorf("nestedModule(%q): got %v, want %v", tt.rel, got, tt.want)
		}
	}
}

// libraryHandlers are the handlers this module ships.
var libraryHandlers = []string{HandlerIngest, HandlerHealth, HandlerProcessor, HandlerReplay}

// goCmd runs the go command in dir with env added and returns its trimmed
// stdout, failing the test with its stderr.
func goCmd(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s in %s: %v\n%s%s", strings.Join(args, " "), dir, err, out, stderr.Bytes())
	}
	return strings.TrimSpace(string(out))
}

// keepBuildCache pins GOCACHE before a test moves XDG_CACHE_HOME (where
// GoCode keeps its bundles, and the go command its build cache unless
// GOCACHE says): the bundles go to a fresh folder, the compiled packages are
// reused.
func keepBuildCache(t *testing.T) {
	t.Helper()
	t.Setenv("GOCACHE", goCmd(t, "", nil, "env", "GOCACHE"))
}

// bootstrap checks that path is an executable linux/arm64 program and
// returns the build information Go stamped into it: its main module and the
// versions of the others.
func bootstrap(t *testing.T, path string) *buildinfo.BuildInfo {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		t.Errorf("%s mode: got %v, want executable", path, fi.Mode())
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 || f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
		t.Errorf("%s: got machine %v, OS ABI %v, want linux arm64", path, f.Machine, f.OSABI)
	}
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bi
}

// dep is the module path of bi's dependencies, nil when absent.
func dep(bi *buildinfo.BuildInfo, path string) *debug.Module {
	for _, d := range bi.Deps {
		if d.Path == path {
			return d
		}
	}
	return nil
}

// consumerModule copies testdata/consumer (a team's module with its own
// handler) to a temporary folder, points its replace directive at this
// repository and runs `go mod tidy` there, as a team would.
func consumerModule(t *testing.T, root string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/consumer")); err != nil {
		t.Fatal(err)
	}
	goCmd(t, dir, nil, "mod", "edit", "-replace", libraryModule+"="+root)
	goCmd(t, dir, nil, "mod", "tidy")
	// The premise: tidy keeps only what the team's code imports, not the
	// library handlers' SDK clients.
	sum, err := os.ReadFile(filepath.Join(dir, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if m := "github.com/aws/aws-sdk-go-v2/service/secretsmanager "; strings.Contains(string(sum), m) {
		t.Fatalf("go.sum after go mod tidy: got %q, want it absent", m)
	}
	return dir
}

// TestGoCodeInConsumerModule: a team's CDK app, in its own module after
// `go mod tidy`, calls GoCode. The library's handlers build in the library's
// module, with its pinned dependencies (not the aws-lambda-go the team's
// go.mod replaces), and hash as in this repository: one asset for both. The
// team's handler builds in the team's module, with the team's replacement.
func TestGoCodeInConsumerModule(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{} // hashes in this repository's module
	for _, pkg := range libraryHandlers {
		if want[pkg], err = SourceHash(pkg); err != nil {
			t.Fatal(err)
		}
	}
	pinned := goCmd(t, root, []string{"GOWORK=off"}, "list", "-m", "-f", "{{.Version}}", "github.com/aws/aws-lambda-go")
	dir := consumerModule(t, root)

	keepBuildCache(t)
	cache := t.TempDir()
	own := []string{"./handler", "example.com/consumer/handler"}
	out := goCmd(t, dir, []string{"XDG_CACHE_HOME=" + cache},
		slices.Concat([]string{"run", "./cmd/assets"}, libraryHandlers, own)...)
	got := map[string]string{}
	for line := range strings.Lines(out) {
		pkg, hash, _ := strings.Cut(strings.TrimSpace(line), " ")
		got[pkg] = hash
	}
	built := func(pkg string) *buildinfo.BuildInfo {
		t.Helper()
		return bootstrap(t, filepath.Join(cache, "twinstream", "lambda", got[pkg], "bootstrap"))
	}
	for _, pkg := range libraryHandlers {
		if got[pkg] != want[pkg] {
			t.Errorf("%s hash from the team's module: got %q, want %s (this repository's)", pkg, got[pkg], want[pkg])
			continue
		}
		bi := built(pkg)
		if bi.Main.Path != libraryModule {
			t.Errorf("%s main module: got %s, want %s", pkg, bi.Main.Path, libraryModule)
		}
		if d := dep(bi, "github.com/aws/aws-lambda-go"); d == nil || d.Version != pinned || d.Replace != nil {
			t.Errorf("%s aws-lambda-go: got %+v, want %s as the library pins it, not replaced", pkg, d, pinned)
		}
	}
	if got[own[0]] == "" || got[own[0]] != got[own[1]] {
		t.Fatalf("team's handler as %s and %s: got hashes %q and %q, want one", own[0], own[1], got[own[0]], got[own[1]])
	}
	bi := built(own[0])
	if bi.Main.Path != "example.com/consumer" {
		t.Errorf("team's handler main module: got %s, want example.com/consumer", bi.Main.Path)
	}
	if d := dep(bi, "github.com/aws/aws-lambda-go"); d == nil || d.Replace == nil || d.Replace.Version != "v1.55.0" {
		t.Errorf("team's handler aws-lambda-go: got %+v, want replaced by v1.55.0 as its go.mod says", d)
	}

}

// TestGoCodeInWorkspaceOrVendored: the library's handlers build in the
// library's module alone, as in this repository, also when the team's module
// is in a workspace (GOWORK) with the library, whose versions differ (the
// team's go.mod replaces aws-lambda-go), or vendors its dependencies (its
// vendor folder holds none of the handlers).
func TestGoCodeInWorkspaceOrVendored(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, pkg := range libraryHandlers {
		if want[pkg], err = SourceHash(pkg); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		setup func(t *testing.T) string // returns the team's module folder
	}{
		{"workspace", func(t *testing.T) string {
			dir := consumerModule(t, root)
			work := filepath.Join(dir, "go.work")
			goCmd(t, dir, []string{"GOWORK=" + work}, "work", "init", ".", root)
			t.Setenv("GOWORK", work)
			return dir
		}},
		{"vendor", func(t *testing.T) string {
			dir := t.TempDir()
			goVersion := goCmd(t, root, []string{"GOWORK=off"}, "list", "-m", "-f", "{{.GoVersion}}")
			write(t, filepath.Join(dir, "go.mod"), "module example.com/vendored\n\ngo "+goVersion+"\n\nrequire "+libraryModule+" v0.0.0\n\nreplace "+libraryModule+" => "+root+"\n")
			goCmd(t, dir, []string{"GOWORK=off"}, "mod", "vendor")
			t.Setenv("GOWORK", "off")
			return dir
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(tt.setup(t))
			for _, pkg := range libraryHandlers {
				if got, err := SourceHash(pkg); err != nil || got != want[pkg] {
					t.Errorf("%s hash: got %s, %v, want %s (this repository's)", pkg, got, err, want[pkg])
				}
			}
		})
	}
}

// moduleProxy serves this repository's library module as version v from a
// file:// GOPROXY folder: go.mod, go.sum and the files of the packages the
// handlers import (what the handlers' builds read of a release's zip), with
// goSum in place of go.sum.
func moduleProxy(t *testing.T, root, proxy, v string, goSum []byte) {
	t.Helper()
	files := map[string][]byte{"go.sum": goSum}
	var err error
	if files["go.mod"], err = os.ReadFile(filepath.Join(root, "go.mod")); err != nil {
		t.Fatal(err)
	}
	out := goCmd(t, root, []string{"GOWORK=off"}, slices.Concat([]string{"list", "-deps", "-json=Dir,GoFiles,CgoFiles,EmbedFiles,Module"}, libraryHandlers)...)
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Module == nil || !p.Module.Main {
			continue
		}
		for _, f := range slices.Concat(p.GoFiles, p.CgoFiles, p.EmbedFiles) {
			rel, err := filepath.Rel(root, filepath.Join(p.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if files[filepath.ToSlash(rel)], err = os.ReadFile(filepath.Join(p.Dir, f)); err != nil {
				t.Fatal(err)
			}
		}
	}
	var zipped bytes.Buffer
	zw := zip.NewWriter(&zipped)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		w, err := zw.Create(libraryModule + "@" + v + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(files[name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	at := filepath.Join(proxy, filepath.FromSlash(libraryModule), "@v")
	write(t, filepath.Join(at, v+".info"), `{"Version":"`+v+`","Time":"2026-01-01T00:00:00Z"}`)
	write(t, filepath.Join(at, v+".mod"), string(files["go.mod"]))
	write(t, filepath.Join(at, v+".zip"), zipped.String())
}

// TestGoCodeFromModuleCache: a team that requires a released version of the
// library (no replace) gets it in the read-only module cache. The library's
// handlers build there, from the release's go.mod and go.sum, with nothing in
// the team's go.sum but the library, write nothing there, and hash as in this
// repository. A release whose go.sum lacks a handler's dependency stops
// synth naming the handler, the module, its folder and the go command's
// message.
func TestGoCodeFromModuleCache(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	want, err := SourceHash(HandlerIngest)
	if err != nil {
		t.Fatal(err)
	}
	goSum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	// v0.0.2's go.sum lacks the secretsmanager SDK ingest imports.
	var partial []byte
	for line := range strings.Lines(string(goSum)) {
		if !strings.HasPrefix(line, "github.com/aws/aws-sdk-go-v2/service/secretsmanager ") {
			partial = append(partial, line...)
		}
	}
	proxy := t.TempDir()
	moduleProxy(t, root, proxy, "v0.0.1", goSum)
	moduleProxy(t, root, proxy, "v0.0.2", partial)

	// A fresh module cache, filled from the proxy above, then from this
	// machine's cache of downloads, then from GOPROXY. Its folders are
	// read-only: make them writable again for the temporary folder's removal.
	downloads := filepath.Join(goCmd(t, "", nil, "env", "GOMODCACHE"), "cache", "download")
	upstream := goCmd(t, "", nil, "env", "GOPROXY")
	keepBuildCache(t)
	modcache := t.TempDir()
	t.Cleanup(func() {
		filepath.WalkDir(modcache, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(path, 0o755)
			}
			return nil
		})
	})
	t.Setenv("GOMODCACHE", modcache)
	t.Setenv("GOPROXY", "file://"+filepath.ToSlash(proxy)+",file://"+filepath.ToSlash(downloads)+","+upstream)
	t.Setenv("GONOSUMDB", libraryModule)
	t.Setenv("GOWORK", "off")
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	goVersion := goCmd(t, root, []string{"GOWORK=off"}, "list", "-m", "-f", "{{.GoVersion}}")

	for _, tt := range []struct {
		name, version string
		vendor        bool     // the team vendors its dependencies
		fails         []string // what the error names; nil: builds
	}{
		{"release", "v0.0.1", false, nil},
		{"release, vendor folder", "v0.0.1", true, nil},
		{"release lacking a go.sum entry", "v0.0.2", false, []string{HandlerIngest, "module " + libraryModule + "@v0.0.2 in " + filepath.Join(modcache, libraryModule+"@v0.0.2") + ": go list", "missing go.sum entry", "secretsmanager"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The team's go.sum holds the library's checksums only.
			dir := t.TempDir()
			write(t, filepath.Join(dir, "go.mod"), "module example.com/released\n\ngo "+goVersion+"\n\nrequire "+libraryModule+" "+tt.version+"\n")
			var dl struct{ Dir, Sum, GoModSum string }
			if err := json.Unmarshal([]byte(goCmd(t, dir, nil, "mod", "download", "-json", libraryModule+"@"+tt.version)), &dl); err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(dir, "go.sum"), fmt.Sprintf("%[1]s %[2]s %[3]s\n%[1]s %[2]s/go.mod %[4]s\n", libraryModule, tt.version, dl.Sum, dl.GoModSum))
			if tt.vendor {
				goCmd(t, dir, nil, "mod", "vendor")
			}
			before := folderSums(t, dl.Dir)
			t.Chdir(dir)

			b, err := (&bundles{}).get(HandlerIngest)
			if tt.fails != nil {
				if err == nil {
					t.Fatalf("build from %s: got no error, want one", tt.version)
				}
				for _, w := range tt.fails {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("build from %s: got error %q, want it to name %q", tt.version, err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.hash != want {
				t.Errorf("ingest hash from the module cache: got %s, want %s (this repository's)", b.hash, want)
			}
			if bi := bootstrap(t, filepath.Join(b.dir, "bootstrap")); bi.Main.Path != libraryModule {
				t.Errorf("ingest main module: got %s, want %s", bi.Main.Path, libraryModule)
			}
			if after := folderSums(t, dl.Dir); !maps.Equal(after, before) {
				t.Errorf("module cache folder %s: got %v after the build, want %v as extracted", dl.Dir, after, before)
			}
		})
	}
}

// folderSums maps each file under dir to the SHA-256 of its contents.
func folderSums(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	sums := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		sums[path] = sha256.Sum256(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
}
