package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// resetOptions are the flags of `sluice group reset-offsets`.
type resetOptions struct {
	topics      []string
	allTopics   bool
	toEarliest  bool
	toLatest    bool
	toOffset    int64
	toTimestamp string
	shiftBy     int64
	dryRun      bool
	execute     bool
	asJSON      bool

	// set by validate from which flags were given
	toOffsetSet, shiftBySet bool
}

// resetPlanRow is one partition's move, printed in dry runs and executions.
type resetPlanRow struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Current   int64  `json:"current_offset"` // -1: no committed offset
	New       int64  `json:"new_offset"`
}

func groupResetCmd(co *clientOptions) *cobra.Command {
	var o resetOptions
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP",
		Short: "Move an inactive group's committed offsets (dry run unless --execute)",
		Long: `Computes new committed offsets for a consumer group and, with --execute,
commits them. The group must have no active members, as with
kafka-consumer-groups. Target offsets are clamped to each partition's
current range.`,
		Example: `  sluice group reset-offsets billing --topic orders --to-earliest --execute
  sluice group reset-offsets billing --topic orders:0,1 --shift-by -100 --dry-run
  sluice group reset-offsets billing --all-topics --to-timestamp 2024-05-01T00:00:00Z --execute`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.toOffsetSet = cmd.Flags().Changed("to-offset")
			o.shiftBySet = cmd.Flags().Changed("shift-by")
			return runReset(cmd, co, &o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.topics, "topic", "t", nil, "topic to reset, optionally with partitions: orders or orders:0,2 (repeatable)")
	f.BoolVar(&o.allTopics, "all-topics", false, "reset every topic the group has committed offsets for")
	f.BoolVar(&o.toEarliest, "to-earliest", false, "move to the earliest offset")
	f.BoolVar(&o.toLatest, "to-latest", false, "move to the end")
	f.Int64Var(&o.toOffset, "to-offset", 0, "move to this offset")
	f.StringVar(&o.toTimestamp, "to-timestamp", "", "move to the first record at or after this time (RFC3339 or Unix ms)")
	f.Int64Var(&o.shiftBy, "shift-by", 0, "move the committed offset by N (negative: back)")
	f.BoolVar(&o.dryRun, "dry-run", false, "only print the new offsets (the default)")
	f.BoolVar(&o.execute, "execute", false, "commit the new offsets")
	f.BoolVar(&o.asJSON, "json", false, "print JSON")
	return cmd
}

func (o *resetOptions) validate() error {
	n := 0
	for _, set := range []bool{o.toEarliest, o.toLatest, o.toOffsetSet, o.toTimestamp != "", o.shiftBySet} {
		if set {
			n++
		}
	}
	if n != 1 {
		return errors.New("give exactly one of --to-earliest, --to-latest, --to-offset, --to-timestamp and --shift-by")
	}
	if o.dryRun && o.execute {
		return errors.New("give --dry-run or --execute, not both")
	}
	if (len(o.topics) > 0) == o.allTopics {
		return errors.New("give --topic (repeatable) or --all-topics")
	}
	if o.toOffsetSet && o.toOffset < 0 {
		return fmt.Errorf("--to-offset %d: must not be negative", o.toOffset)
	}
	return nil
}

// parseTopicPartitions parses "orders" or "orders:0,1,2".
func parseTopicPartitions(s string) (string, []int32, error) {
	topic, list, ok := strings.Cut(s, ":")
	if topic == "" {
		return "", nil, fmt.Errorf("--topic %q: missing topic name", s)
	}
	if !ok {
		return topic, nil, nil
	}
	var ps []int32
	for _, p := range strings.Split(list, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 32)
		if err != nil || n < 0 {
			return "", nil, fmt.Errorf("--topic %q: partition %q is not a partition number", s, p)
		}
		ps = append(ps, int32(n))
	}
	return topic, ps, nil
}

func runReset(cmd *cobra.Command, co *clientOptions, o *resetOptions, group string) error {
	if err := o.validate(); err != nil {
		return err
	}
	var ms int64
	if o.toTimestamp != "" {
		var err error
		if ms, err = parseTimestamp(o.toTimestamp); err != nil {
			return fmt.Errorf("--to-timestamp %q: %w", o.toTimestamp, err)
		}
	}
	ctx := cmd.Context()
	adm, err := co.admin(ctx)
	if err != nil {
		return err
	}
	defer adm.Close()
	rctx, cancel := co.withTimeout(ctx)
	defer cancel()

	if err := requireInactive(rctx, adm, group); err != nil {
		return err
	}
	committed, err := adm.FetchOffsets(rctx, group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return fmt.Errorf("committed offsets of group %s: %w", group, err)
	}
	targets, err := resetTargets(rctx, adm, o, group, committed)
	if err != nil {
		return err
	}
	plan, err := planReset(rctx, adm, o, ms, targets, committed)
	if err != nil {
		return err
	}

	if o.execute {
		var offs kadm.Offsets
		for _, r := range plan {
			offs.AddOffset(r.Topic, r.Partition, r.New, -1)
		}
		resps, err := adm.CommitOffsets(rctx, group, offs)
		if err != nil {
			return fmt.Errorf("commit offsets of group %s: %w", group, err)
		}
		if err := resps.Error(); err != nil {
			if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.RebalanceInProgress) || errors.Is(err, kerr.IllegalGeneration) {
				return fmt.Errorf("group %s became active while resetting; stop its members and retry: %w", group, err)
			}
			return fmt.Errorf("commit offsets of group %s: %w", group, err)
		}
	}
	out := cmd.OutOrStdout()
	if o.asJSON {
		if err := writeJSON(out, plan); err != nil {
			return err
		}
	} else {
		tw := newTable(out)
		fmt.Fprintln(tw, "TOPIC\tPARTITION\tCURRENT-OFFSET\tNEW-OFFSET")
		for _, r := range plan {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\n", r.Topic, r.Partition, dashIfNeg(r.Current), r.New)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if !o.execute {
		fmt.Fprintln(cmd.ErrOrStderr(), "dry run: nothing committed; add --execute to apply")
	}
	return nil
}

