package broker

import "os"

// makeTempDir is for the shared fuzz broker, which outlives any one
// testing.T (so t.TempDir does not fit).
func makeTempDir() (string, error) { return os.MkdirTemp("", "sluice-broker-fuzz-") }
