// Command sluice is the single Sluice binary: broker, CLI, connect worker and
// pipeline runner. Each subcommand lives in its own file and registers itself
// with the root command in an init function.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// root is the `sluice` command. Subcommand files add themselves with
// root.AddCommand in their init functions.
var root = &cobra.Command{
	Use:           "sluice",
	Short:         "Sluice: a Kafka-compatible log, stream engine and connectors in one binary",
	SilenceUsage:  true,
	SilenceErrors: true,
}

// ServeExtension runs alongside the broker inside `sluice serve` once the
// broker is listening (the connect worker, for example). It must return when
// ctx is cancelled. brokerAddr is the address clients dial.
type ServeExtension struct {
	Name string
	// Flags lets the extension add its flags to the serve command.
	Flags func(cmd *cobra.Command)
	// Run is called after the broker is listening; a nil Run is skipped.
	Run func(ctx context.Context, cmd *cobra.Command, brokerAddr string) error
}

// serveExtensions are registered by other files' init functions and started
// by the serve command.
var serveExtensions []ServeExtension

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := root.ExecuteContext(ctx); err != nil {
		if !errors.Is(err, context.Canceled) {
			fmt.Fprintf(os.Stderr, "sluice: %v\n", err)
		}
		os.Exit(exitCode(err))
	}
}

// exitError carries a specific exit code (e.g. lint findings exit 1, usage 2).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}
