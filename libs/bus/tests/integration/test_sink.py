"""ProducerSink on the real broker: raw headers, producer spans, records up to the topic's limit."""

from __future__ import annotations

import hashlib

import pytest
from aiokafka.errors import MessageSizeTooLargeError
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentbus.bus import BusSettings, InboundRecord, OutboundRecord
from agentbus.bus.dlq import dead_letter_headers, describe
from agentbus.bus.sink import ProducerSink
from agentbus.testing import consume, create_topics, unique
from contracts.envelope import headers_to_dict

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
HEADERS = [
    ("ce_id", b"evt-1"),
    ("ce_traceparent", f"00-{TRACE}-00f067aa0ba902b7-01".encode()),
    ("x-binary", b"\xff\xfe\x00\x80"),
    ("x-repeated", b"first"),
    ("x-repeated", b"second"),
    ("x-empty", b""),
]


def dead_letter(topic: str, value: bytes) -> OutboundRecord:
    """What the runtime sends to <topic>.dlq for a record of `topic` at offset 7."""
    original = InboundRecord(topic, 0, 7, b"run-1", value, list(HEADERS))
    headers = dead_letter_headers(original, ValueError("poison"), consumer_group="g", attempts=1)
    return OutboundRecord(f"{topic}.dlq", b"run-1", value, headers)


@pytest.fixture
async def sink(kafka_bootstrap: str):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = BusSettings(bootstrap_servers=kafka_bootstrap, client_id=unique("sink"))
    sink = ProducerSink(settings, tracer=provider.get_tracer("test"))
    sink.exporter = exporter  # type: ignore[attr-defined]
    yield sink
    await sink.stop()


async def test_records_go_out_byte_for_byte_with_a_producer_span(kafka_bootstrap, sink):
    topic = unique("sink")
    await create_topics(kafka_bootstrap, [topic, f"{topic}.dlq"])
    letter = dead_letter(topic, b"\x00not json")
    plain = OutboundRecord(topic, b"k", None, [("h", b"\xc3\x28")])  # a null value (tombstone)

    delivered = await sink.send([letter, plain])

    [stored] = await consume(kafka_bootstrap, letter.topic, count=1)
    assert list(stored.headers) == letter.headers, "no header added, none re-encoded"
    assert (stored.key, stored.value) == (letter.key, letter.value)
    assert delivered[0] == (stored.partition, stored.offset)
    [other] = await consume(kafka_bootstrap, topic, count=1)
    assert (other.key, other.value, list(other.headers)) == (b"k", None, [("h", b"\xc3\x28")])
    assert delivered[1] == (other.partition, other.offset)
    spans = {s.name: s for s in sink.exporter.get_finished_spans()}
    publish = spans[f"{letter.topic} publish"]
    assert publish.kind.name == "PRODUCER"
    assert format(publish.context.trace_id, "032x") == TRACE, "continues ce_traceparent"
    assert publish.attributes["messaging.kafka.offset"] == stored.offset


async def test_records_of_one_trace_and_topic_share_one_publish_span(kafka_bootstrap, sink):
    topic, other = unique("sink"), unique("sink")
    await create_topics(kafka_bootstrap, [topic, other])
    second_trace = "0af7651916cd43dd8448eb211c80319c"
    elsewhere = [("ce_traceparent", f"00-{second_trace}-b7ad6b7169203331-01".encode())]
    records = [
        OutboundRecord(topic, b"run-1", b"1", list(HEADERS)),
        OutboundRecord(other, b"run-1", b"2", list(HEADERS)),
        OutboundRecord(topic, b"run-1", b"3", list(HEADERS)),
        OutboundRecord(topic, b"run-2", b"4", elsewhere),
    ]

    delivered = await sink.send(records)

    assert len(delivered) == 4
    spans = sink.exporter.get_finished_spans()
    by_trace_and_name = {(format(s.context.trace_id, "032x"), s.name): s for s in spans}
    assert len(spans) == len(by_trace_and_name) == 3
    batch = by_trace_and_name[(TRACE, f"{topic} publish")]
    assert batch.attributes["messaging.batch.message_count"] == 2
    assert "messaging.kafka.offset" not in batch.attributes, "a batch names no one offset"
    assert batch.parent is not None
    assert format(batch.parent.span_id, "016x") == "00f067aa0ba902b7"
    alone = by_trace_and_name[(second_trace, f"{topic} publish")]
    assert alone.attributes["messaging.kafka.offset"] == delivered[3][1]
    assert "messaging.batch.message_count" not in alone.attributes
    assert (
        by_trace_and_name[(TRACE, f"{other} publish")].attributes["messaging.kafka.offset"]
        == delivered[1][1]
    )


async def test_a_record_at_a_4_mib_topic_limit_is_dead_lettered_whole(kafka_bootstrap, sink):
    topic = unique("big")
    await create_topics(kafka_bootstrap, [topic, f"{topic}.dlq"], max_message_bytes=4 * MiB)
    value = bytes(range(256)) * (2 * MiB // 256)  # 2 MiB, incompressible enough
    await sink.send([OutboundRecord(topic, b"run-1", value, list(HEADERS))])
    [original] = await consume(kafka_bootstrap, topic, count=1, timeout_s=60)
    assert original.value == value

    await sink.send([dead_letter(topic, value)])

    [stored] = await consume(kafka_bootstrap, f"{topic}.dlq", count=1, timeout_s=60)
    assert stored.value == value
    assert "dlq.value.truncated" not in headers_to_dict(stored.headers)


async def test_a_dead_letter_too_large_for_its_dlq_is_stored_truncated(kafka_bootstrap, sink):
    topic = unique("big")
    await create_topics(kafka_bootstrap, [topic], max_message_bytes=4 * MiB)
    await create_topics(kafka_bootstrap, [f"{topic}.dlq"])  # broker default: about 1 MiB
    value = b"x" * (2 * MiB)
    letter = dead_letter(topic, value)

    [(partition, offset)] = await sink.send([letter])

    [stored] = await consume(kafka_bootstrap, letter.topic, count=1, timeout_s=60)
    assert (stored.partition, stored.offset) == (partition, offset)
    assert stored.value == value[: 64 * 1024]  # dlq_truncated_value_bytes
    h = headers_to_dict(stored.headers)
    assert h["dlq.value.truncated"] == "true"
    assert h["dlq.value.size"] == str(len(value))
    assert h["dlq.value.sha256"] == hashlib.sha256(value).hexdigest()
    info = describe(list(stored.headers))
    assert (info.original_topic, info.original_offset) == (topic, 7)
    assert list(stored.headers)[: len(HEADERS)] == HEADERS
    # The producer is still usable for the partition after the refusal.
    await sink.send([dead_letter(topic, b"small")])
    records = await consume(kafka_bootstrap, letter.topic, count=2, timeout_s=30)
    assert records[1].value == b"small"


async def test_a_record_above_max_request_size_that_is_no_dead_letter_fails(kafka_bootstrap):
    topic = unique("big")
    await create_topics(kafka_bootstrap, [topic])
    settings = BusSettings(bootstrap_servers=kafka_bootstrap, max_request_size=MiB)
    sink = ProducerSink(settings)
    try:
        with pytest.raises(MessageSizeTooLargeError):
            await sink.send([OutboundRecord(topic, b"k", b"x" * (MiB + 1), [])])
    finally:
        await sink.stop()
