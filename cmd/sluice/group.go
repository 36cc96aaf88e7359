package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// The group commands mirror kafka-consumer-groups: list, describe (with
// lag), reset-offsets (dry run unless --execute) and delete.

func init() {
	var co clientOptions
	group := &cobra.Command{
		Use:   "group",
		Short: "List, describe, reset and delete consumer groups",
	}
	addClientFlags(group, &co)
	group.AddCommand(groupListCmd(&co), groupDescribeCmd(&co), groupResetCmd(&co), groupDeleteCmd(&co))
	root.AddCommand(group)
}

func groupListCmd(co *clientOptions) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List consumer groups",
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
			groups, err := adm.ListGroups(rctx)
			if err != nil {
				return fmt.Errorf("list groups: %w", err)
			}
			type row struct {
				Group        string `json:"group"`
				State        string `json:"state"`
				ProtocolType string `json:"protocol_type"`
			}
			rows := []row{}
			for _, g := range groups.Sorted() {
				rows = append(rows, row{g.Group, g.State, g.ProtocolType})
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return writeJSON(out, rows)
			}
			tw := newTable(out)
			fmt.Fprintln(tw, "GROUP\tSTATE\tPROTOCOL-TYPE")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Group, r.State, r.ProtocolType)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return cmd
}

// groupDescription is what `group describe --json` prints for one group.
type groupDescription struct {
	Group        string            `json:"group"`
	State        string            `json:"state"`
	Protocol     string            `json:"protocol"`
	ProtocolType string            `json:"protocol_type"`
	Members      []groupMember     `json:"members"`
	Offsets      []partitionOffset `json:"offsets"`
	TotalLag     int64             `json:"total_lag"`
}

type groupMember struct {
	MemberID   string   `json:"member_id"`
	InstanceID string   `json:"instance_id,omitempty"`
	ClientID   string   `json:"client_id"`
	Host       string   `json:"host"`
	Assigned   []string `json:"assigned"` // topic[partitions]
}

type partitionOffset struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed_offset"` // -1: none
	End       int64  `json:"log_end_offset"`
	Lag       int64  `json:"lag"` // -1: unknown
	MemberID  string `json:"member_id,omitempty"`
	Error     string `json:"error,omitempty"`
}

func groupDescribeCmd(co *clientOptions) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "describe GROUP...",
		Short: "Show a group's state, members, committed offsets and lag",
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
			lags, err := adm.Lag(rctx, args...)
			if err != nil {
				return fmt.Errorf("describe groups: %w", err)
			}
			var descs []groupDescription
			for _, name := range args {
				l, ok := lags[name]
				if !ok {
					return fmt.Errorf("group %s: no answer from the cluster", name)
				}
				if errors.Is(l.DescribeErr, kerr.GroupIDNotFound) || (l.DescribeErr == nil && l.State == "Dead") {
					return fmt.Errorf("group %s does not exist", name)
				}
				if l.DescribeErr != nil {
					return fmt.Errorf("describe group %s: %w", name, l.DescribeErr)
				}
				if l.FetchErr != nil {
					return fmt.Errorf("committed offsets of group %s: %w", name, l.FetchErr)
				}
				descs = append(descs, describeGroupLag(l))
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return writeJSON(out, descs)
			}
			for i, d := range descs {
				if i > 0 {
					fmt.Fprintln(out)
				}
				if err := printGroupDescription(out, d); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func describeGroupLag(l kadm.DescribedGroupLag) groupDescription {
	d := groupDescription{
		Group: l.Group, State: l.State, Protocol: l.Protocol, ProtocolType: l.ProtocolType,
		Members: []groupMember{}, Offsets: []partitionOffset{},
	}
	for _, m := range l.Members {
		gm := groupMember{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, Assigned: []string{}}
		if m.InstanceID != nil {
			gm.InstanceID = *m.InstanceID
		}
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range a.Topics {
				gm.Assigned = append(gm.Assigned, fmt.Sprintf("%s%v", t.Topic, t.Partitions))
			}
		}
		d.Members = append(d.Members, gm)
	}
	for _, ml := range l.Lag.Sorted() {
		po := partitionOffset{
			Topic: ml.Topic, Partition: ml.Partition,
			Committed: ml.Commit.At, End: ml.End.Offset, Lag: ml.Lag,
		}
		if ml.Member != nil {
			po.MemberID = ml.Member.MemberID
		}
		if ml.Err != nil {
			po.Error = ml.Err.Error()
		}
		if ml.Lag > 0 {
			d.TotalLag += ml.Lag
		}
		d.Offsets = append(d.Offsets, po)
	}
	return d
}

func printGroupDescription(w io.Writer, d groupDescription) error {
	fmt.Fprintf(w, "Group: %s\tState: %s\tMembers: %d", d.Group, d.State, len(d.Members))
	if d.Protocol != "" {
		fmt.Fprintf(w, "\tAssignor: %s", d.Protocol)
	}
	fmt.Fprintf(w, "\tTotalLag: %d\n", d.TotalLag)
	tw := newTable(w)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tCONSUMER-ID")
	for _, o := range d.Offsets {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s", o.Topic, o.Partition, dashIfNeg(o.Committed), dashIfNeg(o.End), dashIfNeg(o.Lag), dashIfEmpty(o.MemberID))
		if o.Error != "" {
			fmt.Fprintf(tw, "\t%s", o.Error)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(d.Members) > 0 {
		fmt.Fprintln(w)
		tw = newTable(w)
		fmt.Fprintln(tw, "CONSUMER-ID\tCLIENT-ID\tHOST\tASSIGNMENT")
		for _, m := range d.Members {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.MemberID, m.ClientID, m.Host, strings.Join(m.Assigned, " "))
		}
		return tw.Flush()
	}
	return nil
}

func dashIfNeg(n int64) string {
	if n < 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func groupDeleteCmd(co *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "delete GROUP...",
		Short: "Delete inactive consumer groups and their committed offsets",
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
			resps, err := adm.DeleteGroups(rctx, args...)
			if err != nil {
				return fmt.Errorf("delete groups: %w", err)
			}
			var failed []string
			for _, name := range args {
				r, ok := resps[name]
				switch {
				case !ok:
					failed = append(failed, fmt.Sprintf("group %s: no answer from the cluster", name))
				case errors.Is(r.Err, kerr.GroupIDNotFound):
					failed = append(failed, fmt.Sprintf("group %s does not exist", name))
				case errors.Is(r.Err, kerr.NonEmptyGroup):
					failed = append(failed, fmt.Sprintf("group %s still has active members; stop them first", name))
				case r.Err != nil:
					failed = append(failed, fmt.Sprintf("delete group %s: %s", name, describeErr(r.Err, r.ErrMessage)))
				default:
					fmt.Fprintf(cmd.OutOrStdout(), "deleted group %s\n", name)
				}
			}
			if len(failed) > 0 {
				return errors.New(strings.Join(failed, "; "))
			}
			return nil
		},
	}
}