// requireInactive refuses to move offsets under running consumers, which
// would overwrite them with their own commits.
func requireInactive(ctx context.Context, adm *kadm.Client, group string) error {
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return fmt.Errorf("describe group %s: %w", group, err)
	}
	d, ok := described[group]
	if !ok || errors.Is(d.Err, kerr.GroupIDNotFound) {
		return nil // a group that does not exist yet may be given offsets
	}
	if d.Err != nil {
		return fmt.Errorf("describe group %s: %w", group, d.Err)
	}
	switch d.State {
	case "Empty", "Dead", "":
		return nil
	}
	return fmt.Errorf("group %s is active (state %s, %d members); stop its consumers before resetting offsets", group, d.State, len(d.Members))
}

// resetTargets lists the partitions to move.
func resetTargets(ctx context.Context, adm *kadm.Client, o *resetOptions, group string, committed kadm.OffsetResponses) (map[string][]int32, error) {
	targets := map[string][]int32{}
	if o.allTopics {
		committed.Each(func(r kadm.OffsetResponse) {
			if r.Err == nil && r.At >= 0 {
				targets[r.Topic] = append(targets[r.Topic], r.Partition)
			}
		})
		if len(targets) == 0 {
			return nil, fmt.Errorf("group %s has no committed offsets; name topics with --topic", group)
		}
		return targets, nil
	}
	for _, s := range o.topics {
		topic, parts, err := parseTopicPartitions(s)
		if err != nil {
			return nil, err
		}
		d, err := topicExists(ctx, adm, topic)
		if err != nil {
			return nil, err
		}
		if parts == nil {
			parts = sortedPartitions(d)
		}
		for _, p := range parts {
			if _, ok := d.Partitions[p]; !ok {
				return nil, fmt.Errorf("--topic %s: topic %s has partitions 0..%d", s, topic, len(d.Partitions)-1)
			}
		}
		targets[topic] = append(targets[topic], parts...)
	}
	return targets, nil
}

// planReset computes every partition's new offset, clamped to its range.
func planReset(ctx context.Context, adm *kadm.Client, o *resetOptions, ms int64, targets map[string][]int32, committed kadm.OffsetResponses) ([]resetPlanRow, error) {
	topics := make([]string, 0, len(targets))
	for t := range targets {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("end offsets: %w", err)
	}
	var byTime kadm.ListedOffsets
	if o.toTimestamp != "" {
		if byTime, err = adm.ListOffsetsAfterMilli(ctx, ms, topics...); err != nil {
			return nil, fmt.Errorf("offsets after %d ms: %w", ms, err)
		}
	}
	offsetOf := func(lo kadm.ListedOffsets, what, t string, p int32) (int64, error) {
		l, ok := lo.Lookup(t, p)
		if !ok {
			return 0, fmt.Errorf("%s offset of %s[%d]: no answer", what, t, p)
		}
		if l.Err != nil {
			return 0, fmt.Errorf("%s offset of %s[%d]: %w", what, t, p, l.Err)
		}
		return l.Offset, nil
	}
	var plan []resetPlanRow
	for _, t := range topics {
		parts := append([]int32(nil), targets[t]...)
		sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
		for _, p := range parts {
			lo, err := offsetOf(starts, "start", t, p)
			if err != nil {
				return nil, err
			}
			hi, err := offsetOf(ends, "end", t, p)
			if err != nil {
				return nil, err
			}
			cur := int64(-1)
			if c, ok := committed.Lookup(t, p); ok && c.Err == nil {
				cur = c.At
			}
			var next int64
			switch {
			case o.toEarliest:
				next = lo
			case o.toLatest:
				next = hi
			case o.toOffsetSet:
				next = o.toOffset
			case o.toTimestamp != "":
				if next, err = offsetOf(byTime, "time", t, p); err != nil {
					return nil, err
				}
				if next < 0 {
					next = hi // nothing at or after the time
				}
			case o.shiftBySet:
				if cur < 0 {
					return nil, fmt.Errorf("--shift-by: group has no committed offset for %s[%d] to shift; use --to-earliest/--to-offset for it", t, p)
				}
				next = cur + o.shiftBy
			}
			plan = append(plan, resetPlanRow{Topic: t, Partition: p, Current: cur, New: min(max(next, lo), hi)})
		}
	}
	return plan, nil
}
