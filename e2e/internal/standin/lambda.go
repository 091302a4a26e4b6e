package standin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// buildTimeout bounds one go build (of a bootstrap or of aws-lambda-rie).
const buildTimeout = 5 * time.Minute

// rieTool is aws-lambda-rie, pinned by the test module's (e2e/go.mod) tool
// directive.
const rieTool = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

// result is a once-per-test-binary computation (a build), shared by tests.
type result struct {
	once sync.Once
	val  string
	err  error
}

var (
	buildsMu sync.Mutex
	builds   = map[string]*result{}
	rieBin   result
	cacheDir result
)

// BuildBootstrap builds a handler's main package as Lambda runs it: a static
// linux binary for the host's architecture named bootstrap, with the flags
// the CDK app uses (-trimpath -buildvcs=false -tags lambda.norpc
// -ldflags="-s -w -buildid="). pkg is a path relative to the repository root
// ("./lambdas/ingest", "./e2e/internal/standin/testdata/echo"), built in the
// module that holds it: the library's handlers with the library's go.mod, as
// the CDK app builds them, whatever the test module requires.
// The build is done once per test binary; the file must not be modified.
func BuildBootstrap(t T, pkg string) string {
	t.Helper()
	root := RepoRoot(t)
	buildsMu.Lock()
	r := builds[pkg]
	if r == nil {
		r = &result{}
		builds[pkg] = r
	}
	buildsMu.Unlock()
	r.once.Do(func() { r.val, r.err = buildBootstrap(root, pkg) })
	if r.err != nil {
		t.Fatalf("standin: %v", r.err)
	}
	return r.val
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func buildBootstrap(root, pkg string) (string, error) {
	dir, err := buildDir()
	if err != nil {
		return "", err
	}
	// Lambda wants the file named bootstrap: one directory per package.
	pkgDir, err := os.MkdirTemp(dir, strings.Trim(unsafeChars.ReplaceAllString(pkg, "_"), "._")+"-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(pkgDir, "bootstrap")
	modDir, rel, err := moduleOf(root, pkg)
	if err != nil {
		return "", err
	}
	// The shared build outlives the test that asked first, so it is bounded
	// by its own timeout rather than that test's context.
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-tags", "lambda.norpc",
		"-ldflags=-s -w -buildid=", "-o", out, rel)
	cmd.Dir = modDir
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+runtime.GOARCH, "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return out, nil
}

// moduleOf returns the directory of the module that holds pkg (a path
// relative to root) and pkg relative to that directory.
func moduleOf(root, pkg string) (dir, rel string, err error) {
	if !strings.HasPrefix(pkg, "./") {
		return "", "", fmt.Errorf("package %q: want a path relative to the repository root, starting with ./", pkg)
	}
	abs := filepath.Join(root, pkg)
	for dir = abs; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		if dir == root || dir == filepath.Dir(dir) {
			return "", "", fmt.Errorf("package %s: no go.mod between it and %s", pkg, root)
		}
	}
	rel, err = filepath.Rel(dir, abs)
	if err != nil {
		return "", "", err
	}
	if rel == "." {
		return dir, ".", nil
	}
	return dir, "./" + filepath.ToSlash(rel), nil
}

// buildDir returns this test binary's directory for bootstraps. It cannot
// be removed when the binary exits (no hook short of TestMain), so each new
// one first removes those left by test binaries that no longer run.
func buildDir() (string, error) {
	cacheDir.once.Do(func() {
		tmp := os.TempDir()
		if old, err := filepath.Glob(filepath.Join(tmp, "standin-bootstrap-*")); err == nil {
			for _, d := range old {
				pid, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(filepath.Base(d), "standin-bootstrap-"), "-", 2)[0])
				if err == nil && pid != os.Getpid() && processGone(pid) {
					os.RemoveAll(d)
				}
			}
		}
		cacheDir.val, cacheDir.err = os.MkdirTemp(tmp, fmt.Sprintf("standin-bootstrap-%d-", os.Getpid()))
	})
	return cacheDir.val, cacheDir.err
}

