package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// The topic commands are thin wrappers over kadm, so they behave the same
// against Sluice and any other Kafka-protocol cluster.

func init() {
	var co clientOptions
	topic := &cobra.Command{
		Use:   "topic",
		Short: "Create, list, describe, alter and delete topics",
	}
	addClientFlags(topic, &co)
	topic.AddCommand(topicCreateCmd(&co), topicListCmd(&co), topicDescribeCmd(&co),
		topicAlterCmd(&co), topicDeleteCmd(&co))
	root.AddCommand(topic)
}

func topicCreateCmd(co *clientOptions) *cobra.Command {
	var (
		partitions  int32
		replicas    int16
		configs     []string
		ifNotExists bool
	)
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a topic",
		Example: `  sluice topic create orders -p 6
  sluice topic create users -p 3 -c cleanup.policy=compact -c retention.ms=-1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if partitions < 1 && partitions != -1 {
				return fmt.Errorf("-p %d: a topic needs at least 1 partition", partitions)
			}
			if replicas < 1 && replicas != -1 {
				return fmt.Errorf("-r %d: replication factor must be at least 1 (or -1 for the broker default)", replicas)
			}
			cfg, err := parseConfigs(configs)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			adm, err := co.admin(ctx)
			if err != nil {
				return err
			}
			defer adm.Close()
			rctx, cancel := co.withTimeout(ctx)
			defer cancel()
			resp, err := adm.CreateTopic(rctx, partitions, replicas, cfg, name)
			if err == nil {
				err = resp.Err
			}
			switch {
			case errors.Is(err, kerr.TopicAlreadyExists):
				if ifNotExists {
					return nil
				}
				return fmt.Errorf("topic %s already exists", name)
			case err != nil:
				return fmt.Errorf("create topic %s: %s", name, describeErr(err, resp.ErrMessage))
			}
			n := resp.NumPartitions
			if n <= 0 {
				n = partitions // older brokers do not echo the count
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created topic %s with %d partitions\n", name, n)
			return nil
		},
	}
	f := cmd.Flags()
	f.Int32VarP(&partitions, "partitions", "p", 1, "number of partitions")
	f.Int16VarP(&replicas, "replication-factor", "r", -1, "replicas per partition (-1: broker default)")
	f.StringArrayVarP(&configs, "config", "c", nil, "topic config key=value (repeatable)")
	f.BoolVar(&ifNotExists, "if-not-exists", false, "succeed quietly when the topic already exists")
	return cmd
}

func topicListCmd(co *clientOptions) *cobra.Command {
	var (
		internal bool
		asJSON   bool
	)
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List topics",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			adm, err := co.admin(ctx)
			if err != nil {
				return err
			}
			defer adm.Close()
			rctx, cancel := co.withTimeout(ctx)
			defer cancel()
			var details kadm.TopicDetails
			if internal {
				details, err = adm.ListTopicsWithInternal(rctx)
			} else {
				details, err = adm.ListTopics(rctx)
			}
			if err != nil {
				return fmt.Errorf("list topics: %w", err)
			}
			type row struct {
				Topic      string `json:"topic"`
				Partitions int    `json:"partitions"`
				Replicas   int    `json:"replication_factor"`
				Internal   bool   `json:"internal,omitempty"`
			}
			var rows []row
			for _, d := range details.Sorted() {
				if d.Err != nil {
					return fmt.Errorf("topic %s: %w", d.Topic, d.Err)
				}
				rows = append(rows, row{d.Topic, len(d.Partitions), d.Partitions.NumReplicas(), d.IsInternal})
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if rows == nil {
					rows = []row{}
				}
				return writeJSON(out, rows)
			}
			tw := newTable(out)
			fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tREPLICAS")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%d\t%d\n", r.Topic, r.Partitions, r.Replicas)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&internal, "internal", false, "include internal topics (e.g. __consumer_offsets)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return cmd
}

func topicDeleteCmd(co *clientOptions) *cobra.Command {
	var ifExists bool
	cmd := &cobra.Command{
		Use:   "delete NAME...",
		Short: "Delete topics and all their records",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			adm, err := co.admin(ctx)
			if err != nil {
				return err
			}
			defer adm.Close()
			rctx, cancel := co.withTimeout(ctx)
			defer cancel()
			resps, err := adm.DeleteTopics(rctx, args...)
			if err != nil {
				return fmt.Errorf("delete topics: %w", err)
			}
			var failed []string
			for _, name := range args {
				r, ok := resps[name]
				switch {
				case !ok:
					failed = append(failed, fmt.Sprintf("topic %s: no answer from the cluster", name))
				case errors.Is(r.Err, kerr.UnknownTopicOrPartition):
					if !ifExists {
						failed = append(failed, fmt.Sprintf("topic %s does not exist", name))
					}
				case r.Err != nil:
					failed = append(failed, fmt.Sprintf("delete topic %s: %s", name, describeErr(r.Err, r.ErrMessage)))
				default:
					fmt.Fprintf(cmd.OutOrStdout(), "deleted topic %s\n", name)
				}
			}
			if len(failed) > 0 {
				return errors.New(strings.Join(failed, "; "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&ifExists, "if-exists", false, "succeed quietly for topics that do not exist")
	return cmd
}

// parseConfigs turns repeated -c key=value flags into a CreateTopics config
// map. An empty value is allowed (it is a value); a missing '=' is not.
func parseConfigs(kvs []string) (map[string]*string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := make(map[string]*string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("-c %q: want key=value", kv)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("-c %s: given twice", k)
		}
		out[k] = kadm.StringPtr(v)
	}
	return out, nil
}

// describeErr joins a broker error code with the broker's own message, which
// usually says what exactly was wrong ("Unknown topic config name: foo").
func describeErr(err error, msg string) string {
	s := err.Error()
	if msg != "" && !strings.Contains(s, msg) {
		s += ": " + msg
	}
	return s
}

// topicExists reports whether topic is known to the cluster.
func topicExists(ctx context.Context, adm *kadm.Client, topic string) (kadm.TopicDetail, error) {
	details, err := adm.ListTopicsWithInternal(ctx, topic)
	if err != nil {
		return kadm.TopicDetail{}, fmt.Errorf("metadata for topic %s: %w", topic, err)
	}
	d, ok := details[topic]
	if !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
		return kadm.TopicDetail{}, fmt.Errorf("topic %s does not exist", topic)
	}
	if d.Err != nil {
		return kadm.TopicDetail{}, fmt.Errorf("topic %s: %w", topic, d.Err)
	}
	return d, nil
}

// sortedPartitions returns a topic's partition numbers in order.
func sortedPartitions(d kadm.TopicDetail) []int32 {
	ps := make([]int32, 0, len(d.Partitions))
	for p := range d.Partitions {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}
