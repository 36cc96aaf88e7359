package worker

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
)

// Dead-letter headers, named as Kafka Connect names them.
const (
	HeaderErrTopic        = "__connect.errors.topic"
	HeaderErrPartition    = "__connect.errors.partition"
	HeaderErrOffset       = "__connect.errors.offset"
	HeaderErrConnector    = "__connect.errors.connector.name"
	HeaderErrTask         = "__connect.errors.task.id"
	HeaderErrStage        = "__connect.errors.stage"
	HeaderErrClass        = "__connect.errors.class.name"
	HeaderErrExcClass     = "__connect.errors.exception.class.name"
	HeaderErrExcMessage   = "__connect.errors.exception.message"
	HeaderErrExcTrace     = "__connect.errors.exception.stacktrace"
	stageTaskPut          = "TASK_PUT"
	maxDeadLetterMsgBytes = 64 << 10
)

// deadLetters writes refused records to the connector's dead-letter topic.
// Its client is made on first use.
type deadLetters struct {
	env     *taskEnv
	topic   string
	headers bool
	cl      *kgo.Client
	created bool
}

func newDeadLetters(env *taskEnv) *deadLetters {
	return &deadLetters{env: env, topic: env.cfg.String(KeyDLQTopic), headers: env.cfg.Bool(KeyDLQHeaders)}
}

func (d *deadLetters) enabled() bool { return d.topic != "" }

func (d *deadLetters) close() {
	if d.cl != nil {
		d.cl.Close()
	}
}

// send produces every refused record and waits for all acknowledgements.
// Failures are retriable: nothing is committed past a record until its
// dead letter is in the log.
func (d *deadLetters) send(ctx context.Context, refused []refusal) error {
	w := d.env.w
	if d.cl == nil {
		cl, err := kgo.NewClient(w.cfg.clientOpts(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))...)
		if err != nil {
			return fmt.Errorf("dead-letter client: %w", err)
		}
		d.cl = cl
	}
	if !d.created {
		err := ensureTopic(ctx, kadm.NewClient(d.cl), d.topic, 1, int16(d.env.cfg.Int(KeyDLQReplication)), nil)
		if err != nil {
			return kafkaRetriable(err)
		}
		d.created = true
	}
	recs := make([]*kgo.Record, len(refused))
	for i, r := range refused {
		recs[i] = d.record(r)
	}
	if err := d.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return kafkaRetriable(fmt.Errorf("produce to %s: %w", d.topic, err))
	}
	return nil
}

// record is the dead letter for r: the original key, value, headers and
// timestamp, plus the error context headers.
func (d *deadLetters) record(r refusal) *kgo.Record {
	rec := r.rec
	kr := &kgo.Record{Topic: d.topic, Key: rec.Key, Value: rec.Value, Timestamp: rec.Timestamp}
	for _, h := range rec.Headers {
		kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	if rec.Schema != nil {
		if b, err := d.env.w.schemas.encode(rec.Schema); err == nil {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: connectors.SchemaHeader, Value: b})
		}
	}
	if !d.headers {
		return kr
	}
	msg := r.err.Error()
	if len(msg) > maxDeadLetterMsgBytes {
		msg = msg[:maxDeadLetterMsgBytes]
	}
	add := func(k, v string) { kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)}) }
	add(HeaderErrTopic, rec.Topic)
	add(HeaderErrPartition, strconv.Itoa(int(rec.Partition)))
	add(HeaderErrOffset, strconv.FormatInt(rec.Offset, 10))
	add(HeaderErrConnector, d.env.connector)
	add(HeaderErrTask, strconv.Itoa(d.env.id))
	add(HeaderErrStage, stageTaskPut)
	add(HeaderErrClass, d.env.plugin.Name)
	add(HeaderErrExcClass, errorClass(r.err))
	add(HeaderErrExcMessage, msg)
	add(HeaderErrExcTrace, errorChain(r.err))
	return kr
}

// errorClass names the innermost error's Go type, the closest thing to a
// Java exception class.
func errorClass(err error) string {
	for {
		inner := errors.Unwrap(err)
		if inner == nil {
			return fmt.Sprintf("%T", err)
		}
		err = inner
	}
}

// errorChain lists the wrapped errors, outermost first, one per line.
func errorChain(err error) string {
	s := ""
	for err != nil {
		s += fmt.Sprintf("%T: %v\n", err, err)
		err = errors.Unwrap(err)
		if len(s) > maxDeadLetterMsgBytes {
			break
		}
	}
	return s
}
