package operators

// JoinTable enriches each stream record with the table's current row for
// its key; records whose key is not in the table are dropped. Table updates
// produce no output. The stream is repartitioned first if re-keyed.
func JoinTable[K, V, VT, VR any](s Stream[K, V], t Table[K, VT], joiner func(key K, v V, row VT) VR, opts ...Option) Stream[K, VR] {
	return streamTableJoin(s, t, false, func(k K, v V, row *VT) VR { return joiner(k, v, *row) }, opts)
}

// LeftJoinTable is JoinTable that keeps records with no row, passing nil.
func LeftJoinTable[K, V, VT, VR any](s Stream[K, V], t Table[K, VT], joiner func(key K, v V, row *VT) VR, opts ...Option) Stream[K, VR] {
	return streamTableJoin(s, t, true, joiner, opts)
}

func streamTableJoin[K, V, VT, VR any](s Stream[K, V], t Table[K, VT], left bool, joiner func(K, V, *VT) VR, opts []Option) Stream[K, VR] {
	b := s.b
	o := collect(opts)
	name := nameOr(o, pJoinTable, b)
	if t.b != b || t.store == "" {
		b.errorf("%s: the table must come from the same builder and be a key-value table (windowed tables cannot be joined)", name)
		return Stream[K, VR]{b: b, n: s.n}
	}
	if s.rekeyed {
		s = repartition(s, name, opOpts{})
	}
	group := upstreamSources(s.n, nil)
	b.copart = append(b.copart, upstreamSources(t.n, group))
	n := b.newNode(pJoinTable, name, kindProcessor, s.n)
	b.connectStore(n, t.store)
	store := t.store
	n.build = func(tk *Task) (any, error) {
		out, err := fanout[K, VR](tk, n)
		if err != nil {
			return nil, err
		}
		kv, err := storeFrom[*cachedKV[K, VT]](tk, store)
		if err != nil {
			return nil, err
		}
		return recvFunc[K, V](func(r Record[K, V]) {
			if r.Tombstone {
				return
			}
			row, ok, err := kv.Get(r.Key)
			if err != nil {
				tk.fail(err)
				return
			}
			var p *VT
			if ok {
				p = &row
			} else if !left {
				return
			}
			out.process(Record[K, VR]{Key: r.Key, Value: joiner(r.Key, r.Value, p), Timestamp: r.Timestamp, Headers: r.Headers, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset})
		}), nil
	}
	return Stream[K, VR]{b: b, n: n, ks: s.ks}
}

// JoinTables joins two tables by key: the result has a row for each key in
// both, recomputed whenever either side changes; a key that leaves either
// side is deleted (a tombstone). resultSerde materializes the result.
func JoinTables[K, V1, V2, VR any](a Table[K, V1], b Table[K, V2], joiner func(key K, l V1, r V2) VR, resultSerde Serde[VR], opts ...Option) Table[K, VR] {
	return tableJoin(a, b, innerJoin, func(k K, l *V1, r *V2) VR { return joiner(k, *l, *r) }, resultSerde, opts)
}

// LeftJoinTables keeps every row of the left table; r is nil when the right
// table has no row for the key.
func LeftJoinTables[K, V1, V2, VR any](a Table[K, V1], b Table[K, V2], joiner func(key K, l V1, r *V2) VR, resultSerde Serde[VR], opts ...Option) Table[K, VR] {
	return tableJoin(a, b, leftJoin, func(k K, l *V1, r *V2) VR { return joiner(k, *l, r) }, resultSerde, opts)
}

// OuterJoinTables has a row for every key in either table.
func OuterJoinTables[K, V1, V2, VR any](a Table[K, V1], b Table[K, V2], joiner func(key K, l *V1, r *V2) VR, resultSerde Serde[VR], opts ...Option) Table[K, VR] {
	return tableJoin(a, b, outerJoin, joiner, resultSerde, opts)
}

func tableJoin[K, V1, V2, VR any](a Table[K, V1], bt Table[K, V2], kind joinKind, joiner func(K, *V1, *V2) VR, rs Serde[VR], opts []Option) Table[K, VR] {
	b := a.b
	o := collect(opts)
	name := nameOr(o, pTTJoin, b)
	if bt.b != b || a.store == "" || bt.store == "" {
		b.errorf("%s: both tables must come from the same builder and be key-value tables", name)
		return Table[K, VR]{b: b, n: a.n}
	}
	if rs == nil {
		b.errorf("%s: a result serde is required", name)
	}
	b.copart = append(b.copart, upstreamSources(bt.n, upstreamSources(a.n, nil)))
	ln := b.newNode(pTTJoin+"-LEFT", name+"-left", kindProcessor, a.n)
	rn := b.newNode(pTTJoin+"-RIGHT", name+"-right", kindProcessor, bt.n)
	mn := b.newNode(pJoinMerge, name, kindProcessor, ln, rn)
	b.connectStore(ln, bt.store)
	b.connectStore(rn, a.store)
	mn.build = func(tk *Task) (any, error) { return fanout[K, VR](tk, mn) }
	result := func(k K, l *V1, r *V2) (VR, bool) {
		var zero VR
		switch {
		case kind == innerJoin && (l == nil || r == nil):
			return zero, false
		case kind == leftJoin && l == nil:
			return zero, false
		case l == nil && r == nil:
			return zero, false
		}
		return joiner(k, l, r), true
	}
	emit := func(out receiver[K, VR], rec Record[K, VR], v VR, ok bool) {
		if ok {
			rec.Value = v
		} else {
			rec.Tombstone = true
		}
		out.process(rec)
	}
	ln.build = func(tk *Task) (any, error) {
		out, err := receiverOf[K, VR](tk, mn)
		if err != nil {
			return nil, err
		}
		other, err := storeFrom[*cachedKV[K, V2]](tk, bt.store)
		if err != nil {
			return nil, err
		}
		return recvFunc[K, V1](func(r Record[K, V1]) {
			ov, ok, err := other.Get(r.Key)
			if err != nil {
				tk.fail(err)
				return
			}
			var lp *V1
			var rp *V2
			if !r.Tombstone {
				lp = &r.Value
			}
			if ok {
				rp = &ov
			}
			v, has := result(r.Key, lp, rp)
			emit(out, Record[K, VR]{Key: r.Key, Timestamp: r.Timestamp, Headers: r.Headers, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}, v, has)
		}), nil
	}
	rn.build = func(tk *Task) (any, error) {
		out, err := receiverOf[K, VR](tk, mn)
		if err != nil {
			return nil, err
		}
		other, err := storeFrom[*cachedKV[K, V1]](tk, a.store)
		if err != nil {
			return nil, err
		}
		return recvFunc[K, V2](func(r Record[K, V2]) {
			ov, ok, err := other.Get(r.Key)
			if err != nil {
				tk.fail(err)
				return
			}
			var lp *V1
			var rp *V2
			if ok {
				lp = &ov
			}
			if !r.Tombstone {
				rp = &r.Value
			}
			v, has := result(r.Key, lp, rp)
			emit(out, Record[K, VR]{Key: r.Key, Timestamp: r.Timestamp, Headers: r.Headers, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}, v, has)
		}), nil
	}
	s := Stream[K, VR]{b: b, n: mn, ks: a.ks, vs: rs}
	o.name = ""
	return materialize(s, pToTable, o)
}
