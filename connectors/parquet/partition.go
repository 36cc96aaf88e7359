package parquet

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/sluicehq/sluice/connectors"
)

// partitioner places rows in time-partitioned directories
// (<root>/<topic>/dt=YYYY-MM-DD/hour=HH) by record time: the Kafka record
// timestamp, or a configured timestamp column of the value. Record time, not
// wall-clock time, so that a retry puts every row where it went before.
type partitioner struct {
	root      string
	byTime    bool
	timeField string
	loc       *time.Location
}

// recordTimes returns a function giving the record time of row i of a batch.
// Rows whose time column is null fall back to the record timestamp.
func (p *partitioner) recordTimes(b *connectors.ColumnBatch) (func(i int) time.Time, error) {
	recTime := func(i int) time.Time { return b.Records[i].Timestamp }
	if p.timeField == "" {
		return recTime, nil
	}
	idx := b.Columns.Schema().FieldIndices(p.timeField)
	if len(idx) == 0 {
		return recTime, nil // the field is absent from this batch's schema
	}
	col := b.Columns.Column(idx[0])
	var get func(i int) time.Time
	switch a := col.(type) {
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		get = func(i int) time.Time { return a.Value(i).ToTime(unit) }
	case *array.Date32:
		get = func(i int) time.Time { return a.Value(i).ToTime() }
	case *array.Date64:
		get = func(i int) time.Time { return a.Value(i).ToTime() }
	case *array.Int64:
		get = func(i int) time.Time { return time.UnixMilli(a.Value(i)) }
	default:
		return nil, fmt.Errorf("partition time field %q is %s; want a timestamp, a date or int64 epoch milliseconds",
			p.timeField, col.DataType())
	}
	return func(i int) time.Time {
		if col.IsNull(i) {
			return recTime(i)
		}
		return get(i)
	}, nil
}

// dir returns the directory of a row of topic with record time t.
func (p *partitioner) dir(topic string, t time.Time) string {
	if !p.byTime {
		return filepath.Join(p.root, topic)
	}
	t = t.In(p.loc)
	return filepath.Join(p.root, topic, t.Format("dt=2006-01-02"), t.Format("hour=15"))
}

// window returns the end of the record-time rotation window holding t.
// Windows are aligned to the Unix epoch (in UTC), so every attempt cuts at
// the same instants.
func window(t time.Time, interval time.Duration) time.Time {
	if interval <= 0 {
		return time.Time{}
	}
	ns := t.UnixNano()
	start := ns - ns%int64(interval)
	if ns%int64(interval) < 0 {
		start -= int64(interval)
	}
	return time.Unix(0, start+int64(interval))
}

// dirCache remembers the directory of the last hour seen, so that rows do
// not each pay for a time-zone conversion and a path join.
type dirCache struct {
	topic      string
	start, end time.Time
	dirName    string
	valid      bool
}

func (c *dirCache) dir(p *partitioner, topic string, t time.Time) string {
	if c.valid && topic == c.topic && !t.Before(c.start) && t.Before(c.end) {
		return c.dirName
	}
	c.topic, c.dirName, c.valid = topic, p.dir(topic, t), true
	if !p.byTime {
		c.start, c.end = time.Time{}, time.Unix(1<<62, 0)
		return c.dirName
	}
	lt := t.In(p.loc)
	c.start = time.Date(lt.Year(), lt.Month(), lt.Day(), lt.Hour(), 0, 0, 0, p.loc)
	c.end = c.start.Add(time.Hour)
	if !c.start.Before(c.end) || t.Before(c.start) || !t.Before(c.end) {
		c.valid = false // a time-zone transition: do not cache
	}
	return c.dirName
}
