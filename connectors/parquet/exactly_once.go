package parquet

import "github.com/sluicehq/sluice/connectors"

var _ connectors.ExactlyOnceSource = (*Source)(nil)

// ExactlyOnce reports that the Parquet source can be exactly-once: a
// position is a file and the next row to read, so a task resumed from a
// committed position reads the very next row (connectors.ExactlyOnceSource).
// Files are expected not to change once written, as the source assumes.
func (s *Source) ExactlyOnce(connectors.Config) error { return nil }
