// Package connectors is the SDK that moves data between topics and the
// outside world: sources that emit records with positions, sinks that receive
// batches and acknowledge them. Built-in connectors live in subpackages and
// use this SDK exactly as a third party would.
package connectors
