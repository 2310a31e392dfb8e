"""Error classification and security settings."""

from __future__ import annotations

import httpx
import pytest
from aiokafka.errors import RequestTimedOutError
from pydantic import BaseModel, ValidationError

from agentbus.bus.errors import PermanentError, TransientError, is_transient
from contracts.errors import ContractViolationError


class Model(BaseModel):
    n: int


def validation_error() -> ValidationError:
    try:
        Model.model_validate({"n": "x"})
    except ValidationError as exc:
        return exc
    raise AssertionError


def status_error(code: int) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    return httpx.HTTPStatusError(
        "x", request=request, response=httpx.Response(code, request=request)
    )


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (TransientError("x"), True),
        (TimeoutError(), True),
        (ConnectionResetError(), True),
        (httpx.ConnectError("refused"), True),
        (status_error(503), True),
        (status_error(429), True),
        (status_error(400), False),
        (RequestTimedOutError(), True),
        (PermanentError("x"), False),
        (ContractViolationError("x"), False),
        (validation_error(), False),
        (KeyError("a bug"), False),
    ],
)
def test_only_transient_errors_are_retried(error: BaseException, transient: bool):
    assert is_transient(error) is transient


def test_security_settings_map_to_faststream_objects():
    from faststream.security import SASLScram512

    from agentbus.bus.security import kafka_security
    from agentbus.bus.settings import KafkaSecurity

    assert kafka_security(KafkaSecurity()) is None
    scram = kafka_security(
        KafkaSecurity(
            protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", username="planner", password="s"
        )
    )
    assert isinstance(scram, SASLScram512)
    assert scram.use_ssl
    with pytest.raises(ValueError, match="username"):
        kafka_security(KafkaSecurity(protocol="SASL_PLAINTEXT"))
