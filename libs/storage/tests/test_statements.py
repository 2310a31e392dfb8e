"""Built-once statements: one per builder (or key) and dialect, executed with values."""

from pathlib import Path
from typing import Any

from sqlalchemy import select

from agentbus.storage import Insert, create_engine, prepared, table_of
from agentbus.storage.migrations import upgrade
from agentbus.storage.tables import InboxEntry, utcnow
from agentbus.storage.uow import UnitOfWorkFactory


def _claim(insert: Insert) -> Any:
    return insert(table_of(InboxEntry)).on_conflict_do_nothing()


async def test_a_statement_is_built_once_and_runs_with_each_calls_values(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    await upgrade(engine)
    uows = UnitOfWorkFactory(engine)
    try:
        for event_id in ("e1", "e2", "e1"):  # the second e1 conflicts and is ignored
            async with uows("t") as uow:
                statement = prepared(uow, _claim)
                assert prepared(uow, _claim) is statement
                assert prepared(uow, _claim, key=("other", 1)) is not statement
                row = {"tenant_id": "t", "consumer_group": "g", "event_id": event_id, "topic": "t"}
                await uow.session.exec(
                    statement, params={**row, "partition": 0, "offset": 1, "handled_at": utcnow()}
                )
                await uow.commit()
        async with uows("t") as uow:
            table = table_of(InboxEntry)
            ids = (await uow.session.exec(select(table.c.event_id))).all()
        assert sorted(i for (i,) in ids) == ["e1", "e2"]
    finally:
        await engine.dispose()
