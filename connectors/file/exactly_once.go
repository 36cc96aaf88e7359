package file

import "github.com/sluicehq/sluice/connectors"

var _ connectors.ExactlyOnceSource = (*Source)(nil)

// ExactlyOnce reports that the file source can be exactly-once with any
// config: a position is the file's identity and the byte offset just after
// the last record emitted, so a task resumed from a committed position
// reads the very next line (connectors.ExactlyOnceSource).
func (s *Source) ExactlyOnce(connectors.Config) error { return nil }
