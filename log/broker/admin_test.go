package broker_test

import (
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTopicAdminSurvivesRestart: create (with configs), duplicate create,
// invalid names, add partitions, delete; names, ids, partition counts and
// configs come back after a restart.
func TestTopicAdminSurvivesRestart(t *testing.T) {
	b := startBroker(t)
	adm := newAdmin(t, b.Addr)
	createTopic(t, adm, "events", 2, map[string]*string{"retention.ms": ptr("3600000")})
	if resp, _ := adm.CreateTopic(testCtx(t), 1, 1, nil, "events"); !errors.Is(resp.Err, kerr.TopicAlreadyExists) {
		t.Fatalf("duplicate create: %v, want TOPIC_ALREADY_EXISTS", resp.Err)
	}
	if resp, _ := adm.CreateTopic(testCtx(t), 1, 1, nil, "bad/name"); !errors.Is(resp.Err, kerr.InvalidTopicException) {
		t.Fatalf("bad name: %v, want INVALID_TOPIC_EXCEPTION", resp.Err)
	}
	if resp, _ := adm.CreateTopic(testCtx(t), 1, 3, nil, "rf3"); !errors.Is(resp.Err, kerr.InvalidReplicationFactor) {
		t.Fatalf("replication factor 3: %v, want INVALID_REPLICATION_FACTOR", resp.Err)
	}
	if resp, _ := adm.CreateTopic(testCtx(t), 1, 1, map[string]*string{"retention.ms": ptr("soon")}, "badcfg"); !errors.Is(resp.Err, kerr.InvalidConfig) {
		t.Fatalf("bad config: %v, want INVALID_CONFIG", resp.Err)
	}
	createTopic(t, adm, "a.b", 1, nil)
	if resp, _ := adm.CreateTopic(testCtx(t), 1, 1, nil, "a_b"); !errors.Is(resp.Err, kerr.InvalidTopicException) {
		t.Fatalf("a_b next to a.b: %v, want INVALID_TOPIC_EXCEPTION (collision)", resp.Err)
	}
	createTopic(t, adm, "doomed", 1, nil)
	if _, err := adm.CreatePartitions(testCtx(t), 2, "events"); err != nil {
		t.Fatal(err)
	}
	if r, err := adm.DeleteTopics(testCtx(t), "doomed"); err != nil || r.Error() != nil {
		t.Fatalf("delete: %v %v", err, r.Error())
	}
	before, err := adm.ListTopics(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}

	b.Restart()
	after, err := adm.ListTopics(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if after.Has("doomed") || !after.Has("events") {
		t.Fatalf("topics after restart: %v", after.Names())
	}
	ev := after["events"]
	if len(ev.Partitions) != 4 || ev.ID != before["events"].ID {
		t.Fatalf("events after restart: %d partitions, id %v (was %v)", len(ev.Partitions), ev.ID, before["events"].ID)
	}
	rc, err := adm.DescribeTopicConfigs(testCtx(t), "events")
	if err != nil {
		t.Fatal(err)
	}
	c, err := rc.On("events", nil)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, cfg := range c.Configs {
		if cfg.Key == "retention.ms" {
			found = cfg.MaybeValue() == "3600000" && cfg.Source == kmsg.ConfigSourceDynamicTopicConfig
		}
	}
	if !found {
		t.Fatal("retention.ms=3600000 (dynamic topic config) lost across restart")
	}
}

// TestAlterConfigsLive: incremental and full alters change configs, the
// broker applies them (max.message.bytes refuses a big batch), and they
// persist.
func TestAlterConfigsLive(t *testing.T) {
	b := startBroker(t)
	adm := newAdmin(t, b.Addr)
	createTopic(t, adm, "cfg", 1, nil)
	r, err := adm.AlterTopicConfigs(testCtx(t), []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "max.message.bytes", Value: ptr("2048")},
		{Op: kadm.SetConfig, Name: "cleanup.policy", Value: ptr("delete")},
		{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: ptr("compact")},
	}, "cfg")
	if err != nil || r[0].Err != nil {
		t.Fatalf("alter: %v %+v", err, r)
	}
	if r, _ := adm.AlterTopicConfigs(testCtx(t), []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "no.such.key", Value: ptr("1")}}, "cfg"); r[0].Err == nil {
		t.Fatal("unknown config key accepted")
	}
	p := newClient(t, b.Addr, kgo.DefaultProduceTopic("cfg"), kgo.RecordRetries(0), kgo.ProducerLinger(0))
	big := make([]byte, 8192)
	_, _ = rand.Read(big) // incompressible: the batch stays over the limit
	if err := p.ProduceSync(testCtx(t), &kgo.Record{Key: []byte("k"), Value: big}).FirstErr(); !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("8 KiB record with max.message.bytes=2048: %v, want MESSAGE_TOO_LARGE", err)
	}
	b.Restart()
	rc, err := adm.DescribeTopicConfigs(testCtx(t), "cfg")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range rc[0].Configs {
		got[c.Key] = c.MaybeValue()
	}
	if got["max.message.bytes"] != "2048" || got["cleanup.policy"] != "compact,delete" && got["cleanup.policy"] != "delete,compact" {
		t.Fatalf("after restart: max.message.bytes=%q cleanup.policy=%q", got["max.message.bytes"], got["cleanup.policy"])
	}
	// AlterConfigs (not incremental) replaces the whole set: what is not
	// named goes back to its default.
	if r, err := adm.AlterTopicConfigsState(testCtx(t), []kadm.AlterConfig{{Name: "retention.ms", Value: ptr("120000")}}, "cfg"); err != nil || r[0].Err != nil {
		t.Fatalf("alter configs state: %v %+v", err, r)
	}
	rc, err = adm.DescribeTopicConfigs(testCtx(t), "cfg")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rc[0].Configs {
		if c.Key == "max.message.bytes" && c.Source == kmsg.ConfigSourceDynamicTopicConfig ||
			c.Key == "retention.ms" && c.MaybeValue() != "120000" {
			t.Fatalf("after AlterConfigs: %s=%q (%v)", c.Key, c.MaybeValue(), c.Source)
		}
	}
	bc, err := adm.DescribeBrokerConfigs(testCtx(t))
	if err != nil || len(bc) != 1 || len(bc[0].Configs) == 0 {
		t.Fatalf("broker configs: %v %v", bc, err)
	}
}

