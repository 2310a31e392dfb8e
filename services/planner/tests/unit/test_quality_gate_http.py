"""The evaluation service as the publish gate: its verdict passes through; it fails closed."""

from __future__ import annotations

from pathlib import Path

import httpx
from planner.lifecycle import AlwaysPass
from planner.quality_gate_http import HttpQualityGate, QualityGateSettings, gate_from_settings
from planner.validation import parse_definition
from planner.versions import content_hash
from pydantic import SecretStr

DEFINITION = parse_definition(
    (Path(__file__).resolve().parents[2] / "workflows" / "refund-triage.yaml").read_text()
)
SETTINGS = QualityGateSettings(url="http://evaluation", api_keys={"acme": SecretStr("k-acme")})


def gate(handler: httpx.MockTransport) -> HttpQualityGate:
    return HttpQualityGate(SETTINGS, transport=handler)


async def test_the_verdict_of_the_evaluation_service_is_the_gate_verdict() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={"passed": False, "reason": "min_pass_rate: measured 0.50, limit 0.90"},
        )

    verdict = await gate(httpx.MockTransport(answer)).check("acme", DEFINITION)
    assert not verdict.passed
    assert verdict.details["reason"] == "min_pass_rate: measured 0.50, limit 0.90"
    assert seen[0].url.path == "/v1/gate"
    assert seen[0].url.params["content_hash"] == content_hash(DEFINITION)
    assert seen[0].url.params["version"] == DEFINITION.version
    assert seen[0].headers["X-API-Key"] == "k-acme"

    def ok(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"passed": True, "reason": "passed", "evaluations": []})

    assert (await gate(httpx.MockTransport(ok)).check("acme", DEFINITION)).passed


async def test_it_fails_closed() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def broken(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"code": "internal", "message": "boom"})

    unreachable = await gate(httpx.MockTransport(down)).check("acme", DEFINITION)
    assert not unreachable.passed
    assert "unreachable" in unreachable.details["reason"]
    failing = await gate(httpx.MockTransport(broken)).check("acme", DEFINITION)
    assert not failing.passed
    assert "answered 500" in failing.details["reason"]
    no_key = await gate(httpx.MockTransport(broken)).check("globex", DEFINITION)
    assert not no_key.passed
    assert "no evaluation API key" in no_key.details["reason"]


def test_without_a_url_the_gate_is_off() -> None:
    assert isinstance(gate_from_settings(QualityGateSettings()), AlwaysPass)
    assert isinstance(gate_from_settings(SETTINGS), HttpQualityGate)
