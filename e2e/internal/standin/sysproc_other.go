//go:build !linux

package standin

import "syscall"

// sysProcAttr: outside linux there is no parent-death signal; the node
// scripts still exit when their stdin closes.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }

// processGone: unknown outside linux, so nothing is removed.
func processGone(pid int) bool { return false }
