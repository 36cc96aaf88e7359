package broker

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/log/wire"
)

var (
	fuzzOnce   sync.Once
	fuzzBroker *Broker
	fuzzDir    string
	fuzzErr    error
)

// TestMain closes and removes the shared fuzz broker after all tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if fuzzBroker != nil {
		fuzzBroker.Close()
	}
	if fuzzDir != "" {
		os.RemoveAll(fuzzDir)
	}
	os.Exit(code)
}

// fuzzConn returns a connection of a broker shared by all fuzz inputs; its
// context is cancelled so that blocking handlers (long-poll Fetch,
// JoinGroup, SyncGroup) return at once.
func fuzzConn(t testing.TB) *conn {
	fuzzOnce.Do(func() {
		dir, err := makeTempDir()
		if err != nil {
			fuzzErr = err
			return
		}
		fuzzDir = dir
		cfg := DefaultConfig()
		cfg.DataDir = dir
		cfg.MaxPartitionsPerTopic = 4
		cfg.OffsetsTopicPartitions = 1
		cfg.TxnStateTopicPartitions = 1
		fuzzBroker, fuzzErr = New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if fuzzErr == nil {
			fuzzBroker.ctx, fuzzBroker.cancel = context.WithCancel(context.Background())
		}
	})
	if fuzzErr != nil {
		t.Fatal(fuzzErr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return &conn{b: fuzzBroker, remote: "fuzz:1", ctx: ctx, cancel: cancel}
}

// FuzzHandlers decodes arbitrary frames and runs every supported request
// through its handler: whatever a client sends, a handler must answer or
// refuse, never panic.
func FuzzHandlers(f *testing.F) {
	fm := kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz"))
	for _, a := range apis {
		for _, v := range []int16{a.min, a.max} {
			req := kmsg.RequestForKey(a.key)
			req.SetVersion(v)
			if d, ok := req.(interface{ Default() }); ok {
				d.Default()
			}
			f.Add(fm.AppendRequest(nil, req, 1)[4:])
		}
	}
	// A few with content: a topic to create, produce and fetch.
	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.SetVersion(5)
	tt := kmsg.NewCreateTopicsRequestTopic()
	tt.Topic, tt.NumPartitions, tt.ReplicationFactor = "fz", 2, 1
	ct.Topics = append(ct.Topics, tt)
	f.Add(fm.AppendRequest(nil, ct, 2)[4:])
	pr := kmsg.NewPtrProduceRequest()
	pr.SetVersion(9)
	pr.Acks = 1
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "fz"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = make([]byte, 70)
	pp.Records[16] = 2
	pt.Partitions = append(pt.Partitions, pp)
	pr.Topics = append(pr.Topics, pt)
	f.Add(fm.AppendRequest(nil, pr, 3)[4:])
	// A transaction: init, add the partition, commit offsets, end.
	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.SetVersion(4)
	ip.TransactionalID, ip.TransactionTimeoutMillis = kmsg.StringPtr("fz-txn"), 60000
	f.Add(fm.AppendRequest(nil, ip, 4)[4:])
	ap := kmsg.NewPtrAddPartitionsToTxnRequest()
	ap.SetVersion(3)
	ap.TransactionalID, ap.ProducerID, ap.ProducerEpoch = "fz-txn", 0, 0
	at := kmsg.NewAddPartitionsToTxnRequestTopic()
	at.Topic, at.Partitions = "fz", []int32{0, 1}
	ap.Topics = append(ap.Topics, at)
	f.Add(fm.AppendRequest(nil, ap, 5)[4:])
	tc := kmsg.NewPtrTxnOffsetCommitRequest()
	tc.SetVersion(3)
	tc.TransactionalID, tc.Group, tc.Generation = "fz-txn", "fz-group", -1
	tt2 := kmsg.NewTxnOffsetCommitRequestTopic()
	tt2.Topic = "fz"
	tp2 := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	tp2.Offset = 1
	tt2.Partitions = append(tt2.Partitions, tp2)
	tc.Topics = append(tc.Topics, tt2)
	f.Add(fm.AppendRequest(nil, tc, 6)[4:])
	et := kmsg.NewPtrEndTxnRequest()
	et.SetVersion(3)
	et.TransactionalID, et.Commit = "fz-txn", true
	f.Add(fm.AppendRequest(nil, et, 7)[4:])

	// Open the shared broker now, outside the per-input hang timer: on a
	// busy disk its fsyncs can take seconds.
	fuzzConn(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		c := fuzzConn(t)
		h, body, err := wire.ParseHeader(frame)
		if err != nil {
			return
		}
		spec := apiFor(h.Key)
		if spec == nil || h.Version < spec.min || h.Version > spec.max {
			return
		}
		req, err := wire.DecodeBody(h, body)
		if err != nil {
			return
		}
		resp, err := spec.handle(c, h, req)
		if err == nil && resp != nil {
			resp.SetVersion(h.Version)
			_ = wire.AppendResponse(nil, h.CorrelationID, resp)
		}
	})
}
