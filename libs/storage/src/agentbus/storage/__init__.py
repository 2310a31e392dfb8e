"""Storage shared by agentbus services: engines, unit of work, inbox and outbox."""

from .engine import create_engine, create_tables, is_postgres, to_async_url
from .outbox import mark_published, pending
from .repository import CrossTenantError, TenantRepository
from .retention import prune
from .tables import InboxEntry, OutboxEntry
from .uow import DuplicateEventError, UnitOfWork, UnitOfWorkFactory

__all__ = [
    "CrossTenantError",
    "DuplicateEventError",
    "InboxEntry",
    "OutboxEntry",
    "TenantRepository",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "create_engine",
    "create_tables",
    "is_postgres",
    "mark_published",
    "pending",
    "prune",
    "to_async_url",
]
