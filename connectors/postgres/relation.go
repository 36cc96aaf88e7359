package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/jackc/pgx/v5"
)

// srcColumn is one column of a captured or polled table.
type srcColumn struct {
	name  string
	key   bool
	conv  textConv
	field arrow.Field
}

// relation describes a table as sources emit it: columns with their JSON
// conversions, key columns, and the Arrow schemas of its records.
type relation struct {
	id           uint32
	schema, name string
	cols         []srcColumn
	byName       map[string]int
	rowSchema    *arrow.Schema // the columns
	envSchema    *arrow.Schema // the change envelope
	keyIdx       []int
	topic        string
}

// typeCache resolves type OIDs (domains to their base types, arrays to
// their elements) through the catalog, once per OID.
type typeCache struct {
	byOID map[uint32]pgTypeRow
}

type pgTypeRow struct {
	oid, elem, base uint32
	category, typ   byte
	delim           byte
}

func newTypeCache() *typeCache { return &typeCache{byOID: map[uint32]pgTypeRow{}} }

func (c *typeCache) load(ctx context.Context, conn *pgx.Conn, oids []uint32) error {
	var missing []uint32
	for _, o := range oids {
		if _, ok := c.byOID[o]; !ok {
			missing = append(missing, o)
		}
	}
	for len(missing) > 0 {
		rows, err := conn.Query(ctx, `SELECT oid, typelem, typbasetype, typcategory, typtype, typdelim FROM pg_type WHERE oid = ANY($1)`, missing)
		if err != nil {
			return fmt.Errorf("read types: %w", err)
		}
		var next []uint32
		for rows.Next() {
			var (
				r              pgTypeRow
				cat, typ, dlim string
			)
			if err := rows.Scan(&r.oid, &r.elem, &r.base, &cat, &typ, &dlim); err != nil {
				rows.Close()
				return fmt.Errorf("read types: %w", err)
			}
			r.category, r.typ, r.delim = firstByte(cat), firstByte(typ), firstByte(dlim)
			c.byOID[r.oid] = r
			for _, dep := range []uint32{r.elem, r.base} {
				if _, ok := c.byOID[dep]; dep != 0 && !ok {
					next = append(next, dep)
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read types: %w", err)
		}
		for _, o := range missing {
			if _, ok := c.byOID[o]; !ok { // unknown OID: treat as text
				c.byOID[o] = pgTypeRow{oid: o, category: 'S'}
			}
		}
		missing = next
	}
	return nil
}

// base follows domains down to their base type.
func (c *typeCache) base(oid uint32) pgTypeRow {
	r := c.byOID[oid]
	for i := 0; i < 16 && r.typ == 'd' && r.base != 0; i++ {
		r = c.byOID[r.base]
	}
	return r
}

// colSpec is what a source knows about a column before resolving its type.
type colSpec struct {
	name   string
	oid    uint32
	typmod int32
	key    bool
}

// newRelation builds a relation, resolving column types through the
// catalog.
func newRelation(ctx context.Context, conn *pgx.Conn, types *typeCache, id uint32, schema, name string, specs []colSpec) (*relation, error) {
	oids := make([]uint32, len(specs))
	mods := make([]int32, len(specs))
	for i, s := range specs {
		oids[i], mods[i] = s.oid, s.typmod
	}
	if err := types.load(ctx, conn, oids); err != nil {
		return nil, err
	}
	names := make([]string, len(specs))
	if len(specs) > 0 {
		rows, err := conn.Query(ctx, `SELECT format_type(o, CASE WHEN m < 0 THEN NULL ELSE m END) FROM unnest($1::oid[], $2::int[]) WITH ORDINALITY AS u(o, m, n) ORDER BY n`, oids, mods)
		if err != nil {
			return nil, fmt.Errorf("table %s.%s: type names: %w", schema, name, err)
		}
		i := 0
		for rows.Next() && i < len(names) {
			if err := rows.Scan(&names[i]); err != nil {
				rows.Close()
				return nil, fmt.Errorf("table %s.%s: type names: %w", schema, name, err)
			}
			i++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("table %s.%s: type names: %w", schema, name, err)
		}
	}
	r := &relation{id: id, schema: schema, name: name, byName: map[string]int{}}
	fields := make([]arrow.Field, len(specs))
	for i, s := range specs {
		bt := types.base(s.oid)
		var elem pgTypeRow
		if bt.category == 'A' && bt.elem != 0 {
			elem = types.base(bt.elem)
		}
		info := typeInfo{OID: bt.oid, Name: names[i], Category: bt.category, Elem: elem.oid, Typmod: s.typmod}
		f := arrowField(s.name, info, true)
		col := srcColumn{name: s.name, key: s.key, conv: textConvFor(bt.oid, elem.oid, elemDelim(types, bt)), field: f}
		r.byName[s.name] = len(r.cols)
		r.cols = append(r.cols, col)
		fields[i] = f
		if s.key {
			r.keyIdx = append(r.keyIdx, i)
		}
	}
	r.rowSchema = arrow.NewSchema(fields, nil)
	row := arrow.StructOf(fields...)
	r.envSchema = arrow.NewSchema([]arrow.Field{
		{Name: "before", Type: row, Nullable: true},
		{Name: "after", Type: row, Nullable: true},
		{Name: "op", Type: arrow.BinaryTypes.String},
		{Name: "ts_ms", Type: arrow.PrimitiveTypes.Int64},
		{Name: "source", Type: sourceInfoType},
	}, nil)
	return r, nil
}

func elemDelim(types *typeCache, arr pgTypeRow) byte {
	if arr.elem == 0 {
		return 0
	}
	if d := types.byOID[arr.elem].delim; d != 0 {
		return d
	}
	return ','
}

// sourceInfoType is the "source" block of the change envelope.
var sourceInfoType = arrow.StructOf(
	arrow.Field{Name: "db", Type: arrow.BinaryTypes.String},
	arrow.Field{Name: "schema", Type: arrow.BinaryTypes.String},
	arrow.Field{Name: "table", Type: arrow.BinaryTypes.String},
	arrow.Field{Name: "lsn", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	arrow.Field{Name: "txid", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	arrow.Field{Name: "snapshot", Type: arrow.FixedWidthTypes.Boolean},
)

// tableColumns reads a table's columns and key (primary key, else the
// replica identity index) from the catalog, for snapshots and polling.
func tableColumns(ctx context.Context, conn queryer, schema, name string) ([]colSpec, error) {
	ident := quoteIdent(schema, name)
	rows, err := conn.Query(ctx, `
SELECT a.attnum, a.attname, a.atttypid, a.atttypmod
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = $1 AND c.relname = $2
ORDER BY a.attnum`, schema, name)
	if err != nil {
		return nil, fmt.Errorf("table %s: columns: %w", ident, err)
	}
	var specs []colSpec
	var nums []int16
	for rows.Next() {
		var s colSpec
		var num int16
		if err := rows.Scan(&num, &s.name, &s.oid, &s.typmod); err != nil {
			rows.Close()
			return nil, fmt.Errorf("table %s: columns: %w", ident, err)
		}
		specs = append(specs, s)
		nums = append(nums, num)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("table %s: columns: %w", ident, err)
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("table %s does not exist or has no columns", ident)
	}
	var key []int16
	err = conn.QueryRow(ctx, `
SELECT i.indkey::int2[] FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2 AND (i.indisprimary OR i.indisreplident)
ORDER BY i.indisprimary DESC LIMIT 1`, schema, name).Scan(&key)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("table %s: key: %w", ident, err)
	}
	for i, num := range nums {
		for _, k := range key {
			if k == num {
				specs[i].key = true
			}
		}
	}
	return specs, nil
}

// appendRowJSON appends a JSON object of the columns whose text values are
// given (nil: NULL; omit[i]: leave the column out, an unchanged TOAST value).
func (r *relation) appendRowJSON(dst []byte, vals [][]byte, omit []bool, onlyKey bool) ([]byte, error) {
	dst = append(dst, '{')
	n := 0
	for i, c := range r.cols {
		if i >= len(vals) || (omit != nil && omit[i]) || (onlyKey && !c.key) {
			continue
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = appendJSONString(dst, c.name)
		dst = append(dst, ':')
		if vals[i] == nil {
			dst = append(dst, "null"...)
			continue
		}
		mark := len(dst)
		var err error
		if dst, err = c.conv(dst, vals[i]); err != nil {
			// A value in a form the conversion does not know (a server
			// setting we did not expect): keep its text rather than stop
			// the stream.
			dst = appendJSONString(dst[:mark], string(vals[i]))
		}
	}
	return append(dst, '}'), nil
}

// keyJSON is the record key: a JSON object of the key columns, or nil when
// the table has none.
func (r *relation) keyJSON(vals [][]byte) ([]byte, error) {
	if len(r.keyIdx) == 0 {
		return nil, nil
	}
	for _, i := range r.keyIdx {
		if i >= len(vals) {
			return nil, fmt.Errorf("table %s.%s: key column %s missing from the change", r.schema, r.name, r.cols[i].name)
		}
	}
	return r.appendRowJSON(nil, vals, nil, true)
}
