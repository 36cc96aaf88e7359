package main

import (
	"encoding/json"
	"io"
	"text/tabwriter"
)

// newTable returns a writer that aligns tab-separated columns the way
// kafka-topics and kafka-consumer-groups print them.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// writeJSON prints v as indented JSON followed by a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
