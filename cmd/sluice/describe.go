package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/pipelines/compile"
)

func init() {
	root.AddCommand(&cobra.Command{
		Use:   "describe FILE|DIR...",
		Short: "Show the topology a pipeline file compiles to",
		Long: `Lint pipeline files, compile them, and print for each pipeline its
application id, the topics it reads and writes, the connectors it starts, and
the engine topology it runs (sub-topologies, processors, internal topics and
state stores, in the format of Kafka Streams' TopologyDescription). Nothing is
started and no broker is needed.`,
		Example: `  sluice describe examples/iot/pipeline.yaml`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			set, err := loadClean(cmd, args)
			if err != nil {
				return err
			}
			for i, p := range set.Pipelines {
				c, err := compile.Compile(p, nil)
				if err != nil {
					return err
				}
				if i > 0 {
					fmt.Fprintln(cmd.OutOrStdout())
				}
				describeCompiled(cmd.OutOrStdout(), c)
			}
			return nil
		},
	})
}

func describeCompiled(w io.Writer, c *compile.Compiled) {
	p := c.Pipeline
	fmt.Fprintf(w, "Pipeline %s (%s)\n", p.Name, p.Pos)
	fmt.Fprintf(w, "  application id: %s (consumer group; prefix of internal topics)\n", c.AppID)
	fmt.Fprintf(w, "  guarantee:      %s\n", p.Guarantee)
	if p.DeadLetterTopic != "" {
		fmt.Fprintf(w, "  dead letters:   %s\n", p.DeadLetterTopic)
	}
	fmt.Fprintln(w, "  topics (created when missing):")
	for _, t := range c.Topics {
		extra := ""
		if t.Partitions > 0 {
			extra += fmt.Sprintf(" partitions=%d", t.Partitions)
		}
		if t.Compact {
			extra += " cleanup.policy=compact"
		}
		fmt.Fprintf(w, "    %s%s\n", t.Name, extra)
	}
	if len(c.Connectors) > 0 {
		fmt.Fprintln(w, "  connectors:")
		for _, k := range c.Connectors {
			keys := make([]string, 0, len(k.Config))
			for key := range k.Config {
				keys = append(keys, key)
			}
			sort.Strings(keys)
			var kv []string
			for _, key := range keys {
				v := k.Config[key]
				if strings.Contains(key, "password") {
					v = "[hidden]"
				}
				kv = append(kv, key+"="+v)
			}
			fmt.Fprintf(w, "    %s (%s): %s\n", k.Name, k.Kind, strings.Join(kv, " "))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, indent(c.Topology.Describe(), "  "))
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}
