package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/log/wire"
)

// leaderEpoch is constant: a single node is always the leader, so the epoch
// never changes.
const leaderEpoch = 0

func (c *conn) handleMetadata(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.MetadataRequest)
	b := c.b
	resp := kmsg.NewPtrMetadataResponse()
	br := kmsg.NewMetadataResponseBroker()
	br.NodeID, br.Host, br.Port = b.cfg.NodeID, b.advertise.host, b.advertise.port
	if b.cfg.Rack != "" {
		br.Rack = strPtr(b.cfg.Rack)
	}
	resp.Brokers = []kmsg.MetadataResponseBroker{br}
	resp.ClusterID = strPtr(b.clusterID)
	resp.ControllerID = b.cfg.NodeID

	all := req.Topics == nil || (h.Version == 0 && len(req.Topics) == 0)
	if all {
		for _, t := range b.topics.list() {
			resp.Topics = append(resp.Topics, b.topicMetadata(t))
		}
		return resp, nil
	}
	autoCreate := b.cfg.AutoCreateTopics && (h.Version < 4 || req.AllowAutoTopicCreation)
	for _, rt := range req.Topics {
		var t *topic
		switch {
		case rt.Topic != nil:
			t = b.topics.get(*rt.Topic)
		case rt.TopicID != [16]byte{}:
			t = b.topics.getID(rt.TopicID)
		}
		if t == nil && rt.Topic != nil && autoCreate && *rt.Topic != offsetsTopic {
			var err error
			t, err = b.createTopic(*rt.Topic, b.cfg.DefaultPartitions, nil, false, false)
			if err != nil && errorCode(err) == kerr.TopicAlreadyExists.Code {
				t = b.topics.get(*rt.Topic)
			} else if err != nil {
				mt := kmsg.NewMetadataResponseTopic()
				mt.Topic = rt.Topic
				mt.ErrorCode = errorCode(err)
				resp.Topics = append(resp.Topics, mt)
				continue
			}
		}
		if t == nil {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic, mt.TopicID = rt.Topic, rt.TopicID
			mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			if rt.Topic == nil {
				mt.ErrorCode = kerr.UnknownTopicID.Code
			} else if validTopicName(*rt.Topic) != nil {
				mt.ErrorCode = kerr.InvalidTopicException.Code
			}
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, b.topicMetadata(t))
	}
	return resp, nil
}