// rieBinary returns aws-lambda-rie as built by `go tool -n` (into the go
// build cache, so later test runs reuse it).
func rieBinary(t T) string {
	t.Helper()
	root := RepoRoot(t)
	rieBin.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "tool", "-n", rieTool)
		cmd.Dir = filepath.Join(root, "e2e")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			rieBin.err = fmt.Errorf("go tool -n %s: %w\n%s", rieTool, err, stderr.Bytes())
			return
		}
		rieBin.val = strings.TrimSpace(string(out))
	})
	if rieBin.err != nil {
		t.Fatalf("standin: %v", rieBin.err)
	}
	return rieBin.val
}

// RIE is aws-lambda-rie running one bootstrap, as Lambda runs a function:
// the bootstrap starts on the first invoke and then serves one invoke at a
// time.
type RIE struct {
	bin, bootstrap string
	env            []string
	log            *logBuffer

	mu     sync.Mutex // RIE refuses a second concurrent invoke; guards url and p
	url    string
	p      *proc
	client http.Client
}

// DefaultFunctionTimeout is AWS_LAMBDA_FUNCTION_TIMEOUT (seconds) for
// StartRIE unless env sets it.
const DefaultFunctionTimeout = "30"

// StartRIE starts aws-lambda-rie with the bootstrap (from BuildBootstrap),
// stopped when the test ends. The function sees only env (NAME=value lines,
// for example from Env) plus what Lambda sets: PATH, TZ, LAMBDA_TASK_ROOT,
// AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_FUNCTION_MEMORY_SIZE and
// AWS_LAMBDA_FUNCTION_TIMEOUT (RIE enforces the timeout; env can override
// any of these). Both the invoke API and RIE's runtime API listen on free
// 127.0.0.1 ports, so RIE instances can run in parallel.
func StartRIE(t T, bootstrap string, env []string) *RIE {
	t.Helper()
	bin := rieBinary(t)
	if _, err := os.Stat(bootstrap); err != nil {
		t.Fatalf("standin: bootstrap: %v", err)
	}
	taskRoot := filepath.Dir(bootstrap)
	vars := map[string]string{
		"PATH":                            "/usr/local/bin:/usr/bin:/bin",
		"TZ":                              ":UTC",
		"LANG":                            "en_US.UTF-8",
		"LAMBDA_TASK_ROOT":                taskRoot,
		"AWS_LAMBDA_FUNCTION_NAME":        "standin",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     DefaultFunctionTimeout,
	}
	for _, line := range env {
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("standin: env line %q: want NAME=value", line)
		}
		vars[name] = value
	}
	cmdEnv := make([]string, 0, len(vars))
	for name, value := range vars {
		cmdEnv = append(cmdEnv, name+"="+value)
	}
	sort.Strings(cmdEnv)

	r := &RIE{bin: bin, bootstrap: bootstrap, env: cmdEnv, log: &logBuffer{}}
	logOnFailure(t, "aws-lambda-rie", r.log)
	ctx, cancel := startContext(t)
	defer cancel()
	if err := r.launch(ctx); err != nil {
		t.Fatalf("standin: %v", err)
	}
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		// SIGTERM lets RIE stop the bootstrap (its own process group).
		if err := r.p.stop(5 * time.Second); err != nil {
			t.Errorf("standin: %v", err)
		}
	})
	return r
}

// launch starts RIE on free ports; r.mu is held or r not yet shared.
// Free ports are picked here and handed to RIE, so another process can take
// one in between: then RIE exits at once and is started again.
func (r *RIE) launch(ctx context.Context) error {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		addrs, err := freeAddrs(2)
		if err != nil {
			return err
		}
		invokeAddr, apiAddr := addrs[0], addrs[1]
		cmd := exec.Command(r.bin,
			"--runtime-interface-emulator-address", invokeAddr,
			"--runtime-api-address", apiAddr,
			"--log-level", "info",
			r.bootstrap)
		cmd.Dir = filepath.Dir(r.bootstrap) // Lambda runs the bootstrap in the task root
		cmd.Env = r.env
		p, err := start("aws-lambda-rie", cmd, r.log, nil)
		if err != nil {
			return err
		}
		if lastErr = waitListening(ctx, p, invokeAddr, apiAddr); lastErr != nil {
			p.kill()
			if ctx.Err() != nil {
				break
			}
			continue
		}
		r.url, r.p = "http://"+invokeAddr, p
		return nil
	}
	return fmt.Errorf("aws-lambda-rie did not start: %w", lastErr)
}

