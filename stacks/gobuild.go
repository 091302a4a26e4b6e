package stacks

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/jsii-runtime-go"
)

// libraryModule is this library's module: its handlers build in it.
const libraryModule = "github.com/twinstream/twinstream"

// The handlers this module ships, as Go import paths for GoCode.
const (
	HandlerIngest    = libraryModule + "/lambdas/ingest"
	HandlerHealth    = libraryModule + "/lambdas/health"
	HandlerProcessor = libraryModule + "/lambdas/processor"
	HandlerReplay    = libraryModule + "/lambdas/replay"
)

// How every handler is built: static, stripped, reproducible (no paths, VCS
// stamps or build ids in the binary), without the RPC mode aws-lambda-go only
// needs for the retired go1.x runtime.
var (
	buildEnv   = []string{"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0"}
	buildFlags = []string{"-trimpath", "-buildvcs=false", "-tags", "lambda.norpc", "-ldflags=-s -w -buildid="}
)

// libraryEnv is added for the library's own handlers, which build in the
// library's module alone, as released: no workspace joins in, and the
// caller's GOFLAGS (-mod=mod, -mod=vendor) can neither rewrite its go.mod
// (perhaps a read-only module cache folder) nor look for a vendor folder.
var libraryEnv = []string{"GOWORK=off", "GOFLAGS=-mod=readonly"}

// GoCode returns Lambda code for the Go main package pkg: an import path
// ("github.com/twinstream/twinstream/lambdas/ingest", or one of a team's own
// module) or a directory ("./lambdas/myprocessor", relative to the current
// directory, which is cdk.json's when the CDK CLI runs the app). It is built
// with `go build` for linux/arm64 into a file named bootstrap, for the
// provided.al2023 runtime; no Docker is involved.
//
// Where it builds: an import path of this library (the Handler constants)
// builds in the library's own module folder, wherever the current module's
// graph has it (a replace directive's directory, a workspace's, the read-only
// module cache), with the library's go.mod and go.sum alone: no workspace
// (GOWORK=off), and none of the current module's requirements, replace
// directives, vendor folder or GOFLAGS. So a team's `go mod tidy`, which
// drops the handlers' dependencies (its code never imports them), cannot
// break synth, and the handlers run the dependency versions the library was
// released with; a team that needs others replaces the library itself (a
// fork). Anything else, a team's own handler (an import path of its module,
// a directory, or a package under a folder of the library's tree that has a
// go.mod of its own), builds in the current module as `go build` would there.
//
// The asset hash covers everything the binary depends on: the Go version,
// GOFLAGS and build flags, every file of every package of the building
// module that pkg imports (not only its own folder), the version of every
// other module, and go.mod and go.sum. It is computed in the module that
// builds, and names no folder, so a library handler's asset is the same
// whether the app is synthesized in the library's repository or in a team's
// module, one asset serves both regions, and any change that can change the
// binary changes the hash.
//
// A build failure panics, as CDK constructs do with invalid input: synth stops
// with the package, the module and the go command's message. So does a pkg
// that does not exist or is not package main (go build would write a library
// archive, not a program).
func GoCode(pkg string) awslambda.Code {
	b, err := goBundles.get(pkg)
	if err != nil {
		panic(fmt.Sprintf("twinstream: bundling Go handler %s: %v", pkg, err))
	}
	return awslambda.Code_FromAsset(jsii.String(b.dir), &awss3assets.AssetOptions{
		AssetHash:     jsii.String(b.hash),
		AssetHashType: awscdk.AssetHashType_CUSTOM,
	})
}

// bundle is a built handler: a folder holding only bootstrap.
type bundle struct {
	hash string
	dir  string
}

// bundles builds each package once per process: both regional stacks (and
// every test app) share the build.
type bundles struct {
	mu   sync.Mutex
	done map[string]bundle        // by working directory and pkg
	libs map[string]*listedModule // the library's module, by working directory and environment
}

var goBundles = &bundles{}

func (bs *bundles) get(pkg string) (bundle, error) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	wd, _ := os.Getwd()
	key := wd + "\x00" + pkg
	if b, ok := bs.done[key]; ok {
		return b, nil
	}
	// The library's module is looked up once: it loads the module graph.
	t, err := resolve(pkg, func() (*listedModule, error) {
		key := wd + "\x00" + strings.Join(os.Environ(), "\x00")
		if m, ok := bs.libs[key]; ok {
			return m, nil
		}
		m, err := libraryIn()
		if err == nil {
			if bs.libs == nil {
				bs.libs = map[string]*listedModule{}
			}
			bs.libs[key] = m
		}
		return m, err
	})
	if err != nil {
		return bundle{}, err
	}
	hash, err := t.hash()
	if err != nil {
		return bundle{}, err
	}
	dir, err := t.build(hash)
	if err != nil {
		return bundle{}, err
	}
	b := bundle{hash: hash, dir: dir}
	if bs.done == nil {
		bs.done = map[string]bundle{}
	}
	bs.done[key] = b
	return b, nil
}

