package bench

import (
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// recordPools lets the benchmark's kgo consumer decode fetched batches
// into recycled slices (kgo.WithPools) instead of allocating a Record per
// record, as a tuned high-volume consumer would: at hundreds of thousands
// of records per second that allocation, and the garbage collection it
// drives, is a large share of the client's CPU on a small machine and
// shows in its latency tail. Records are recycled once the workload has
// read their value.
type recordPools struct {
	recs sync.Pool // *[]kgo.Record
}

var _ kgo.PoolRecords = (*recordPools)(nil)

func (p *recordPools) GetRecords(n int) []kgo.Record {
	if s, ok := p.recs.Get().(*[]kgo.Record); ok && cap(*s) >= n {
		return (*s)[:n]
	}
	return make([]kgo.Record, n)
}

func (p *recordPools) PutRecords(s []kgo.Record) { p.recs.Put(&s) }
