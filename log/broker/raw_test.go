package broker_test

import (
	"encoding/binary"
	"hash/crc32"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawConn speaks the protocol by hand (through kmsg) so tests can send
// exactly the bytes they want.
type rawConn struct {
	t    *testing.T
	nc   net.Conn
	corr int32
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc}
}

// request sends req at its set version and decodes the response.
func (c *rawConn) request(req kmsg.Request) kmsg.Response {
	c.t.Helper()
	c.corr++
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw-test"))
	if _, err := c.nc.Write(f.AppendRequest(nil, req, c.corr)); err != nil {
		c.t.Fatal(err)
	}
	body := c.readFrame()
	if got := int32(binary.BigEndian.Uint32(body)); got != c.corr {
		c.t.Fatalf("correlation id %d, want %d", got, c.corr)
	}
	body = body[4:]
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != 18 {
		body = body[1:] // empty tagged fields of response header v1
	}
	if err := resp.ReadFrom(body); err != nil {
		c.t.Fatalf("decoding %s response: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp
}

func (c *rawConn) readFrame() []byte {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		c.t.Fatalf("reading response: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c.nc, body); err != nil {
		c.t.Fatalf("reading response: %v", err)
	}
	return body
}

// expectClosed asserts the broker closes the connection.
func (c *rawConn) expectClosed() {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	if _, err := c.nc.Read(b[:]); err == nil {
		c.t.Fatal("connection still open; the broker should have closed it")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		c.t.Fatal("connection still open after 10s; the broker should have closed it")
	}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// idempotentBatch builds an uncompressed RecordBatch v2 from a producer.
func idempotentBatch(pid int64, epoch int16, seq int32, values ...string) []byte {
	var recs []byte
	for i, v := range values {
		r := kmsg.Record{OffsetDelta: int32(i), Value: []byte(v)}
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		recs = r.AppendTo(recs)
	}
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(len(values) - 1),
		FirstTimestamp: now, MaxTimestamp: now, ProducerID: pid, ProducerEpoch: epoch,
		FirstSequence: seq, NumRecords: int32(len(values)), Records: recs,
	}
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[21:], castagnoli))
	return out
}

func produceRaw(c *rawConn, topic string, batch []byte) kmsg.ProduceResponseTopicPartition {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = append([]byte(nil), batch...)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return c.request(req).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
}

func initProducerID(c *rawConn) (int64, int16) {
	req := kmsg.NewPtrInitProducerIDRequest()
	req.SetVersion(4)
	req.ProducerID, req.ProducerEpoch = -1, -1
	resp := c.request(req).(*kmsg.InitProducerIDResponse)
	if resp.ErrorCode != 0 {
		c.t.Fatalf("InitProducerId: error %d", resp.ErrorCode)
	}
	return resp.ProducerID, resp.ProducerEpoch
}

