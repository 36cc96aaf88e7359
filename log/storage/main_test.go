package storage

import (
	"os"
	"testing"
)

// TestMain lets the test binary double as the crash test's child process:
// with SLUICE_STORAGE_CRASH_CHILD set it appends forever and never runs
// tests.
func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		os.Exit(crashChild(dir))
	}
	os.Exit(m.Run())
}
