"""Storage shared by agentbus services: engines, unit of work, inbox and outbox."""

from .engine import create_engine, is_postgres, to_async_url
from .outbox import mark_published, pending
from .repository import CrossTenantError, TenantRepository
from .retention import prune
from .tables import BusTable, InboxEntry, OutboxEntry, bus_metadata
from .uow import DuplicateEventError, UnitOfWork, UnitOfWorkFactory

__all__ = [
    "BusTable",
    "CrossTenantError",
    "DuplicateEventError",
    "InboxEntry",
    "OutboxEntry",
    "TenantRepository",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "bus_metadata",
    "create_engine",
    "is_postgres",
    "mark_published",
    "pending",
    "prune",
    "to_async_url",
]
