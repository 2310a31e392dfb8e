"""Two evaluation processes in one consumer group on one PostgreSQL database share an
evaluation's scoring (both score cases); SIGKILLing one mid-run leaves every case scored
exactly once (one row result, one case_scored event, one completion)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy.engine.url import make_url

from agentbus.testing import eventually, unique
from contracts.events.evaluation import EvaluationCaseScored, EvaluationCompleted

from .harness import FakePlanner, make_topics, read_events
from .test_sigkill import EvaluationProcess, answer, start_evaluation

pytestmark = pytest.mark.integration

CASES = 60


def scored_by(log: Path) -> set[str]:
    """Case ids a process logged as scored."""
    found = set()
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("message") == "case scored" or entry.get("msg") == "case scored":
            found.add(str(entry.get("case_id") or entry.get("fields", {}).get("case_id")))
    return found


def cases_done(url: str) -> int:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn:
        try:
            row = conn.execute(
                "SELECT count(*) FROM evaluation_cases WHERE status != 'pending'"
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
    return int(row[0]) if row else 0


async def test_two_replicas_share_scoring_and_a_killed_one_loses_nothing(
    kafka_bootstrap: str, postgres_url: str, tmp_path: Path
) -> None:
    prefix = unique("two") + "."
    await make_topics(kafka_bootstrap, prefix)
    group = unique("evaluation")
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    a, b = (
        EvaluationProcess(kafka_bootstrap, prefix, postgres_url, log, group=group, log_level="INFO")
        for log in logs
    )
    planner = FakePlanner(kafka_bootstrap, prefix, answer, pace_s=0.1)
    await asyncio.gather(a.start(), b.start(), planner.start())
    try:
        headers = {"X-API-Key": "k-ann"}
        evaluation_id = await start_evaluation(a.url, "replicas", CASES)

        async def both_scoring() -> bool:
            return bool(scored_by(logs[0]) and scored_by(logs[1]))

        await eventually(both_scoring, timeout_s=90, what="both replicas scoring cases")
        at_kill = cases_done(postgres_url)
        await b.kill()
        assert at_kill < CASES, "the load finished before the kill; nothing was tested"
        by_a, by_b = scored_by(logs[0]), scored_by(logs[1])
        # Every case the killed replica logged was committed or is scored again by the other.
        async with httpx.AsyncClient(base_url=a.url, headers=headers, timeout=30) as api:

            async def completed() -> bool:
                view = (await api.get(f"/v1/evaluations/{evaluation_id}")).json()
                return bool(view["status"] == "completed")

            await eventually(completed, timeout_s=120, what="evaluation completed on survivor")
            view = (await api.get(f"/v1/evaluations/{evaluation_id}")).json()
        assert view["done"] == CASES
        assert all(c["status"] == "passed" for c in view["cases"])
    finally:
        await planner.stop()
        await a.stop()
        await b.stop()

    print(f"killed replica B with {at_kill}/{CASES} scored; A logged {len(by_a)}, B {len(by_b)}")
    assert by_a
    assert by_b  # both replicas received work
    events = await read_events(kafka_bootstrap, f"{prefix}evaluations.events")
    scored = [e for e in events if isinstance(e.data, EvaluationCaseScored)]
    assert {e.data.case_id for e in scored} == {f"c{n:02d}" for n in range(CASES)}
    by_case: dict[str, set[str]] = {}
    for e in scored:
        by_case.setdefault(e.data.case_id, set()).add(e.id)
    assert all(len(ids) == 1 for ids in by_case.values()), by_case  # nothing scored twice
    assert len({e.id for e in events if isinstance(e.data, EvaluationCompleted)}) == 1
    tasks = await read_events(kafka_bootstrap, f"{prefix}tasks.submitted")
    assert len({e.id for e in tasks}) == CASES
