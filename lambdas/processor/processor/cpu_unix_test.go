//go:build unix

package processor

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time (user and system) the process has used: the test
// binary's, which runs one benchmark at a time. On a shared machine the
// wall-clock figures vary with the other processes; CPU time much less.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
