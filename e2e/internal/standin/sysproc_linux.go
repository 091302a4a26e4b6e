package standin

import "syscall"

// sysProcAttr makes a child die with the test binary (SIGKILL when the
// thread that started it exits; Go keeps its threads for the process's life).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// processGone reports whether no process has the pid.
func processGone(pid int) bool {
	return syscall.Kill(pid, 0) == syscall.ESRCH
}