// listedModule is what `go list -json` says of a module.
type listedModule struct {
	Path    string
	Version string
	Main    bool
	Dir     string
	GoMod   string
	Replace *struct {
		Path    string
		Version string
		Dir     string
	}
	Error *struct{ Err string }
}

// String names the module as go.mod would: path@version => replacement.
func (m *listedModule) String() string {
	s := m.Path
	if m.Version != "" {
		s += "@" + m.Version
	}
	if r := m.Replace; r != nil {
		s += " => " + r.Path
		if r.Version != "" {
			s += "@" + r.Version
		}
	}
	return s
}

// listedPackage is what `go list -json` says of a package.
type listedPackage struct {
	ImportPath string
	Name       string // the package clause: "main" for a command
	DepOnly    bool   // listed only as a dependency of the package asked for
	Dir        string
	Standard   bool
	GoFiles    []string
	CgoFiles   []string
	EmbedFiles []string
	Module     *listedModule
	Error      *struct{ Err string }
}

// target is how one handler builds: the go command's working directory, the
// package as named there, and the environment added for it.
type target struct {
	pkg    string // an import path, or a directory relative to dir
	dir    string // "" is the current directory
	module string // the module that builds it, for messages; "" the current one
	env    []string
}

// resolve says where pkg builds (see GoCode); library returns the library's
// module as the current directory's module graph has it.
func resolve(pkg string, library func() (*listedModule, error)) (target, error) {
	rel, ok := strings.CutPrefix(pkg, libraryModule)
	if !ok || rel != "" && rel[0] != '/' {
		return target{pkg: pkg, env: buildEnv}, nil
	}
	m, err := library()
	if err != nil {
		return target{}, fmt.Errorf("find the module of %s: %w", pkg, err)
	}
	// A folder of the library's tree with a go.mod of its own (an example
	// app, say) is another module: the current one, when it builds there.
	if nestedModule(m.Dir, strings.TrimPrefix(rel, "/")) {
		return target{pkg: pkg, env: buildEnv}, nil
	}
	return target{pkg: pkg, dir: m.Dir, module: m.String(), env: slices.Concat(buildEnv, libraryEnv)}, nil
}

// libraryIn returns the library's module as the current directory's module
// graph selects it, with the folder that holds it: a replace directive's
// directory, a workspace's, or the module cache's, downloaded if need be
// (go list -m does not download; with -mod=vendor it has no folder at all).
func libraryIn() (*listedModule, error) {
	out, err := goOutput("", nil, "list", "-m", "-e", "-json", libraryModule)
	if err != nil {
		return nil, err
	}
	var m listedModule
	if err := json.Unmarshal(out, &m); err != nil {
		return nil, fmt.Errorf("read go list output: %w", err)
	}
	if m.Error != nil {
		return nil, fmt.Errorf("go list -m %s: %s", libraryModule, m.Error.Err)
	}
	if m.Dir == "" && m.Replace != nil {
		m.Dir = m.Replace.Dir
	}
	if m.Dir != "" {
		return &m, nil
	}
	at := m.Path + "@" + m.Version
	if r := m.Replace; r != nil {
		at = r.Path + "@" + r.Version
	}
	out, err = goOutput("", nil, "mod", "download", "-json", at)
	var dl struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &dl); jerr == nil && dl.Error != "" {
		err = errors.New(dl.Error)
	}
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", at, err)
	}
	m.Dir = dl.Dir
	return &m, nil
}

// nestedModule says whether the folder rel (slash-separated) under root, or
// one between them, holds a go.mod: then its packages are not root's.
func nestedModule(root, rel string) bool {
	for rel != "" && rel != "." {
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel), "go.mod")); err == nil {
			return true
		}
		rel = path.Dir(rel)
	}
	return false
}

// where prefixes err with the module and folder the go command ran in.
func (t target) where(err error) error {
	if t.dir == "" {
		wd, _ := os.Getwd()
		return fmt.Errorf("current module (%s): %w", wd, err)
	}
	return fmt.Errorf("module %s in %s: %w", t.module, t.dir, err)
}

