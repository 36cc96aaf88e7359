package operators

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"

	"github.com/sluicehq/sluice/engine/state"
)

// Foreign-key table joins, after Kafka Streams' KIP-213: each row of the
// left table names a row of the right table through a foreign key taken
// from its value. The two tables are partitioned differently, so the join
// runs across two internal topics:
//
//   - "<app-id>-<name>-subscription-registration", keyed by foreign key:
//     each left row subscribes to the right row it points at (and
//     unsubscribes from the one it pointed at before);
//   - "<app-id>-<name>-subscription-response", keyed by the left key: the
//     right side answers each subscription, and again whenever the right
//     row changes, with the right value and a hash of the left value it
//     answered, so stale answers (the left row changed meanwhile) are
//     dropped.

const pFKJoin = "KTABLE-FK-JOIN"

// JoinForeignKey joins each row of left with the row of right whose key
// fk(left value) returns; rows with no match are absent (deleted). The
// result is recomputed when either row changes and materialized with
// resultSerde.
func JoinForeignKey[K, V, KO, VO, VR any](left Table[K, V], right Table[KO, VO], fk func(V) KO, joiner func(key K, l V, r VO) VR, resultSerde Serde[VR], opts ...Option) Table[K, VR] {
	return fkJoin(left, right, fk, false, func(k K, l V, r *VO) VR { return joiner(k, l, *r) }, resultSerde, opts)
}

// LeftJoinForeignKey keeps every left row; r is nil when the foreign key
// matches no right row.
func LeftJoinForeignKey[K, V, KO, VO, VR any](left Table[K, V], right Table[KO, VO], fk func(V) KO, joiner func(key K, l V, r *VO) VR, resultSerde Serde[VR], opts ...Option) Table[K, VR] {
	return fkJoin(left, right, fk, true, joiner, resultSerde, opts)
}

// fkSub is a subscription message: left key and the hash of its value.
type fkSub struct {
	unsub bool
	key   []byte
	hash  uint64
}

// fkResp is a response message: the right value (if any) for the left
// value with this hash.
type fkResp struct {
	hash uint64
	has  bool
	vo   []byte
}

type fkSubSerde struct{}

func (fkSubSerde) Serialize(dst []byte, s fkSub) ([]byte, error) {
	op := byte('S')
	if s.unsub {
		op = 'U'
	}
	dst = append(dst, op)
	dst = binary.BigEndian.AppendUint64(dst, s.hash)
	return append(dst, s.key...), nil
}

func (fkSubSerde) Deserialize(b []byte) (fkSub, error) {
	if len(b) < 9 || (b[0] != 'S' && b[0] != 'U') {
		return fkSub{}, fmt.Errorf("%w: bad foreign-key subscription (%d bytes)", ErrSerde, len(b))
	}
	return fkSub{unsub: b[0] == 'U', hash: binary.BigEndian.Uint64(b[1:9]), key: append([]byte(nil), b[9:]...)}, nil
}

type fkRespSerde struct{}

func (fkRespSerde) Serialize(dst []byte, r fkResp) ([]byte, error) {
	op := byte('N')
	if r.has {
		op = 'V'
	}
	dst = append(dst, op)
	dst = binary.BigEndian.AppendUint64(dst, r.hash)
	return append(dst, r.vo...), nil
}

func (fkRespSerde) Deserialize(b []byte) (fkResp, error) {
	if len(b) < 9 || (b[0] != 'V' && b[0] != 'N') {
		return fkResp{}, fmt.Errorf("%w: bad foreign-key response (%d bytes)", ErrSerde, len(b))
	}
	return fkResp{has: b[0] == 'V', hash: binary.BigEndian.Uint64(b[1:9]), vo: append([]byte(nil), b[9:]...)}, nil
}

// rawStoreDef is a store used as raw bytes (for prefix scans).
type rawStoreDef struct {
	name string
	opts storeOpts
}

func (d *rawStoreDef) Name() string { return d.name }
func (d *rawStoreDef) spec() state.Spec {
	return state.Spec{Name: d.name, InMemory: d.opts.inMemory, Logged: !d.opts.noLog}
}
func (d *rawStoreDef) open(_ *Task, raw state.KeyValueStore) (any, error) { return raw, nil }

func hashValue(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// subKey is the subscription store key: the foreign key, length-prefixed,
// then the left key.
func subKey(dst, ko, k []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ko)))
	return append(append(dst, ko...), k...)
}

