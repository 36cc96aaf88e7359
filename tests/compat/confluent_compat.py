#!/usr/bin/python3
"""The confluent-kafka (librdkafka) side of Sluice's compatibility suite.

Run by confluent_test.go with the system Python (/usr/bin/python3, Debian
package python3-confluent-kafka):

  confluent_compat.py create BROKERS TOPIC PARTITIONS
  confluent_compat.py produce BROKERS TOPIC [COMPRESSION]   stdin: key:value lines
  confluent_compat.py consume BROKERS TOPIC GROUP

`consume` joins GROUP and prints each record as key:value only after its
offset was committed synchronously; it leaves the group and exits on SIGTERM.
"""
import signal
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic


def create(brokers, topic, partitions):
    admin = AdminClient({"bootstrap.servers": brokers})
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=int(partitions), replication_factor=1)],
        operation_timeout=10,
    )
    for future in futures.values():
        future.result(timeout=30)  # raises KafkaException on failure


def produce(brokers, topic, compression="none"):
    errors = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(err)

    producer = Producer({
        "bootstrap.servers": brokers,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "compression.type": compression,
    })
    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line:
            continue
        key, value = line.split(":", 1)
        producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
        producer.poll(0)
    undelivered = producer.flush(30)
    if undelivered or errors:
        sys.exit(f"produce: {undelivered} undelivered, errors: {errors[:3]}")


REBALANCING = {
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.UNKNOWN_MEMBER_ID,
}


def commit(consumer):
    """Commits the consumer's positions; False if a rebalance refused it."""
    for attempt in range(5):
        try:
            consumer.commit(asynchronous=False)
            return True
        except KafkaException as e:
            err = e.args[0]
            if err.code() in REBALANCING:
                print(f"commit refused during a rebalance: {err}", file=sys.stderr, flush=True)
                return False
            if not err.retriable() or attempt == 4:
                raise
            time.sleep(0.2)
    return False


def consume(brokers, topic, group):
    running = [True]

    def stop(_signum, _frame):
        running[0] = False

    signal.signal(signal.SIGTERM, stop)
    consumer = Consumer({
        "bootstrap.servers": brokers,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
    })
    consumer.subscribe([topic])
    while running[0]:
        batch = consumer.consume(num_messages=500, timeout=0.2)
        good = []
        for msg in batch:
            if msg.error():
                print(f"consume error: {msg.error()}", file=sys.stderr, flush=True)
                continue
            good.append(msg)
        if not good:
            continue
        # Rebalances happen inside consume(), so committing here, before the
        # next consume(), means every printed record is committed. A commit
        # refused because the group is rebalancing leaves the records
        # uncommitted: they are not printed, and whoever owns their
        # partition next reads them again from the committed offset.
        if commit(consumer):
            for msg in good:
                print(f"{msg.key().decode()}:{msg.value().decode()}", flush=True)
    consumer.close()  # leaves the group


def main(argv):
    commands = {"create": (3, 3), "produce": (2, 3), "consume": (3, 3)}
    if len(argv) < 2 or argv[1] not in commands:
        sys.exit(__doc__)
    least, most = commands[argv[1]]
    if not least <= len(argv) - 2 <= most:
        sys.exit(__doc__)
    fn = {"create": create, "produce": produce, "consume": consume}[argv[1]]
    fn(*argv[2:])


if __name__ == "__main__":
    main(sys.argv)
