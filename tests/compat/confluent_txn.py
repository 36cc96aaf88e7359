#!/usr/bin/python3
"""confluent-kafka (librdkafka) transactions against Sluice.

Run by confluent_txn_test.go with the system Python (/usr/bin/python3,
Debian package python3-confluent-kafka):

  confluent_txn.py transact BROKERS OUT IN GROUP
      init_transactions; a committed transaction (commit-000..009 to OUT);
      an aborted one (abort-000..009); then consume-transform-produce: read
      every record of IN in GROUP (read_committed) and, in one transaction,
      write out:<value> to OUT and commit the consumed offsets with
      send_offsets_to_transaction.
  confluent_txn.py read BROKERS TOPIC ISOLATION
      prints every value of TOPIC, one per line, reading with
      isolation.level ISOLATION (read_committed or read_uncommitted) until
      the end of every partition.
"""
import sys

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer


def transact(brokers, out_topic, in_topic, group):
    producer = Producer({
        "bootstrap.servers": brokers,
        "transactional.id": "confluent-txn",
        "transaction.timeout.ms": 60000,
    })
    producer.init_transactions(30)

    producer.begin_transaction()
    for i in range(10):
        producer.produce(out_topic, key=str(i), value=f"commit-{i:03d}")
    producer.commit_transaction(30)

    producer.begin_transaction()
    for i in range(10):
        producer.produce(out_topic, key=str(i), value=f"abort-{i:03d}")
    producer.flush(30)
    producer.abort_transaction(30)

    consumer = Consumer({
        "bootstrap.servers": brokers,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "enable.partition.eof": True,
    })
    consumer.subscribe([in_topic])
    records, eof = [], set()
    partitions = None
    while partitions is None or eof != partitions:
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if partitions is None and consumer.assignment():
            partitions = {tp.partition for tp in consumer.assignment()}
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                eof.add(msg.partition())
                continue
            raise KafkaException(msg.error())
        records.append(msg)
    producer.begin_transaction()
    for msg in records:
        producer.produce(out_topic, key=msg.key(), value=b"out:" + msg.value())
    positions = consumer.position(consumer.assignment())
    producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(), 30)
    producer.commit_transaction(30)
    consumer.close()
    print(f"transformed {len(records)}", flush=True)


def read(brokers, topic, isolation):
    consumer = Consumer({
        "bootstrap.servers": brokers,
        "group.id": f"confluent-txn-reader-{isolation}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "isolation.level": isolation,
        "enable.partition.eof": True,
    })
    consumer.subscribe([topic])
    eof, partitions = set(), None
    while partitions is None or eof != partitions:
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if partitions is None and consumer.assignment():
            partitions = {tp.partition for tp in consumer.assignment()}
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                eof.add(msg.partition())
                continue
            raise KafkaException(msg.error())
        print(msg.value().decode(), flush=True)
    consumer.close()


def main(argv):
    commands = {"transact": (transact, 4), "read": (read, 3)}
    if len(argv) < 2 or argv[1] not in commands or len(argv) - 2 != commands[argv[1]][1]:
        sys.exit(__doc__)
    commands[argv[1]][0](*argv[2:])


if __name__ == "__main__":
    main(sys.argv)