func fkJoin[K, V, KO, VO, VR any](left Table[K, V], right Table[KO, VO], fk func(V) KO, leftJoin bool, joiner func(K, V, *VO) VR, rs Serde[VR], opts []Option) Table[K, VR] {
	b := left.b
	o := collect(opts)
	name := nameOr(o, pFKJoin, b)
	if right.b != b || left.store == "" || right.store == "" {
		b.errorf("%s: both tables must come from the same builder and be key-value tables", name)
		return Table[K, VR]{b: b, n: left.n}
	}
	if left.ks == nil || left.vs == nil || right.ks == nil || right.vs == nil || rs == nil {
		b.errorf("%s: both tables need key and value serdes, and a result serde is required", name)
		return Table[K, VR]{b: b, n: left.n}
	}
	so := storeOptsOf(o)
	prevStore := name + "-fk-prev-STORE"
	subStore := name + "-subscription-STORE"
	b.AddStore(NewKeyValueStore(prevStore, left.ks, Bytes, o.storeOpts...))
	b.AddStore(&rawStoreDef{name: subStore, opts: so})
	subTopic := name + "-subscription-registration"
	respTopic := name + "-subscription-response"

	// Left side: subscribe to the foreign key of each row.
	subNode := b.newNode(pFKJoin+"-SUBSCRIBE", name+"-subscribe", kindProcessor, left.n)
	b.connectStore(subNode, prevStore)
	subSink := sinkNode(Stream[KO, fkSub]{b: b, n: subNode, ks: right.ks, vs: fkSubSerde{}}, subTopic, true, opOpts{name: name + "-subscription-sink"})
	// Right side: keep subscriptions, answer them and every change of the row.
	subSrc := b.source(name+"-subscription-source", "", subTopic, true)
	subSrc.build = sourceBuild[KO, fkSub](subSrc, right.ks, fkSubSerde{}, nil, false)
	regNode := b.newNode(pFKJoin+"-REGISTER", name+"-register", kindProcessor, subSrc)
	b.connectStore(regNode, subStore)
	b.connectStore(regNode, right.store)
	rightNode := b.newNode(pFKJoin+"-RIGHT", name+"-right", kindProcessor, right.n)
	b.connectStore(rightNode, subStore)
	respMerge := b.newNode(pJoinMerge, name+"-responses", kindProcessor, regNode, rightNode)
	respMerge.build = func(tk *Task) (any, error) { return fanout[K, fkResp](tk, respMerge) }
	sinkNode(Stream[K, fkResp]{b: b, n: respMerge, ks: left.ks, vs: fkRespSerde{}}, respTopic, true, opOpts{name: name + "-response-sink"})
	// Left side again: join each fresh answer with the current left row.
	respSrc := b.source(name+"-response-source", "", respTopic, true)
	respSrc.build = sourceBuild[K, fkResp](respSrc, left.ks, fkRespSerde{}, nil, false)
	respNode := b.newNode(pFKJoin+"-RESOLVE", name+"-resolve", kindProcessor, respSrc)
	b.connectStore(respNode, left.store)
	result := b.newNode(pJoinMerge, name, kindProcessor, respNode, subNode)
	result.build = func(tk *Task) (any, error) { return fanout[K, VR](tk, result) }

	b.copart = append(b.copart, upstreamSources(right.n, []*node{subSrc}), upstreamSources(left.n, []*node{respSrc}))

	subNode.build = func(tk *Task) (any, error) {
		subs, err := receiverOf[KO, fkSub](tk, subSink)
		if err != nil {
			return nil, err
		}
		out, err := receiverOf[K, VR](tk, result)
		if err != nil {
			return nil, err
		}
		prev, err := storeFrom[*cachedKV[K, []byte]](tk, prevStore)
		if err != nil {
			return nil, err
		}
		var kb, vb, fkb []byte
		return recvFunc[K, V](func(r Record[K, V]) {
			var err error
			if kb, err = left.ks.Serialize(kb[:0], r.Key); err != nil {
				tk.fail(err)
				return
			}
			old, hadOld, err := prev.Get(r.Key)
			if err != nil {
				tk.fail(err)
				return
			}
			var newFK KO
			var hash uint64
			if !r.Tombstone {
				newFK = fk(r.Value)
				if fkb, err = right.ks.Serialize(fkb[:0], newFK); err != nil {
					tk.fail(fmt.Errorf("%s: foreign key: %w", name, err))
					return
				}
				if vb, err = left.vs.Serialize(vb[:0], r.Value); err != nil {
					tk.fail(err)
					return
				}
				hash = hashValue(vb)
			}
			key := append([]byte(nil), kb...)
			if hadOld && (r.Tombstone || !bytes.Equal(old, fkb)) {
				oldFK, err := right.ks.Deserialize(old)
				if err != nil {
					tk.fail(err)
					return
				}
				subs.process(Record[KO, fkSub]{Key: oldFK, Value: fkSub{unsub: true, key: key}, Timestamp: r.Timestamp})
			}
			if r.Tombstone {
				tk.fail(prev.Delete(r.Key))
				out.process(Record[K, VR]{Key: r.Key, Timestamp: r.Timestamp, Tombstone: true})
				return
			}
			tk.fail(prev.Put(r.Key, append([]byte(nil), fkb...)))
			subs.process(Record[KO, fkSub]{Key: newFK, Value: fkSub{key: key, hash: hash}, Timestamp: r.Timestamp})
		}), nil
	}
	regNode.build = func(tk *Task) (any, error) {
		out, err := receiverOf[K, fkResp](tk, respMerge)
		if err != nil {
			return nil, err
		}
		raw, err := storeFrom[state.KeyValueStore](tk, subStore)
		if err != nil {
			return nil, err
		}
		rt, err := storeFrom[*cachedKV[KO, VO]](tk, right.store)
		if err != nil {
			return nil, err
		}
		var kob, sk, vob []byte
		return recvFunc[KO, fkSub](func(r Record[KO, fkSub]) {
			var err error
			if kob, err = right.ks.Serialize(kob[:0], r.Key); err != nil {
				tk.fail(err)
				return
			}
			sk = subKey(sk[:0], kob, r.Value.key)
			if r.Value.unsub {
				tk.fail(raw.Delete(sk))
				return
			}
			if err := raw.Put(sk, binary.BigEndian.AppendUint64(nil, r.Value.hash)); err != nil {
				tk.fail(err)
				return
			}
			k, err := left.ks.Deserialize(r.Value.key)
			if err != nil {
				tk.fail(err)
				return
			}
			vo, ok, err := rt.Get(r.Key)
			if err != nil {
				tk.fail(err)
				return
			}
			resp := fkResp{hash: r.Value.hash, has: ok}
			if ok {
				if vob, err = right.vs.Serialize(vob[:0], vo); err != nil {
					tk.fail(err)
					return
				}
				resp.vo = append([]byte(nil), vob...)
			}
			out.process(Record[K, fkResp]{Key: k, Value: resp, Timestamp: r.Timestamp})
		}), nil
	}
	rightNode.build = func(tk *Task) (any, error) {
		out, err := receiverOf[K, fkResp](tk, respMerge)
		if err != nil {
			return nil, err
		}
		raw, err := storeFrom[state.KeyValueStore](tk, subStore)
		if err != nil {
			return nil, err
		}
		var kob, vob, lo []byte
		return recvFunc[KO, VO](func(r Record[KO, VO]) {
			var err error
			if kob, err = right.ks.Serialize(kob[:0], r.Key); err != nil {
				tk.fail(err)
				return
			}
			resp := fkResp{has: !r.Tombstone}
			if !r.Tombstone {
				if vob, err = right.vs.Serialize(vob[:0], r.Value); err != nil {
					tk.fail(err)
					return
				}
				resp.vo = append([]byte(nil), vob...)
			}
			lo = subKey(lo[:0], kob, nil)
			hi := append(append([]byte(nil), lo...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
			type sub struct {
				k    []byte
				hash uint64
			}
			var subs []sub
			if err := raw.Range(lo, hi, func(key, val []byte) bool {
				if len(val) == 8 && bytes.HasPrefix(key, lo) {
					subs = append(subs, sub{append([]byte(nil), key[len(lo):]...), binary.BigEndian.Uint64(val)})
				}
				return true
			}); err != nil {
				tk.fail(err)
				return
			}
			for _, s := range subs {
				k, err := left.ks.Deserialize(s.k)
				if err != nil {
					tk.fail(err)
					return
				}
				rr := resp
				rr.hash = s.hash
				out.process(Record[K, fkResp]{Key: k, Value: rr, Timestamp: r.Timestamp})
			}
		}), nil
	}
	respNode.build = func(tk *Task) (any, error) {
		out, err := receiverOf[K, VR](tk, result)
		if err != nil {
			return nil, err
		}
		lt, err := storeFrom[*cachedKV[K, V]](tk, left.store)
		if err != nil {
			return nil, err
		}
		var vb []byte
		return recvFunc[K, fkResp](func(r Record[K, fkResp]) {
			v, ok, err := lt.Get(r.Key)
			if err != nil {
				tk.fail(err)
				return
			}
			if !ok {
				return // the left row is gone; its delete was emitted already
			}
			if vb, err = left.vs.Serialize(vb[:0], v); err != nil {
				tk.fail(err)
				return
			}
			if hashValue(vb) != r.Value.hash {
				return // answer to an older version of the left row
			}
			rec := Record[K, VR]{Key: r.Key, Timestamp: r.Timestamp}
			switch {
			case r.Value.has:
				vo, err := right.vs.Deserialize(r.Value.vo)
				if err != nil {
					tk.fail(err)
					return
				}
				rec.Value = joiner(r.Key, v, &vo)
			case leftJoin:
				rec.Value = joiner(r.Key, v, nil)
			default:
				rec.Tombstone = true
			}
			out.process(rec)
		}), nil
	}
	s := Stream[K, VR]{b: b, n: result, ks: left.ks, vs: rs}
	o.name = ""
	return materialize(s, pToTable, o)
}