// Recycle replaces the execution environment, as Lambda does when it scales
// out or retires an instance: it waits for the invocation in flight, stops
// RIE and the bootstrap, and starts them again, so the next invoke is a cold
// start that runs the handler's initialization (and loses what it cached).
// The endpoint changes.
func (r *RIE) Recycle(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.p.stop(5 * time.Second); err != nil {
		return fmt.Errorf("recycle: %w", err)
	}
	r.client.CloseIdleConnections()
	if err := r.launch(ctx); err != nil {
		return fmt.Errorf("recycle: %w", err)
	}
	return nil
}

// handed are the ports freeAddrs gave out in this process. Linux may give
// a port just closed to the next bind of port 0: two RIEs started at once
// (or one RIE's two addresses) could then be handed the same port, and the
// second RIE exits with "address already in use" after waitListening saw
// the first one's listener on it.
var handed = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// freeAddrs picks n free 127.0.0.1 addresses, distinct and never handed out
// before in this process (another process can still take one: launch
// retries).
func freeAddrs(n int) ([]string, error) {
	handed.Lock()
	defer handed.Unlock()
	var addrs []string
	var open []net.Listener
	defer func() {
		for _, l := range open {
			l.Close()
		}
	}()
	for tries := 0; len(addrs) < n; tries++ {
		if tries == 100 {
			return nil, errors.New("pick a free port: 100 ports in a row were handed out before")
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		open = append(open, l) // held until all are picked, so none repeats
		port := l.Addr().(*net.TCPAddr).Port
		if handed.ports[port] {
			continue
		}
		handed.ports[port] = true
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}

// waitListening waits until both addresses accept connections, failing if
// the process exits first.
func waitListening(ctx context.Context, p *proc, addrs ...string) error {
	var d net.Dialer
	for _, addr := range addrs {
		for {
			c, err := d.DialContext(ctx, "tcp", addr)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-p.done:
				return fmt.Errorf("%s exited before listening on %s: %v", p.name, addr, p.err)
			case <-ctx.Done():
				return fmt.Errorf("%s: waiting for %s: %w", p.name, addr, ctx.Err())
			case <-time.After(pollInterval):
			}
		}
	}
	if !p.alive() {
		return fmt.Errorf("%s exited: %v", p.name, p.err)
	}
	return nil
}

// Endpoint returns the base URL of RIE's invoke API.
func (r *RIE) Endpoint() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.url
}

// Logs returns the tail of RIE's output, which includes the function's
// stdout and stderr (its log lines) and RIE's START/END/REPORT lines.
func (r *RIE) Logs() string { return r.log.String() }

// ErrFunctionTimeout is returned by Invoke when the function ran past
// AWS_LAMBDA_FUNCTION_TIMEOUT.
var ErrFunctionTimeout = errors.New("function timed out")

// FunctionError is a handler's error as the Lambda runtime reports it.
type FunctionError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

func (e *FunctionError) Error() string {
	return fmt.Sprintf("function error %s: %s", e.Type, e.Message)
}

// Invoke sends one event (JSON) to the function, as a synchronous Lambda
// invoke does, and returns the function's response. Invokes are serialized,
// as RIE runs one at a time. A handler error comes back as *FunctionError
// (RIE drops Lambda's X-Amz-Function-Error header, so it is recognized by
// its body: an object with errorType and errorMessage); a timeout or crash
// as an error with RIE's status and body.
func (r *RIE) Invoke(ctx context.Context, event []byte) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url+"/2015-03-31/functions/function/invocations", bytes.NewReader(event))
	if err != nil {
		return nil, fmt.Errorf("rie invoke: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("rie invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("rie invoke: read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		// 502: the bootstrap crashed or exited during init; Logs has its output.
		return body, fmt.Errorf("rie invoke: status %d (see RIE.Logs): %s", resp.StatusCode, body)
	}
	if bytes.HasPrefix(body, []byte("Task timed out after")) {
		return body, fmt.Errorf("rie invoke: %s: %w", body, ErrFunctionTimeout)
	}
	if fe := functionError(body); fe != nil {
		return body, fe
	}
	return body, nil
}

// functionError recognizes the runtime's error body.
func functionError(body []byte) *FunctionError {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	for k := range m {
		if k != "errorType" && k != "errorMessage" && k != "stackTrace" {
			return nil
		}
	}
	if _, ok := m["errorMessage"]; !ok {
		return nil
	}
	var fe FunctionError
	if json.Unmarshal(body, &fe) != nil {
		return nil
	}
	return &fe
}
