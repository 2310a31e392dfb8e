"""`agentbus topics create` sizes each DLQ for the largest record its source accepts."""

from __future__ import annotations

import dataclasses

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from agentbus.bus import BusSettings
from agentbus.bus.admin import ensure_topics
from agentbus.testing import unique
from contracts.topics import dlq_max_message_bytes, dlq_spec, topic

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


async def max_message_bytes(bootstrap: str, name: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    finally:
        await admin.close()
    [(_code, _msg, _type, _name, entries, *_)] = response.resources
    return int({entry[0]: entry[1] for entry in entries}["max.message.bytes"])


async def test_dlqs_take_their_sources_limit_plus_headroom(kafka_bootstrap):
    prefix = unique("sizes") + "."
    big = dataclasses.replace(topic("tool.results"), name=prefix + "big", max_message_bytes=4 * MiB)
    plain = dataclasses.replace(topic("tool.requests"), name=prefix + "plain")
    specs = [big, dlq_spec(big), plain, dlq_spec(plain)]
    settings = BusSettings(bootstrap_servers=kafka_bootstrap)
    assert all(r.created for r in await ensure_topics(settings, specs))
    assert await max_message_bytes(kafka_bootstrap, big.name) == 4 * MiB
    assert await max_message_bytes(kafka_bootstrap, big.name + ".dlq") == dlq_max_message_bytes(
        4 * MiB
    )
    assert await max_message_bytes(kafka_bootstrap, plain.name + ".dlq") == dlq_max_message_bytes(
        None
    )
