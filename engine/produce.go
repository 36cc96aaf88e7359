package engine

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/operators"
)

// outRecord is a produced record with the buffer holding its key and value.
// Output records are pooled: at a million records a second, allocating a
// kgo.Record and a buffer for each is most of the garbage the engine makes.
// The pool takes a record back when the broker acknowledged it (kgo is done
// with it then).
type outRecord struct {
	rec kgo.Record // first field: a *kgo.Record from a promise is an *outRecord
	buf []byte
}

var outPool = sync.Pool{New: func() any { return &outRecord{buf: make([]byte, 0, 128)} }}

// newOutRecord copies an output record (whose buffers the task reuses) into
// a pooled kgo.Record.
func newOutRecord(rec operators.OutputRecord) *kgo.Record {
	o := outPool.Get().(*outRecord)
	buf := append(append(o.buf[:0], rec.Key...), rec.Value...)
	o.buf = buf
	kl := len(rec.Key)
	o.rec = kgo.Record{Topic: rec.Topic, Timestamp: timeMillis(rec.Timestamp)}
	if rec.Key != nil {
		o.rec.Key = buf[:kl:kl]
	}
	if rec.Value != nil {
		o.rec.Value = buf[kl:len(buf):len(buf)]
	}
	if len(rec.Headers) > 0 {
		o.rec.Headers = make([]kgo.RecordHeader, len(rec.Headers))
		for i, h := range rec.Headers {
			o.rec.Headers[i] = kgo.RecordHeader{Key: h.Key, Value: h.Value}
		}
	}
	return &o.rec
}

// onOutProduced records a failure and returns the record to the pool.
func (a *App) onOutProduced(r *kgo.Record, err error) {
	if err != nil {
		a.setProduceErr(fmt.Errorf("produce to %s: %w", r.Topic, err))
	}
	o := (*outRecord)(unsafe.Pointer(r))
	o.rec.Headers = nil // newOutRecord overwrites the rest
	if cap(o.buf) <= 64<<10 {
		outPool.Put(o)
	}
}
