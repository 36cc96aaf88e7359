package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/sluicehq/sluice/connectors"
)

// row is one record on its way into a table.
type row struct {
	idx int // index in the batch given to Write
	rec *connectors.Record
	val *jvalue   // the value object; nil for a tombstone
	key []*jvalue // key column values (pk.mode record_key, kafka), in group.keyCols order
}

// group is the part of a batch bound for one table.
type group struct {
	name    string
	t       *table
	keyCols []string // key column names as the records name them
	keyFrom string   // pk.mode; record_value keys are read from val
	rows    []*row
	cols    []copyCol // filled by plan once the table is known
	unique  bool      // the table has a unique index on the key columns
	stage   string    // temp staging table for upsert / insert-if-absent
}

// copyCol says where the value of one column comes from.
type copyCol struct {
	col    int    // index into table.cols
	keyPos int    // >= 0: row.key[keyPos]
	field  string // else: this field of the value
	hint   int    // where field was in the last row read (rows share shapes)
}

// refusals collects records refused for good, by batch index.
type refusals map[int]error

func (r refusals) add(idx int, err error) {
	if _, seen := r[idx]; !seen {
		r[idx] = err
	}
}

func (r refusals) err() error {
	if len(r) == 0 {
		return nil
	}
	idx := make([]int, 0, len(r))
	for i := range r {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	var out connectors.RecordErrors
	for _, i := range idx {
		out.Add(i, r[i])
	}
	return out.Err()
}

// prepare parses a batch and sorts it into tables. Records that cannot be
// written (bad JSON, a bad key) are refused here.
func (s *Sink) prepare(batch []connectors.Record, refused refusals) []*group {
	vals, errs := parseValues(batch)
	byName := map[string]*group{}
	var order []*group
	lastTopic, name, nameErr := "", "", error(nil)
	for i := range batch {
		rec := &batch[i]
		if i == 0 || rec.Topic != lastTopic {
			lastTopic, name = rec.Topic, s.cfg.tableFor(rec.Topic)
			nameErr = checkIdentifier("table", name)
		}
		if nameErr != nil {
			refused.add(i, nameErr)
			continue
		}
		r := &row{idx: i, rec: rec}
		if rec.Value == nil {
			if !s.cfg.deletes {
				continue // nothing to do for a tombstone; its offset still counts
			}
		} else {
			v, err := vals[i], errs[i]
			if err != nil {
				if !errors.Is(err, ErrBadValue) {
					err = fmt.Errorf("%w: %v", ErrBadValue, err)
				}
				refused.add(i, err)
				continue
			}
			r.val = v
		}
		g := byName[name]
		if g == nil {
			g = &group{name: name, keyFrom: s.cfg.pkMode}
			byName[name] = g
			order = append(order, g)
		}
		if err := s.extractKey(g, r); err != nil {
			refused.add(i, err)
			continue
		}
		g.rows = append(g.rows, r)
	}
	return order
}

// parallelParseMin is the batch size from which values are parsed on all
// CPUs: parsing is most of the sink's own work, and it happens before COPY
// can start.
const parallelParseMin = 1024

// parseValues parses the values of a batch (tombstones stay nil).
func parseValues(batch []connectors.Record) ([]*jvalue, []error) {
	vals := make([]*jvalue, len(batch))
	errs := make([]error, len(batch))
	parse := func(lo, hi int) {
		var a arena
		for i := lo; i < hi; i++ {
			if batch[i].Value != nil {
				vals[i], errs[i] = parseObjectIn(batch[i].Value, &a)
			}
		}
	}
	workers := runtime.GOMAXPROCS(0)
	if len(batch) < parallelParseMin || workers < 2 {
		parse(0, len(batch))
		return vals, errs
	}
	var wg sync.WaitGroup
	chunk := (len(batch) + workers - 1) / workers
	for lo := 0; lo < len(batch); lo += chunk {
		hi := min(lo+chunk, len(batch))
		wg.Go(func() { parse(lo, hi) })
	}
	wg.Wait()
	return vals, errs
}

// extractKey reads the key columns of a row according to pk.mode.
func (s *Sink) extractKey(g *group, r *row) error {
	switch s.cfg.pkMode {
	case PKModeKafka:
		g.keyCols = s.cfg.pkFields
		topic, err := stringValue(r.rec.Topic)
		if err != nil {
			return fmt.Errorf("%w: topic: %v", ErrBadKey, err)
		}
		part := &jvalue{raw: strconv.FormatInt(int64(r.rec.Partition), 10), kind: kNumber}
		off := &jvalue{raw: strconv.FormatInt(r.rec.Offset, 10), kind: kNumber}
		r.key = []*jvalue{topic, part, off}
	case PKModeRecordValue:
		g.keyCols = s.cfg.pkFields
		if r.val == nil {
			return fmt.Errorf("%w: a tombstone has no value to read pk.fields from", ErrBadKey)
		}
		for _, f := range g.keyCols {
			if v := r.val.Lookup(f); v == nil || v.Kind() == kNull {
				return fmt.Errorf("%w: key field %q is missing or null", ErrBadKey, f)
			}
		}
	case PKModeRecordKey:
		names, vals, err := s.parseKey(r.rec.Key)
		if err != nil {
			return err
		}
		if g.keyCols == nil {
			g.keyCols = names
		} else if !equalStrings(g.keyCols, names) {
			return fmt.Errorf("%w: key fields %v differ from %v of earlier records for table %q", ErrBadKey, names, g.keyCols, g.name)
		}
		r.key = vals
	}
	return nil
}

// parseKey reads a record key for pk.mode=record_key: a JSON object gives its
// fields (pk.fields, or all of them in name order); a JSON scalar, or bytes
// that are not JSON, give one column (pk.fields[0], or "id").
func (s *Sink) parseKey(key []byte) ([]string, []*jvalue, error) {
	if key == nil {
		return nil, nil, fmt.Errorf("%w: the record has no key (pk.mode=record_key)", ErrBadKey)
	}
	var v *jvalue
	if pv, err := parseJSON(key); err == nil {
		v = pv
	} else {
		if !utf8.Valid(key) {
			return nil, nil, fmt.Errorf("%w: key is neither JSON nor UTF-8 text", ErrBadKey)
		}
		sv, err := stringValue(string(key))
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrBadKey, err)
		}
		v = sv
	}
	switch v.Kind() {
	case kObject:
		names := s.cfg.pkFields
		if len(names) == 0 {
			v.Object(func(k string, _ *jvalue) bool {
				names = append(names, k)
				return true
			})
			sort.Strings(names)
		}
		if len(names) == 0 {
			return nil, nil, fmt.Errorf("%w: key is an empty JSON object", ErrBadKey)
		}
		vals := make([]*jvalue, len(names))
		for i, n := range names {
			f := v.Lookup(n)
			if f == nil || f.Kind() == kNull {
				return nil, nil, fmt.Errorf("%w: key field %q is missing or null", ErrBadKey, n)
			}
			if err := checkIdentifier("key column", n); err != nil {
				return nil, nil, fmt.Errorf("%w: %v", ErrBadKey, err)
			}
			vals[i] = f
		}
		return names, vals, nil
	case kNull:
		return nil, nil, fmt.Errorf("%w: key is JSON null", ErrBadKey)
	case kArray:
		return nil, nil, fmt.Errorf("%w: key is a JSON array; use an object or a scalar", ErrBadKey)
	}
	name := "id"
	if len(s.cfg.pkFields) > 0 {
		name = s.cfg.pkFields[0]
	}
	return []string{name}, []*jvalue{v}, nil
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// plan makes sure the group's table exists with every column its records
// need (creating or evolving it when allowed), refuses records that cannot
// fit, and decides the COPY column list.
func (s *Sink) plan(ctx context.Context, g *group, refused refusals) error {
	t, err := s.table(ctx, g.name)
	if err != nil {
		return err
	}
	if t == nil {
		if !s.cfg.autoCreate {
			for _, r := range g.rows {
				refused.add(r.idx, fmt.Errorf("%w: %s", ErrTableMissing, quoteIdent(s.cfg.schema, g.name)))
			}
			g.rows = nil
			return nil
		}
		cols, err := s.newColumns(g, nil, refused)
		if err != nil {
			return err
		}
		if len(cols) == 0 {
			return nil // only nulls and tombstones so far: nothing to create
		}
		var key []string
		if g.keyFrom != PKModeNone {
			key = g.keyCols
		}
		if err := createTable(ctx, s.conn, s.cfg.schema, g.name, cols, key); err != nil {
			return err
		}
		s.log.Info("postgres sink created table", "table", quoteIdent(s.cfg.schema, g.name), "columns", len(cols))
		if t, err = s.reloadTable(ctx, g.name); err != nil {
			return err
		}
		if t == nil {
			return fmt.Errorf("table %s missing right after CREATE TABLE", quoteIdent(s.cfg.schema, g.name))
		}
	}
	if cols, err := s.newColumns(g, t, refused); err != nil {
		return err
	} else if len(cols) > 0 {
		if !s.cfg.autoEvolve {
			s.refuseUnknownFields(g, t, refused)
		} else {
			if err := addColumns(ctx, s.conn, t, cols); err != nil {
				return err
			}
			names := make([]string, len(cols))
			for i, c := range cols {
				names[i] = c.name + " " + c.pgType
			}
			s.log.Info("postgres sink added columns", "table", t.ident, "columns", strings.Join(names, ", "))
			if t, err = s.reloadTable(ctx, g.name); err != nil {
				return err
			}
		}
	}
	g.t = t
	return s.chooseColumns(g)
}

