"""The one place stores filter by tenant: a repository bound to a unit of work's tenant."""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import SQLModel, col, select
from sqlmodel.sql.expression import SelectOfScalar

from .uow import UnitOfWork

__all__ = ["CrossTenantError", "TenantRepository"]

M = TypeVar("M", bound=SQLModel)


class CrossTenantError(PermissionError):
    """A row of one tenant was written through another tenant's unit of work."""


class TenantRepository(Generic[M]):
    """Base of every service repository: reads see, and writes carry, one tenant only.

    Subclasses set `model` (a table with a `tenant_id` column) and add domain queries
    built on `query()`, never on a bare `select`.
    """

    model: ClassVar[type[Any]]

    def __init__(self, uow: UnitOfWork) -> None:
        self.session = uow.session
        self.tenant_id = uow.tenant_id

    def query(self) -> SelectOfScalar[M]:
        """A SELECT of this tenant's rows."""
        return select(self.model).where(col(self.model.tenant_id) == self.tenant_id)

    def add(self, row: M) -> M:
        """Stage a new or changed row of this tenant."""
        if getattr(row, "tenant_id", None) != self.tenant_id:
            raise CrossTenantError(
                f"{type(row).__name__} of tenant {getattr(row, 'tenant_id', None)!r} "
                f"written through tenant {self.tenant_id!r}"
            )
        self.session.add(row)
        return row

    async def get(self, *key: Any) -> M | None:
        """The row with this primary key, if it belongs to this tenant."""
        row: M | None = await self.session.get(self.model, key if len(key) > 1 else key[0])
        if row is None or getattr(row, "tenant_id", None) != self.tenant_id:
            return None
        return row

    async def find(self, *where: ColumnElement[bool], limit: int | None = None) -> list[M]:
        """This tenant's rows matching `where`."""
        query = self.query().where(*where)
        if limit is not None:
            query = query.limit(limit)
        return list((await self.session.exec(query)).all())
