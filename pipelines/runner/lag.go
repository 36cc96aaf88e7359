package runner

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

var errTopicExists = kerr.TopicAlreadyExists

// Lag is how far behind each consumer group of the running pipelines is:
// the pipelines' application groups and their sink connectors' groups.
type Lag struct {
	// Groups maps group name to records not yet consumed (and committed).
	Groups map[string]int64
	// Uncommitted lists groups that have not started, or have not
	// committed a partition that holds records.
	Uncommitted []string
}

// Total is the sum over all groups.
func (l Lag) Total() int64 {
	var n int64
	for _, v := range l.Groups {
		n += v
	}
	return n
}

// CaughtUp reports that every group has committed everything it reads.
func (l Lag) CaughtUp() bool { return l.Total() == 0 && len(l.Uncommitted) == 0 }

// Groups lists the consumer groups the runner's pipelines use.
func (r *Runner) Groups() []string {
	var gs []string
	for _, c := range r.compiled {
		gs = append(gs, c.AppID)
		for _, k := range c.Connectors {
			if k.Kind == "sink" {
				gs = append(gs, "connect-"+k.Name)
			}
		}
	}
	sort.Strings(gs)
	return gs
}

// Lag measures the groups' lag.
func (r *Runner) Lag(ctx context.Context) (Lag, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(r.cfg.Brokers...)}, r.cfg.ClientOpts...)...)
	if err != nil {
		return Lag{}, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	lags, err := adm.Lag(ctx, r.Groups()...)
	if err != nil {
		return Lag{}, fmt.Errorf("lag: %w", err)
	}
	out := Lag{Groups: map[string]int64{}}
	for _, g := range r.Groups() {
		l, ok := lags[g]
		if !ok || l.FetchErr != nil || l.DescribeErr != nil {
			out.Uncommitted = append(out.Uncommitted, g)
			continue
		}
		var total int64
		uncommitted := len(l.Lag) == 0
		for _, parts := range l.Lag {
			for _, m := range parts {
				if m.Err != nil {
					continue
				}
				if m.Commit.At < 0 && m.End.Offset > m.Start.Offset {
					uncommitted = true // records there, none committed yet
				}
				if m.Lag > 0 {
					total += m.Lag
				}
			}
		}
		out.Groups[g] = total
		if uncommitted {
			out.Uncommitted = append(out.Uncommitted, g)
		}
	}
	return out, nil
}

// Settled reports that every group has consumed and committed everything
// it can for now: lag zero everywhere, except what Parquet sinks hold in
// their open file. A Parquet file is committed (and its rows acknowledged)
// once it is full and the next row arrives, so at the end of a finite
// input up to flush.size rows per partition wait in it.
func (r *Runner) Settled(l Lag) bool {
	if len(l.Uncommitted) > 0 {
		return false
	}
	open := map[string]int64{}
	for _, c := range r.compiled {
		for _, k := range c.Connectors {
			if k.Config["connector.class"] == "parquet-sink" {
				n, _ := strconv.ParseInt(k.Config["flush.size"], 10, 64)
				if n <= 0 {
					n = 100000
				}
				open["connect-"+k.Name] = n
			}
		}
	}
	for g, n := range l.Groups {
		if n > open[g] {
			return false
		}
	}
	return true
}
