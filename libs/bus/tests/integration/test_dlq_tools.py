"""DLQ tools on the real broker: each record redriven once, to its group; one-line errors."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentbus.bus import BusSettings, InboundRecord, OutboundRecord, cli, dlqtool
from agentbus.bus.dlq import REDRIVE_GROUP_HEADER, REDRIVEN_FROM_HEADER, dead_letter_headers
from agentbus.bus.dlqtool import DlqToolError
from agentbus.bus.sink import ProducerSink
from agentbus.testing import consume, create_topics, unique

pytestmark = pytest.mark.integration

BINARY = ("x-bin", b"\xff\x00")


async def dead_letters(bootstrap: str, topic: str, count: int, *, group: str) -> None:
    """`count` dead letters of `topic` offsets 0.., as the runtime writes them."""
    sink = ProducerSink(BusSettings(bootstrap_servers=bootstrap))
    try:
        letters = []
        for offset in range(count):
            headers = [("ce_id", f"evt-{offset}".encode()), BINARY]
            original = InboundRecord(topic, 0, offset, b"run-1", f"v{offset}".encode(), headers)
            cause = dead_letter_headers(
                original, ValueError("poison"), consumer_group=group, attempts=1
            )
            letters.append(OutboundRecord(f"{topic}.dlq", b"run-1", original.value, cause))
        await sink.send(letters)
    finally:
        await sink.stop()


@pytest.fixture
async def topic(kafka_bootstrap: str) -> str:
    name = unique("redrive")
    await create_topics(kafka_bootstrap, [name, f"{name}.dlq"])
    return name


async def test_one_record_then_the_whole_dlq_sends_each_once(kafka_bootstrap, topic):
    dlq = f"{topic}.dlq"
    await dead_letters(kafka_bootstrap, topic, 3, group="g-failed")

    [one] = await dlqtool.redrive(kafka_bootstrap, dlq, only=(0, 1))
    assert one.offset == 1
    rest = await dlqtool.redrive(kafka_bootstrap, dlq)
    assert [d.offset for d in rest] == [0, 2], "the record redriven alone is not sent again"
    assert await dlqtool.redrive(kafka_bootstrap, dlq) == []

    await dead_letters(kafka_bootstrap, topic, 2, group="g-failed")  # DLQ offsets 3 and 4
    [single] = await dlqtool.redrive(kafka_bootstrap, dlq, only=(0, 4))
    assert single.offset == 4
    assert [d.offset for d in await dlqtool.redrive(kafka_bootstrap, dlq)] == [3]

    sent = await consume(kafka_bootstrap, topic, count=5)
    sources = [dict(r.headers)[REDRIVEN_FROM_HEADER] for r in sent]
    assert sorted(sources) == sorted(f"{dlq}/0/{o}".encode() for o in range(5)), "each once"
    for record in sent:
        headers = list(record.headers)
        assert headers[:2][1] == BINARY, "original headers, binary ones included"
        assert [v for k, v in headers if k == REDRIVE_GROUP_HEADER] == [b"g-failed"]
        assert not [k for k, _ in headers if k.startswith("dlq.")]


async def test_an_explicit_single_redrive_after_a_full_one_sends_again(kafka_bootstrap, topic):
    dlq = f"{topic}.dlq"
    await dead_letters(kafka_bootstrap, topic, 1, group="g")
    assert len(await dlqtool.redrive(kafka_bootstrap, dlq)) == 1
    assert len(await dlqtool.redrive(kafka_bootstrap, dlq, only=(0, 0))) == 1
    assert await dlqtool.redrive(kafka_bootstrap, dlq) == []
    assert len(await consume(kafka_bootstrap, topic, count=2)) == 2


async def test_missing_topic_partition_and_offset_are_one_line_errors(kafka_bootstrap, topic):
    settings = BusSettings(bootstrap_servers=kafka_bootstrap, metadata_timeout_s=3)
    started = time.monotonic()
    with pytest.raises(DlqToolError, match=r"^topic 'nope-\w+\.dlq' does not exist$"):
        await dlqtool.read(settings, f"{unique('nope')}.dlq")
    with pytest.raises(DlqToolError, match=r"has no partition 7 \(partitions 0\.\.0\)"):
        await dlqtool.read_one(settings, f"{topic}.dlq", 7, 0)
    with pytest.raises(DlqToolError, match=r"has no partition 7"):
        await dlqtool.redrive(settings, f"{topic}.dlq", only=(7, 0))
    with pytest.raises(DlqToolError, match=r"holds no records; no offset 3"):
        await dlqtool.read_one(settings, f"{topic}.dlq", 0, 3)
    with pytest.raises(DlqToolError, match=r"does not exist"):
        await dlqtool.purge(settings, f"{unique('nope')}.dlq")
    assert time.monotonic() - started < 15, "no 40 s metadata wait"


def agentbus(*args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "agentbus"
    return subprocess.run(
        [str(script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"COLUMNS": str(columns), "PATH": "/usr/bin:/bin"},
    )


def test_the_cli_answers_in_one_line(kafka_bootstrap, topic):
    cases = [
        (("dlq", "list", unique("nope")), "does not exist"),
        (("dlq", "show", topic, "9", "0"), "has no partition 9"),
        (("dlq", "redrive", topic, "--partition", "9", "--offset", "0"), "has no partition 9"),
        (("dlq", "purge", unique("nope"), "--yes"), "does not exist"),
    ]
    for args, expected in cases:
        started = time.monotonic()
        done = CliRunner().invoke(cli.app, [*args, "--bootstrap", kafka_bootstrap])
        assert done.exit_code == 1, done.output
        assert done.stderr.startswith("error: ")
        assert expected in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert done.exception is None or isinstance(done.exception, SystemExit)
        assert time.monotonic() - started < 15


async def test_the_real_cli_fits_80_columns_and_reports_a_dead_broker(kafka_bootstrap, topic):
    await dead_letters(kafka_bootstrap, topic, 2, group="a-rather-long-consumer-group-name")
    listed = agentbus("dlq", "list", topic, "--bootstrap", kafka_bootstrap)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "a-rather-long-consumer-group-name" in listed.stdout
    assert "2 dead letter(s)" in listed.stdout

    down = agentbus("dlq", "list", topic, "--bootstrap", "127.0.0.1:1")
    assert down.returncode == 1
    assert down.stderr.startswith("error: connecting: KafkaConnectionError")
    assert len(down.stderr.strip().splitlines()) == 1, down.stderr
    assert "Traceback" not in down.stdout + down.stderr