func (b *Broker) topicMetadata(t *topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = strPtr(t.name)
	mt.TopicID = t.id
	mt.IsInternal = t.internal
	b.topics.mu.RLock()
	parts := t.parts
	b.topics.mu.RUnlock()
	node := []int32{b.cfg.NodeID}
	for i := range parts {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = int32(i)
		mp.Leader = b.cfg.NodeID
		mp.LeaderEpoch = leaderEpoch
		mp.Replicas, mp.ISR = node, node
		if parts[i].offline != nil {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
			mp.Leader, mp.ISR, mp.OfflineReplicas = -1, []int32{}, node
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

func (c *conn) handleCreateTopics(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.CreateTopicsRequest)
	b := c.b
	resp := kmsg.NewPtrCreateTopicsResponse()
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		err := func() error {
			if seen[rt.Topic] > 1 {
				return fmt.Errorf("%w: topic %q appears more than once in the request", errInvalidRequest, rt.Topic)
			}
			if rt.Topic == offsetsTopic {
				return fmt.Errorf("%w: %q is internal", errInvalidTopic, rt.Topic)
			}
			n := rt.NumPartitions
			if len(rt.ReplicaAssignment) > 0 {
				if n != -1 || rt.ReplicationFactor != -1 {
					return fmt.Errorf("%w: both replica assignment and partitions/replication factor given", errInvalidRequest)
				}
				for _, a := range rt.ReplicaAssignment {
					if len(a.Replicas) != 1 || a.Replicas[0] != b.cfg.NodeID {
						return fmt.Errorf("%w: partition %d assigned to brokers %v; this cluster has only broker %d", errInvalidReplicaAssignment, a.Partition, a.Replicas, b.cfg.NodeID)
					}
				}
				n = int32(len(rt.ReplicaAssignment))
			}
			if n == -1 {
				n = b.cfg.DefaultPartitions
			}
			if rt.ReplicationFactor != -1 && rt.ReplicationFactor != 1 && len(rt.ReplicaAssignment) == 0 {
				return fmt.Errorf("%w: replication factor %d is larger than the 1 available broker", errInvalidReplicationFactor, rt.ReplicationFactor)
			}
			configs := map[string]string{}
			for _, cfg := range rt.Configs {
				if cfg.Value != nil {
					configs[cfg.Name] = *cfg.Value
				}
			}
			t, err := b.createTopic(rt.Topic, n, configs, false, req.ValidateOnly)
			if err != nil {
				return err
			}
			st.TopicID = t.id
			st.NumPartitions, st.ReplicationFactor = n, 1
			st.Configs = b.createdConfigs(t)
			return nil
		}()
		if err != nil {
			st.ErrorCode = errorCode(err)
			st.ErrorMessage = errMessage(err)
			if st.ErrorCode == kerr.UnknownServerError.Code {
				b.log.Error("creating topic", "topic", rt.Topic, "err", err)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (c *conn) handleDeleteTopics(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.DeleteTopicsRequest)
	b := c.b
	resp := kmsg.NewPtrDeleteTopicsResponse()
	targets := req.Topics
	if h.Version < 6 {
		targets = nil
		for _, n := range req.TopicNames {
			dt := kmsg.NewDeleteTopicsRequestTopic()
			dt.Topic = strPtr(n)
			targets = append(targets, dt)
		}
	}
	for _, dt := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = dt.Topic, dt.TopicID
		var t *topic
		if dt.Topic != nil {
			t = b.topics.get(*dt.Topic)
		} else {
			t = b.topics.getID(dt.TopicID)
		}
		switch {
		case t == nil && dt.Topic == nil:
			st.ErrorCode = kerr.UnknownTopicID.Code
		case t == nil:
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
		case t.internal:
			st.ErrorCode = kerr.InvalidTopicException.Code
			st.ErrorMessage = strPtr("internal topics cannot be deleted")
		default:
			st.Topic, st.TopicID = strPtr(t.name), t.id
			if err := b.deleteTopic(t); err != nil {
				st.ErrorCode, st.ErrorMessage = errorCode(err), errMessage(err)
				b.log.Error("deleting topic", "topic", t.name, "err", err)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (c *conn) handleCreatePartitions(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.CreatePartitionsRequest)
	b := c.b
	resp := kmsg.NewPtrCreatePartitionsResponse()
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		t := b.topics.get(rt.Topic)
		var err error
		switch {
		case t == nil:
			err = fmt.Errorf("%w: %q", errUnknownTopic, rt.Topic)
		case t.internal:
			err = fmt.Errorf("%w: %q is internal", errInvalidTopic, rt.Topic)
		default:
			for _, a := range rt.Assignment {
				if len(a.Replicas) != 1 || a.Replicas[0] != b.cfg.NodeID {
					err = fmt.Errorf("%w: replicas %v; this cluster has only broker %d", errInvalidReplicaAssignment, a.Replicas, b.cfg.NodeID)
				}
			}
			if err == nil {
				err = b.addPartitions(t, rt.Count, req.ValidateOnly)
			}
		}
		if err != nil {
			st.ErrorCode, st.ErrorMessage = errorCode(err), errMessage(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (c *conn) handleFindCoordinator(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.FindCoordinatorRequest)
	b := c.b
	resp := kmsg.NewPtrFindCoordinatorResponse()
	answer := func(key string) (int16, *string) {
		switch req.CoordinatorType {
		case 0: // group
			if key == "" {
				return kerr.InvalidGroupID.Code, strPtr("empty group id")
			}
			return 0, nil
		case 1: // transaction
			if key == "" {
				return kerr.InvalidRequest.Code, strPtr("empty transactional id")
			}
			return 0, nil
		default:
			return kerr.InvalidRequest.Code, strPtr(fmt.Sprintf("unknown coordinator type %d", req.CoordinatorType))
		}
	}
	if h.Version < 4 {
		resp.ErrorCode, resp.ErrorMessage = answer(req.CoordinatorKey)
		resp.NodeID, resp.Host, resp.Port = b.cfg.NodeID, b.advertise.host, b.advertise.port
		if resp.ErrorCode != 0 {
			resp.NodeID, resp.Host, resp.Port = -1, "", -1
		}
		return resp, nil
	}
	for _, key := range req.CoordinatorKeys {
		rc := kmsg.NewFindCoordinatorResponseCoordinator()
		rc.Key = key
		rc.ErrorCode, rc.ErrorMessage = answer(key)
		rc.NodeID, rc.Host, rc.Port = b.cfg.NodeID, b.advertise.host, b.advertise.port
		if rc.ErrorCode != 0 {
			rc.NodeID, rc.Host, rc.Port = -1, "", -1
		}
		resp.Coordinators = append(resp.Coordinators, rc)
	}
	return resp, nil
}

func (c *conn) handleDescribeCluster(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.DescribeClusterRequest)
	b := c.b
	resp := kmsg.NewPtrDescribeClusterResponse()
	resp.EndpointType = req.EndpointType
	if req.EndpointType > 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		return resp, nil
	}
	resp.ClusterID = b.clusterID
	resp.ControllerID = b.cfg.NodeID
	br := kmsg.NewDescribeClusterResponseBroker()
	br.NodeID, br.Host, br.Port = b.cfg.NodeID, b.advertise.host, b.advertise.port
	if b.cfg.Rack != "" {
		br.Rack = strPtr(b.cfg.Rack)
	}
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{br}
	return resp, nil
}
