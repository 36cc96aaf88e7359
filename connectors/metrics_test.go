package connectors

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestRegisterCollector(t *testing.T) {
	newVec := func() *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "test_rows_total", Help: "Rows."}, []string{"connector"})
	}
	reg := prometheus.NewRegistry()
	first, err := RegisterCollector(reg, newVec())
	if err != nil {
		t.Fatal(err)
	}
	// A second task (or a restart) registering an equal vector gets the
	// first one back, so both count into the same series.
	second, err := RegisterCollector(reg, newVec())
	if err != nil || second != first {
		t.Fatalf("second registration = %p, %v; want the first vector %p", second, err, first)
	}
	second.WithLabelValues("c1").Add(2)
	var m dto.Metric
	if err := first.WithLabelValues("c1").Write(&m); err != nil || m.GetCounter().GetValue() != 2 {
		t.Fatalf("shared series = %v (%v), want 2", m.GetCounter().GetValue(), err)
	}

	// Same name, other labels: an error the connector can log.
	other := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "test_rows_total", Help: "Rows."}, []string{"table"})
	if got, err := RegisterCollector(reg, other); err == nil || got != other || !strings.Contains(err.Error(), "register metrics") {
		t.Fatalf("conflicting registration = %p, %v", got, err)
	}

	// Outside a worker there is no registerer: nothing to do.
	v := newVec()
	if got, err := RegisterCollector(nil, v); err != nil || got != v {
		t.Fatalf("nil registerer = %p, %v", got, err)
	}
}
