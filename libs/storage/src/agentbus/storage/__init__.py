"""Storage shared by agentbus services: engines, unit of work, inbox, outbox and timers."""

from .engine import create_engine, is_postgres, to_async_url
from .locks import relay_turn
from .outbox import mark_published, pending
from .repository import CrossTenantError, TenantRepository
from .retention import Pruned, prune
from .sqlite_driver import statements_off_loop
from .statements import Insert, prepared, table_of
from .tables import BusTable, InboxEntry, OutboxEntry, TimerEntry, bus_metadata
from .timers import fire_due
from .uow import (
    CommittedRow,
    DuplicateEventError,
    EncodedMessage,
    MessageEncoder,
    UnitOfWork,
    UnitOfWorkFactory,
)

__all__ = [
    "BusTable",
    "CommittedRow",
    "CrossTenantError",
    "DuplicateEventError",
    "EncodedMessage",
    "InboxEntry",
    "Insert",
    "MessageEncoder",
    "OutboxEntry",
    "Pruned",
    "TenantRepository",
    "TimerEntry",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "bus_metadata",
    "create_engine",
    "fire_due",
    "is_postgres",
    "mark_published",
    "pending",
    "prepared",
    "prune",
    "relay_turn",
    "statements_off_loop",
    "table_of",
    "to_async_url",
]
