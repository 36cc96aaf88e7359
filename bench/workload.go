package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// ErrIncomplete means a consumer did not receive every acknowledged record
// before the drain timeout: the run measured something, but not all of it.
var ErrIncomplete = errors.New("consumer did not receive every record")

// Run executes cfg.Workload against t on a fresh topic or stream and returns
// its results. An e2e run without a rate first measures a peak (see
// Config.PeakFrom: by default the e2e pipeline's own, producer and
// consumer running unpaced) and then runs at cfg.RateFraction of it; both
// results are returned, the peak first.
func Run(ctx context.Context, t Target, cfg Config) ([]Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch cfg.Workload {
	case Produce:
		r, err := withSetup(ctx, t, cfg, func() (Result, error) { return runProduce(ctx, t, cfg, cfg.Rate) })
		return []Result{r}, err
	case Consume:
		r, err := withSetup(ctx, t, cfg, func() (Result, error) { return runConsume(ctx, t, cfg) })
		return []Result{r}, err
	}
	var out []Result
	rate := cfg.Rate
	if rate == 0 {
		var peak Result
		var err error
		if cfg.PeakFrom == PeakProduce {
			pcfg := cfg
			pcfg.Workload = Produce
			peak, err = withSetup(ctx, t, pcfg, func() (Result, error) { return runProduce(ctx, t, pcfg, 0) })
		} else {
			peak, err = withSetup(ctx, t, cfg, func() (Result, error) { return runE2E(ctx, t, cfg, 0) })
		}
		if err != nil {
			return []Result{peak}, fmt.Errorf("measuring peak for e2e: %w", err)
		}
		out = append(out, peak)
		rate = max(1, int(peak.RecordsPerSec*cfg.RateFraction))
	}
	r, err := withSetup(ctx, t, cfg, func() (Result, error) { return runE2E(ctx, t, cfg, rate) })
	return append(out, r), err
}

// withSetup runs fn between t.Setup and t.Teardown and labels the result.
func withSetup(ctx context.Context, t Target, cfg Config, fn func() (Result, error)) (Result, error) {
	if err := t.Setup(ctx, cfg); err != nil {
		return Result{}, fmt.Errorf("%s: setup: %w", t.Name(), err)
	}
	r, err := fn()
	r.Target, r.Workload, r.Config = t.Name(), cfg.Workload, cfg
	r.Notes = append(t.Notes(cfg), r.Notes...)
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if terr := t.Teardown(tctx); terr != nil && err == nil {
		err = fmt.Errorf("%s: teardown: %w", t.Name(), terr)
	}
	if err != nil {
		return r, fmt.Errorf("%s %s: %w", t.Name(), cfg.Workload, err)
	}
	return r, nil
}

// ackCounter tallies acknowledgements and keeps the first failure.
type ackCounter struct {
	acked, failed atomic.Int64
	abort         context.CancelFunc

	mu    sync.Mutex
	first error
}

func (a *ackCounter) fail(err error) {
	a.failed.Add(1)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.first == nil {
		a.first = err
		a.abort() // a failing run measures nothing useful; stop early
	}
}

func (a *ackCounter) firstErr() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.first
}

