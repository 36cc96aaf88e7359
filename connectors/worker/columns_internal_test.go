package worker

import (
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/schema"
)

func TestSettleSchemaIsStable(t *testing.T) {
	st := &sinkTask{task: &task{env: taskEnv{log: slog.Default()}}}
	tp := connectors.TopicPartition{Topic: "t"}
	run := func(rows ...string) string {
		var in schema.Inferrer
		for _, r := range rows {
			if err := in.Observe([]byte(r)); err != nil {
				t.Fatal(err)
			}
		}
		s := st.settleSchema(tp, &in)
		b, _ := schema.MarshalSchema(s)
		return string(b)
	}
	first := run(`{"id":1,"note":null}`)
	if got := run(`{"id":2,"note":null}`); got != first {
		t.Errorf("same shape changed schema:\n%s\n%s", first, got)
	}
	want := `{"fields":[{"name":"id","type":"float64","nullable":true},{"name":"note","type":"int64","nullable":true},{"name":"extra","type":"bool","nullable":true}]}`
	if got := run(`{"id":2.5,"note":7,"extra":true}`); got != want {
		t.Errorf("widen/evidence:\n got %s\nwant %s", got, want)
	}
	if got := run(`{"id":3}`); got != want {
		t.Errorf("a run lacking fields keeps them:\n got %s\nwant %s", got, want)
	}
	if got := run(`{"id":"x"}`); got != `{"fields":[{"name":"id","type":"string","nullable":true}]}` {
		t.Errorf("incompatible change: %s", got)
	}
}

func TestTwoWorkersShareARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	for i := 0; i < 2; i++ {
		w, err := New(Config{Brokers: []string{"127.0.0.1:1"}, Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		w.store.close()
	}
}
