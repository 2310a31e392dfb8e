"""Dead letters, and the failed reply a dead-lettered request owes whoever waits for it."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from pydantic import ValidationError

from contracts.envelope import Envelope, encode, headers_to_dict, new_envelope
from contracts.events.request import DeadLetterRef, RequestFailed
from contracts.types import ErrorInfo, StepRef

from .dlq import dead_letter_headers, dlq_topic
from .records import InboundRecord, OutboundRecord, RecordSink

__all__ = ["DeadLetterer", "failed_reply"]

log = logging.getLogger("agentbus.bus")
_REPLY_NAMESPACE = uuid.UUID("6f1c1f1e-8d7a-4a51-9a57-1f4f5c2b9d10")


class DeadLetterer:
    """Writes a record to `<topic>.dlq` with its cause; for a request, also its failed reply."""

    def __init__(
        self, sink: RecordSink, *, consumer_group: str, service: str, reply_topic: str | None
    ) -> None:
        self.sink = sink
        self.consumer_group = consumer_group
        self.service = service
        self.reply_topic = reply_topic

    async def dead_letter(
        self, record: InboundRecord, error: BaseException, *, attempts: int
    ) -> None:
        """Returns once the dead letter (and the failed reply) are acknowledged."""
        headers = dead_letter_headers(
            record, error, consumer_group=self.consumer_group, attempts=attempts
        )
        target = dlq_topic(record.topic)
        [where] = await self.sink.send([OutboundRecord(target, record.key, record.value, headers)])
        log.error(
            "record dead-lettered",
            extra={
                "fields": {
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                    "dlq": target,
                    "attempts": attempts,
                    "error": f"{type(error).__name__}: {error}",
                }
            },
        )
        if self.reply_topic is None:
            return
        ref = DeadLetterRef(
            topic=target,
            partition=where[0],
            offset=where[1],
            original_topic=record.topic,
            original_partition=record.partition,
            original_offset=record.offset,
        )
        reply = failed_reply(record, error, ref, source=self.service, group=self.consumer_group)
        if reply is None:
            log.error(
                "dead-lettered request has no valid tenant or id; no failed reply can be addressed",
                extra={"fields": {"topic": record.topic, "offset": record.offset}},
            )
            return
        encoded = encode(reply)
        await self.sink.send(
            [OutboundRecord(self.reply_topic, encoded.key, encoded.value, list(encoded.headers))]
        )


def failed_reply(
    record: InboundRecord, error: BaseException, ref: DeadLetterRef, *, source: str, group: str
) -> Envelope[RequestFailed] | None:
    """The `request.failed` reply for a dead-lettered request; None when it cannot be addressed.

    Its id is derived from the request's, so a reply sent again after a crash is the same
    event and the waiting consumer's inbox skips it.
    """
    attrs = headers_to_dict(record.headers)
    tenant, request_id = attrs.get("ce_tenantid"), attrs.get("ce_id")
    if not tenant or not request_id:
        return None
    message = (str(error) or type(error).__name__)[:2000]
    try:
        data = RequestFailed(
            request_id=request_id,
            request_type=attrs.get("ce_type") or "unknown",
            step=_step_of(record.value),
            error=ErrorInfo(
                code="request.dead_lettered",
                message=f"{type(error).__name__}: {message}",
                details={"consumer_group": group},
            ),
            dead_letter=ref,
        )
        return new_envelope(
            data,
            source=source,
            tenant_id=tenant,
            run_id=attrs.get("ce_runid") or None,
            event_id=str(uuid.uuid5(_REPLY_NAMESPACE, f"{group}:{request_id}")),
            traceparent=attrs.get("ce_traceparent") or None,
        )
    except ValidationError:
        return None  # e.g. a tenant id no envelope may carry: the reply has no address


def _step_of(value: bytes | None) -> StepRef | None:
    try:
        body: Any = json.loads(value or b"")
        return StepRef.model_validate(body["step"])
    except (ValueError, TypeError, KeyError, ValidationError):
        return None
