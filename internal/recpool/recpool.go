// Package recpool recycles the records a franz-go consumer decodes
// fetched batches into (kgo.WithPools), instead of allocating them for
// every fetch. At hundreds of thousands of records per second that
// allocation, and the garbage collection it drives, is a large share of a
// consumer's CPU on a small machine. A consumer that keeps no *kgo.Record
// after handling it calls Record.Recycle; records never recycled are
// simply collected.
package recpool

import (
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Records is a kgo.PoolRecords over a sync.Pool of record slices.
type Records struct {
	recs sync.Pool // *[]kgo.Record
}

var _ kgo.PoolRecords = (*Records)(nil)

// GetRecords returns a slice of n records, reused when one is big enough.
func (p *Records) GetRecords(n int) []kgo.Record {
	if s, ok := p.recs.Get().(*[]kgo.Record); ok && cap(*s) >= n {
		return (*s)[:n]
	}
	return make([]kgo.Record, n)
}

// PutRecords takes back a slice whose records were all recycled.
func (p *Records) PutRecords(s []kgo.Record) { p.recs.Put(&s) }
