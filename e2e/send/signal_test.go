package send_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twinstream/twinstream/cmd/twinstream/send"
	"github.com/twinstream/twinstream/e2e/internal/faultyingest"
)

// command is the twinstream binary running `send`, its stderr read as it
// comes.
type command struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	done   chan struct{}

	mu     sync.Mutex
	stderr strings.Builder
}

// build builds the twinstream command (this module requires it through a
// replace of ../cmd/twinstream).
func build(t *testing.T) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("signals: POSIX only")
	}
	bin := filepath.Join(t.TempDir(), "twinstream")
	if b, err := exec.Command("go", "build", "-o", bin, "github.com/twinstream/twinstream/cmd/twinstream").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return bin
}

func start(t *testing.T, bin string, args ...string) *command {
	t.Helper()
	c := &command{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	c.cmd.Env = append(os.Environ(), "TWINSTREAM_API_KEY="+apiKey)
	c.cmd.Stdout = &c.stdout
	errs, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(errs)
		for sc.Scan() {
			c.mu.Lock()
			c.stderr.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
		}
		c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.done
	})
	return c
}

func (c *command) errors() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.String()
}

// waitFor polls cond for up to 20s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("gave up waiting for %s", what)
}

func (c *command) wait(t *testing.T) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the command did not end\nstderr:\n%s", c.errors())
	}
}

// TestSendSignals: Ctrl-C (SIGINT) stops an unbounded run: the batches in
// flight finish, the summary is printed and every record sent is
// acknowledged and stored; a second Ctrl-C while batches hang quits at
// once.
func TestSendSignals(t *testing.T) {
	bin := build(t)

	r := newRegion(t, "us-east-1")
	c := start(t, bin, "send", "--url", r.URL(), "--count", "0", "--rate", "500", "--batch", "20", "--json", "--progress")
	waitFor(t, "records stored", func() bool { s, _, _ := r.Snapshot(); return len(s) >= 200 })
	if err := c.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	c.wait(t)
	var s send.Summary
	if err := json.Unmarshal(c.stdout.Bytes(), &s); err != nil {
		t.Fatalf("summary: %v\nstdout:\n%s\nstderr:\n%s", err, c.stdout.String(), c.errors())
	}
	stored, _, _ := r.Snapshot()
	if code := c.cmd.ProcessState.ExitCode(); code != 0 || !s.Interrupted || s.Sent < 200 || s.Acknowledged != s.Sent || len(stored) != s.Sent {
		t.Errorf("after Ctrl-C: exit %d, %+v, stored %d; want 0, interrupted, every record sent acknowledged and stored", code, s, len(stored))
	}
	if !strings.Contains(c.errors(), "interrupted: the batches in flight get up to 10s to finish; Ctrl-C again quits at once") {
		t.Errorf("stderr lacks the interruption note:\n%s", c.errors())
	}

	// Ingest hangs: the first Ctrl-C waits for the batches in flight, the
	// second quits.
	h := newRegion(t, "us-west-2")
	h.Set(nil, faultyingest.Hang)
	c = start(t, bin, "send", "--url", h.URL(), "--count", "0", "--batch", "20")
	waitFor(t, "a request", func() bool { _, _, n := h.Snapshot(); return n > 0 })
	if err := c.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the interruption note", func() bool { return strings.Contains(c.errors(), "interrupted:") })
	time.Sleep(200 * time.Millisecond) // the handler is let go after the note's callback starts
	sent := time.Now()
	if err := c.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	c.wait(t)
	ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
		t.Errorf("after a second Ctrl-C: %v %s later, want killed by SIGINT (the grace is 10s)\nstderr:\n%s", c.cmd.ProcessState, time.Since(sent).Round(time.Millisecond), c.errors())
	}
}
