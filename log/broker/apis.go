package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/log/wire"
)

const apiVersionsKey = 18

// apiSpec is one supported API: its version range and handler. async says
// whether a request may block (and so runs off the connection's reader).
type apiSpec struct {
	key      int16
	min, max int16
	handle   func(c *conn, h wire.Header, req kmsg.Request) (kmsg.Response, error)
	async    func(req kmsg.Request) bool
}

// apis lists what the broker serves. Ranges are what today's clients
// negotiate and what the handlers implement; notes on the quirks:
//   - Produce advertises v0 because librdkafka enables compression only when
//     it sees it; v0–v2 (old message formats) are refused per partition.
//   - Fetch starts at v4, the first version that carries RecordBatch v2.
//   - Versions that switch to topic ids (Produce v13, OffsetCommit/Fetch
//     v10) or to KIP-848/transactions-v2 semantics are not advertised:
//     transactions are KIP-98 with explicit AddPartitionsToTxn (v0–v3;
//     v4+ is broker-to-broker), EndTxn up to v4 and TxnOffsetCommit up
//     to v4 (v5 and Produce v12 mean KIP-890 part 2). WriteTxnMarkers is
//     not served: a single node writes markers straight into its logs.
var apis []apiSpec

var apiIndex [128]*apiSpec

func init() {
	always := func(kmsg.Request) bool { return true }
	apis = []apiSpec{
		{key: 0, min: 0, max: 11, handle: (*conn).handleProduce},
		{key: 1, min: 4, max: 16, handle: (*conn).handleFetch, async: func(r kmsg.Request) bool {
			return r.(*kmsg.FetchRequest).MaxWaitMillis > 0
		}},
		{key: 2, min: 1, max: 8, handle: (*conn).handleListOffsets},
		{key: 3, min: 0, max: 12, handle: (*conn).handleMetadata},
		{key: 8, min: 0, max: 9, handle: (*conn).handleOffsetCommit},
		{key: 9, min: 0, max: 8, handle: (*conn).handleOffsetFetch},
		{key: 10, min: 0, max: 4, handle: (*conn).handleFindCoordinator},
		{key: 11, min: 0, max: 9, handle: (*conn).handleJoinGroup, async: always},
		{key: 12, min: 0, max: 4, handle: (*conn).handleHeartbeat},
		{key: 13, min: 0, max: 5, handle: (*conn).handleLeaveGroup},
		{key: 14, min: 0, max: 5, handle: (*conn).handleSyncGroup, async: always},
		{key: 15, min: 0, max: 5, handle: (*conn).handleDescribeGroups},
		{key: 16, min: 0, max: 5, handle: (*conn).handleListGroups},
		{key: 18, min: 0, max: 4, handle: (*conn).handleApiVersions},
		{key: 19, min: 0, max: 7, handle: (*conn).handleCreateTopics},
		{key: 20, min: 0, max: 6, handle: (*conn).handleDeleteTopics},
		{key: 21, min: 0, max: 2, handle: (*conn).handleDeleteRecords},
		{key: 22, min: 0, max: 4, handle: (*conn).handleInitProducerID},
		{key: 23, min: 0, max: 4, handle: (*conn).handleOffsetForLeaderEpoch},
		{key: 24, min: 0, max: 3, handle: (*conn).handleAddPartitionsToTxn},
		{key: 25, min: 0, max: 3, handle: (*conn).handleAddOffsetsToTxn},
		{key: 26, min: 0, max: 4, handle: (*conn).handleEndTxn},
		{key: 28, min: 0, max: 4, handle: (*conn).handleTxnOffsetCommit},
		{key: 32, min: 0, max: 4, handle: (*conn).handleDescribeConfigs},
		{key: 33, min: 0, max: 2, handle: (*conn).handleAlterConfigs},
		{key: 35, min: 0, max: 4, handle: (*conn).handleDescribeLogDirs},
		{key: 37, min: 0, max: 3, handle: (*conn).handleCreatePartitions},
		{key: 42, min: 0, max: 2, handle: (*conn).handleDeleteGroups},
		{key: 44, min: 0, max: 1, handle: (*conn).handleIncrementalAlterConfigs},
		{key: 47, min: 0, max: 0, handle: (*conn).handleOffsetDelete},
		{key: 60, min: 0, max: 1, handle: (*conn).handleDescribeCluster},
		{key: 61, min: 0, max: 0, handle: (*conn).handleDescribeProducers},
		{key: 65, min: 0, max: 0, handle: (*conn).handleDescribeTransactions},
		{key: 66, min: 0, max: 1, handle: (*conn).handleListTransactions},
	}
	for i := range apis {
		a := &apis[i]
		if r := kmsg.RequestForKey(a.key); r == nil || r.MaxVersion() < a.max {
			panic("broker: api table exceeds kmsg: " + kmsg.NameForKey(a.key))
		}
		apiIndex[a.key] = a
	}
}

func apiFor(key int16) *apiSpec {
	if key < 0 || int(key) >= len(apiIndex) {
		return nil
	}
	return apiIndex[key]
}

func (b *Broker) apiVersionsResponse() *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	for _, a := range apis {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = a.key, a.min, a.max
		resp.ApiKeys = append(resp.ApiKeys, k)
	}
	return resp
}

func (c *conn) handleApiVersions(h wire.Header, _ kmsg.Request) (kmsg.Response, error) {
	resp := c.b.apiVersionsResponse()
	resp.SetVersion(h.Version)
	return resp, nil
}