// table returns the cached table, loading it on first use; nil when missing.
func (s *Sink) table(ctx context.Context, name string) (*table, error) {
	if t, ok := s.tables[name]; ok {
		return t, nil
	}
	return s.reloadTable(ctx, name)
}

func (s *Sink) reloadTable(ctx context.Context, name string) (*table, error) {
	t, err := loadTable(ctx, s.conn, s.cfg.schema, name)
	if err != nil {
		return nil, err
	}
	if t == nil {
		delete(s.tables, name)
		return nil, nil
	}
	if old := s.tables[name]; old != nil {
		t.version = old.version + 1
	}
	s.tables[name] = t
	return t, nil
}

// newColumns returns the columns the group's records need that t (nil: no
// table yet) lacks, typed by the records' Arrow schema where they carry one
// and inferred from the JSON values otherwise. Fields that are null in every
// record get no column yet. Records with unusable field names are refused.
func (s *Sink) newColumns(g *group, t *table, refused refusals) ([]newColumn, error) {
	var cols []newColumn
	seen := map[string]bool{}
	has := func(name string) bool {
		if seen[name] {
			return true
		}
		if t != nil {
			if _, ok := t.column(name); ok {
				return true
			}
		}
		return false
	}
	// The records' Arrow schemas type columns where they name them.
	arrowFields := map[string]arrow.Field{}
	for _, r := range g.rows {
		if sc := r.rec.Schema; sc != nil && r.val != nil {
			for _, f := range sc.Fields() {
				if _, ok := arrowFields[f.Name]; !ok {
					arrowFields[f.Name] = f
				}
			}
		}
	}
	// Key columns first, so a created table leads with its key.
	if g.keyFrom == PKModeKafka || g.keyFrom == PKModeRecordKey {
		for i, name := range g.keyCols {
			if has(name) {
				continue
			}
			jt := jNone
			for _, r := range g.rows {
				if r.key != nil {
					jt = mergeJ(jt, inferJSON(r.key[i]))
				}
			}
			typ, ok := jt.pgType()
			if f, known := arrowFields[name]; known {
				if at, err := pgForArrow(f); err == nil {
					typ, ok = at, true
				}
			}
			if g.keyFrom == PKModeKafka {
				typ, ok = [3]string{"text", "integer", "bigint"}[i], true
			}
			if !ok {
				continue
			}
			seen[name] = true
			cols = append(cols, newColumn{name: name, pgType: typ})
		}
	}
	types := map[string]jtype{}
	var order []string
	var prev []string // field names of the last row that needed nothing new
	for _, r := range g.rows {
		if r.val == nil {
			continue
		}
		if prev != nil && sameNames(r.val, prev) {
			continue // the usual case: the same fields as the row before
		}
		bad, clean := false, true
		names := make([]string, 0, len(prev))
		r.val.Object(func(name string, v *jvalue) bool {
			names = append(names, name)
			if has(name) {
				return true
			}
			clean = false
			if err := checkIdentifier("field", name); err != nil {
				refused.add(r.idx, fmt.Errorf("%w: %v", ErrBadValue, err))
				bad = true
				return false
			}
			jt, known := types[name]
			if !known {
				order = append(order, name)
			}
			types[name] = mergeJ(jt, inferJSON(v))
			return true
		})
		if bad {
			r.val = nil // drop from this batch; refusal recorded
		}
		prev = nil
		if clean && !bad {
			prev = names
		}
	}
	g.rows = liveRows(g.rows, refused)
	for _, name := range order {
		if f, ok := arrowFields[name]; ok {
			typ, err := pgForArrow(f)
			if err == nil {
				cols = append(cols, newColumn{name: name, pgType: typ})
				continue
			}
			s.log.Warn("postgres sink: no column type for Arrow field; inferring from JSON", "field", name, "err", err)
		}
		if typ, ok := types[name].pgType(); ok {
			cols = append(cols, newColumn{name: name, pgType: typ})
		}
	}
	return cols, nil
}

