"""The demo's calls to the running services' HTTP APIs (the same calls a user or script makes)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

__all__ = ["PORTS", "ApiError", "Platform", "load_keys"]

PORTS = {
    "planner": 8081,
    "model-router": 8082,
    "tool-executor": 8083,
    "guardrail": 8084,
    "approval": 8085,
    "audit": 8086,
}


class ApiError(RuntimeError):
    """A service answered with an error (its JSON `{code, message}`) or not at all."""


def load_keys(stack_dir: Path) -> dict[str, str]:
    """The demo principals' API keys minted by `make up` (subject -> key)."""
    data: dict[str, str] = json.loads((stack_dir / "keys.json").read_text())
    return data


@dataclass
class Platform:
    """One HTTP client per call site; every request names the principal it acts as."""

    keys: dict[str, str]
    host: str = "127.0.0.1"
    timeout_s: float = 10.0

    def url(self, service: str, path: str) -> str:
        return f"http://{self.host}:{PORTS[service]}{path}"

    def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        as_: str,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        ok: tuple[int, ...] = (200, 201, 202),
    ) -> Any:
        """JSON in, JSON out; raises ApiError with the service's error code otherwise."""
        try:
            response = httpx.request(
                method,
                self.url(service, path),
                headers={"X-API-Key": self.keys[as_]},
                json=body,
                params=params,
                timeout=self.timeout_s,
            )
        except httpx.HTTPError as exc:
            raise ApiError(f"{service} {method} {path}: {type(exc).__name__}: {exc}") from exc
        if response.status_code not in ok:
            raise ApiError(
                f"{service} {method} {path}: HTTP {response.status_code} {response.text}"
            )
        if "json" in response.headers.get("content-type", ""):
            return response.json()
        return response.text

    def ready(self, service: str) -> tuple[bool, str]:
        """Whether the service's /readyz answers 200, and what it said."""
        try:
            response = httpx.get(self.url(service, "/readyz"), timeout=3.0)
        except httpx.HTTPError as exc:
            return False, f"{type(exc).__name__}"
        return response.status_code == 200, response.text[:200]

    # planner -------------------------------------------------------------------------------

    def publish_definition(self, source: str, author: str, reviewer: str) -> dict[str, Any]:
        """draft -> in_review (author) -> approved -> published (reviewer); idempotent."""
        created = self.call(
            "planner", "POST", "/v1/definitions", as_=author, body={"source": source}, ok=(201, 409)
        )
        if "name" not in created:  # 409: the version exists; find where it stands
            import yaml

            head = yaml.safe_load(source)
            created = self.call(
                "planner", "GET", f"/v1/definitions/{head['name']}/{head['version']}", as_=author
            )
        name, version, status = created["name"], created["version"], created["status"]
        steps = {"draft": "submit", "in_review": "approve", "approved": "publish"}
        while status in steps:
            action = steps[status]
            actor = author if action == "submit" else reviewer
            view = self.call(
                "planner", "POST", f"/v1/definitions/{name}/{version}/{action}", as_=actor
            )
            status = view["status"]
            created = view
        return dict(created)

    def submit(self, task_id: str, workflow: str, payload: dict[str, Any], as_: str) -> Any:
        return self.call(
            "planner",
            "POST",
            "/v1/tasks",
            as_=as_,
            body={"task_id": task_id, "workflow": workflow, "input": payload},
        )

    def run(self, run_id: str, as_: str) -> dict[str, Any] | None:
        """The run's view, or None while the planner has not created it yet."""
        try:
            found: dict[str, Any] = self.call("planner", "GET", f"/v1/runs/{run_id}", as_=as_)
        except ApiError as exc:
            if "HTTP 404" in str(exc):
                return None
            raise
        return found

    def run_of_task(self, task_id: str, workflow: str, as_: str) -> str | None:
        """The run id of a task submitted outside HTTP (found in the run listing)."""
        runs = self.call(
            "planner", "GET", "/v1/runs", as_=as_, params={"workflow": workflow, "limit": 200}
        )
        for run in runs:
            if run.get("task_id") == task_id:
                return str(run["run_id"])
        return None

    # approval ------------------------------------------------------------------------------

    def pending_approvals(self, run_id: str, as_: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.call(
            "approval", "GET", "/v1/approvals", as_=as_, params={"run_id": run_id}
        )
        return found

    def approve(self, approval: dict[str, Any], comment: str, as_: str) -> Any:
        """Vote to approve the payload that was shown (bound by its hash)."""
        return self.call(
            "approval",
            "POST",
            f"/v1/approvals/{approval['id']}/approve",
            as_=as_,
            body={"payload_sha256": approval["payload_sha256"], "comment": comment},
        )

    # audit ---------------------------------------------------------------------------------

    def audit_records(self, run_id: str, as_: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"run_id": run_id, "limit": 100}
            if cursor:
                params["cursor"] = cursor
            page = self.call("audit", "GET", "/v1/audit", as_=as_, params=params)
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    def audit_report(self, run_id: str, as_: str) -> dict[str, Any]:
        found: dict[str, Any] = self.call(
            "audit", "GET", f"/v1/audit/runs/{run_id}/report", as_=as_
        )
        return found

    def audit_report_html(self, run_id: str, as_: str) -> str:
        return str(self.call("audit", "GET", f"/v1/audit/runs/{run_id}/report.html", as_=as_))

    def audit_verify(self, as_: str) -> dict[str, Any]:
        found: dict[str, Any] = self.call("audit", "GET", "/v1/audit/verify", as_=as_)
        return found
