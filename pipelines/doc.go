// Package pipelines loads YAML pipeline files, validates them with
// positions for every error, and compiles them to the same operators,
// engine and connectors a Go program would use.
package pipelines
