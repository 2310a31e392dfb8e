"""The evaluation service as a real process, SIGKILLed while it scores an evaluation and
restarted: every case is recorded once, no case event is published twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentbus.testing import eventually, free_port, unique
from contracts.events.evaluation import EvaluationCaseScored, EvaluationCompleted
from contracts.events.task import TaskSubmitted

from .harness import KEYS, FakePlanner, jsonl, make_topics, read_events

pytestmark = pytest.mark.integration

EVALUATION = Path(sys.executable).with_name("evaluation")
CASES = 40


def answer(task: TaskSubmitted) -> dict[str, Any]:
    return {"decision": "refund" if task.input["n"] % 4 else "approve"}


class EvaluationProcess:
    def __init__(
        self,
        bootstrap: str,
        prefix: str,
        db: Path | str,
        log: Path,
        *,
        group: str | None = None,
        log_level: str = "WARNING",
    ) -> None:
        self.port = free_port()
        self.log = log
        keys = [{"key": k, "tenant": t, "subject": s, "roles": r} for k, (t, s, r) in KEYS.items()]
        self.env = {
            **os.environ,
            "EVALUATION_BUS__BOOTSTRAP_SERVERS": bootstrap,
            "EVALUATION_BUS__CONSUMER_GROUP": group or unique("evaluation"),
            "EVALUATION_BUS__CLIENT_ID": f"evaluation-{self.port}",
            "EVALUATION_BUS__DATABASE_URL": db if isinstance(db, str) else f"sqlite:///{db}",
            "EVALUATION_BUS__OUTBOX_RELAY_INTERVAL_S": "0.2",
            "EVALUATION_BUS__COMMIT_INTERVAL_S": "0.2",
            # A killed replica's partitions move to the survivor this soon.
            "EVALUATION_BUS__SESSION_TIMEOUT_MS": "6000",  # the broker's minimum
            "EVALUATION_TOPIC_PREFIX": prefix,
            "EVALUATION_HTTP__PORT": str(self.port),
            "EVALUATION_HTTP__API_KEYS": json.dumps(keys),
            "EVALUATION_LOG_LEVEL": log_level,
        }
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                str(EVALUATION), "serve", env=self.env, stdout=out, stderr=out
            )

        async def ready() -> bool:
            assert self.process is not None
            assert self.process.returncode is None, self.log.read_text()[-3000:]
            try:
                async with httpx.AsyncClient() as client:
                    return (await client.get(f"{self.url}/readyz", timeout=2)).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(ready, timeout_s=90, what="evaluation process ready")

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()


def cases_done(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        try:
            row = conn.execute(
                "SELECT count(*) FROM evaluation_cases WHERE status != 'pending'"
            ).fetchone()
        except sqlite3.OperationalError:
            return 0
    return int(row[0])


async def test_sigkill_mid_evaluation_loses_nothing_and_applies_nothing_twice(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    prefix = unique("kill") + "."
    await make_topics(kafka_bootstrap, prefix)
    db = tmp_path / "evaluation.db"
    service = EvaluationProcess(kafka_bootstrap, prefix, db, tmp_path / "evaluation.log")
    planner = FakePlanner(kafka_bootstrap, prefix, answer, pace_s=0.05)
    await service.start()
    await planner.start()
    try:
        headers = {"X-API-Key": "k-ann"}
        evaluation_id = await start_evaluation(service.url, "load", CASES)

        async def some_done() -> bool:
            return cases_done(db) >= 5

        await eventually(some_done, timeout_s=60, what="first cases scored")
        at_kill = cases_done(db)
        await service.kill()
        assert at_kill < CASES, "the load finished before the kill; nothing was tested"
        await service.start()
        async with httpx.AsyncClient(base_url=service.url, headers=headers, timeout=30) as api:

            async def completed() -> bool:
                view = (await api.get(f"/v1/evaluations/{evaluation_id}")).json()
                return bool(view["status"] == "completed")

            await eventually(completed, timeout_s=90, what="evaluation completed after restart")
            view = (await api.get(f"/v1/evaluations/{evaluation_id}")).json()
        assert view["done"] == CASES
        assert all(c["status"] == "passed" for c in view["cases"])
    finally:
        await planner.stop()
        await service.stop()

    print(f"killed with {at_kill}/{CASES} cases scored")
    events = await read_events(kafka_bootstrap, f"{prefix}evaluations.events")
    scored = [e for e in events if isinstance(e.data, EvaluationCaseScored)]
    assert {e.data.case_id for e in scored} == {f"c{n:02d}" for n in range(CASES)}
    by_case: dict[str, set[str]] = {}
    for e in scored:
        by_case.setdefault(e.data.case_id, set()).add(e.id)
    assert all(len(ids) == 1 for ids in by_case.values()), by_case  # one decision per case
    completions = {e.id for e in events if isinstance(e.data, EvaluationCompleted)}
    assert len(completions) == 1
    tasks = await read_events(kafka_bootstrap, f"{prefix}tasks.submitted")
    assert len({e.id for e in tasks}) == CASES  # each case submitted once


async def start_evaluation(url: str, dataset: str, cases: int) -> str:
    """Add a dataset of `cases` generated cases for refunds and start its evaluation."""
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": "k-ann"}, timeout=30) as api:
        lines = jsonl(
            *(
                {"id": f"c{n:02d}", "input": {"n": n}, "expected": answer_for(n)}
                for n in range(cases)
            )
        )
        body = {"workflow": "refunds", "name": dataset, "cases_jsonl": lines}
        assert (await api.post("/v1/datasets", json=body)).status_code == 201
        started = await api.post(
            "/v1/evaluations", json={"workflow": "refunds", "version": "1.0.0"}
        )
        return str(started.json()["evaluation_id"])


def answer_for(n: int) -> dict[str, Any]:
    return {"decision": "refund" if n % 4 else "approve"}
