package connectors

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// RegisterCollector registers c with reg (a task's TaskInfo.Metrics) and
// returns the collector to record into: c, or the equal collector already
// registered under the same descriptors. Tasks of one plugin usually share
// package-level vectors labelled by connector, and a restarted task
// registers them again, so "already registered" is not an error. A nil reg
// (a task opened outside a worker) registers nothing and returns c.
//
// Any other failure (a different collector with the same name but other
// labels) is returned with c; a connector should log it and carry on, since
// metrics must never stop the data.
func RegisterCollector[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("register metrics: %w", err)
}
