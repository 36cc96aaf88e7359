package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// MaxIdentifierLength is PostgreSQL's NAMEDATALEN-1: longer names are
// truncated by the server, so the sink refuses them instead.
const MaxIdentifierLength = 63

// column is one column of a target table.
type column struct {
	name    string
	typ     typeInfo
	enc     encoder
	bin     binEnc // nil: no binary encoder, the batch goes as text
	notNull bool
}

// table is what the sink knows about a target table. It is reloaded from the
// catalog after the sink changes it or when a statement says it changed.
type table struct {
	schema, name string
	ident        string // quoted, schema-qualified
	oid          uint32
	cols         []column
	byName       map[string]int
	byFold       map[string]int // lower-cased name → index; -1 when ambiguous
	uniqueKeys   [][]string     // column sets of the primary key and unique indexes
	version      int            // bumped on every load; stage tables follow it
}

func quoteIdent(parts ...string) string { return pgx.Identifier(parts).Sanitize() }

// column resolves a record field to a column: the exact name, or else the
// only column whose name matches ignoring case (so "userId" finds a column
// created unquoted as userid).
func (t *table) column(field string) (int, bool) {
	if i, ok := t.byName[field]; ok {
		return i, true
	}
	if i, ok := t.byFold[strings.ToLower(field)]; ok && i >= 0 {
		return i, true
	}
	return 0, false
}

// hasUniqueKey reports whether a primary key or unique index covers exactly
// the key columns (in any order), which ON CONFLICT needs.
func (t *table) hasUniqueKey(key []string) bool {
	want := append([]string(nil), key...)
	sort.Strings(want)
	for _, uk := range t.uniqueKeys {
		got := append([]string(nil), uk...)
		sort.Strings(got)
		if strings.Join(got, "\x00") == strings.Join(want, "\x00") {
			return true
		}
	}
	return false
}

// loadTable reads a table's columns and unique keys from the catalog. It
// returns (nil, nil) when the table does not exist.
func loadTable(ctx context.Context, q queryer, schema, name string) (*table, error) {
	rows, err := q.Query(ctx, `
SELECT c.oid, a.attname, t.oid, a.atttypmod, format_type(a.atttypid, a.atttypmod),
       t.typcategory, t.typelem, coalesce(et.typname, ''), coalesce(et.typcategory, 'X'), a.attnotnull,
       t.typtype, t.typbasetype
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')
ORDER BY a.attnum`, schema, name)
	if err != nil {
		return nil, fmt.Errorf("table %s: read columns: %w", quoteIdent(schema, name), err)
	}
	t := &table{schema: schema, name: name, ident: quoteIdent(schema, name),
		byName: map[string]int{}, byFold: map[string]int{}}
	for rows.Next() {
		var (
			c                column
			cat, elemCat     string
			typtype          string
			baseOID, elemOID uint32
		)
		if err := rows.Scan(&t.oid, &c.name, &c.typ.OID, &c.typ.Typmod, &c.typ.Name, &cat, &elemOID,
			&c.typ.ElemName, &elemCat, &c.notNull, &typtype, &baseOID); err != nil {
			rows.Close()
			return nil, fmt.Errorf("table %s: read columns: %w", t.ident, err)
		}
		c.typ.Category = firstByte(cat)
		c.typ.ElemCat = firstByte(elemCat)
		if c.typ.Category == 'A' {
			c.typ.Elem = elemOID
		}
		encType := c.typ
		if typtype == "d" && baseOID != 0 { // a domain encodes as its base type
			encType.OID = baseOID
		}
		c.enc = encoderFor(encType)
		if encType.Category != 'A' {
			c.bin = binaryEncoderFor(encType.OID)
		}
		t.byName[c.name] = len(t.cols)
		fold := strings.ToLower(c.name)
		if _, dup := t.byFold[fold]; dup {
			t.byFold[fold] = -1
		} else {
			t.byFold[fold] = len(t.cols)
		}
		t.cols = append(t.cols, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("table %s: read columns: %w", t.ident, err)
	}
	if len(t.cols) == 0 {
		return nil, nil
	}
	keys, err := q.Query(ctx, `
SELECT array_agg(a.attname::text ORDER BY k.ord)
FROM pg_index i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = $1 AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
GROUP BY i.indexrelid`, t.oid)
	if err != nil {
		return nil, fmt.Errorf("table %s: read unique keys: %w", t.ident, err)
	}
	for keys.Next() {
		var cols []string
		if err := keys.Scan(&cols); err != nil {
			keys.Close()
			return nil, fmt.Errorf("table %s: read unique keys: %w", t.ident, err)
		}
		t.uniqueKeys = append(t.uniqueKeys, cols)
	}
	if err := keys.Err(); err != nil {
		return nil, fmt.Errorf("table %s: read unique keys: %w", t.ident, err)
	}
	return t, nil
}

func firstByte(s string) byte {
	if s == "" {
		return 0
	}
	return s[0]
}

// queryer is what loadTable and the DDL helpers need from a connection or a
// transaction.
type queryer interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// newColumn is a column the sink is about to create.
type newColumn struct {
	name, pgType string
}

// createTable creates the target table with the given columns and, when key
// is not empty, a primary key over it.
func createTable(ctx context.Context, q queryer, schema, name string, cols []newColumn, key []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (", quoteIdent(schema, name))
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s", quoteIdent(c.name), c.pgType)
	}
	if len(key) > 0 {
		b.WriteString(", PRIMARY KEY (")
		for i, k := range key {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quoteIdent(k))
		}
		b.WriteString(")")
	}
	b.WriteString(")")
	if _, err := q.Exec(ctx, b.String()); err != nil && !isAlreadyExists(err) {
		return fmt.Errorf("create table %s: %w", quoteIdent(schema, name), err)
	}
	return nil
}

// addColumns adds nullable columns (schema evolution). Existing columns of
// the same name are left alone, so two tasks evolving at once both succeed.
func addColumns(ctx context.Context, q queryer, t *table, cols []newColumn) error {
	var b strings.Builder
	fmt.Fprintf(&b, "ALTER TABLE %s ", t.ident)
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "ADD COLUMN IF NOT EXISTS %s %s", quoteIdent(c.name), c.pgType)
	}
	if _, err := q.Exec(ctx, b.String()); err != nil && !isAlreadyExists(err) {
		return fmt.Errorf("alter table %s: %w", t.ident, err)
	}
	return nil
}

// isAlreadyExists recognises the errors concurrent CREATE TABLE IF NOT EXISTS
// and ADD COLUMN IF NOT EXISTS can still raise when two sessions race.
func isAlreadyExists(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "42P07", "42701", "42710": // duplicate table, column, object
		return true
	case "23505": // unique violation in pg_type / pg_class during a race
		return strings.HasPrefix(pgErr.ConstraintName, "pg_")
	}
	return false
}

// checkIdentifier refuses names PostgreSQL would truncate or cannot hold.
func checkIdentifier(kind, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty %s name", kind)
	case len(name) > MaxIdentifierLength:
		return fmt.Errorf("%s name %q is longer than PostgreSQL's %d bytes", kind, name, MaxIdentifierLength)
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("%s name %q contains a NUL byte", kind, name)
	}
	return nil
}
