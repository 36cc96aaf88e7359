// Command sluice is the single Sluice binary: broker, CLI, connect worker and
// pipeline runner.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "sluice: not yet built")
	os.Exit(1)
}
