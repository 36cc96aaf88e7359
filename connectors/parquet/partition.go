package parquet

import (
	"fmt"
	"math"
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

// columnTimes overwrites times[i], the Kafka record timestamp of row i of
// a batch in Unix microseconds (cheap to compare on the hot path; the range
// covers any date), with the value of the configured time column where the
// batch has that column and the row's value is not null.
func (p *partitioner) columnTimes(b *connectors.ColumnBatch, times []int64) error {
	if p.timeField == "" {
		return nil
	}
	idx := b.Columns.Schema().FieldIndices(p.timeField)
	if len(idx) == 0 {
		return nil // the field is absent from this batch's schema
	}
	col := b.Columns.Column(idx[0])
	var get func(i int) int64
	switch a := col.(type) {
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		get = func(i int) int64 { return a.Value(i).ToTime(unit).UnixMicro() }
	case *array.Date32:
		get = func(i int) int64 { return a.Value(i).ToTime().UnixMicro() }
	case *array.Date64:
		get = func(i int) int64 { return a.Value(i).ToTime().UnixMicro() }
	case *array.Int64:
		get = func(i int) int64 { return a.Value(i) * 1000 }
	default:
		return fmt.Errorf("partition time field %q is %s; want a timestamp, a date or int64 epoch milliseconds",
			p.timeField, col.DataType())
	}
	for i := range times {
		if col.IsValid(i) {
			times[i] = get(i)
		}
	}
	return nil
}

// dir returns the directory of a row of topic with record time t.
func (p *partitioner) dir(topic string, t time.Time) string {
	if !p.byTime {
		return filepath.Join(p.root, topic)
	}
	t = t.In(p.loc)
	return filepath.Join(p.root, topic, t.Format("dt=2006-01-02"), t.Format("hour=15"))
}

// window returns the end (Unix microseconds) of the record-time rotation
// window holding us, and false when rotation by record time is off. Windows are
// aligned to the Unix epoch (in UTC), so every attempt cuts at the same
// instants.
func window(us int64, interval time.Duration) (int64, bool) {
	iv := interval.Microseconds()
	if iv <= 0 {
		return 0, false
	}
	start := us - us%iv
	if us%iv < 0 {
		start -= iv
	}
	return start + iv, true
}

// dirCache remembers the directory of the last hour seen, so that rows do
// not each pay for a time-zone conversion and a path join.
type dirCache struct {
	topic      string
	start, end int64 // Unix microseconds, [start, end)
	dirName    string
	valid      bool
}

// holds reports whether a row of topic with record time us goes to the
// directory dir returned last.
func (c *dirCache) holds(topic string, us int64) bool {
	return c.valid && us >= c.start && us < c.end && topic == c.topic
}

func (c *dirCache) dir(p *partitioner, topic string, us int64) string {
	if c.valid && us >= c.start && us < c.end && topic == c.topic {
		return c.dirName
	}
	t := time.UnixMicro(us)
	c.topic, c.dirName, c.valid = topic, p.dir(topic, t), true
	if !p.byTime {
		c.start, c.end = math.MinInt64, math.MaxInt64
		return c.dirName
	}
	lt := t.In(p.loc)
	start := time.Date(lt.Year(), lt.Month(), lt.Day(), lt.Hour(), 0, 0, 0, p.loc)
	c.start, c.end = start.UnixMicro(), start.Add(time.Hour).UnixMicro()
	if us < c.start || us >= c.end {
		c.valid = false // a time-zone transition: do not cache
	}
	return c.dirName
}
