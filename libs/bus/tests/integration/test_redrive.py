"""A dead letter redriven after its cause is fixed is processed once; the CLI drives it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentbus.bus import Bus, PermanentError
from agentbus.storage import UnitOfWork
from agentbus.testing import consume, eventually, produce, raw_record
from agentbus.testing.effects import effects_by_event, record_effect
from contracts.envelope import Envelope

pytestmark = pytest.mark.integration


def agentbus(*args: str, bootstrap: str) -> subprocess.CompletedProcess[str]:
    """Run the real `agentbus` console script."""
    script = Path(sys.executable).parent / "agentbus"
    return subprocess.run(
        [str(script), *args, "--bootstrap", bootstrap],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


class Switchable:
    """Rejects every event until the cause is fixed."""

    def __init__(self) -> None:
        self.fixed = False

    async def __call__(self, envelope: Envelope[Any], uow: UnitOfWork) -> None:
        if not self.fixed:
            raise PermanentError("downstream rejects workflow 'echo' (misconfigured)")
        await record_effect(envelope, uow)


async def test_redriven_dead_letter_is_processed_once(case, started, make_task):
    handler = Switchable()
    bus = Bus(case.settings(), service="test")
    bus.consumer(case.topic, event_types={"agentbus.task.submitted.v1"})(handler)
    envelope = make_task()
    await produce(case.bootstrap, case.topic, [raw_record(envelope)])
    await started(bus)
    await consume(case.bootstrap, case.dlq, count=1)

    listed = agentbus("dlq", "list", case.topic, bootstrap=case.bootstrap)
    assert listed.returncode == 0, listed.stderr
    assert "PermanentError" in listed.stdout
    assert "1 dead letter(s)" in listed.stdout

    handler.fixed = True
    redriven = agentbus("dlq", "redrive", case.dlq, bootstrap=case.bootstrap)
    assert redriven.returncode == 0, redriven.stderr
    assert "1 record(s) redriven" in redriven.stdout

    async def applied_once() -> bool:
        async with bus.uow.sessions() as session:
            return await effects_by_event(session) == {envelope.id: 1}

    await eventually(applied_once, what="the redriven event applied")

    again = agentbus("dlq", "redrive", case.dlq, bootstrap=case.bootstrap)
    assert "0 record(s) redriven" in again.stdout, "the redrive group remembers its position"
    forced = agentbus(
        "dlq", "redrive", case.dlq, "--partition", "0", "--offset", "0", bootstrap=case.bootstrap
    )
    assert "1 record(s) redriven" in forced.stdout
    await consume(case.bootstrap, case.topic, count=3)  # original + two redrives
    marker = make_task()
    await produce(case.bootstrap, case.topic, [raw_record(marker)])

    async def marker_applied() -> bool:
        async with bus.uow.sessions() as session:
            return marker.id in await effects_by_event(session)

    await eventually(marker_applied, what="the record after the second redrive")
    async with bus.uow.sessions() as session:
        assert (await effects_by_event(session))[envelope.id] == 1


async def test_show_and_purge(case, started, make_task):
    bus = Bus(case.settings(), service="test")
    bus.consumer(case.topic, event_types={"agentbus.task.submitted.v1"})(record_effect)
    key, _, headers = raw_record(make_task())
    await produce(case.bootstrap, case.topic, [(key, b"\x00binary", headers)])
    await started(bus)
    await consume(case.bootstrap, case.dlq, count=1)

    shown = agentbus("dlq", "show", case.topic, "0", "0", bootstrap=case.bootstrap)
    assert shown.returncode == 0, shown.stderr
    assert "MessageParseError" in shown.stdout
    assert f'"dlq.original.topic": "{case.topic}"' in shown.stdout

    missing = agentbus("dlq", "show", case.topic, "0", "5", bootstrap=case.bootstrap)
    assert missing.returncode == 1
    assert (
        missing.stderr.strip() == f"error: {case.dlq} partition 0 holds offsets 0..0; no offset 5"
    )
    refused = agentbus("dlq", "purge", case.topic, bootstrap=case.bootstrap)
    assert refused.returncode != 0, "purge without --yes and no answer must not delete"
    assert (
        "1 dead letter(s)" in agentbus("dlq", "list", case.topic, bootstrap=case.bootstrap).stdout
    )
    purged = agentbus("dlq", "purge", case.topic, "--yes", bootstrap=case.bootstrap)
    assert purged.returncode == 0, purged.stderr
    assert "purged 1 record(s)" in purged.stdout
    assert (
        "0 dead letter(s)" in agentbus("dlq", "list", case.topic, bootstrap=case.bootstrap).stdout
    )
