"""Records no handler can take: bad header bytes, unparseable header names, dead requests."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap

import pytest

from agentbus.bus import Bus, PermanentError
from agentbus.testing import (
    consume,
    create_topics,
    eventually,
    produce,
    raw_record,
    read_to_end,
    unique,
)
from agentbus.testing.effects import count_effects, record_effect
from contracts.envelope import decode, headers_to_dict
from contracts.events.request import RequestFailed

pytestmark = pytest.mark.integration
TASK = {"agentbus.task.submitted.v1"}


async def applied(bus: Bus) -> int:
    async with bus.uow.sessions() as session:
        return await count_effects(session)


async def test_undecodable_header_values_go_to_the_dlq_byte_for_byte(case, started, make_task):
    bus = Bus(case.settings(), service="test")
    bus.consumer(case.topic, event_types=TASK)(record_effect)
    key, value, headers = raw_record(make_task())
    binary = [("trace-blob", b"\x00\x01\xfe"), ("x-repeat", b"1"), ("x-repeat", b"2")]
    bad_id = [(k, b"\xff\xfe-not-utf8" if k == "ce_id" else v) for k, v in headers] + binary
    good = raw_record(make_task())
    await produce(case.bootstrap, case.topic, [(key, value, bad_id), good])
    await started(bus)
    [letter] = await consume(case.bootstrap, case.dlq, count=1)
    cause = headers_to_dict(letter.headers)
    assert cause["dlq.error.class"] == "contracts.errors.EnvelopeError"
    assert "ce_id is not UTF-8" in cause["dlq.error.message"]
    originals = [(k, v) for k, v in letter.headers if not k.startswith("dlq.")]
    assert originals == bad_id, "every original header kept, in order, byte for byte"
    assert letter.value == value

    async def next_applied() -> bool:
        return await applied(bus) == 1

    await eventually(next_applied, what="the record after the poison")


_BAD_NAME_PRODUCER = textwrap.dedent(
    """
    import asyncio, sys
    from aiokafka import AIOKafkaProducer

    class RawName(str):
        # The pure-Python record builder encodes header names with .encode("utf-8").
        def encode(self, *args, **kwargs):
            return b"bad-\\xff\\xfe-name"

    async def main(bootstrap, topic):
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        future = await producer.send(
            topic, key=b"k", value=b"{}", headers=[(RawName("x"), b"v")], partition=0
        )
        print((await future).offset)
        await producer.stop()

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


def produce_bad_header_name(bootstrap: str, topic: str) -> int:
    """Write a record whose header name is not UTF-8 (no normal client can); its offset."""
    env = {**os.environ, "AIOKAFKA_NO_EXTENSIONS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", _BAD_NAME_PRODUCER, bootstrap, topic],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return int(out.stdout.strip())


async def test_a_header_name_the_client_cannot_parse_is_reported_and_passed(
    case, started, make_task
):
    topic = unique("badname")
    await create_topics(case.bootstrap, [topic, f"{topic}.dlq"], partitions=1)
    await produce(case.bootstrap, topic, [raw_record(make_task())])
    bad_offset = await asyncio.to_thread(produce_bad_header_name, case.bootstrap, topic)
    await produce(case.bootstrap, topic, [raw_record(make_task())])
    bus = Bus(case.settings(), service="test")
    bus.consumer(topic, event_types=TASK)(record_effect)
    await started(bus)
    [report] = await consume(case.bootstrap, f"{topic}.dlq", count=1)
    cause = headers_to_dict(report.headers)
    assert cause["dlq.error.class"] == "agentbus.bus.poison.UnreadableRecordError"
    assert (cause["dlq.original.topic"], cause["dlq.original.partition"]) == (topic, "0")
    assert cause["dlq.original.offset"] == str(bad_offset)

    async def both_applied() -> bool:
        return await applied(bus) == 2

    await eventually(both_applied, what="the records before and after the unreadable one")


async def test_a_dead_lettered_request_gets_a_failed_reply(case, started, make_task):
    replies = unique("replies")
    await create_topics(case.bootstrap, [replies])
    bus = Bus(case.settings(), service="test")

    @bus.consumer(case.topic, event_types=TASK, reply_topic=replies)
    async def refuse(envelope, uow):
        raise PermanentError("this request can never be served")

    request = make_task()
    await produce(case.bootstrap, case.topic, [raw_record(request)])
    await started(bus)
    [letter] = await consume(case.bootstrap, case.dlq, count=1)
    [reply] = await consume(case.bootstrap, replies, count=1)
    envelope = decode(reply.headers, reply.value)
    failed = envelope.data
    assert isinstance(failed, RequestFailed)
    assert envelope.tenantid == request.tenantid
    assert failed.request_id == request.id
    assert failed.request_type == "agentbus.task.submitted.v1"
    assert "never be served" in failed.error.message
    ref = failed.dead_letter
    assert (ref.topic, ref.partition, ref.offset) == (case.dlq, letter.partition, letter.offset)
    assert (ref.original_topic, ref.original_offset) == (case.topic, 0)


async def test_a_record_of_a_tenant_id_no_envelope_may_carry_is_dead_lettered_unanswered(
    case, started, make_task
):
    # A tenant id names rows, folders and files: `acme/../x` is refused before any handler,
    # and no failed reply goes to an address that no envelope may carry.
    replies = unique("replies")
    await create_topics(case.bootstrap, [replies])
    bus = Bus(case.settings(), service="test")
    bus.consumer(case.topic, event_types=TASK, reply_topic=replies)(record_effect)
    odd, good = make_task(), make_task()
    key, value, headers = raw_record(odd)
    headers = [(k, b"acme/../x" if k == "ce_tenantid" else v) for k, v in headers]
    await produce(case.bootstrap, case.topic, [(key, value, headers), raw_record(good)])
    await started(bus)
    [letter] = await consume(case.bootstrap, case.dlq, count=1)
    cause = headers_to_dict(letter.headers)
    assert "tenantid" in cause["dlq.error.message"]

    async def good_applied() -> bool:
        return await applied(bus) == 1

    await eventually(good_applied, what="the good record after the odd one")
    assert await read_to_end(case.bootstrap, replies) == []