// TestIdempotentDedupeAcrossRestart: a retried batch is acknowledged with its
// original offset and not written twice, also after the broker was killed
// with SIGKILL; a sequence gap is refused; producer ids are never reused.
func TestIdempotentDedupeAcrossRestart(t *testing.T) {
	b := startBroker(t)
	adm := newAdmin(t, b.Addr)
	createTopic(t, adm, "idem", 1, nil)
	c := dialRaw(t, b.Addr)
	pid, epoch := initProducerID(c)

	b0 := idempotentBatch(pid, epoch, 0, "a", "b")
	b1 := idempotentBatch(pid, epoch, 2, "c")
	if r := produceRaw(c, "idem", b0); r.ErrorCode != 0 || r.BaseOffset != 0 {
		t.Fatalf("first batch: %+v", r)
	}
	if r := produceRaw(c, "idem", b1); r.ErrorCode != 0 || r.BaseOffset != 2 {
		t.Fatalf("second batch: %+v", r)
	}
	if r := produceRaw(c, "idem", b0); r.ErrorCode != 0 || r.BaseOffset != 0 {
		t.Fatalf("retry of first batch: %+v (want the original offset 0)", r)
	}

	b.Kill()
	b.StartAgain()
	c = dialRaw(t, b.Addr)
	if r := produceRaw(c, "idem", b1); r.ErrorCode != 0 || r.BaseOffset != 2 {
		t.Fatalf("retry after SIGKILL restart: %+v (want the original offset 2)", r)
	}
	gap := idempotentBatch(pid, epoch, 10, "gap")
	if r := produceRaw(c, "idem", gap); r.ErrorCode != 45 { // OUT_OF_ORDER_SEQUENCE_NUMBER
		t.Fatalf("sequence gap: error %d, want 45", r.ErrorCode)
	}
	ends, err := adm.ListEndOffsets(testCtx(t), "idem")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup("idem", 0); o.Offset != 3 {
		t.Fatalf("log end offset %d, want 3 (no duplicates written)", o.Offset)
	}
	if pid2, _ := initProducerID(c); pid2 == pid {
		t.Fatalf("producer id %d handed out again after restart", pid)
	}

	// DescribeProducers shows the producer and its last sequence.
	dp := kmsg.NewPtrDescribeProducersRequest()
	dt := kmsg.NewDescribeProducersRequestTopic()
	dt.Topic, dt.Partitions = "idem", []int32{0}
	dp.Topics = append(dp.Topics, dt)
	prods := c.request(dp).(*kmsg.DescribeProducersResponse).Topics[0].Partitions[0].ActiveProducers
	if len(prods) != 1 || prods[0].ProducerID != pid || prods[0].LastSequence != 2 {
		t.Fatalf("describe producers: %+v", prods)
	}

	// And franz-go's idempotent producer works end to end.
	p := newClient(t, b.Addr, kgo.DefaultProduceTopic("idem"))
	if err := p.ProduceSync(testCtx(t), &kgo.Record{Value: []byte("kgo")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// TestBadFramesCloseOnlyThatConnection: oversized, malformed and unknown
// requests close their own connection; a client on another connection, and
// even a pipelined request before the bad one, are unaffected.
func TestBadFramesCloseOnlyThatConnection(t *testing.T) {
	b := startBroker(t, "--config", writeConfig(t, "socket.request.max.bytes=1048576\n"))
	adm := newAdmin(t, b.Addr)
	createTopic(t, adm, "safe", 1, nil)
	good := newClient(t, b.Addr, kgo.DefaultProduceTopic("safe"))
	if err := good.ProduceSync(testCtx(t), &kgo.Record{Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	cases := map[string][]byte{
		"2GiB length prefix":    {0x7f, 0xff, 0xff, 0xff},
		"over the 1MiB limit":   binary.BigEndian.AppendUint32(nil, 2<<20),
		"negative length":       {0xff, 0xff, 0xff, 0xfe},
		"unknown api key":       append(binary.BigEndian.AppendUint32(nil, 10), 0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0xff, 0xff),
		"unsupported version":   append(binary.BigEndian.AppendUint32(nil, 10), 0, 3, 0x7f, 0x00, 0, 0, 0, 1, 0xff, 0xff),
		"truncated body":        append(binary.BigEndian.AppendUint32(nil, 14), 0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0, 0, 0, 9),
		"header shorter than 8": append(binary.BigEndian.AppendUint32(nil, 4), 0, 3, 0, 1),
	}
	for name, frame := range cases {
		t.Run(name, func(t *testing.T) {
			c := dialRaw(t, b.Addr)
			// A valid pipelined request first: its response still arrives.
			req := kmsg.NewPtrApiVersionsRequest()
			req.SetVersion(0)
			f := kmsg.NewRequestFormatter()
			if _, err := c.nc.Write(append(f.AppendRequest(nil, req, 1), frame...)); err != nil {
				t.Fatal(err)
			}
			if body := c.readFrame(); binary.BigEndian.Uint32(body) != 1 {
				t.Fatal("pipelined ApiVersions response missing")
			}
			c.expectClosed()
		})
	}
	if err := good.ProduceSync(testCtx(t), &kgo.Record{Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatalf("other connection harmed: %v", err)
	}
	ends, err := adm.ListEndOffsets(testCtx(t), "safe")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup("safe", 0); o.Offset != 2 {
		t.Fatalf("end offset %d, want 2", o.Offset)
	}
	if out := b.Output(); !containsAll(out, "bad frame", "unsupported api version", "malformed request") {
		t.Fatalf("expected log lines for closed connections, got:\n%s", out)
	}
}

// TestApiVersionsTooNew: an ApiVersions version newer than supported gets a
// v0 UNSUPPORTED_VERSION answer listing the supported range (KIP-511).
func TestApiVersionsTooNew(t *testing.T) {
	b := startBroker(t)
	c := dialRaw(t, b.Addr)
	frame := append(binary.BigEndian.AppendUint32(nil, 11), 0, 18, 0, 99, 0, 0, 0, 7, 0xff, 0xff, 0)
	if _, err := c.nc.Write(frame); err != nil {
		t.Fatal(err)
	}
	body := c.readFrame()
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	if err := resp.ReadFrom(body[4:]); err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != 35 || len(resp.ApiKeys) == 0 {
		t.Fatalf("got error %d with %d keys, want 35 and the key list", resp.ErrorCode, len(resp.ApiKeys))
	}
}

// TestPipeliningWhileLongPolling: on ONE connection, a long-poll Fetch is
// followed by a Produce to the partition it waits on. The broker must read
// and run the Produce while the Fetch is parked (else the Fetch would time
// out empty), and must still answer in request order.
func TestPipeliningWhileLongPolling(t *testing.T) {
	b := startBroker(t)
	createTopic(t, newAdmin(t, b.Addr), "pipe", 1, nil)
	pipeliningBody(t, dialRaw(t, b.Addr))
}

func pipeliningBody(t *testing.T, c *rawConn) {
	f := kmsg.NewRequestFormatter()

	fetch := kmsg.NewPtrFetchRequest()
	fetch.SetVersion(11)
	fetch.MaxWaitMillis, fetch.MinBytes, fetch.MaxBytes = 20000, 1, 1<<20
	fetch.SessionEpoch = -1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "pipe"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)

	prod := kmsg.NewPtrProduceRequest()
	prod.SetVersion(9)
	prod.Acks, prod.TimeoutMillis = 1, 5000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "pipe"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = idempotentBatch(-1, -1, -1, "hello")
	pt.Partitions = append(pt.Partitions, pp)
	prod.Topics = append(prod.Topics, pt)

	// AppendRequest sizes the frame from the start of dst: one call each.
	out := append(f.AppendRequest(nil, fetch, 1), f.AppendRequest(nil, prod, 2)...)
	start := time.Now()
	if _, err := c.nc.Write(out); err != nil {
		t.Fatal(err)
	}
	first := c.readFrame()
	second := c.readFrame()
	if binary.BigEndian.Uint32(first) != 1 || binary.BigEndian.Uint32(second) != 2 {
		t.Fatalf("responses out of order: %d then %d", binary.BigEndian.Uint32(first), binary.BigEndian.Uint32(second))
	}
	fr := kmsg.NewPtrFetchResponse()
	fr.SetVersion(11)
	if err := fr.ReadFrom(first[4:]); err != nil {
		t.Fatal(err)
	}
	pr := kmsg.NewPtrProduceResponse()
	pr.SetVersion(9)
	if err := pr.ReadFrom(second[5:]); err != nil { // v9 is flexible: one header tag byte
		t.Fatal(err)
	}
	if code := pr.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("produce failed: %d %v", code, pr.Topics[0].Partitions[0].ErrorMessage)
	}
	if len(fr.Topics) != 1 || len(fr.Topics[0].Partitions[0].RecordBatches) == 0 {
		t.Fatalf("the parked fetch returned no records after %v: the produce behind it was not processed", time.Since(start))
	}
}

// TestTransactionalBatchWithoutTransactionRefused: a transactional batch
// from a producer id that has no transactional id (an idempotent
// producer's) is refused with INVALID_PRODUCER_ID_MAPPING: nothing would
// ever commit it, and read_committed consumers would stall behind it.
func TestTransactionalBatchWithoutTransactionRefused(t *testing.T) {
	b := startBroker(t)
	createTopic(t, newAdmin(t, b.Addr), "tx", 1, nil)
	c := dialRaw(t, b.Addr)
	pid, epoch := initProducerID(c)
	batch := idempotentBatch(pid, epoch, 0, "t")
	binary.BigEndian.PutUint16(batch[21:], binary.BigEndian.Uint16(batch[21:])|0x10)
	binary.BigEndian.PutUint32(batch[17:], crc32.Checksum(batch[21:], castagnoli))
	if r := produceRaw(c, "tx", batch); r.ErrorCode != 49 { // INVALID_PRODUCER_ID_MAPPING
		t.Fatalf("transactional batch: error %d, want INVALID_PRODUCER_ID_MAPPING", r.ErrorCode)
	}
}
