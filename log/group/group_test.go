package group

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/log/storage"
)

// storageLog adapts a real storage.Log (as the broker does) for the tests.
type storageLog struct{ l *storage.Log }

func (s storageLog) Append(batch []byte) error {
	_, err := s.l.Append(batch, storage.AppendOptions{Origin: storage.OriginCoordinator})
	if err == nil {
		s.l.SetHighWatermark(s.l.LogEndOffset())
	}
	return err
}

func (s storageLog) Scan(ctx context.Context, fn func([]byte) error) error {
	off, end := s.l.LogStartOffset(), s.l.LogEndOffset()
	for off < end {
		res, err := s.l.Read(off, 1<<20, end)
		if err != nil {
			return err
		}
		if len(res.Data) == 0 {
			return nil
		}
		if err := fn(res.Data); err != nil {
			return err
		}
		// Next offset after the last batch.
		d := res.Data
		for len(d) >= 61 {
			n := int(binary.BigEndian.Uint32(d[8:12]))
			off = int64(binary.BigEndian.Uint64(d)) + int64(int32(binary.BigEndian.Uint32(d[23:27]))) + 1
			d = d[12+n:]
		}
	}
	return nil
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openLogs(t *testing.T, dir string) []PartitionLog {
	t.Helper()
	cfg := storage.DefaultConfig()
	cfg.CleanupCompact = true
	var logs []PartitionLog
	for i := 0; i < 2; i++ {
		l, err := storage.Open(filepath.Join(dir, "__consumer_offsets-"+string(rune('0'+i))), cfg, storage.Options{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		logs = append(logs, storageLog{l})
	}
	return logs
}

func newCoordinator(t *testing.T, logs []PartitionLog) *Coordinator {
	t.Helper()
	cfg := DefaultConfig()
	cfg.MinSessionTimeout = 10 * time.Millisecond
	c := New(cfg, logs, quiet)
	if err := c.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func joinReq(group, member string, session time.Duration, instance *string) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.SetVersion(9)
	r.Group, r.MemberID, r.InstanceID = group, member, instance
	r.SessionTimeoutMillis = int32(session / time.Millisecond)
	r.RebalanceTimeoutMillis = 10000
	r.ProtocolType = "consumer"
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", []byte{0, 1}
	r.Protocols = append(r.Protocols, p)
	return r
}

// join does the KIP-394 dance and returns the final response.
func join(t *testing.T, c *Coordinator, group string, instance *string) *kmsg.JoinGroupResponse {
	t.Helper()
	ctx := context.Background()
	r := c.JoinGroup(ctx, joinReq(group, "", 30*time.Second, instance), "client", "/127.0.0.1")
	if instance != nil {
		return r
	}
	if r.ErrorCode != kerr.MemberIDRequired.Code || r.MemberID == "" {
		t.Fatalf("first join: error %d member %q, want MEMBER_ID_REQUIRED with an id", r.ErrorCode, r.MemberID)
	}
	return c.JoinGroup(ctx, joinReq(group, r.MemberID, 30*time.Second, nil), "client", "/127.0.0.1")
}

func syncGroup(c *Coordinator, group, member string, gen int32, assign map[string]string) *kmsg.SyncGroupResponse {
	r := kmsg.NewPtrSyncGroupRequest()
	r.SetVersion(5)
	r.Group, r.MemberID, r.Generation = group, member, gen
	for m, a := range assign {
		ga := kmsg.NewSyncGroupRequestGroupAssignment()
		ga.MemberID, ga.MemberAssignment = m, []byte(a)
		r.GroupAssignment = append(r.GroupAssignment, ga)
	}
	return c.SyncGroup(context.Background(), r)
}

func heartbeat(c *Coordinator, group, member string, gen int32) int16 {
	r := kmsg.NewPtrHeartbeatRequest()
	r.Group, r.MemberID, r.Generation = group, member, gen
	return c.Heartbeat(r).ErrorCode
}

func describe(c *Coordinator, group string) kmsg.DescribeGroupsResponseGroup {
	r := kmsg.NewPtrDescribeGroupsRequest()
	r.Groups = []string{group}
	return c.DescribeGroups(r).Groups[0]
}

func TestJoinSyncRebalance(t *testing.T) {
	c := newCoordinator(t, openLogs(t, t.TempDir()))
	a := join(t, c, "g", nil)
	if a.ErrorCode != 0 || a.Generation != 1 || a.LeaderID != a.MemberID || len(a.Members) != 1 {
		t.Fatalf("first member join: %+v", a)
	}
	if s := syncGroup(c, "g", a.MemberID, 1, map[string]string{a.MemberID: "all"}); s.ErrorCode != 0 || string(s.MemberAssignment) != "all" {
		t.Fatalf("leader sync: %+v", s)
	}
	if st := describe(c, "g").State; st != "Stable" {
		t.Fatalf("state %s after sync", st)
	}

	// A second member joins: it waits in the barrier until the first
	// learns of the rebalance (heartbeat) and rejoins.
	bDone := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { bDone <- join(t, c, "g", nil) }()
	for heartbeat(c, "g", a.MemberID, 1) != kerr.RebalanceInProgress.Code {
		time.Sleep(5 * time.Millisecond)
	}
	a2 := c.JoinGroup(context.Background(), joinReq("g", a.MemberID, 30*time.Second, nil), "client", "/127.0.0.1")
	b := <-bDone
	if a2.ErrorCode != 0 || b.ErrorCode != 0 || a2.Generation != 2 || b.Generation != 2 {
		t.Fatalf("rejoin: a %+v b %+v", a2, b)
	}
	if a2.LeaderID != a.MemberID || len(a2.Members) != 2 || len(b.Members) != 0 {
		t.Fatalf("leader must get both members, follower none: a %d b %d", len(a2.Members), len(b.Members))
	}
	if code := heartbeat(c, "g", a.MemberID, 1); code != kerr.IllegalGeneration.Code {
		t.Fatalf("heartbeat with old generation: %d", code)
	}
	// The follower's sync waits for the leader's assignments.
	bSync := make(chan *kmsg.SyncGroupResponse, 1)
	go func() { bSync <- syncGroup(c, "g", b.MemberID, 2, nil) }()
	sa := syncGroup(c, "g", a.MemberID, 2, map[string]string{a.MemberID: "p0", b.MemberID: "p1"})
	sb := <-bSync
	if string(sa.MemberAssignment) != "p0" || string(sb.MemberAssignment) != "p1" {
		t.Fatalf("assignments: %q %q", sa.MemberAssignment, sb.MemberAssignment)
	}

	// Leaving rebalances the rest.
	lr := kmsg.NewPtrLeaveGroupRequest()
	lr.SetVersion(3)
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.MemberID = b.MemberID
	lr.Group, lr.Members = "g", []kmsg.LeaveGroupRequestMember{lm}
	if r := c.LeaveGroup(lr); r.ErrorCode != 0 || r.Members[0].ErrorCode != 0 {
		t.Fatalf("leave: %+v", r)
	}
	if code := heartbeat(c, "g", a.MemberID, 2); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat after a leave: %d, want REBALANCE_IN_PROGRESS", code)
	}
	a3 := c.JoinGroup(context.Background(), joinReq("g", a.MemberID, 30*time.Second, nil), "client", "/127.0.0.1")
	if a3.Generation != 3 || len(a3.Members) != 1 {
		t.Fatalf("after leave: %+v", a3)
	}
	if code := heartbeat(c, "g", "nobody", 3); code != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member heartbeat: %d", code)
	}
}

func TestStaticMemberRejoinFencesOldID(t *testing.T) {
	c := newCoordinator(t, openLogs(t, t.TempDir()))
	inst := "pod-1"
	x := join(t, c, "s", &inst)
	if x.ErrorCode != 0 {
		t.Fatalf("static join: %+v", x)
	}
	syncGroup(c, "s", x.MemberID, x.Generation, map[string]string{x.MemberID: "mine"})
	// The instance restarts and rejoins without its member id: it gets a
	// new id and the old one is fenced.
	y := c.JoinGroup(context.Background(), joinReq("s", "", 30*time.Second, &inst), "client", "/127.0.0.1")
	if y.ErrorCode != 0 || y.MemberID == x.MemberID {
		t.Fatalf("static rejoin: %+v", y)
	}
	if code := heartbeat(c, "s", x.MemberID, y.Generation); code != kerr.UnknownMemberID.Code {
		t.Fatalf("old member id after static rejoin: %d, want UNKNOWN_MEMBER_ID", code)
	}
	wrong := c.JoinGroup(context.Background(), joinReq("s", x.MemberID, 30*time.Second, &inst), "client", "/127.0.0.1")
	if wrong.ErrorCode != kerr.FencedInstanceID.Code {
		t.Fatalf("join with a stale member id for the instance: %d, want FENCED_INSTANCE_ID", wrong.ErrorCode)
	}
	// The rejoin of a stable static member keeps the generation and its
	// assignment: no rebalance.
	if y.Generation != x.Generation || !y.SkipAssignment {
		t.Fatalf("static leader rejoin: generation %d (was %d), skip assignment %v", y.Generation, x.Generation, y.SkipAssignment)
	}
	if s := syncGroup(c, "s", y.MemberID, y.Generation, nil); s.ErrorCode != 0 || string(s.MemberAssignment) != "mine" {
		t.Fatalf("sync after static rejoin: %+v", s)
	}
	if d := describe(c, "s"); len(d.Members) != 1 || d.Members[0].InstanceID == nil || *d.Members[0].InstanceID != inst {
		t.Fatalf("group after static rejoin: %+v", d.Members)
	}
}

func TestSessionExpiryEmptiesGroup(t *testing.T) {
	c := newCoordinator(t, openLogs(t, t.TempDir()))
	ctx := context.Background()
	r := c.JoinGroup(ctx, joinReq("e", "", 50*time.Millisecond, nil), "client", "/127.0.0.1")
	r = c.JoinGroup(ctx, joinReq("e", r.MemberID, 50*time.Millisecond, nil), "client", "/127.0.0.1")
	syncGroup(c, "e", r.MemberID, r.Generation, map[string]string{r.MemberID: "x"})
	deadline := time.Now().Add(10 * time.Second)
	for describe(c, "e").State != "Dead" && describe(c, "e").State != "Empty" {
		if time.Now().After(deadline) {
			t.Fatalf("member never expired; state %s", describe(c, "e").State)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOffsetsPersistAndReload(t *testing.T) {
	dir := t.TempDir()
	logs := openLogs(t, dir)
	c := newCoordinator(t, logs)
	a := join(t, c, "p", nil)
	syncGroup(c, "p", a.MemberID, a.Generation, map[string]string{a.MemberID: "asg"})

	commit := func(member string, gen int32, off int64) int16 {
		r := kmsg.NewPtrOffsetCommitRequest()
		r.SetVersion(8)
		r.Group, r.MemberID, r.Generation = "p", member, gen
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.Metadata = 3, off, kmsg.StringPtr("meta")
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
		return c.OffsetCommit(r, nil).Topics[0].Partitions[0].ErrorCode
	}
	if code := commit(a.MemberID, a.Generation, 42); code != 0 {
		t.Fatalf("commit: %d", code)
	}
	if code := commit(a.MemberID, a.Generation+5, 43); code != kerr.IllegalGeneration.Code {
		t.Fatalf("commit with wrong generation: %d", code)
	}
	if code := commit("", -1, 44); code != kerr.IllegalGeneration.Code {
		t.Fatalf("simple commit to an active group: %d", code)
	}
	c.Close()

	// A new coordinator over the same logs sees the offset and the member.
	c2 := newCoordinator(t, logs)
	f := kmsg.NewPtrOffsetFetchRequest()
	f.SetVersion(8)
	g := kmsg.NewOffsetFetchRequestGroup()
	g.Group = "p"
	f.Groups = append(f.Groups, g)
	resp := c2.OffsetFetch(f)
	if len(resp.Groups) != 1 || len(resp.Groups[0].Topics) != 1 {
		t.Fatalf("offset fetch after reload: %+v", resp)
	}
	p := resp.Groups[0].Topics[0].Partitions[0]
	if p.Offset != 42 || p.Metadata == nil || *p.Metadata != "meta" {
		t.Fatalf("reloaded offset %+v", p)
	}
	d := describe(c2, "p")
	if d.State != "Stable" || len(d.Members) != 1 || string(d.Members[0].MemberAssignment) != "asg" {
		t.Fatalf("reloaded group: %+v", d)
	}
	if code := heartbeat(c2, "p", a.MemberID, a.Generation); code != 0 {
		t.Fatalf("heartbeat of a reloaded member: %d", code)
	}
}

// TestInitialRebalanceDelay: members that join an empty group within
// group.initial.rebalance.delay.ms land in one generation together.
func TestInitialRebalanceDelay(t *testing.T) {
	cfg := DefaultConfig()
	cfg.InitialRebalanceDelay = 2 * time.Second // generous: both joins must land inside it even on a loaded machine
	c := New(cfg, openLogs(t, t.TempDir()), quiet)
	if err := c.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ids := make([]string, 2)
	for i := range ids {
		r := c.JoinGroup(context.Background(), joinReq("d", "", 30*time.Second, nil), "client", "/127.0.0.1")
		ids[i] = r.MemberID
	}
	out := make(chan *kmsg.JoinGroupResponse, 2)
	for _, id := range ids {
		go func() {
			out <- c.JoinGroup(context.Background(), joinReq("d", id, 30*time.Second, nil), "client", "/127.0.0.1")
		}()
	}
	r1, r2 := <-out, <-out
	if r1.Generation != 1 || r2.Generation != 1 || len(r1.Members)+len(r2.Members) != 2 {
		t.Fatalf("joins: gen %d/%d members %d/%d; want one generation holding both", r1.Generation, r2.Generation, len(r1.Members), len(r2.Members))
	}
}

// TestOffsetsRetention: offsets of a group empty for longer than the
// retention are deleted, durably; active groups keep theirs.
func TestOffsetsRetention(t *testing.T) {
	logs := openLogs(t, t.TempDir())
	now := time.Now()
	cfg := DefaultConfig()
	cfg.MinSessionTimeout = 10 * time.Millisecond
	cfg.OffsetsRetention = time.Hour
	cfg.Now = func() time.Time { return now }
	c := New(cfg, logs, quiet)
	if err := c.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	commit := func(group string) {
		r := kmsg.NewPtrOffsetCommitRequest()
		r.SetVersion(8)
		r.Group, r.Generation = group, -1
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Offset = 5
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
		if code := c.OffsetCommit(r, nil).Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("commit: %d", code)
		}
	}
	commit("old")
	a := join(t, c, "active", nil)
	syncGroup(c, "active", a.MemberID, a.Generation, map[string]string{a.MemberID: "x"})
	now = now.Add(30 * time.Minute)
	if n := c.ExpireOffsets(); n != 0 {
		t.Fatalf("expired %d groups before the retention passed", n)
	}
	now = now.Add(31 * time.Minute)
	heartbeat(c, "active", a.MemberID, a.Generation)
	if n := c.ExpireOffsets(); n != 1 {
		t.Fatalf("expired %d groups, want 1 (old)", n)
	}
	c.Close()
	c2 := New(cfg, logs, quiet)
	if err := c2.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	lg := c2.ListGroups(kmsg.NewPtrListGroupsRequest())
	if len(lg.Groups) != 1 || lg.Groups[0].Group != "active" {
		t.Fatalf("groups after expiry and reload: %+v", lg.Groups)
	}
}

// TestLeaderThatNeverSyncsIsRemoved: a leader that joins but never sends
// SyncGroup is removed after the rebalance timeout, and the follower that
// did sync is sent back to rejoin instead of waiting forever.
func TestLeaderThatNeverSyncsIsRemoved(t *testing.T) {
	c := newCoordinator(t, openLogs(t, t.TempDir()))
	ctx := context.Background()
	req := func(id string) *kmsg.JoinGroupRequest {
		r := joinReq("w", id, 30*time.Second, nil)
		r.RebalanceTimeoutMillis = 300
		return r
	}
	a := c.JoinGroup(ctx, req(""), "client", "/127.0.0.1")
	a = c.JoinGroup(ctx, req(a.MemberID), "client", "/127.0.0.1")
	syncGroup(c, "w", a.MemberID, a.Generation, map[string]string{a.MemberID: "x"})
	bDone := make(chan *kmsg.JoinGroupResponse, 1)
	go func() {
		r := c.JoinGroup(ctx, req(""), "client", "/127.0.0.1")
		bDone <- c.JoinGroup(ctx, req(r.MemberID), "client", "/127.0.0.1")
	}()
	for heartbeat(c, "w", a.MemberID, a.Generation) != kerr.RebalanceInProgress.Code {
		time.Sleep(5 * time.Millisecond)
	}
	a2 := c.JoinGroup(ctx, req(a.MemberID), "client", "/127.0.0.1")
	b := <-bDone
	if b.ErrorCode != 0 || a2.LeaderID != a.MemberID {
		t.Fatalf("rejoin: a %+v b %+v", a2, b)
	}
	// The follower syncs; the leader never does.
	s := syncGroup(c, "w", b.MemberID, b.Generation, nil)
	if s.ErrorCode != kerr.RebalanceInProgress.Code {
		t.Fatalf("follower sync with a silent leader: error %d, want REBALANCE_IN_PROGRESS", s.ErrorCode)
	}
	if code := heartbeat(c, "w", a.MemberID, a2.Generation); code != kerr.UnknownMemberID.Code {
		t.Fatalf("silent leader still a member: heartbeat %d", code)
	}
}
