"""Commit hooks: deferred writes join the transaction; after-commit runs only on success."""

from __future__ import annotations

import pytest

from agentbus.bus import unit_factory
from agentbus.storage import TenantRepository, create_engine
from agentbus.storage.migrations import upgrade
from agentbus.testing.effects import EFFECT_MIGRATIONS, Effect

pytestmark = pytest.mark.integration


class Effects(TenantRepository[Effect]):
    model = Effect


async def test_deferred_writes_commit_with_the_unit_and_after_hooks_see_only_commits(
    database_url: str,
):
    engine = create_engine(database_url)
    await upgrade(engine, [EFFECT_MIGRATIONS])
    uow = unit_factory(engine)
    seen: list[str] = []
    try:
        async with uow("acme") as unit:
            unit.stash["labels"] = ["deferred"]

            async def write() -> None:
                for label in unit.stash["labels"]:
                    Effects(unit).add(Effect(tenant_id="acme", event_id=label, label=label))
                await unit.session.flush()

            unit.before_commit(write)
            unit.after_commit(lambda: seen.append("committed"))
            assert seen == []
            await unit.commit()
            assert seen == ["committed"]
            assert unit.stash == {}, "a commit empties the transaction's scratch space"
        async with uow("acme") as unit:
            unit.after_commit(lambda: seen.append("rolled back"))

            async def fail() -> None:
                raise RuntimeError("deferred write refused")

            unit.before_commit(fail)
            with pytest.raises(RuntimeError, match="refused"):
                await unit.commit()
        async with uow("acme") as unit:
            assert unit.stash == {}
            assert [e.label for e in await Effects(unit).find()] == ["deferred"]
            await unit.commit()  # hooks of an earlier unit never run again
        assert seen == ["committed"]
    finally:
        await engine.dispose()
