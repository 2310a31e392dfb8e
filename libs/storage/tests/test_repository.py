"""Tenant isolation in the repository layer, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from agentbus.bus import unit_factory
from agentbus.storage import (
    CrossTenantError,
    TenantRepository,
    create_engine,
)
from agentbus.storage.migrations import upgrade
from agentbus.testing.effects import EFFECT_MIGRATIONS, Effect

pytestmark = pytest.mark.integration


class Effects(TenantRepository[Effect]):
    model = Effect


async def test_a_tenant_never_sees_or_writes_another_tenants_rows(database_url: str):
    engine = create_engine(database_url)
    await upgrade(engine, [EFFECT_MIGRATIONS])
    uow = unit_factory(engine)
    try:
        async with uow("acme") as unit:
            mine = Effects(unit).add(Effect(tenant_id="acme", event_id="e1", label="mine"))
            with pytest.raises(CrossTenantError, match="globex"):
                Effects(unit).add(Effect(tenant_id="globex", event_id="e2"))
            await unit.commit()
        async with uow("globex") as unit:
            Effects(unit).add(Effect(tenant_id="globex", event_id="e3", label="theirs"))
            await unit.commit()
        async with uow("acme") as unit:
            repo = Effects(unit)
            assert [e.label for e in await repo.find()] == ["mine"]
            assert await repo.get(mine.id) is not None
        async with uow("globex") as unit:
            repo = Effects(unit)
            assert await repo.get(mine.id) is None, "acme's row by its id is still invisible"
            assert [e.label for e in await repo.find(Effect.label == "mine")] == []
    finally:
        await engine.dispose()
