"""The rubric judge: a chat completion through the model-router's OpenAI-compatible API."""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from agentbus.bus import TransientError

from .scorers import Judgement
from .settings import JudgeSettings

__all__ = ["RouterJudge", "parse_judgement"]

_SYSTEM = (
    "You grade the output of an automated workflow against a rubric. Answer with JSON only: "
    '{"score": <number from 0 to 1>, "reason": "<one sentence>"}.'
)
_JSON = re.compile(r"\{.*\}", re.DOTALL)


def parse_judgement(content: str) -> tuple[float, str]:
    """The score (clamped to 0..1) and reason in a judge's answer; score 0 if unreadable."""
    match = _JSON.search(content)
    try:
        data: Any = json.loads(match.group(0)) if match else {}
        score = float(data["score"])
        reason = str(data.get("reason", ""))[:500]
    except (ValueError, TypeError, KeyError, AttributeError):
        return 0.0, f"unreadable judgement: {content[:200]}"
    return max(0.0, min(1.0, score)), reason


class RouterJudge:
    """Judge adapter: one POST /v1/chat/completions per rubric check, as the case's tenant."""

    def __init__(
        self, settings: JudgeSettings, tenant_id: str, client: httpx.AsyncClient | None = None
    ) -> None:
        self.settings = settings
        self.tenant_id = tenant_id
        self.client = client

    async def grade(
        self, *, rubric: str, case_input: dict[str, Any], output: Any, model: str | None
    ) -> Judgement:
        """Ask the router's judge alias; transient failures are retried by the bus."""
        key = self.settings.api_keys.get(self.tenant_id)
        if self.settings.url is None or key is None:
            return Judgement(0.0, f"no judge configured for tenant {self.tenant_id!r}")
        prompt = (
            f"Rubric:\n{rubric}\n\nWorkflow input:\n{json.dumps(case_input, sort_keys=True)}"
            f"\n\nOutput to grade:\n{json.dumps(output, sort_keys=True, default=str)}"
        )
        body = {
            "model": model or self.settings.model,
            "messages": [
                {"role": "system", "content": _SYSTEM},
                {"role": "user", "content": prompt},
            ],
            "temperature": 0,
        }
        client = self.client or httpx.AsyncClient(timeout=self.settings.timeout_s)
        try:
            response = await client.post(
                f"{self.settings.url.rstrip('/')}/v1/chat/completions",
                json=body,
                headers={"Authorization": f"Bearer {key.get_secret_value()}"},
            )
        except httpx.TransportError as exc:
            raise TransientError(f"judge unreachable: {type(exc).__name__}") from exc
        finally:
            if self.client is None:
                await client.aclose()
        if response.status_code in (429, 502, 503, 504):
            raise TransientError(f"judge answered {response.status_code}")
        if response.status_code != 200:
            return Judgement(0.0, f"judge refused ({response.status_code}): {response.text[:200]}")
        return _judgement(response.json())


def _judgement(payload: dict[str, Any]) -> Judgement:
    content = str(payload["choices"][0]["message"]["content"] or "")
    score, reason = parse_judgement(content)
    usage = payload.get("usage") or {}
    try:
        cost = Decimal(str((payload.get("agentbus") or {}).get("cost_usd", "0")))
    except InvalidOperation:
        cost = Decimal(0)
    return Judgement(score, reason, tokens=int(usage.get("total_tokens", 0)), cost_usd=cost)
