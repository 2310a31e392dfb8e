"""Replay from the topic: byte-identical twice, exact time windows and filters, no side effects."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from audit import replay as replay_module
from audit.chain import Link
from audit.export import read_export
from audit.migrations import VERSIONS
from audit.reader import Window
from audit.replay import ReplayFilter, replay
from audit.signing import CheckpointSigner, CheckpointVerifier, load_private_key
from audit.sinks import JsonlSink, NotEmptyError, StoreSink
from audit.verify import export_store, verify_export

from agentbus.bus import unit_factory
from agentbus.http import run_async
from agentbus.storage import create_engine
from agentbus.storage.migrations import upgrade

from ..support import T0, audit_records, produce_fast
from .harness import PRIVATE_KEY

pytestmark = pytest.mark.integration

SIGNER = CheckpointSigner(load_private_key(PRIVATE_KEY))
TRUST = CheckpointVerifier(SIGNER.public_key)


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(3)]
        return {tp.partition: off for tp, off in (await consumer.end_offsets(tps)).items()}
    finally:
        await consumer.stop()


async def test_replaying_100k_records_twice_gives_byte_identical_verified_exports(
    kafka_bootstrap: str, audit_topic, tmp_path: Path
) -> None:
    topic = await audit_topic(3)
    await produce_fast(
        kafka_bootstrap,
        topic,
        audit_records(100_000, tenants=("acme", "globex"), runs=500, step_ms=1),
    )
    before = await end_offsets(kafka_bootstrap, topic)
    outputs = []
    # Once on two worker processes (the default on this machine), once in one process.
    for attempt, workers in enumerate((2, 1)):
        out = tmp_path / f"replay-{attempt}.jsonl"
        stats = await replay(
            kafka_bootstrap, Window(topic), JsonlSink(out), signer=SIGNER, workers=workers
        )
        assert stats.written == 100_000
        assert stats.rejected == 0
        assert len(stats.worker_cpu_seconds) == (2 if workers == 2 else 0)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    results = verify_export(tmp_path / "replay-0.jsonl", TRUST)
    assert [(r.tenant_id, r.ok, r.records, r.checkpoints) for r in results] == [
        ("acme", True, 50_000, 1),
        ("globex", True, 50_000, 1),
    ]
    # Read-only: nothing was published to the topic (no group, no commits either).
    assert await end_offsets(kafka_bootstrap, topic) == before


def test_a_replay_on_uvloop_forks_workers_that_give_the_same_export(
    kafka_bootstrap: str, audit_topic, tmp_path: Path, monkeypatch
) -> None:
    # `audit replay` runs on uvloop (agentbus.http.run_async); its workers fork from it.
    monkeypatch.setattr(replay_module, "MIN_PARALLEL_RECORDS", 0)

    async def replay_both_ways() -> tuple[str, list[bytes], list[int]]:
        topic = await audit_topic(3)
        records = audit_records(3_000, tenants=("acme", "globex"), runs=20, step_ms=1)
        await produce_fast(kafka_bootstrap, topic, records)
        outputs, worker_counts = [], []
        for workers in (1, 2):
            out = tmp_path / f"uvloop-{workers}.jsonl"
            stats = await replay(
                kafka_bootstrap, Window(topic), JsonlSink(out), signer=SIGNER, workers=workers
            )
            outputs.append(out.read_bytes())
            worker_counts.append(len(stats.worker_cpu_seconds))
        return type(asyncio.get_running_loop()).__module__, outputs, worker_counts

    loop_module, outputs, worker_counts = run_async(replay_both_ways())
    assert loop_module.startswith("uvloop")
    assert worker_counts == [0, 2]
    assert outputs[0] == outputs[1]


async def test_time_window_and_filters_return_exactly_the_matching_records(
    kafka_bootstrap: str, audit_topic, tmp_path: Path
) -> None:
    topic = await audit_topic(3)
    records = audit_records(900, tenants=("acme", "globex", "initech"), runs=30, step_ms=1000)
    await produce_fast(kafka_bootstrap, topic, records)
    start, end = T0 + timedelta(seconds=200), T0 + timedelta(seconds=500)

    def ids(out: Path) -> list[str]:
        return [orjson.loads(x.body)["event_id"] for x in read_export(out) if isinstance(x, Link)]

    def ids_where(keep) -> set[str]:  # type: ignore[no-untyped-def]
        return {dict(h)["ce_id"].decode() for k, v, h, ts in records if keep(dict(h), ts)}

    window = tmp_path / "window.jsonl"
    await replay(kafka_bootstrap, Window(topic, start, end), JsonlSink(window))
    lo, hi = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    expected = ids_where(lambda h, ts: lo <= ts < hi)
    assert len(expected) == 300
    assert sorted(ids(window)) == sorted(expected)

    only = tmp_path / "tenant.jsonl"
    await replay(kafka_bootstrap, Window(topic), JsonlSink(only), where=ReplayFilter("globex"))
    assert sorted(ids(only)) == sorted(ids_where(lambda h, ts: h["ce_tenantid"] == b"globex"))
    assert {x.tenant_id for x in read_export(only)} == {"globex"}

    run_id = records[7][0].decode()
    one_run = tmp_path / "run.jsonl"
    await replay(
        kafka_bootstrap, Window(topic), JsonlSink(one_run), where=ReplayFilter(run_id=run_id)
    )
    assert sorted(ids(one_run)) == sorted(ids_where(lambda h, ts: h["ce_runid"].decode() == run_id))
    assert all(r.ok for r in verify_export(one_run, TRUST))


async def test_replay_into_fresh_stores_twice_gives_identical_exports(
    kafka_bootstrap: str,
    database_url: str,
    audit_topic,
    tmp_path: Path,
) -> None:
    topic = await audit_topic(3)
    await produce_fast(kafka_bootstrap, topic, audit_records(600, tenants=("acme", "globex")))
    exports = []
    for attempt, url in enumerate((database_url, f"sqlite:///{tmp_path / 'second.db'}")):
        engine = create_engine(url)
        try:
            await upgrade(engine, [VERSIONS])
            stats = await replay(kafka_bootstrap, Window(topic), StoreSink(engine), signer=SIGNER)
            assert stats.written == 600
            out = tmp_path / f"store-{attempt}.jsonl"
            await export_store(unit_factory(engine), out)
            exports.append(out.read_bytes())
            if attempt == 0:
                with pytest.raises(NotEmptyError):
                    await replay(kafka_bootstrap, Window(topic), StoreSink(engine))
        finally:
            await engine.dispose()
    assert exports[0] == exports[1]
    assert all(
        r.ok and r.checkpoints == 1 for r in verify_export(tmp_path / "store-0.jsonl", TRUST)
    )


async def test_strict_replay_rejects_what_the_live_consumer_would_dead_letter(
    kafka_bootstrap: str, audit_topic, tmp_path: Path
) -> None:
    topic = await audit_topic(1)
    good = audit_records(3)
    key, value, headers, ts = audit_records(1)[0]
    bad_action = orjson.dumps({**orjson.loads(value), "action": "Not A Verb"})
    not_audit = [(n, v if n != "ce_type" else b"agentbus.task.submitted.v1") for n, v in headers]
    await produce_fast(
        kafka_bootstrap,
        topic,
        [*good, (key, bad_action, headers, ts), (key, b"{}", not_audit, ts)],
    )
    lenient = await replay(kafka_bootstrap, Window(topic), JsonlSink(tmp_path / "a.jsonl"))
    strict = await replay(
        kafka_bootstrap,
        Window(topic),
        JsonlSink(tmp_path / "b.jsonl"),
        where=ReplayFilter(strict=True),
    )
    assert (lenient.written, lenient.rejected) == (4, 1)
    assert (strict.written, strict.rejected) == (3, 2)
    assert any("not an agentbus.audit.recorded.v1" in r for r in strict.rejections)


async def test_worker_processes_write_what_one_process_writes(
    kafka_bootstrap: str, audit_topic, tmp_path: Path, monkeypatch
) -> None:
    # Timestamps that go back and forth within each partition, a tenant filter and records
    # the checks reject: the merge across workers must still give the single-process order.
    monkeypatch.setattr(replay_module, "MIN_PARALLEL_RECORDS", 0)
    topic = await audit_topic(3)
    count = 3_000
    records = audit_records(count, tenants=("acme", "globex", "initech"), runs=40, step_ms=1)
    base = records[0][3]
    shuffled = [(k, v, h, base + (i * 7919) % count) for i, (k, v, h, _) in enumerate(records)]
    key, _, headers, ts = shuffled[10]
    shuffled[10] = (key, b"not json", headers, ts)
    await produce_fast(kafka_bootstrap, topic, shuffled)
    expected = {ReplayFilter(): count - 1, ReplayFilter("globex"): 999}
    expected[ReplayFilter(strict=True)] = count - 1
    for where, written in expected.items():
        outputs, summaries = [], []
        for workers in (1, 2):
            out = tmp_path / f"w{workers}.jsonl"
            stats = await replay(
                kafka_bootstrap, Window(topic), JsonlSink(out), where=where, signer=SIGNER,
                workers=workers,
            )  # fmt: skip
            outputs.append(out.read_bytes())
            summaries.append((stats.scanned, stats.written, stats.rejected, stats.heads))
            # Two workers really ran (each reports its CPU time), or none did.
            assert len(stats.worker_cpu_seconds) == (2 if workers == 2 else 0)
        assert outputs[0] == outputs[1], where
        assert summaries[0] == summaries[1], where
        # Record 10 (globex's) is not JSON: rejected by every filter here.
        assert summaries[0][1:3] == (written, 1), where
    exports = []
    for workers in (1, 2):
        engine = create_engine(f"sqlite:///{tmp_path}/store-{workers}.db")
        try:
            await upgrade(engine, [VERSIONS])
            await replay(kafka_bootstrap, Window(topic), StoreSink(engine), workers=workers)
            out = tmp_path / f"store-{workers}.jsonl"
            await export_store(unit_factory(engine), out)
            exports.append(out.read_bytes())
        finally:
            await engine.dispose()
    assert exports[0] == exports[1]
    assert exports[0].count(b"\n") == count - 1


async def test_a_worker_that_fails_or_dies_fails_the_replay_with_its_cause(
    kafka_bootstrap: str, audit_topic, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(replay_module, "MIN_PARALLEL_RECORDS", 0)
    topic = await audit_topic(3)
    # Keys are run ids: 30 of them fill every partition (with 3, all landed on one partition
    # one time in nine, and the replay then ran in one process, without workers to fail).
    await produce_fast(kafka_bootstrap, topic, audit_records(300, runs=30, step_ms=1))

    def fails(*_: object) -> None:
        raise ValueError("a batch it cannot prepare")

    def dies(*_: object) -> None:
        os._exit(3)  # no message, no exit steps: as if SIGKILLed

    for prepare, cause in ((fails, "a batch it cannot prepare"), (dies, "ended without")):
        # Forked workers see the patched function; the parent never calls it.
        monkeypatch.setattr(replay_module, "prepare", prepare)
        sink = JsonlSink(tmp_path / "failed.jsonl")
        try:
            with pytest.raises(RuntimeError, match=cause):
                await asyncio.wait_for(
                    replay(kafka_bootstrap, Window(topic), sink, workers=2), timeout=60
                )
        finally:
            await sink.finish({}, [])
