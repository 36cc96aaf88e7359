package worker

import (
	"errors"
	"reflect"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// pluginMetrics is the Registerer tasks get as TaskInfo.Metrics: the
// worker's own registerer, so plugins' series are served on the same
// /metrics, remembering the labelled vectors plugins register so that a
// deleted connector's series (label "connector") go with the worker's.
type pluginMetrics struct {
	reg prometheus.Registerer

	mu   sync.Mutex
	vecs []partialDeleter // distinct, in registration order
}

// partialDeleter is implemented by the *Vec collectors.
type partialDeleter interface {
	prometheus.Collector
	DeletePartialMatch(prometheus.Labels) int
}

var _ prometheus.Registerer = (*pluginMetrics)(nil)

func newPluginMetrics(reg prometheus.Registerer) *pluginMetrics {
	return &pluginMetrics{reg: reg}
}

// Register implements prometheus.Registerer. It returns the registry's error
// unchanged (AlreadyRegisteredError included, which
// connectors.RegisterCollector turns into the existing collector).
func (p *pluginMetrics) Register(c prometheus.Collector) error {
	err := p.reg.Register(c)
	kept := c
	if err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return err
		}
		kept = are.ExistingCollector
	}
	if v, ok := kept.(partialDeleter); ok && reflect.TypeOf(v).Comparable() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, have := range p.vecs {
			if have == v {
				return err
			}
		}
		p.vecs = append(p.vecs, v)
	}
	return err
}

// MustRegister implements prometheus.Registerer.
func (p *pluginMetrics) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := p.Register(c); err != nil {
			panic(err)
		}
	}
}

// Unregister implements prometheus.Registerer.
func (p *pluginMetrics) Unregister(c prometheus.Collector) bool {
	if v, ok := c.(partialDeleter); ok && reflect.TypeOf(v).Comparable() {
		p.mu.Lock()
		for i, have := range p.vecs {
			if have == v {
				p.vecs = append(p.vecs[:i], p.vecs[i+1:]...)
				break
			}
		}
		p.mu.Unlock()
	}
	return p.reg.Unregister(c)
}

// forget drops the series of a deleted connector from plugins' vectors.
func (p *pluginMetrics) forget(connector string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := prometheus.Labels{"connector": connector}
	for _, v := range p.vecs {
		v.DeletePartialMatch(l)
	}
}
