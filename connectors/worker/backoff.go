package worker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/connectors"
)

const initialBackoff = 100 * time.Millisecond

// retryPolicy runs calls that may fail with retriable errors.
type retryPolicy struct {
	timeout  time.Duration // <0: forever
	maxDelay time.Duration
	onRetry  func(attempt int, err error, delay time.Duration)
	// onRecover is called when a call succeeds after at least one retry.
	onRecover func()
}

// do calls fn until it succeeds, fails with a non-retriable error, ctx ends,
// or the retry timeout passes. Backoff doubles from 100ms up to maxDelay,
// with jitter so tasks do not retry in lockstep.
func (p retryPolicy) do(ctx context.Context, fn func() error) error {
	start := time.Now()
	delay := initialBackoff
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil && attempt > 1 && p.onRecover != nil {
			p.onRecover()
		}
		if err == nil || !connectors.IsRetriable(err) {
			return err
		}
		if p.timeout >= 0 && time.Since(start)+delay > p.timeout {
			return fmt.Errorf("giving up after %d attempts in %s: %w", attempt, time.Since(start).Round(time.Millisecond), err)
		}
		d := delay/2 + rand.N(delay/2+1)
		if p.onRetry != nil {
			p.onRetry(attempt, err, d)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-t.C:
		}
		if delay *= 2; delay > p.maxDelay {
			delay = p.maxDelay
		}
	}
}

// kafkaRetriable marks err retriable unless it is a Kafka error the protocol
// calls non-retriable (authorization, invalid config, ...).
func kafkaRetriable(err error) error {
	if err == nil {
		return nil
	}
	var ke *kerr.Error
	if errors.As(err, &ke) && !ke.Retriable {
		return err
	}
	return connectors.Retriable(err)
}
