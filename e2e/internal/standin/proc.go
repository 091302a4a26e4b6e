package standin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopTimeout bounds waiting for a signalled child process to exit.
const stopTimeout = 10 * time.Second

// maxLogBytes is how much of a child's output is kept for failure reports.
const maxLogBytes = 256 << 10

// logBuffer keeps the tail of a child's stdout and stderr.
type logBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - maxLogBytes; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// readyWriter copies output to the log and reports the port of the first
// "READY <port>" line (printed by the node wrapper scripts).
type readyWriter struct {
	log     io.Writer
	partial []byte
	once    sync.Once
	ready   chan int
}

func (w *readyWriter) Write(p []byte) (int, error) {
	w.log.Write(p)
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimSpace(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
		if rest, ok := strings.CutPrefix(line, "READY "); ok {
			if port, err := strconv.Atoi(rest); err == nil {
				w.once.Do(func() { w.ready <- port })
			}
		}
	}
	return len(p), nil
}

// proc is a running child process.
type proc struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser // held open: the node scripts exit when it closes (exec closes it after exit)
	done  chan struct{}  // closed when the process has exited
	err   error          // Wait's result, valid after done
}

// start starts cmd, with its output going to log (and ready lines to ready
// when set), and a goroutine that waits for it.
func start(name string, cmd *exec.Cmd, log *logBuffer, ready chan int) (*proc, error) {
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	if ready != nil {
		cmd.Stdout = &readyWriter{log: log, ready: ready}
	} else {
		cmd.Stdout = log
	}
	cmd.Stderr = log
	cmd.SysProcAttr = sysProcAttr()
	// Output copying must not outlive the process by long if a grandchild
	// holds the pipes open.
	cmd.WaitDelay = 2 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("%s: stdin pipe: %w", name, err)
	}
	p.stdin = stdin
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: start: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// startNode starts a node wrapper script and waits for its READY line.
func startNode(ctx context.Context, dir, name, script string, arg map[string]any, region string, log *logBuffer) (*proc, int, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, 0, fmt.Errorf("%s: node not found: %w", name, err)
	}
	js, err := json.Marshal(arg)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", name, err)
	}
	cmd := exec.Command(node, script, string(js))
	cmd.Dir = dir
	// A small, fixed environment: the host's NODE_OPTIONS or AWS settings
	// must not change how the stand-in behaves.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "AWS_REGION=" + region}
	ready := make(chan int, 1)
	p, err := start(name, cmd, log, ready)
	if err != nil {
		return nil, 0, err
	}
	select {
	case port := <-ready:
		return p, port, nil
	case <-p.done:
		return nil, 0, fmt.Errorf("%s exited before listening: %v", name, p.err)
	case <-ctx.Done():
		p.kill()
		return nil, 0, fmt.Errorf("%s: waiting for it to listen: %w", name, ctx.Err())
	}
}

// alive reports whether the process has not exited yet.
func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// signal sends sig unless the process has already exited.
func (p *proc) signal(sig os.Signal) error {
	if !p.alive() {
		return fmt.Errorf("%s is not running", p.name)
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("%s: signal %v: %w", p.name, sig, err)
	}
	return nil
}

// kill sends SIGKILL (like a crash: no clean shutdown) and waits for the
// process to exit.
func (p *proc) kill() error {
	if p.alive() {
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("%s: kill: %w", p.name, err)
		}
	}
	return p.wait(stopTimeout)
}

// stop asks the process to exit with SIGTERM, then kills it after grace.
func (p *proc) stop(grace time.Duration) error {
	if p.alive() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		if p.wait(grace) == nil {
			return nil
		}
	}
	return p.kill()
}

func (p *proc) wait(d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-p.done:
		return nil
	case <-timer.C:
		return fmt.Errorf("%s (pid %d) did not exit within %v", p.name, p.cmd.Process.Pid, d)
	}
}

// logOnFailure registers a cleanup that prints a stand-in's output tail when
// the test failed: the first thing to read when a stand-in misbehaved.
func logOnFailure(t T, name string, log *logBuffer) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s output (tail):\n%s", name, log.String())
		}
	})
}
