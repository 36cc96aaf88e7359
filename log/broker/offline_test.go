package broker_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestUnopenablePartitionGoesOffline: a partition whose log cannot be opened
// at start (here: another process holds its lock) is reported offline and
// refuses reads and writes with KAFKA_STORAGE_ERROR, while the other
// partitions, and the broker, keep serving.
func TestUnopenablePartitionGoesOffline(t *testing.T) {
	b := startBroker(t)
	adm := newAdmin(t, b.Addr)
	createTopic(t, adm, "half", 2, nil)
	p := newClient(t, b.Addr, kgo.DefaultProduceTopic("half"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for part := int32(0); part < 2; part++ {
		if err := p.ProduceSync(testCtx(t), &kgo.Record{Partition: part, Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	b.Stop()
	lock, err := os.OpenFile(filepath.Join(b.DataDir, "half-1", ".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	b.StartAgain()

	c := dialRaw(t, b.Addr)
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(9)
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("half")
	md.Topics = append(md.Topics, mt)
	parts := c.request(md).(*kmsg.MetadataResponse).Topics[0].Partitions
	if parts[0].ErrorCode != 0 || parts[1].ErrorCode != kerr.LeaderNotAvailable.Code || parts[1].Leader != -1 {
		t.Fatalf("metadata: p0 %+v p1 %+v", parts[0], parts[1])
	}
	if r := produceRaw(c, "half", idempotentBatch(-1, -1, -1, "y")); r.ErrorCode != 0 {
		t.Fatalf("produce to healthy partition 0: %d", r.ErrorCode)
	}
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks = 1
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "half"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = 1
	rp.Records = idempotentBatch(-1, -1, -1, "z")
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	if code := c.request(req).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.KafkaStorageError.Code {
		t.Fatalf("produce to offline partition: %d, want KAFKA_STORAGE_ERROR", code)
	}
	if !containsAll(b.Output(), "partition offline") {
		t.Fatalf("no log line for the offline partition:\n%s", b.Output())
	}
}
