package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicDescription is what `topic describe --json` prints for one topic.
type topicDescription struct {
	Topic       string                 `json:"topic"`
	ID          string                 `json:"id,omitempty"`
	Internal    bool                   `json:"internal,omitempty"`
	Replication int                    `json:"replication_factor"`
	Configs     map[string]string      `json:"configs"`
	Partitions  []partitionDescription `json:"partitions"`
}

type partitionDescription struct {
	Partition   int32   `json:"partition"`
	Leader      int32   `json:"leader"`
	Replicas    []int32 `json:"replicas"`
	ISR         []int32 `json:"isr"`
	StartOffset int64   `json:"start_offset"`
	EndOffset   int64   `json:"end_offset"`
	Error       string  `json:"error,omitempty"`
}

func topicDescribeCmd(co *clientOptions) *cobra.Command {
	var (
		allConfigs bool
		asJSON     bool
	)
	cmd := &cobra.Command{
		Use:   "describe NAME...",
		Short: "Show partitions, leaders, offsets and configs of topics",
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

			var descs []topicDescription
			for _, name := range args {
				d, err := topicExists(rctx, adm, name)
				if err != nil {
					return err
				}
				desc := topicDescription{
					Topic:       name,
					Internal:    d.IsInternal,
					Replication: d.Partitions.NumReplicas(),
					Configs:     map[string]string{},
				}
				if d.ID != (kadm.TopicID{}) {
					// Kafka prints topic IDs as URL-safe base64 without padding
					// (Uuid.toString); kadm uses standard base64.
					desc.ID = base64.RawURLEncoding.EncodeToString(d.ID[:])
				}
				cfgs, err := adm.DescribeTopicConfigs(rctx, name)
				if err != nil {
					return fmt.Errorf("describe configs of topic %s: %w", name, err)
				}
				for _, rc := range cfgs {
					if rc.Err != nil {
						return fmt.Errorf("describe configs of topic %s: %s", name, describeErr(rc.Err, rc.ErrMessage))
					}
					for _, c := range rc.Configs {
						if !allConfigs && c.Source == kmsg.ConfigSourceDefaultConfig {
							continue
						}
						desc.Configs[c.Key] = c.MaybeValue()
					}
				}
				starts, err := adm.ListStartOffsets(rctx, name)
				if err != nil {
					return fmt.Errorf("start offsets of topic %s: %w", name, err)
				}
				ends, err := adm.ListEndOffsets(rctx, name)
				if err != nil {
					return fmt.Errorf("end offsets of topic %s: %w", name, err)
				}
				for _, p := range sortedPartitions(d) {
					pd := d.Partitions[p]
					part := partitionDescription{
						Partition: p, Leader: pd.Leader, Replicas: pd.Replicas, ISR: pd.ISR,
						StartOffset: -1, EndOffset: -1,
					}
					if pd.Err != nil {
						part.Error = pd.Err.Error()
					}
					if o, ok := starts.Lookup(name, p); ok && o.Err == nil {
						part.StartOffset = o.Offset
					}
					if o, ok := ends.Lookup(name, p); ok && o.Err == nil {
						part.EndOffset = o.Offset
					}
					desc.Partitions = append(desc.Partitions, part)
				}
				descs = append(descs, desc)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return writeJSON(out, descs)
			}
			for i, d := range descs {
				if i > 0 {
					fmt.Fprintln(out)
				}
				if err := printTopicDescription(out, d); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&allConfigs, "all-configs", false, "also show configs left at their defaults")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printTopicDescription(w io.Writer, d topicDescription) error {
	fmt.Fprintf(w, "Topic: %s\tPartitions: %d\tReplicationFactor: %d", d.Topic, len(d.Partitions), d.Replication)
	if d.ID != "" {
		fmt.Fprintf(w, "\tID: %s", d.ID)
	}
	fmt.Fprintln(w)
	keys := make([]string, 0, len(d.Configs))
	for k := range d.Configs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > 0 {
		fmt.Fprintln(w, "Configs:")
		for _, k := range keys {
			fmt.Fprintf(w, "  %s=%s\n", k, d.Configs[k])
		}
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "PARTITION\tLEADER\tREPLICAS\tISR\tSTART-OFFSET\tEND-OFFSET")
	for _, p := range d.Partitions {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%d\t%d", p.Partition, p.Leader, joinInt32(p.Replicas), joinInt32(p.ISR), p.StartOffset, p.EndOffset)
		if p.Error != "" {
			fmt.Fprintf(tw, "\t%s", p.Error)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func joinInt32(xs []int32) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ",")
}

func topicAlterCmd(co *clientOptions) *cobra.Command {
	var (
		set        []string
		del        []string
		partitions int
	)
	cmd := &cobra.Command{
		Use:   "alter NAME",
		Short: "Change topic configs or add partitions",
		Example: `  sluice topic alter orders -c retention.ms=86400000
  sluice topic alter orders --delete-config retention.ms
  sluice topic alter orders -p 12`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			cfg, err := parseConfigs(set)
			if err != nil {
				return err
			}
			if len(cfg) == 0 && len(del) == 0 && partitions == 0 {
				return errors.New("nothing to alter: give -c key=value, --delete-config key or -p N")
			}
			ctx := cmd.Context()
			adm, err := co.admin(ctx)
			if err != nil {
				return err
			}
			defer adm.Close()
			rctx, cancel := co.withTimeout(ctx)
			defer cancel()
			d, err := topicExists(rctx, adm, name)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if partitions != 0 {
				if have := len(d.Partitions); partitions <= have {
					return fmt.Errorf("topic %s has %d partitions; -p can only raise the count", name, have)
				}
				resps, err := adm.UpdatePartitions(rctx, partitions, name)
				if err != nil {
					return fmt.Errorf("add partitions to topic %s: %w", name, err)
				}
				if r, ok := resps[name]; ok && r.Err != nil {
					return fmt.Errorf("add partitions to topic %s: %s", name, describeErr(r.Err, r.ErrMessage))
				}
				fmt.Fprintf(out, "topic %s now has %d partitions\n", name, partitions)
			}
			var alters []kadm.AlterConfig
			keys := make([]string, 0, len(cfg))
			for k := range cfg {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: cfg[k]})
			}
			for _, k := range del {
				alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
			}
			if len(alters) == 0 {
				return nil
			}
			resps, err := adm.AlterTopicConfigs(rctx, alters, name)
			if err != nil {
				return fmt.Errorf("alter configs of topic %s: %w", name, err)
			}
			for _, r := range resps {
				if r.Err != nil {
					return fmt.Errorf("alter configs of topic %s: %s", name, describeErr(r.Err, r.ErrMessage))
				}
			}
			fmt.Fprintf(out, "altered %d config(s) of topic %s\n", len(alters), name)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&set, "config", "c", nil, "set topic config key=value (repeatable)")
	f.StringArrayVar(&del, "delete-config", nil, "reset a topic config to its default (repeatable)")
	f.IntVarP(&partitions, "partitions", "p", 0, "raise the partition count to N")
	return cmd
}
