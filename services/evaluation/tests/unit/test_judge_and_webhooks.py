"""The rubric judge speaks the router's OpenAI-compatible wire format; webhooks are signed."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
from evaluation.judge import RouterJudge, parse_judgement
from evaluation.settings import JudgeSettings
from evaluation.webhooks import sign, verify
from pydantic import SecretStr

from agentbus.bus import TransientError

SETTINGS = JudgeSettings(url="http://router", api_keys={"acme": SecretStr("rk")}, model="judge")


def completion(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 80, "completion_tokens": 12, "total_tokens": 92},
        "agentbus": {"cost_usd": "0.000104", "alias": "judge"},
    }


@pytest.mark.parametrize(
    ("content", "score", "reason"),
    [
        ('{"score": 0.8, "reason": "good"}', 0.8, "good"),
        ('Sure! {"score": 1.7, "reason": "too kind"} done', 1.0, "too kind"),
        ("no json here", 0.0, "unreadable judgement: no json here"),
        ('{"score": "high"}', 0.0, 'unreadable judgement: {"score": "high"}'),
    ],
)
def test_judgements_are_parsed_and_clamped(content: str, score: float, reason: str) -> None:
    assert parse_judgement(content) == (score, reason)


async def test_router_judge_posts_a_chat_completion_and_counts_cost() -> None:
    seen: list[httpx.Request] = []

    def router(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=completion('{"score": 0.75, "reason": "ok"}'))

    async with httpx.AsyncClient(transport=httpx.MockTransport(router)) as client:
        judge = RouterJudge(SETTINGS, "acme", client)
        judgement = await judge.grade(rubric="polite", case_input={"a": 1}, output="hi", model=None)
    assert judgement.score == 0.75
    assert judgement.tokens == 92
    assert judgement.cost_usd == Decimal("0.000104")
    assert seen[0].url.path == "/v1/chat/completions"
    assert seen[0].headers["Authorization"] == "Bearer rk"
    assert b'"model":"judge"' in seen[0].content


async def test_router_errors_retry_or_fail_the_check() -> None:
    def busy(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"code": "model.unavailable", "message": "busy"})

    def refused(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(402, json={"code": "budget.exceeded", "message": "budget"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(busy)) as client:
        with pytest.raises(TransientError):
            await RouterJudge(SETTINGS, "acme", client).grade(
                rubric="r", case_input={}, output="x", model="m"
            )
    async with httpx.AsyncClient(transport=httpx.MockTransport(refused)) as client:
        judgement = await RouterJudge(SETTINGS, "acme", client).grade(
            rubric="r", case_input={}, output="x", model="m"
        )
    assert judgement.score == 0.0
    assert "judge refused (402)" in judgement.reason
    unconfigured = await RouterJudge(SETTINGS, "globex").grade(
        rubric="r", case_input={}, output="x", model=None
    )
    assert "no judge configured" in unconfigured.reason


def test_webhook_signatures_verify_and_expire() -> None:
    body = b'{"type": "agentbus.alert.raised.v1"}'
    now = int(time.time())
    header = sign("s3cret", body, now)
    assert verify("s3cret", body, header)
    assert not verify("other", body, header)
    assert not verify("s3cret", body + b" ", header)
    assert not verify("s3cret", body, sign("s3cret", body, now - 3600))
    assert not verify("s3cret", body, "garbage")
