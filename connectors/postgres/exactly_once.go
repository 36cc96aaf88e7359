package postgres

import (
	"errors"

	"github.com/sluicehq/sluice/connectors"
)

var (
	_ connectors.ExactlyOnceSource = (*PollSource)(nil)
	_ connectors.ExactlyOnceSource = (*CDCSource)(nil)
)

// ExactlyOnce reports that the polling source can be exactly-once in every
// mode: a position holds the tracking columns of the last row emitted, and
// a batch never ends inside a run of equal timestamps, so a task resumed
// from a committed position queries exactly the rows after it
// (connectors.ExactlyOnceSource).
func (s *PollSource) ExactlyOnce(connectors.Config) error { return nil }

// ExactlyOnce reports whether the CDC source can be exactly-once
// (connectors.ExactlyOnceSource). The stream can: positions are transaction
// end LSNs plus how many changes of a larger transaction were delivered. An
// initial snapshot cannot: one that breaks off is read again from the
// start, without the exported snapshot, so rows of it may be emitted twice.
func (s *CDCSource) ExactlyOnce(cfg connectors.Config) error {
	if cfg.String("snapshot.mode") != "never" {
		return errors.New("an initial snapshot interrupted by a crash is read again from the start, emitting some rows twice; use snapshot.mode=never (streaming is exactly-once)")
	}
	return nil
}
