package worker

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// validateExactlyOnce checks a source connector's exactly-once settings
// (KIP-618) against what its plugin declares and, when wc is not nil,
// against the worker's settings. Unlike Kafka Connect, which ignores
// exactly.once.support on a worker without exactly-once, required is
// refused there: it is a promise the worker could not keep.
func validateExactlyOnce(p connectors.Plugin, raw map[string]string, wc *Config) []connectors.FieldError {
	cfg := lenientConfig(p, raw)
	var errs []connectors.FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, connectors.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	var src connectors.Source
	newSource := func() connectors.Source {
		if src == nil {
			src = p.NewSource()
		}
		return src
	}
	if cfg.String(KeyExactlyOnce) == "required" {
		if wc != nil && wc.ExactlyOnceSourceSupport != ExactlyOnceEnabled {
			add(KeyExactlyOnce, "required, but this worker's exactly.once.source.support is %s; it must be enabled", wc.ExactlyOnceSourceSupport)
		}
		if eo, ok := newSource().(connectors.ExactlyOnceSource); !ok {
			add(KeyExactlyOnce, "required, but the %s plugin does not declare exactly-once support; use requested", p.Name)
		} else if err := eo.ExactlyOnce(cfg); err != nil {
			add(KeyExactlyOnce, "required, but %s cannot be exactly-once with this config: %v", p.Name, err)
		}
	}
	switch cfg.String(KeyTxnBoundary) {
	case BoundaryConnector:
		if td, ok := newSource().(connectors.TransactionDefiner); !ok {
			add(KeyTxnBoundary, "connector, but the %s plugin does not define transaction boundaries; use poll or interval", p.Name)
		} else if err := td.DefinesTransactions(cfg); err != nil {
			add(KeyTxnBoundary, "connector, but %s does not define transaction boundaries with this config: %v", p.Name, err)
		}
	case BoundaryInterval:
		if wc != nil {
			if d := transactionInterval(cfg, wc); d >= wc.TransactionTimeout {
				add(KeyTxnBoundaryInterval, "%s is not shorter than the worker's transaction timeout %s: every transaction would be aborted", d, wc.TransactionTimeout)
			}
		}
	}
	return errs
}

// lenientConfig is raw with the spec's defaults filled in, parsed without
// validation, so plugins can be asked about a config that has errors
// elsewhere (the validate endpoint reports every field at once).
func lenientConfig(p connectors.Plugin, raw map[string]string) connectors.Config {
	if cfg, err := fullSpec(p).Parse(raw); err == nil {
		return cfg
	}
	filled := copyMap(raw)
	for _, f := range fullSpec(p) {
		if filled[f.Name] == "" && f.Default != "" {
			filled[f.Name] = f.Default
		}
	}
	cfg, _ := connectors.ConfigSpec(nil).Parse(filled)
	return cfg
}

// transactionInterval is a connector's transaction.boundary.interval.ms,
// or the worker's offset flush interval when it is not set.
func transactionInterval(cfg connectors.Config, wc *Config) time.Duration {
	if d := cfg.Duration(KeyTxnBoundaryInterval); d > 0 {
		return d
	}
	return wc.OffsetFlushInterval
}

// transactionalID is the transactional.id of a source task, as Kafka
// Connect names it: "<group.id>-<connector>-<task>".
func transactionalID(wc *Config, connector string, task int) string {
	return fmt.Sprintf("%s-%s-%d", wc.GroupID, connector, task)
}
