"""The agentbus bus runtime: consume with an inbox, publish with an outbox, dead-letter the rest."""

from .dlq import DeadLetterInfo, dlq_topic
from .errors import PermanentError, TransientError, is_transient
from .io import SETTLED, IoContext, IoHandler, Settled, idempotency_key
from .messages import encode_envelope, unit_factory
from .outcomes import Wanted
from .processor import Handler, Outcome, Processor
from .records import InboundRecord, OutboundRecord, RecordSink
from .relay import OutboxRelay
from .runtime import Bus
from .settings import BusSettings, KafkaSecurity, RetryPolicy

__all__ = [
    "SETTLED",
    "Bus",
    "BusSettings",
    "DeadLetterInfo",
    "Handler",
    "InboundRecord",
    "IoContext",
    "IoHandler",
    "KafkaSecurity",
    "OutboundRecord",
    "OutboxRelay",
    "Outcome",
    "PermanentError",
    "Processor",
    "RecordSink",
    "RetryPolicy",
    "Settled",
    "TransientError",
    "Wanted",
    "dlq_topic",
    "encode_envelope",
    "idempotency_key",
    "is_transient",
    "unit_factory",
]