func liveRows(rows []*row, refused refusals) []*row {
	out := rows[:0]
	for _, r := range rows {
		if _, bad := refused[r.idx]; !bad {
			out = append(out, r)
		}
	}
	return out
}

// refuseUnknownFields refuses records with non-null fields the table lacks
// (auto.evolve=false).
func (s *Sink) refuseUnknownFields(g *group, t *table, refused refusals) {
	for _, r := range g.rows {
		if r.val == nil {
			continue
		}
		r.val.Object(func(name string, v *jvalue) bool {
			if _, ok := t.column(name); !ok && v.Kind() != kNull {
				refused.add(r.idx, fmt.Errorf("%w: %s has no column %q", ErrColumnMissing, t.ident, name))
				return false
			}
			return true
		})
	}
	g.rows = liveRows(g.rows, refused)
}

// chooseColumns fixes the COPY column list: the key columns and every table
// column some record in the group has a field for.
func (s *Sink) chooseColumns(g *group) error {
	t := g.t
	g.cols = g.cols[:0]
	used := map[int]bool{}
	if g.keyFrom != PKModeNone {
		resolved := make([]string, len(g.keyCols))
		for i, name := range g.keyCols {
			ci, ok := t.column(name)
			if !ok {
				return fmt.Errorf("table %s has no key column %q", t.ident, name)
			}
			resolved[i] = t.cols[ci].name
			c := copyCol{col: ci, keyPos: i, field: name}
			if g.keyFrom == PKModeRecordValue {
				c.keyPos = -1
			}
			g.cols = append(g.cols, c)
			used[ci] = true
		}
		g.unique = t.hasUniqueKey(resolved)
		if s.cfg.upsert && !g.unique {
			return fmt.Errorf("table %s: %w (%s); insert.mode=upsert needs one",
				t.ident, ErrNoUniqueKey, strings.Join(resolved, ", "))
		}
	}
	fields := map[int]string{}
	var prev []string
	for _, r := range g.rows {
		if r.val == nil {
			continue
		}
		if prev != nil && sameNames(r.val, prev) {
			continue
		}
		prev = prev[:0:0]
		r.val.Object(func(name string, _ *jvalue) bool {
			prev = append(prev, name)
			if ci, ok := t.column(name); ok && !used[ci] {
				if prev, dup := fields[ci]; !dup || name == t.cols[ci].name && prev != name {
					fields[ci] = name
				}
			}
			return true
		})
	}
	idx := make([]int, 0, len(fields))
	for ci := range fields {
		idx = append(idx, ci)
	}
	sort.Ints(idx)
	for _, ci := range idx {
		g.cols = append(g.cols, copyCol{col: ci, keyPos: -1, field: fields[ci]})
	}
	return nil
}

// errStale means the table changed under the sink (a column was dropped, the
// table was recreated); the batch is retried after reloading it.
var errStale = errors.New("table definition changed")

// binary reports whether every column of the group has a binary encoder, so
// its rows can be sent in binary COPY format.
func (g *group) binary() bool {
	for _, c := range g.cols {
		if g.t.cols[c.col].bin == nil {
			return false
		}
	}
	return true
}

// sameNames reports whether an object has exactly the given field names, in
// order: consecutive records usually share their shape, and then the work
// done for the first holds for the rest.
func sameNames(v *jvalue, names []string) bool {
	i, same := 0, true
	v.Object(func(k string, _ *jvalue) bool {
		if i >= len(names) || names[i] != k {
			same = false
			return false
		}
		i++
		return true
	})
	return same && i == len(names)
}
