"""Shadow evaluation: a draft version replays recorded production runs, scored against them.

Recorded runs come from the planner's run API (input, output and every step's output, as
the run stored them). Each becomes a case whose expected value is the recorded output; the
recorded outputs of the run's tool steps become the case's fixtures, so the draft's write
tools answer as production's did and cause no side effect.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from .dataset import Case, Dataset, Thresholds
from .evaluations import EVALUATION_TASK_PREFIX
from .settings import RecordedRunsSettings

__all__ = ["SHADOW_PREFIX", "RecordedRuns", "ShadowError", "shadow_dataset"]

SHADOW_PREFIX = "shadow-"
_CASE_ID = re.compile(r"[^A-Za-z0-9._-]")


class ShadowError(Exception):
    """Recorded runs cannot be had; the message says why."""


class RecordedRuns:
    """Reads recorded runs and a definition from the planner, as the caller's tenant."""

    def __init__(
        self, settings: RecordedRunsSettings, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.transport = transport

    def _client(self, tenant_id: str) -> httpx.AsyncClient:
        key = self.settings.api_keys.get(tenant_id)
        if self.settings.url is None or key is None:
            raise ShadowError(f"no planner URL or key configured for tenant {tenant_id!r}")
        return httpx.AsyncClient(
            base_url=self.settings.url,
            timeout=self.settings.timeout_s,
            transport=self.transport,
            headers={"X-API-Key": key.get_secret_value()},
        )

    async def runs(
        self, tenant_id: str, workflow: str, version: str, limit: int
    ) -> list[dict[str, Any]]:
        """The newest completed production runs of workflow@version, in full."""
        async with self._client(tenant_id) as client:
            try:
                listed = await client.get(
                    "/v1/runs",
                    params={"workflow": workflow, "status": "completed", "limit": 1000},
                )
                listed.raise_for_status()
                chosen = [
                    r["run_id"]
                    for r in listed.json()
                    if r["version"] == version
                    and not str(r["task_id"]).startswith(EVALUATION_TASK_PREFIX)
                ][:limit]
                found = []
                for run_id in chosen:
                    response = await client.get(f"/v1/runs/{run_id}")
                    response.raise_for_status()
                    found.append(response.json())
            except httpx.HTTPError as exc:
                raise ShadowError(f"planner run API: {type(exc).__name__}: {exc}") from exc
        return found

    async def tool_steps(self, tenant_id: str, workflow: str, version: str) -> dict[str, str]:
        """step id -> tool name of the draft's tool steps."""
        async with self._client(tenant_id) as client:
            try:
                response = await client.get(f"/v1/definitions/{workflow}/{version}")
                response.raise_for_status()
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code == 404:
                    raise ShadowError(
                        f"the planner has no {workflow}@{version}: create the draft first"
                    ) from exc
                status = exc.response.status_code
                raise ShadowError(f"planner definition API: HTTP {status}") from exc
            except httpx.HTTPError as exc:
                raise ShadowError(f"planner definition API: {type(exc).__name__}: {exc}") from exc
        steps = (response.json().get("definition") or {}).get("steps", [])
        return {s["id"]: s["tool"] for s in steps if s.get("type") == "tool" and "tool" in s}


def shadow_dataset(
    workflow: str,
    source_version: str,
    runs: list[dict[str, Any]],
    tool_steps: dict[str, str],
    compare: list[str],
) -> Dataset:
    """A dataset of recorded runs: expected = recorded output, fixtures = recorded tool outputs."""
    if not runs:
        raise ShadowError(f"no completed production runs of {workflow}@{source_version}")
    cases = []
    for run in runs:
        recorded = {s["id"]: s.get("output") for s in run.get("steps", [])}
        fixtures = {tool: recorded[step] for step, tool in tool_steps.items() if recorded.get(step)}
        checks: list[dict[str, Any]] = [{"type": "field", "path": p} for p in compare] or [
            {"type": "exact"}
        ]
        cases.append(
            Case.model_validate(
                {
                    "id": _CASE_ID.sub("-", run["run_id"])[:128],
                    "input": run.get("input") or {},
                    "expected": run.get("output") or {},
                    "checks": checks,
                    "tags": ["shadow"],
                    "fixtures": fixtures,
                }
            )
        )
    return Dataset(
        workflow=workflow,
        name=f"{SHADOW_PREFIX}{source_version}",
        thresholds=Thresholds(min_pass_rate=0.0),
        cases=cases,
    )
