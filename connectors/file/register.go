package file

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/sluicehq/sluice/connectors"
)

// Plugin names, for connector.class.
const (
	SourcePlugin = "file-source"
	SinkPlugin   = "file-sink"
)

var formatField = connectors.Field{Name: "format", Type: connectors.TypeEnum, Enum: []string{FormatJSON, FormatCSV, FormatText},
	Default: FormatJSON, Group: "Format", Doc: "json: one JSON value per line; csv: RFC 4180 rows as JSON objects; text: each line as the value."}

var csvFields = connectors.ConfigSpec{
	{Name: "csv.header", Type: connectors.TypeBool, Default: "true", Group: "CSV",
		Doc: "The first line of each file names the columns (source); write a header line at the top of each file (sink)."},
	{Name: "csv.columns", Type: connectors.TypeList, Group: "CSV",
		Doc: "Column names: for sources reading files without a header; for sinks, which value fields to write, in order (default: the first record's fields, sorted)."},
	{Name: "csv.delimiter", Type: connectors.TypeString, Default: ",", Group: "CSV", Validate: oneRune,
		Doc: "Field delimiter, one character."},
	{Name: "csv.null.string", Type: connectors.TypeString, Group: "CSV",
		Doc: "Cell text that means null (default: the empty cell)."},
}

func oneRune(v any) error {
	if s, _ := v.(string); len([]rune(s)) != 1 || s == "\"" || s == "\n" || s == "\r" {
		return errors.New("must be exactly one character, not a quote or line break")
	}
	return nil
}

func validGlob(v any) error {
	_, err := filepath.Match(v.(string), "")
	if err != nil {
		return fmt.Errorf("bad glob pattern: %v", err)
	}
	return nil
}

func validColumns(v any) error {
	_, err := parseColumns(v.(string))
	return err
}

// SourceSpec is the file source's configuration.
var SourceSpec = append(connectors.ConfigSpec{
	{Name: "file", Type: connectors.TypeString, Required: true, Validate: validGlob, Group: "File",
		Doc: "Path of the file to read, or a glob (*, ?, [...]) of files; files matching later are picked up every poll.interval."},
	formatField,
	{Name: "tail", Type: connectors.TypeBool, Default: "false", Group: "File",
		Doc: "Keep reading files as they grow, following rotation (rename or replace) and truncation, like tail -F. Without it each file is read to its end once."},
	{Name: "read.from", Type: connectors.TypeEnum, Enum: []string{"beginning", "end"}, Default: "beginning", Group: "File",
		Doc: "Where to start a file the connector has no position for."},
	{Name: "poll.interval", Type: connectors.TypeDuration, Default: "1s", Validate: connectors.Positive, Group: "File",
		Doc: "How often to look for new files and, when tailing, new data."},
	{Name: "batch.size", Type: connectors.TypeInt, Default: "1000", Validate: connectors.Between(1, 1_000_000), Group: "File",
		Doc: "Most records returned by one poll."},
	{Name: "max.record.bytes", Type: connectors.TypeInt, Default: "1048576", Validate: connectors.Between(1, 1<<30), Group: "File",
		Doc: "Longest record (line, or CSV row); longer ones are invalid."},
	{Name: "invalid.records", Type: connectors.TypeEnum, Enum: []string{"fail", "skip"}, Default: "fail", Group: "File",
		Doc: "fail stops the task with the file, record number and byte offset of a record that does not decode; skip logs it and goes on."},
	{Name: "key.field", Type: connectors.TypeString, Group: "Format",
		Doc: "Field of the JSON object (or CSV column) to use as the record key."},
	{Name: "csv.schema", Type: connectors.TypeString, Validate: validColumns, Group: "CSV",
		Doc: "Column types, e.g. \"id int64, amount decimal128(12,2), at timestamp[us, UTC]\": values are typed in the JSON, checked, and the records carry this Arrow schema."},
}, csvFields...)

// SinkSpec is the file sink's configuration.
var SinkSpec = append(connectors.ConfigSpec{
	{Name: "file", Type: connectors.TypeString, Required: true, Group: "File",
		Doc: "Path of the active output file. Rotated files are named <stem>.<NNNNNN><ext> beside it; task N>0 writes <stem>-taskN<ext>."},
	formatField,
	{Name: "rotate.bytes", Type: connectors.TypeInt, Default: "0", Validate: connectors.AtLeast(0), Group: "Rotation",
		Doc: "Rotate the file before it would exceed this size; 0 never rotates by size."},
	{Name: "rotate.interval", Type: connectors.TypeDuration, Default: "0", Validate: connectors.AtLeast(0), Group: "Rotation",
		Doc: "Rotate a non-empty file this long after it was opened; 0 never rotates by time."},
}, csvFields...)

func init() {
	connectors.Register(connectors.Plugin{
		Name: SourcePlugin, Kind: connectors.KindSource, Spec: SourceSpec,
		Doc:       "Reads JSON lines, CSV or text from a file, a glob of files, or a growing file (tail), resuming from its byte position after a restart.",
		NewSource: func() connectors.Source { return &Source{} },
	})
	connectors.Register(connectors.Plugin{
		Name: SinkPlugin, Kind: connectors.KindSink, Spec: SinkSpec,
		Doc:     "Writes record values as JSON lines, CSV or text, rotating by size and time; fsyncs before acknowledging and never duplicates after a crash.",
		NewSink: func() connectors.Sink { return &Sink{} },
	})
}
