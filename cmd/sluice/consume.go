package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// consumeOptions are the flags of `sluice consume`.
type consumeOptions struct {
	group         string
	fromBeginning bool
	offset        string
	timestamp     string
	partitions    []int32
	count         int64
	format        string
	printKey      bool
	keySep        string
	exitAtEnd     bool
	idleTimeout   time.Duration
}

func init() {
	var (
		co clientOptions
		o  consumeOptions
	)
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print records of a topic",
		Long: `Prints records of a topic, one per line, as they arrive.

Without --group it reads the chosen partitions directly, from the end unless
--from-beginning, --offset or --timestamp says otherwise. With --group it
joins that consumer group, starts from the group's committed offsets (new
groups start at the end, or the beginning with --from-beginning) and commits
exactly the records it printed when it exits.`,
		Example: `  sluice consume orders --from-beginning --count 10
  sluice consume orders --partition 0 --offset 42 --format json
  sluice consume orders --timestamp 2024-05-01T00:00:00Z --exit-at-end
  sluice consume orders --group billing`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConsume(cmd, &co, &o, args[0])
		},
	}
	addClientFlags(cmd, &co)
	f := cmd.Flags()
	f.StringVarP(&o.group, "group", "g", "", "consume as a member of this consumer group and commit offsets")
	f.BoolVar(&o.fromBeginning, "from-beginning", false, "start at the earliest offset")
	f.StringVar(&o.offset, "offset", "", "start at offset N in each partition (negative: N records before the end)")
	f.StringVar(&o.timestamp, "timestamp", "", "start at the first record at or after this time (RFC3339 or Unix ms)")
	f.Int32SliceVarP(&o.partitions, "partition", "p", nil, "read only these partitions (repeatable)")
	f.Int64VarP(&o.count, "count", "n", 0, "exit after printing N records")
	f.StringVar(&o.format, "format", "text", "output format: text (the value) or json (one object per line)")
	f.BoolVar(&o.printKey, "print-key", false, "text format: print the key and --key-separator before the value")
	f.StringVar(&o.keySep, "key-separator", "\t", "text format: separator printed between key and value")
	f.BoolVarP(&o.exitAtEnd, "exit-at-end", "e", false, "exit once the end of every partition (as of start) is reached")
	f.DurationVar(&o.idleTimeout, "idle-timeout", 0, "exit when no record arrives for this long (counted from the start, including joining a group)")
	root.AddCommand(cmd)
}

// startPosition is where a group-less consume begins in every partition.
type startPosition struct {
	kind  string // "latest", "earliest", "offset", "timestamp"
	value int64  // the offset (negative: relative to the end) or Unix ms
}

func (o *consumeOptions) validate() (startPosition, error) {
	switch o.format {
	case "text", "json":
	default:
		return startPosition{}, fmt.Errorf("--format %q: want text or json", o.format)
	}
	if o.count < 0 {
		return startPosition{}, fmt.Errorf("--count %d: must not be negative", o.count)
	}
	set := 0
	pos := startPosition{kind: "latest"}
	if o.fromBeginning {
		set++
		pos = startPosition{kind: "earliest"}
	}
	if o.offset != "" {
		set++
		n, err := strconv.ParseInt(o.offset, 10, 64)
		if err != nil {
			return pos, fmt.Errorf("--offset %q: want an integer", o.offset)
		}
		pos = startPosition{kind: "offset", value: n}
	}
	if o.timestamp != "" {
		set++
		ms, err := parseTimestamp(o.timestamp)
		if err != nil {
			return pos, fmt.Errorf("--timestamp %q: %w", o.timestamp, err)
		}
		pos = startPosition{kind: "timestamp", value: ms}
	}
	if set > 1 {
		return pos, errors.New("give only one of --from-beginning, --offset and --timestamp")
	}
	if o.group != "" {
		switch {
		case o.offset != "" || o.timestamp != "":
			return pos, errors.New("--offset and --timestamp cannot be used with --group (the group's committed offsets decide); move the group with `sluice group reset-offsets`")
		case len(o.partitions) > 0:
			return pos, errors.New("--partition cannot be used with --group (the group assigns partitions)")
		case o.exitAtEnd:
			return pos, errors.New("--exit-at-end cannot be used with --group; use --count or --idle-timeout")
		}
	}
	return pos, nil
}

// parseTimestamp accepts RFC 3339 (with or without fractional seconds) or
// Unix milliseconds, the two forms Kafka tools print.
func parseTimestamp(s string) (int64, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ms < 0 {
			return 0, errors.New("must not be negative")
		}
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, errors.New("want RFC3339 (2024-05-01T00:00:00Z) or Unix milliseconds")
	}
	return t.UnixMilli(), nil
}

