package file

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/sluicehq/sluice/connectors/schema"
	"github.com/sluicehq/sluice/internal/jsonscan"
)

// Formats the file connectors read and write.
const (
	FormatJSON = "json" // one JSON value per line
	FormatCSV  = "csv"  // RFC 4180, a header line naming the columns
	FormatText = "text" // each line is the value, as a string
)

// errSkip marks a record that carries nothing (a blank line).
var errSkip = errors.New("blank")

// decoder turns one record's bytes into a value (and optionally a key).
type decoder struct {
	format   string
	keyField string

	// CSV
	comma     rune
	header    []string // column names; nil until known
	hasHeader bool     // the first record of each file is the header
	nullStr   string
	nullable  bool
	schema    *arrow.Schema // typed columns, or nil for all strings
	types     []arrow.DataType
	check     *schema.RecordBuilder
}

// decoded is one decoded record.
type decoded struct {
	key, value []byte
	header     bool // the record was a CSV header
}

// decode decodes rec (without its line terminator). atFileStart says the
// record is the first of its file (the CSV header, when configured). The
// value may be a slice of rec, which the reader never overwrites.
func (d *decoder) decode(rec []byte, atFileStart bool) (decoded, error) {
	switch d.format {
	case FormatText:
		return decoded{value: rec}, nil
	case FormatCSV:
		return d.decodeCSV(rec, atFileStart)
	}
	line := bytes.TrimSpace(rec)
	if len(line) == 0 {
		return decoded{}, errSkip
	}
	if err := jsonscan.Validate(line, jsonscan.MaxDepth); err != nil {
		return decoded{}, err // "invalid JSON at byte N (of the line): what"
	}
	out := decoded{value: line[:len(line):len(line)]}
	if d.keyField != "" {
		k, err := jsonKey(line, d.keyField)
		if err != nil {
			return decoded{}, err
		}
		out.key = k
	}
	return out, nil
}

// jsonKey returns the text of field in the JSON object line (strings
// unquoted, other values as their JSON), or nil when absent.
func jsonKey(line []byte, field string) ([]byte, error) {
	var raw []byte
	err := jsonscan.EachMember(line, jsonscan.MaxDepth, func(key []byte, escaped bool, val []byte) error {
		if escaped {
			name, err := jsonscan.Name(key, true)
			if err != nil || name != field {
				return err
			}
		} else if string(key) != field {
			return nil
		}
		raw = val // a repeated member: the last wins, as in encoding/json
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("key.field %q: value is not a JSON object", field)
	}
	if raw == nil || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		if body, ok := jsonscan.Plain(raw); ok {
			return body[:len(body):len(body)], nil
		}
		s, err := jsonscan.Unquote(raw)
		return []byte(s), err
	}
	return raw[:len(raw):len(raw)], nil
}

func (d *decoder) decodeCSV(rec []byte, atFileStart bool) (decoded, error) {
	if len(bytes.TrimSpace(rec)) == 0 {
		return decoded{}, errSkip
	}
	r := csv.NewReader(bytes.NewReader(rec))
	r.Comma = d.comma
	r.FieldsPerRecord = -1
	fields, err := r.Read()
	if err != nil {
		return decoded{}, fmt.Errorf("invalid CSV: %v", unwrapCSV(err))
	}
	if _, err := r.Read(); err == nil {
		return decoded{}, errors.New("invalid CSV: more than one record on the line")
	}
	if d.hasHeader && atFileStart {
		for i, f := range fields {
			if f == "" {
				return decoded{}, fmt.Errorf("CSV header: column %d has no name", i+1)
			}
		}
		d.header = fields
		d.types = nil
		return decoded{header: true}, nil
	}
	if d.header == nil {
		return decoded{}, errors.New("CSV record before any header (set csv.header=true or csv.columns)")
	}
	if len(fields) != len(d.header) {
		return decoded{}, fmt.Errorf("CSV record has %d fields, the header has %d", len(fields), len(d.header))
	}
	if d.schema != nil && d.types == nil {
		if err := d.bindSchema(); err != nil {
			return decoded{}, err
		}
	}
	var b bytes.Buffer
	b.WriteByte('{')
	var key []byte
	for i, name := range d.header {
		if i > 0 {
			b.WriteByte(',')
		}
		nb, _ := json.Marshal(name)
		b.Write(nb)
		b.WriteByte(':')
		v := fields[i]
		if d.nullable && v == d.nullStr {
			b.WriteString("null")
		} else {
			writeCSVValue(&b, v, d.typeOf(i))
		}
		if name == d.keyField && v != d.nullStr {
			key = []byte(v)
		}
	}
	b.WriteByte('}')
	out := decoded{key: key, value: b.Bytes()}
	if d.check != nil {
		if err := d.check.AppendJSON(out.value); err != nil {
			return decoded{}, fmt.Errorf("CSV record does not match csv.schema: %v", err)
		}
		if d.check.Len() >= 1024 {
			d.check.NewRecord().Release()
		}
	}
	return out, nil
}

// bindSchema checks that csv.schema names exactly the header's columns and
// orders its types like them.
func (d *decoder) bindSchema() error {
	types := make([]arrow.DataType, len(d.header))
	for i, name := range d.header {
		idx := d.schema.FieldIndices(name)
		if len(idx) == 0 {
			return fmt.Errorf("CSV column %q is not in csv.schema", name)
		}
		types[i] = d.schema.Field(idx[0]).Type
	}
	if d.schema.NumFields() != len(d.header) {
		return fmt.Errorf("csv.schema has %d columns, the CSV header %d", d.schema.NumFields(), len(d.header))
	}
	d.types = types
	if d.check == nil {
		d.check = schema.NewRecordBuilder(memory.DefaultAllocator, d.schema)
	}
	return nil
}

func (d *decoder) typeOf(i int) arrow.DataType {
	if d.types == nil {
		return nil
	}
	return d.types[i]
}

// writeCSVValue writes a CSV cell as JSON: a number or boolean for numeric
// and boolean columns when it parses as one, a string otherwise (the schema
// check then reports cells that do not fit).
func writeCSVValue(b *bytes.Buffer, v string, dt arrow.DataType) {
	if dt != nil {
		switch dt.ID() {
		case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
			if _, err := strconv.ParseInt(v, 10, 64); err == nil {
				b.WriteString(v)
				return
			}
			if _, err := strconv.ParseUint(v, 10, 64); err == nil {
				b.WriteString(v)
				return
			}
		case arrow.FLOAT32, arrow.FLOAT64:
			if f, err := strconv.ParseFloat(v, 64); err == nil && json.Valid([]byte(v)) {
				_ = f
				b.WriteString(v)
				return
			}
		case arrow.BOOL:
			if v == "true" || v == "false" {
				b.WriteString(v)
				return
			}
		}
	}
	s, _ := json.Marshal(v)
	b.Write(s)
}

func unwrapCSV(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("column %d: %v", pe.Column, pe.Err)
	}
	return err
}