// produceAll runs cfg.Producers producers, each sending its share of
// cfg.Count (or until cfg.Duration passes) at its share of rate, and waits
// for every acknowledgement. Values are stamped with their send time when
// stamp is set (for e2e); onAcked sees each acknowledged record's send
// time. When hold is set, a producer checks it every unpacedClockEvery
// sends with the number of records acknowledged so far and pauses while
// it says so (the e2e peak keeps the producer from running away from the
// consumer). It returns the time from the first send to the last ack.
func produceAll(ctx context.Context, t Target, cfg Config, rate int, stamp bool, onAcked func(sent time.Time), hold func(acked int64) bool) (*ackCounter, time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	acks := &ackCounter{abort: cancel}
	// One payload source per producer: stamped buffers are taken by one
	// goroutine each.
	pls := make([]*payloads, cfg.Producers)
	for i := range pls {
		pls[i] = newPayloads(cfg.RecordSize)
	}
	onAckFor := func(pl *payloads) AckFunc {
		return func(b []byte, sent time.Time, err error) {
			if err != nil {
				acks.fail(err)
			} else {
				acks.acked.Add(1)
				onAcked(sent)
			}
			pl.release(b)
		}
	}
	producers := make([]Producer, cfg.Producers)
	for i := range producers {
		p, err := t.NewProducer(ctx, cfg, onAckFor(pls[i]))
		if err != nil {
			for _, q := range producers[:i] {
				q.Close()
			}
			return acks, 0, fmt.Errorf("producer %d: %w", i, err)
		}
		producers[i] = p
	}
	defer func() {
		for _, p := range producers {
			p.Close()
		}
	}()

	start := time.Now()
	var deadline time.Time
	if cfg.Count == 0 {
		deadline = start.Add(cfg.Duration)
	}
	g, gctx := errgroup.WithContext(ctx)
	for i, p := range producers {
		pl := pls[i]
		share := perProducer(cfg.Count, cfg.Producers, i)
		pc := &pacer{perSec: float64(perProducer(int64(rate), cfg.Producers, i)), start: start}
		if rate > 0 && pc.perSec == 0 {
			continue // more producers than records/s: this one idles
		}
		g.Go(func() error {
			for n := int64(0); cfg.Count == 0 || n < share; n++ {
				if hold != nil && n%unpacedClockEvery == 0 {
					for hold(acks.acked.Load()) {
						if gctx.Err() != nil {
							return nil
						}
						time.Sleep(holdPoll)
					}
				}
				now, err := pc.wait(gctx)
				if err != nil {
					return nil // cancelled: an abort or the caller's
				}
				if !deadline.IsZero() && now.After(deadline) {
					return nil
				}
				b := pl.shared()
				if stamp {
					b = pl.stamped(now)
				}
				if err := p.Send(gctx, b, now); err != nil {
					pl.release(b)
					if gctx.Err() != nil {
						return nil
					}
					acks.fail(err)
					return nil
				}
			}
			return p.Flush(gctx)
		})
	}
	err := g.Wait()
	elapsed := time.Since(start)
	if first := acks.firstErr(); first != nil {
		return acks, elapsed, fmt.Errorf("%d records failed; first: %w", acks.failed.Load(), first)
	}
	if err == nil {
		err = ctx.Err()
	}
	return acks, elapsed, err
}

// runProduce measures throughput and send → acknowledgement latency.
func runProduce(ctx context.Context, t Target, cfg Config, rate int) (Result, error) {
	rec := newRecorder()
	var ser *series
	if cfg.SeriesInterval > 0 {
		ser = newSeries(time.Now(), cfg.SeriesInterval)
	}
	acks, elapsed, err := produceAll(ctx, t, cfg, rate, false, func(sent time.Time) {
		d := time.Since(sent)
		rec.record(d)
		if ser != nil {
			ser.record(sent, d)
		}
	}, nil)
	r := Result{TargetRate: rate, Records: acks.acked.Load(), Errors: acks.failed.Load(), Latency: rec.summary()}
	if ser != nil {
		r.Series = ser.windows()
	}
	r.Bytes = r.Records * int64(cfg.RecordSize)
	r.finish(elapsed)
	return r, err
}

// runConsume fills the topic as fast as possible, then measures how fast a
// new consumer reads it all from the start.
func runConsume(ctx context.Context, t Target, cfg Config) (Result, error) {
	acks, fillTime, err := produceAll(ctx, t, cfg, 0, false, func(time.Time) {}, nil)
	if err != nil {
		return Result{}, fmt.Errorf("filling: %w", err)
	}
	want := acks.acked.Load()
	c, err := t.NewConsumer(ctx, cfg)
	if err != nil {
		return Result{}, fmt.Errorf("consumer: %w", err)
	}
	defer c.Close()
	var got, bytes int64
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, cfg.DrainTimeout+10*fillTime)
	defer cancel()
	err = c.Run(rctx, func(b []byte) bool {
		got++
		bytes += int64(len(b))
		return got < want
	})
	elapsed := time.Since(start)
	r := Result{Records: got, Bytes: bytes}
	r.finish(elapsed)
	r.Notes = append(r.Notes, fmt.Sprintf("filled with %d records in %.2fs before reading", want, fillTime.Seconds()))
	if err == nil && got < want {
		err = fmt.Errorf("%w: %d of %d", ErrIncomplete, got, want)
	}
	return r, err
}

