// Package cputime reads the CPU time the process has used, for the
// handlers' benchmarks: a test binary runs one benchmark at a time, and on
// a shared machine records per CPU-second vary much less than records per
// second of wall-clock time. Only tests import it.
package cputime
