package stacks

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/jsii-runtime-go"
)

// The handlers this module ships, as Go import paths for GoCode.
const (
	HandlerIngest    = "github.com/twinstream/twinstream/lambdas/ingest"
	HandlerHealth    = "github.com/twinstream/twinstream/lambdas/health"
	HandlerProcessor = "github.com/twinstream/twinstream/lambdas/processor"
	HandlerReplay    = "github.com/twinstream/twinstream/lambdas/replay"
)

// How every handler is built: static, stripped, reproducible (no paths, VCS
// stamps or build ids in the binary), without the RPC mode aws-lambda-go only
// needs for the retired go1.x runtime.
var (
	buildEnv   = []string{"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0"}
	buildFlags = []string{"-trimpath", "-buildvcs=false", "-tags", "lambda.norpc", "-ldflags=-s -w -buildid="}
)

// GoCode returns Lambda code for the Go main package pkg: an import path
// ("github.com/twinstream/twinstream/lambdas/ingest", or one of a team's own
// module) or a directory ("./lambdas/myprocessor", relative to the current
// directory, which is cdk.json's when the CDK CLI runs the app). It is built
// with `go build` for linux/arm64 into a file named bootstrap, for the
// provided.al2023 runtime; no Docker is involved.
//
// The asset hash covers everything the binary depends on: the Go version and
// build flags, every file of every package of the main module that pkg
// imports (not only its own folder), the version of every other module, and
// go.mod and go.sum. So the same sources give the same hash, one asset serves
// both regions, and any change that can change the binary changes the hash.
//
// A build failure panics, as CDK constructs do with invalid input: synth stops
// with the compiler's message. So does a pkg that does not exist or is not
// package main (go build would write a library archive, not a program).
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
	done map[string]bundle
}

var goBundles = &bundles{done: map[string]bundle{}}

func (bs *bundles) get(pkg string) (bundle, error) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if b, ok := bs.done[pkg]; ok {
		return b, nil
	}
	hash, err := SourceHash(pkg)
	if err != nil {
		return bundle{}, err
	}
	dir, err := buildBootstrap(pkg, hash)
	if err != nil {
		return bundle{}, err
	}
	b := bundle{hash: hash, dir: dir}
	bs.done[pkg] = b
	return b, nil
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
	Module     *struct {
		Path    string
		Version string
		Main    bool
		GoMod   string
		Replace *struct {
			Path    string
			Version string
		}
	}
	Error *struct{ Err string }
}

// SourceHash is the hex SHA-256 over everything that determines the binary
// GoCode builds for pkg (see GoCode).
func SourceHash(pkg string) (string, error) {
	goVersion, err := goOutput("env", "GOVERSION")
	if err != nil {
		return "", err
	}
	args := append([]string{"list", "-deps", "-json=ImportPath,Name,DepOnly,Dir,Standard,GoFiles,CgoFiles,EmbedFiles,Module,Error", "-tags", "lambda.norpc"}, pkg)
	out, err := goOutput(args...)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "go %s\nenv %s\nflags %s\n", strings.TrimSpace(string(goVersion)), strings.Join(buildEnv, " "), strings.Join(buildFlags, " "))
	goMods := map[string]bool{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", fmt.Errorf("read go list output: %w", err)
		}
		if p.Error != nil {
			return "", fmt.Errorf("package %s: %s", p.ImportPath, p.Error.Err)
		}
		// go build of a package other than main writes an archive, not a
		// program: Lambda would get it as bootstrap and fail every invoke.
		if !p.DepOnly && p.Name != "main" {
			return "", fmt.Errorf("%s (%s) is package %s, not package main: a handler is a command whose func main calls lambda.Start", pkg, p.ImportPath, p.Name)
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
			goMods[m.GoMod] = true
		}
		files := slices.Concat(p.GoFiles, p.CgoFiles, p.EmbedFiles)
		slices.Sort(files)
		for _, f := range files {
			if err := hashFile(h, filepath.Join(p.Dir, f), p.ImportPath+"/"+f); err != nil {
				return "", err
			}
		}
	}
	mods := slices.Sorted(func(yield func(string) bool) {
		for m := range goMods {
			if !yield(m) {
				return
			}
		}
	})
	for i, gomod := range mods {
		name := fmt.Sprintf("module%d", i)
		if err := hashFile(h, gomod, name+"/go.mod"); err != nil {
			return "", err
		}
		sum := strings.TrimSuffix(gomod, ".mod") + ".sum"
		if _, err := os.Stat(sum); err == nil {
			if err := hashFile(h, sum, name+"/go.sum"); err != nil {
				return "", err
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

// buildBootstrap builds pkg into <cache>/twinstream/lambda/<hash>/bootstrap,
// unless an earlier synth already did: the folder is keyed by the hash.
func buildBootstrap(pkg, hash string) (string, error) {
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
	args := slices.Concat([]string{"build"}, buildFlags, []string{"-o", tmp.Name(), pkg})
	if _, err := goOutput(args...); err != nil {
		return "", err
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

// goOutput runs the go command for linux/arm64 and returns its stdout.
func goOutput(args ...string) ([]byte, error) {
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), buildEnv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}