// holdPoll is how long a held producer sleeps before checking again.
const holdPoll = 100 * time.Microsecond

// runE2E produces at a fixed rate while one consumer reads, and records
// send → receive latency for every record sent after the warm-up.
//
// With rate 0 it measures the pipeline's peak instead: the producer sends
// as fast as it can while the consumer reads, but never more than
// cfg.MaxPending records ahead of what the consumer has received, so the
// two run at the rate they sustain together on the machine (an unbounded
// producer would finish early and leave the consumer to catch up alone
// with cores the producer no longer uses). Throughput is records received
// over the time from the first send to the last receive.
func runE2E(ctx context.Context, t Target, cfg Config, rate int) (Result, error) {
	c, err := t.NewConsumer(ctx, cfg)
	if err != nil {
		return Result{}, fmt.Errorf("consumer: %w", err)
	}
	defer c.Close()
	rec, all := newRecorder(), newRecorder()
	var (
		received atomic.Int64
		expected atomic.Int64
		lastRecv atomic.Int64 // Unix ns of the latest receive
	)
	expected.Store(-1)
	start := time.Now()
	var ser *series
	if cfg.SeriesInterval > 0 {
		ser = newSeries(start, cfg.SeriesInterval)
	}
	measureFrom := start.Add(cfg.Warmup)
	cctx, stopConsumer := context.WithCancel(ctx)
	defer stopConsumer()
	consumed := make(chan error, 1)
	go func() {
		consumed <- c.Run(cctx, func(b []byte) bool {
			now := time.Now()
			if ts, ok := sentAt(b); ok {
				d := now.Sub(ts)
				all.record(d)
				if !ts.Before(measureFrom) {
					rec.record(d)
				}
				if ser != nil {
					ser.record(ts, d)
				}
			}
			lastRecv.Store(now.UnixNano())
			n := received.Add(1)
			want := expected.Load()
			return want < 0 || n < want
		})
	}()

	var hold func(int64) bool
	if rate == 0 {
		window := int64(max(cfg.MaxPending, 1000))
		hold = func(acked int64) bool { return acked-received.Load() > window }
	}
	acks, elapsed, perr := produceAll(ctx, t, cfg, rate, true, func(time.Time) {}, hold)
	sent := acks.acked.Load()
	expected.Store(sent)
	if received.Load() >= sent || perr != nil {
		stopConsumer()
	}
	var cerr error
	select {
	case cerr = <-consumed:
	case <-time.After(cfg.DrainTimeout):
		stopConsumer()
		cerr = <-consumed
	}
	r := Result{TargetRate: rate, Records: sent, Bytes: sent * int64(cfg.RecordSize), Errors: acks.failed.Load(), Latency: rec.summary()}
	if ser != nil {
		r.Series = ser.windows()
	}
	if r.Latency == nil {
		r.Latency = all.summary()
		if r.Latency != nil {
			r.Notes = append(r.Notes, "run shorter than --warmup: latency includes the warm-up; use --duration")
		}
	}
	if rate == 0 {
		// The peak: what the consumer received, until it received it.
		r.Records = received.Load()
		r.Bytes = r.Records * int64(cfg.RecordSize)
		if last := lastRecv.Load(); last > 0 {
			elapsed = max(elapsed, time.Unix(0, last).Sub(start))
		}
		r.Notes = append(r.Notes, fmt.Sprintf("e2e peak: producer and consumer together, the producer unpaced but at most %d records ahead of the consumer; latency here is mostly that queue", max(cfg.MaxPending, 1000)))
	}
	r.finish(elapsed)
	if achieved := r.RecordsPerSec; rate > 0 && achieved < 0.95*float64(rate) {
		r.Notes = append(r.Notes, fmt.Sprintf("sent %.0f records/s, below the %d/s asked for", achieved, rate))
	}
	switch {
	case perr != nil:
		return r, perr
	case cerr != nil && !errors.Is(cerr, context.Canceled):
		return r, fmt.Errorf("consumer: %w", cerr)
	case received.Load() < sent:
		return r, fmt.Errorf("%w: %d of %d within %s", ErrIncomplete, received.Load(), sent, cfg.DrainTimeout)
	}
	return r, nil
}
