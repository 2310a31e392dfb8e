"""The evaluation service as the planner's publish gate, over its HTTP API (issue 12).

Fails closed: an unreachable evaluation service, an error answer or a tenant without a key
refuses the publication with the reason, so nothing is published unevaluated by accident.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel, Field, SecretStr

from .definition import WorkflowDefinition
from .lifecycle import AlwaysPass, GateResult, QualityGate
from .versions import content_hash

__all__ = ["HttpQualityGate", "QualityGateSettings", "gate_from_settings"]


class QualityGateSettings(BaseModel):
    """Where the evaluation service answers `GET /v1/gate`; no URL keeps the gate off."""

    url: str | None = Field(default=None, description="evaluation base URL, e.g. :8087")
    api_keys: dict[str, SecretStr] = Field(
        default_factory=dict, description="tenant -> evaluation API key the planner uses"
    )
    timeout_s: float = Field(default=10.0, gt=0)


class HttpQualityGate:
    """Asks the evaluation service whether this exact content hash passed its evaluation."""

    def __init__(
        self, settings: QualityGateSettings, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.transport = transport

    async def check(self, tenant_id: str, definition: WorkflowDefinition) -> GateResult:
        """The evaluation service's verdict; a refusal whenever it cannot be had."""
        key = self.settings.api_keys.get(tenant_id)
        if key is None or self.settings.url is None:
            return _refused(f"no evaluation API key configured for tenant {tenant_id!r}")
        params = {
            "workflow": definition.name,
            "version": definition.version,
            "content_hash": content_hash(definition),
        }
        try:
            async with httpx.AsyncClient(
                base_url=self.settings.url,
                timeout=self.settings.timeout_s,
                transport=self.transport,
                headers={"X-API-Key": key.get_secret_value()},
            ) as client:
                response = await client.get("/v1/gate", params=params)
        except httpx.HTTPError as exc:
            return _refused(f"evaluation service unreachable ({type(exc).__name__})")
        if response.status_code != 200:
            return _refused(f"evaluation service answered {response.status_code}")
        body: dict[str, Any] = response.json()
        details = {"gate": "evaluation", "reason": str(body.get("reason", ""))}
        if "evaluations" in body:
            details["evaluations"] = body["evaluations"]
        if "override" in body:
            details["override"] = body["override"]
        return GateResult(bool(body.get("passed")), details)


def _refused(reason: str) -> GateResult:
    return GateResult(False, {"gate": "evaluation", "reason": reason})


def gate_from_settings(settings: QualityGateSettings) -> QualityGate:
    """The HTTP gate when a URL is set, otherwise the default that lets everything pass."""
    return HttpQualityGate(settings) if settings.url else AlwaysPass()
