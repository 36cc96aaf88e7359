package broker_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestOldClientVersions speaks the versions older clients use: Metadata v0,
// Produce v2 with a v1 message set (refused politely, per partition),
// JoinGroup v0 (no rebalance timeout), SyncGroup v0, OffsetCommit v2,
// OffsetFetch v1 and ListGroups v0.
func TestOldClientVersions(t *testing.T) {
	b := startBroker(t)
	createTopic(t, newAdmin(t, b.Addr), "old", 1, nil)
	c := dialRaw(t, b.Addr)

	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(0)
	mr := c.request(md).(*kmsg.MetadataResponse)
	if len(mr.Brokers) != 1 || len(mr.Topics) < 1 {
		t.Fatalf("metadata v0: %+v", mr)
	}

	// A v1 message set: offset, size, crc, magic 1, ... The broker must
	// refuse it per partition, not drop the connection.
	msgSet := make([]byte, 40)
	msgSet[16] = 1
	pr := kmsg.NewPtrProduceRequest()
	pr.SetVersion(2)
	pr.Acks = 1
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "old"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = msgSet
	pt.Partitions = append(pt.Partitions, pp)
	pr.Topics = append(pr.Topics, pt)
	if code := c.request(pr).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.CorruptMessage.Code {
		t.Fatalf("produce v2 with magic 1: error %d, want CORRUPT_MESSAGE", code)
	}

	pr.Acks = 2
	pr.Topics[0].Partitions[0].Records = idempotentBatch(-1, -1, -1, "x")
	if code := c.request(pr).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.InvalidRequiredAcks.Code {
		t.Fatalf("acks=2: error %d, want INVALID_REQUIRED_ACKS", code)
	}

	jr := kmsg.NewPtrJoinGroupRequest()
	jr.SetVersion(0)
	jr.Group, jr.SessionTimeoutMillis, jr.ProtocolType = "oldg", 10000, "consumer"
	proto := kmsg.NewJoinGroupRequestProtocol()
	proto.Name, proto.Metadata = "range", []byte{0}
	jr.Protocols = append(jr.Protocols, proto)
	join := c.request(jr).(*kmsg.JoinGroupResponse)
	if join.ErrorCode != 0 || join.MemberID == "" || join.LeaderID != join.MemberID {
		t.Fatalf("join v0: %+v", join)
	}
	sr := kmsg.NewPtrSyncGroupRequest()
	sr.SetVersion(0)
	sr.Group, sr.Generation, sr.MemberID = "oldg", join.Generation, join.MemberID
	ga := kmsg.NewSyncGroupRequestGroupAssignment()
	ga.MemberID, ga.MemberAssignment = join.MemberID, []byte("a")
	sr.GroupAssignment = append(sr.GroupAssignment, ga)
	if s := c.request(sr).(*kmsg.SyncGroupResponse); s.ErrorCode != 0 || string(s.MemberAssignment) != "a" {
		t.Fatalf("sync v0: %+v", s)
	}

	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.SetVersion(2)
	oc.Group, oc.Generation, oc.MemberID = "oldg", join.Generation, join.MemberID
	ot := kmsg.NewOffsetCommitRequestTopic()
	ot.Topic = "old"
	op := kmsg.NewOffsetCommitRequestTopicPartition()
	op.Offset = 0
	ot.Partitions = append(ot.Partitions, op)
	oc.Topics = append(oc.Topics, ot)
	if code := c.request(oc).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("offset commit v2: %d", code)
	}
	of := kmsg.NewPtrOffsetFetchRequest()
	of.SetVersion(1)
	of.Group = "oldg"
	ft := kmsg.NewOffsetFetchRequestTopic()
	ft.Topic, ft.Partitions = "old", []int32{0}
	of.Topics = append(of.Topics, ft)
	if p := c.request(of).(*kmsg.OffsetFetchResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 || p.Offset != 0 {
		t.Fatalf("offset fetch v1: %+v", p)
	}
	lg := kmsg.NewPtrListGroupsRequest()
	lg.SetVersion(0)
	if r := c.request(lg).(*kmsg.ListGroupsResponse); len(r.Groups) != 1 || r.Groups[0].Group != "oldg" {
		t.Fatalf("list groups v0: %+v", r.Groups)
	}
}
