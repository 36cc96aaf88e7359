package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/pipelines"
	// Registers the built-in connectors, so pipeline files are checked
	// against their declared options.
	_ "github.com/sluicehq/sluice/pipelines/runner"
)

func init() {
	root.AddCommand(&cobra.Command{
		Use:   "lint FILE|DIR...",
		Short: "Check pipeline files and report every problem with its position",
		Long: `Check YAML pipeline files (a directory means its *.yaml and *.yml files)
without running anything: YAML syntax, fields, steps, durations, connector
names and options, references between sources, steps and sinks, and every
expression, type-checked against the record type where it is used.

Each problem is printed as file:line:col: message (hint: ...). The exit status
is 1 when there are problems, 0 when the files are clean.`,
		Example: `  sluice lint examples/iot/pipeline.yaml
  sluice lint pipelines/`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			set, diags, err := pipelines.Lint(nil, args...)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if printDiagnostics(cmd.ErrOrStderr(), diags) {
				return &exitError{code: 1, err: fmt.Errorf("%d problem(s)", len(diags))}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %d pipeline(s) in %d path(s)\n", len(set.Pipelines), len(args))
			return nil
		},
	})
}

// printDiagnostics prints every diagnostic and reports whether there were
// any.
func printDiagnostics(w io.Writer, diags pipelines.Diagnostics) bool {
	for _, d := range diags {
		fmt.Fprintln(w, d.String())
	}
	return len(diags) > 0
}

// loadClean lints the files and refuses them with every problem printed
// when they do not lint clean.
func loadClean(cmd *cobra.Command, paths []string) (*pipelines.Set, error) {
	set, diags, err := pipelines.Lint(nil, paths...)
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	if printDiagnostics(cmd.ErrOrStderr(), diags) {
		return nil, &exitError{code: 1, err: fmt.Errorf("%d problem(s): fix them and try again (sluice lint shows the same list)", len(diags))}
	}
	return set, nil
}
