package main

import (
	"os"
	"runtime/debug"
)

// serverGCPercent and serverMemoryLimit are the garbage collector settings
// of the long-running commands (serve, bench) when the environment sets
// none. The broker's live heap is a few tens of MB, so collecting at 4x
// instead of 2x the live heap costs little memory and about 7% of its CPU
// at full load (BENCHMARKS.md); the soft limit makes the collector work
// harder again long before a burst (say, large bundle pushes) could take
// the process past it.
const (
	serverGCPercent   = 400
	serverMemoryLimit = 512 << 20
)

// tuneGC applies serverGCPercent and serverMemoryLimit unless GOGC or
// GOMEMLIMIT say otherwise: the operator's settings win.
func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(serverGCPercent)
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(serverMemoryLimit)
	}
}
