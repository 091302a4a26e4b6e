package standin

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
)

// T is what the stand-ins need from their caller: a *testing.T in tests, or
// a Session in a program (the outage drill).
type T interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Failed() bool
	TempDir() string
	Context() context.Context
}

// Session is a T for programs: cleanups run (last first) on Close, and
// Fatalf reports, cleans up and exits, so no stand-in outlives the program.
type Session struct {
	Log io.Writer

	ctx      context.Context
	cancel   context.CancelFunc
	mu       sync.Mutex
	cleanups []func()
	failed   bool
}

// NewSession returns a Session logging to log.
func NewSession(log io.Writer) *Session {
	ctx, cancel := context.WithCancel(context.Background())
	return &Session{Log: log, ctx: ctx, cancel: cancel}
}

func (s *Session) Helper() {}

// Cleanup registers f to run on Close.
func (s *Session) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

// Errorf reports an error; the session is failed.
func (s *Session) Errorf(format string, args ...any) {
	s.mu.Lock()
	s.failed = true
	s.mu.Unlock()
	fmt.Fprintf(s.Log, "error: "+format+"\n", args...)
}

// Fatalf reports, runs the cleanups and exits with status 1.
func (s *Session) Fatalf(format string, args ...any) {
	s.Errorf(format, args...)
	s.Close()
	os.Exit(1)
}

// Logf writes a line to the log.
func (s *Session) Logf(format string, args ...any) { fmt.Fprintf(s.Log, format+"\n", args...) }

// Failed reports whether Errorf or Fatalf was called.
func (s *Session) Failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// TempDir returns a new folder, removed on Close.
func (s *Session) TempDir() string {
	dir, err := os.MkdirTemp("", "standin-")
	if err != nil {
		s.Fatalf("temp dir: %v", err)
	}
	s.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// Context is cancelled when Close starts.
func (s *Session) Context() context.Context { return s.ctx }

// Close cancels the context and runs the cleanups, last registered first.
func (s *Session) Close() {
	s.cancel()
	for {
		s.mu.Lock()
		n := len(s.cleanups)
		if n == 0 {
			s.mu.Unlock()
			return
		}
		f := s.cleanups[n-1]
		s.cleanups = s.cleanups[:n-1]
		s.mu.Unlock()
		f()
	}
}