// TestListOffsetsAndDeleteRecords covers earliest, latest, by timestamp,
// max timestamp, and DeleteRecords moving the log start.
func TestListOffsetsAndDeleteRecords(t *testing.T) {
	b := startBroker(t)
	adm := newAdmin(t, b.Addr)
	createTopic(t, adm, "lo", 1, nil)
	p := newClient(t, b.Addr, kgo.DefaultProduceTopic("lo"), kgo.ProducerLinger(0))
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i := 0; i < 10; i++ {
		r := &kgo.Record{Value: []byte{byte(i)}, Timestamp: base.Add(time.Duration(i) * time.Minute)}
		if err := p.ProduceSync(testCtx(t), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	start, err := adm.ListStartOffsets(testCtx(t), "lo")
	if err != nil {
		t.Fatal(err)
	}
	end, err := adm.ListEndOffsets(testCtx(t), "lo")
	if err != nil {
		t.Fatal(err)
	}
	byTime, err := adm.ListOffsetsAfterMilli(testCtx(t), base.Add(4*time.Minute+time.Second).UnixMilli(), "lo")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := start.Lookup("lo", 0)
	e, _ := end.Lookup("lo", 0)
	bt, _ := byTime.Lookup("lo", 0)
	if s.Offset != 0 || e.Offset != 10 || bt.Offset != 5 {
		t.Fatalf("start %d end %d after-4m %d; want 0 10 5", s.Offset, e.Offset, bt.Offset)
	}

	c := dialRaw(t, b.Addr)
	req := kmsg.NewPtrListOffsetsRequest()
	req.SetVersion(7)
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "lo"
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = -3 // max timestamp
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	mp := c.request(req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	if mp.ErrorCode != 0 || mp.Offset != 9 || mp.Timestamp != base.Add(9*time.Minute).UnixMilli() {
		t.Fatalf("max timestamp: %+v", mp)
	}

	del := kadm.Offsets{}
	del.AddOffset("lo", 0, 6, -1)
	dr, err := adm.DeleteRecords(testCtx(t), del)
	if err != nil || dr.Error() != nil {
		t.Fatalf("delete records: %v %v", err, dr.Error())
	}
	if lw, _ := dr.Lookup("lo", 0); lw.LowWatermark != 6 {
		t.Fatalf("low watermark %d, want 6", lw.LowWatermark)
	}
	b.Restart()
	start, err = adm.ListStartOffsets(testCtx(t), "lo")
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := start.Lookup("lo", 0); s.Offset != 6 {
		t.Fatalf("start offset after delete and restart %d, want 6", s.Offset)
	}
	cons := newClient(t, b.Addr, kgo.ConsumeTopics("lo"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	recs := consumeN(t, cons, 4)
	if recs[0].Offset != 6 || recs[0].Value[0] != 6 {
		t.Fatalf("first record after delete: offset %d value %v", recs[0].Offset, recs[0].Value)
	}
}

func fetchReq(sessionID, epoch int32, parts map[int32]int64) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.MaxWaitMillis = 0
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	req.SessionID, req.SessionEpoch = sessionID, epoch
	if len(parts) > 0 {
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "fs"
		for p, off := range parts {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, off, 1<<20
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	return req
}

// TestFetchSessions walks KIP-227: a full fetch opens a session, incremental
// fetches return only partitions with news, a wrong epoch and an unknown
// session are refused, and epoch -1 closes the session.
func TestFetchSessions(t *testing.T) {
	b := startBroker(t)
	adm := newAdmin(t, b.Addr)
	createTopic(t, adm, "fs", 2, nil)
	p := newClient(t, b.Addr, kgo.DefaultProduceTopic("fs"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceTo := func(part int32, v string) {
		if err := p.ProduceSync(testCtx(t), &kgo.Record{Partition: part, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produceTo(0, "a")
	c := dialRaw(t, b.Addr)
	full := c.request(fetchReq(0, 0, map[int32]int64{0: 0, 1: 0})).(*kmsg.FetchResponse)
	if full.ErrorCode != 0 || full.SessionID == 0 || len(full.Topics) != 1 || len(full.Topics[0].Partitions) != 2 {
		t.Fatalf("full fetch: %+v", full)
	}
	sid := full.SessionID

	// Nothing new: an incremental fetch (offset of partition 0 advanced)
	// returns no partitions at all.
	inc := c.request(fetchReq(sid, 1, map[int32]int64{0: 1})).(*kmsg.FetchResponse)
	if inc.ErrorCode != 0 || len(inc.Topics) != 0 {
		t.Fatalf("idle incremental fetch returned %+v", inc.Topics)
	}
	produceTo(1, "b")
	inc = c.request(fetchReq(sid, 2, nil)).(*kmsg.FetchResponse)
	if len(inc.Topics) != 1 || len(inc.Topics[0].Partitions) != 1 || inc.Topics[0].Partitions[0].Partition != 1 ||
		len(inc.Topics[0].Partitions[0].RecordBatches) == 0 {
		t.Fatalf("incremental fetch after producing to partition 1: %+v", inc.Topics)
	}
	if r := c.request(fetchReq(sid, 7, nil)).(*kmsg.FetchResponse); r.ErrorCode != kerr.InvalidFetchSessionEpoch.Code {
		t.Fatalf("wrong epoch: error %d", r.ErrorCode)
	}
	if r := c.request(fetchReq(sid, -1, map[int32]int64{0: 0})).(*kmsg.FetchResponse); r.ErrorCode != 0 || r.SessionID != 0 {
		t.Fatalf("closing session: %+v", r)
	}
	if r := c.request(fetchReq(sid, 3, nil)).(*kmsg.FetchResponse); r.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("closed session: error %d", r.ErrorCode)
	}
}

// TestDescribeLogDirs reports partition sizes that grow with produced data.
func TestDescribeLogDirs(t *testing.T) {
	b := startBroker(t)
	adm := newAdmin(t, b.Addr)
	createTopic(t, adm, "sized", 2, nil)
	p := newClient(t, b.Addr, kgo.DefaultProduceTopic("sized"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	v := make([]byte, 4096)
	_, _ = rand.Read(v) // incompressible
	if err := p.ProduceSync(testCtx(t), &kgo.Record{Partition: 1, Value: v}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	dirs, err := adm.DescribeAllLogDirs(testCtx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	var sizes [2]int64
	dirs.Each(func(d kadm.DescribedLogDir) {
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
			if p.Topic == "sized" {
				sizes[p.Partition] = p.Size
			}
		})
	})
	if sizes[0] != 0 || sizes[1] < 4096 {
		t.Fatalf("sizes %v: want partition 0 empty and partition 1 holding the 4 KiB record", sizes)
	}
}
