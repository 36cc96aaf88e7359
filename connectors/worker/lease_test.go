package worker_test

import (
	"strconv"
	"testing"

	"github.com/sluicehq/sluice/connectors/worker"
)

// TestTwoWorkersRunASourceOnce: two workers share the internal topics;
// the source task runs on exactly one of them at a time, moves to the other
// when its worker stops, and every number reaches the topic exactly once.
func TestTwoWorkersRunASourceOnce(t *testing.T) {
	b := startBroker(t)
	a := startWorkerID(t, b.Addr, "worker-a")
	c := startWorkerID(t, b.Addr, "worker-b")
	cfg := map[string]string{"connector.class": "test-counting-source", "topic": "once", "limit": "200"}
	a.create("count", cfg)
	waitFor(t, "connector on both workers", func() bool {
		var st worker.ConnectorStatus
		return c.call("GET", "/connectors/count/status", nil, &st) == 200
	})
	running := func(tw *testWorker) bool {
		st := tw.status("count")
		return len(st.Tasks) == 1 && st.Tasks[0].State == worker.StateRunning && st.Tasks[0].WorkerID == tw.w.WorkerID()
	}
	waitFor(t, "one worker running the task", func() bool { return running(a) || running(c) })
	holder, other := a, c
	if running(c) {
		holder, other = c, a
	}
	if running(other) {
		t.Fatal("both workers run the source task")
	}
	// The other worker reports the task as running on the holder.
	waitFor(t, "status from the status topic", func() bool {
		st := other.status("count")
		return st.Tasks[0].State == worker.StateRunning && st.Tasks[0].WorkerID == holder.w.WorkerID()
	})
	consumeN(t, b.Addr, "once", 200)

	// Stop the holder: the other worker takes the lease and resumes from
	// the stored position.
	holder.stop()
	waitFor(t, "the other worker to take over", func() bool { return running(other) })
	cfg["limit"] = "300"
	other.mustCall("PUT", "/connectors/count/config", cfg, 200)
	recs := consumeN(t, b.Addr, "once", 300)
	for i, r := range recs {
		if string(r.Value) != strconv.Itoa(i+1) {
			t.Fatalf("record %d is %s", i, r.Value)
		}
	}
}
