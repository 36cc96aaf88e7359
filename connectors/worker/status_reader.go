package worker

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// statusView is what the status topic says about every connector and task,
// as written by all the workers sharing it. A worker answers status calls
// for tasks it does not run (a source task leased by another worker) from
// here.
type statusView struct {
	mu sync.Mutex
	m  map[string]statusValue
}

func (v *statusView) get(key string) (statusValue, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, ok := v.m[key]
	return s, ok
}

// readStatus follows the status topic until ctx ends.
func (w *Worker) readStatus(ctx context.Context) {
	cl, err := kgo.NewClient(w.cfg.clientOpts(
		kgo.ConsumeTopics(w.cfg.StatusTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)...)
	if err != nil {
		w.log.Warn("status topic reader", "err", err)
		return
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		fs.EachRecord(func(r *kgo.Record) {
			w.status.mu.Lock()
			defer w.status.mu.Unlock()
			if w.status.m == nil {
				w.status.m = map[string]statusValue{}
			}
			if r.Value == nil {
				delete(w.status.m, string(r.Key))
				return
			}
			var s statusValue
			if json.Unmarshal(r.Value, &s) == nil {
				w.status.m[string(r.Key)] = s
			}
		})
	}
}