func runConsume(cmd *cobra.Command, co *clientOptions, o *consumeOptions, topic string) error {
	pos, err := o.validate()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	boot, err := co.connect(ctx)
	if err != nil {
		return err
	}
	adm := kadm.NewClient(boot)
	mctx, cancel := co.withTimeout(ctx)
	defer cancel()
	detail, err := topicExists(mctx, adm, topic)
	if err != nil {
		boot.Close()
		return err
	}

	var opts []kgo.Opt
	var ends map[int32]int64 // exit-at-end targets
	if o.group != "" {
		reset := kgo.NewOffset().AtEnd()
		if o.fromBeginning {
			reset = kgo.NewOffset().AtStart()
		}
		opts = append(opts,
			kgo.ConsumerGroup(o.group),
			kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(reset),
			kgo.AutoCommitMarks(),
			kgo.BlockRebalanceOnPoll(),
		)
	} else {
		parts := o.partitions
		if len(parts) == 0 {
			parts = sortedPartitions(detail)
		}
		for _, p := range parts {
			if _, ok := detail.Partitions[p]; !ok {
				boot.Close()
				return fmt.Errorf("--partition %d: topic %s has partitions 0..%d", p, topic, len(detail.Partitions)-1)
			}
		}
		starts, endOffsets, err := resolveStarts(mctx, adm, topic, parts, pos)
		if err != nil {
			boot.Close()
			return err
		}
		offsets := make(map[int32]kgo.Offset, len(parts))
		for p, off := range starts {
			offsets[p] = kgo.NewOffset().At(off)
		}
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
		if o.exitAtEnd {
			ends = map[int32]int64{}
			for p, end := range endOffsets {
				if starts[p] < end {
					ends[p] = end
				}
			}
		}
	}
	boot.Close()
	cancel()
	if ends != nil && len(ends) == 0 {
		return nil // nothing between the start positions and the ends
	}

	cl, err := co.connect(ctx, opts...)
	if err != nil {
		return err
	}
	c := &consumer{cl: cl, o: o, ends: ends, out: bufio.NewWriterSize(cmd.OutOrStdout(), 64*1024)}
	runErr := c.run(ctx)
	flushErr := c.out.Flush()
	if o.group != "" {
		// Commit exactly what was printed, even after Ctrl-C; bounded.
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), co.timeout+time.Second)
		if err := cl.CommitMarkedOffsets(cctx); err != nil && runErr == nil {
			runErr = fmt.Errorf("commit offsets of group %s: %w", o.group, err)
		}
		ccancel()
		cl.CloseAllowingRebalance()
	} else {
		cl.Close()
	}
	if runErr != nil {
		return runErr
	}
	return flushErr
}

// resolveStarts turns a start position into an exact offset per partition,
// clamped to the partition's current range, and returns the end offsets too.
func resolveStarts(ctx context.Context, adm *kadm.Client, topic string, parts []int32, pos startPosition) (starts, ends map[int32]int64, err error) {
	lookup := func(lo kadm.ListedOffsets, what string) (map[int32]int64, error) {
		out := make(map[int32]int64, len(parts))
		for _, p := range parts {
			o, ok := lo.Lookup(topic, p)
			if !ok {
				return nil, fmt.Errorf("%s offset of %s[%d]: no answer", what, topic, p)
			}
			if o.Err != nil {
				return nil, fmt.Errorf("%s offset of %s[%d]: %w", what, topic, p, o.Err)
			}
			out[p] = o.Offset
		}
		return out, nil
	}
	so, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, nil, fmt.Errorf("start offsets of %s: %w", topic, err)
	}
	eo, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	first, err := lookup(so, "start")
	if err != nil {
		return nil, nil, err
	}
	ends, err = lookup(eo, "end")
	if err != nil {
		return nil, nil, err
	}
	starts = make(map[int32]int64, len(parts))
	switch pos.kind {
	case "earliest":
		starts = first
	case "latest":
		for p, e := range ends {
			starts[p] = e
		}
	case "offset":
		for _, p := range parts {
			off := pos.value
			if off < 0 {
				off = ends[p] + off
			}
			starts[p] = min(max(off, first[p]), ends[p])
		}
	case "timestamp":
		to, err := adm.ListOffsetsAfterMilli(ctx, pos.value, topic)
		if err != nil {
			return nil, nil, fmt.Errorf("offsets of %s after %d ms: %w", topic, pos.value, err)
		}
		byTime, err := lookup(to, "time")
		if err != nil {
			return nil, nil, err
		}
		for _, p := range parts {
			off := byTime[p]
			if off < 0 { // no record at or after the time
				off = ends[p]
			}
			starts[p] = min(max(off, first[p]), ends[p])
		}
	}
	return starts, ends, nil
}

// consumer polls records and prints them until a stop condition.
type consumer struct {
	cl      *kgo.Client
	o       *consumeOptions
	ends    map[int32]int64 // partitions still to reach their end; nil: no end
	out     *bufio.Writer
	printed int64
}

func (c *consumer) run(ctx context.Context) error {
	grouped := c.o.group != ""
	for {
		limit := 10000
		if c.o.count > 0 {
			limit = int(min(int64(limit), c.o.count-c.printed))
		}
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if c.o.idleTimeout > 0 {
			pctx, cancel = context.WithTimeout(ctx, c.o.idleTimeout)
		}
		fetches := c.cl.PollRecords(pctx, limit)
		cancel()
		if ctx.Err() != nil {
			return nil // interrupted: a normal way to stop a consumer
		}
		if fetches.IsClientClosed() {
			return nil
		}
		idle := pctx.Err() != nil && fetches.NumRecords() == 0
		for _, fe := range fetches.Errors() {
			if errors.Is(fe.Err, context.DeadlineExceeded) || errors.Is(fe.Err, context.Canceled) {
				continue
			}
			return fmt.Errorf("fetch %s[%d]: %w", fe.Topic, fe.Partition, fe.Err)
		}
		var err error
		fetches.EachRecord(func(r *kgo.Record) {
			if err != nil {
				return
			}
			if err = writeRecord(c.out, r, c.o); err != nil {
				return
			}
			c.printed++
			if grouped {
				c.cl.MarkCommitRecords(r)
			}
			if end, ok := c.ends[r.Partition]; ok && r.Offset+1 >= end {
				delete(c.ends, r.Partition)
			}
		})
		if err != nil {
			return fmt.Errorf("writing output: %w", err)
		}
		if err := c.out.Flush(); err != nil {
			return fmt.Errorf("writing output: %w", err)
		}
		if grouped {
			c.cl.AllowRebalance()
		}
		switch {
		case c.o.count > 0 && c.printed >= c.o.count:
			return nil
		case c.ends != nil && len(c.ends) == 0:
			return nil
		case idle:
			return nil
		}
	}
}
