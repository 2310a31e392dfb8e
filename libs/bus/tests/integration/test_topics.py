"""Catalogue topics are created idempotently with their configs; audit is never compacted."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from agentbus.bus.admin import ensure_topics
from contracts.topics import all_topics

pytestmark = pytest.mark.integration


async def topic_config(bootstrap: str, name: str) -> dict[str, str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    finally:
        await admin.close()
    [(_code, _msg, _type, _name, entries, *_)] = response.resources
    return {entry[0]: entry[1] for entry in entries}


async def test_catalogue_topics_are_created_once_with_their_configs(kafka_bootstrap):
    prefix = f"t{uuid.uuid4().hex[:8]}."
    specs = [dataclasses.replace(s, name=prefix + s.name) for s in all_topics(include_dlq=True)]
    first = await ensure_topics(kafka_bootstrap, specs)
    assert all(r.created for r in first)
    second = await ensure_topics(kafka_bootstrap, specs)
    assert not any(r.created for r in second), "a second run changes nothing"
    audit = await topic_config(kafka_bootstrap, prefix + "audit.log")
    assert audit["cleanup.policy"] == "delete"
    assert audit["retention.ms"] == "-1"
    tasks = await topic_config(kafka_bootstrap, prefix + "tasks.submitted")
    assert tasks["cleanup.policy"] == "delete"
    assert int(tasks["retention.ms"]) > 0


def test_the_cli_creates_the_real_catalogue(kafka_bootstrap):
    script = Path(sys.executable).parent / "agentbus"
    for _ in range(2):
        done = subprocess.run(
            [str(script), "topics", "create", "--bootstrap", kafka_bootstrap],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={"COLUMNS": "200"},
        )
        assert done.returncode == 0, done.stderr
        assert "audit.log.dlq" in done.stdout
