package httpsrc

import (
	"errors"

	"github.com/sluicehq/sluice/connectors"
)

var _ connectors.ExactlyOnceSource = (*Source)(nil)

// ExactlyOnce reports that the HTTP source cannot be exactly-once
// (connectors.ExactlyOnceSource): a client whose response a crash (or the
// network) lost sends its request again, and the source has no way to
// recognise the retry, so its records are written twice.
func (s *Source) ExactlyOnce(connectors.Config) error {
	return errors.New("HTTP ingestion is at-least-once upstream: a client retries a request whose response was lost, and the retry cannot be told apart from a new request")
}
