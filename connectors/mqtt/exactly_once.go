package mqtt

import (
	"errors"

	"github.com/sluicehq/sluice/connectors"
)

var _ connectors.ExactlyOnceSource = (*Source)(nil)

// ExactlyOnce reports that the MQTT source cannot be exactly-once
// (connectors.ExactlyOnceSource): the MQTT broker redelivers every QoS 1
// message not acknowledged before a crash, and acknowledgements go out only
// after the worker commits, so the messages of a committed transaction
// whose acknowledgements were lost arrive, and are written, again.
func (s *Source) ExactlyOnce(connectors.Config) error {
	return errors.New("MQTT is at-least-once upstream: the broker redelivers messages whose acknowledgement a crash lost, and they carry nothing to recognise them by")
}