// SourceHash is the hex SHA-256 over everything that determines the binary
// GoCode builds for pkg (see GoCode).
func SourceHash(pkg string) (string, error) {
	t, err := resolve(pkg, libraryIn)
	if err != nil {
		return "", err
	}
	return t.hash()
}

func (t target) hash() (string, error) {
	vars, err := goOutput(t.dir, t.env, "env", "GOVERSION", "GOFLAGS")
	if err != nil {
		return "", t.where(err)
	}
	goVersion, goFlags, _ := strings.Cut(strings.TrimRight(string(vars), "\n"), "\n")
	out, err := goOutput(t.dir, t.env, "list", "-deps", "-json=ImportPath,Name,DepOnly,Dir,Standard,GoFiles,CgoFiles,EmbedFiles,Module,Error", "-tags", "lambda.norpc", t.pkg)
	if err != nil {
		return "", t.where(err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "go %s\ngoflags %s\nenv %s\nflags %s\n", goVersion, goFlags, strings.Join(t.env, " "), strings.Join(buildFlags, " "))
	goMods := map[string]string{} // module path: its go.mod
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", t.where(fmt.Errorf("read go list output: %w", err))
		}
		if p.Error != nil {
			return "", t.where(fmt.Errorf("package %s: %s", p.ImportPath, p.Error.Err))
		}
		// go build of a package other than main writes an archive, not a
		// program: Lambda would get it as bootstrap and fail every invoke.
		if !p.DepOnly && p.Name != "main" {
			return "", fmt.Errorf("%s (%s) is package %s, not package main: a handler is a command whose func main calls lambda.Start", t.pkg, p.ImportPath, p.Name)
		}
		if p.Standard {
			continue // covered by the Go version
		}
		fmt.Fprintf(h, "package %s\n", p.ImportPath)
		m := p.Module
		local := m != nil && (m.Main || (m.Replace != nil && m.Replace.Version == ""))
		if !local {
			// A module version names immutable contents (go.sum checks them).
			if m != nil {
				fmt.Fprintf(h, "module %s@%s\n", m.Path, m.Version)
				if m.Replace != nil {
					fmt.Fprintf(h, "replace %s@%s\n", m.Replace.Path, m.Replace.Version)
				}
			}
			continue
		}
		if m.GoMod != "" {
			goMods[m.Path] = m.GoMod
		}
		files := slices.Concat(p.GoFiles, p.CgoFiles, p.EmbedFiles)
		slices.Sort(files)
		for _, f := range files {
			if err := hashFile(h, filepath.Join(p.Dir, f), p.ImportPath+"/"+f); err != nil {
				return "", t.where(err)
			}
		}
	}
	// By module path, not folder: the same sources hash the same anywhere.
	for _, path := range slices.Sorted(maps.Keys(goMods)) {
		gomod := goMods[path]
		if err := hashFile(h, gomod, path+"/go.mod"); err != nil {
			return "", t.where(err)
		}
		sum := strings.TrimSuffix(gomod, ".mod") + ".sum"
		if _, err := os.Stat(sum); err == nil {
			if err := hashFile(h, sum, path+"/go.sum"); err != nil {
				return "", t.where(err)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashFile adds a file's name (without the machine's path) and contents.
func hashFile(h io.Writer, path, name string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("hash %s: %w", name, err)
	}
	fmt.Fprintf(h, "file %s %d\n", name, len(b))
	_, err = h.Write(b)
	return err
}

// build builds the handler into <cache>/twinstream/lambda/<hash>/bootstrap,
// unless an earlier synth already did: the folder is keyed by the hash.
func (t target) build(hash string) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "twinstream", "lambda", hash)
	out := filepath.Join(dir, "bootstrap")
	if fi, err := os.Stat(out); err == nil && fi.Mode().IsRegular() {
		return dir, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dir), hash+".*.tmp")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	args := slices.Concat([]string{"build"}, buildFlags, []string{"-o", tmp.Name(), t.pkg})
	if _, err := goOutput(t.dir, t.env, args...); err != nil {
		return "", t.where(err)
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return "", err
	}
	// Rename is atomic: a concurrent synth never sees half a binary.
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", err
	}
	return dir, nil
}

// goOutput runs the go command in dir ("" for the current directory) with
// env added to the environment, and returns its stdout.
func goOutput(dir string, env []string, args ...string) ([]byte, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		// Progress ("go: downloading m v") is no part of the message.
		var msg []string
		for line := range strings.Lines(stderr.String()) {
			if !strings.HasPrefix(line, "go: downloading ") {
				msg = append(msg, line)
			}
		}
		return nil, fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(strings.Join(msg, "")))
	}
	return out, nil
}
