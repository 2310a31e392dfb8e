"""The compliance report of one run: its timeline and, per step, what was decided and spent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

__all__ = ["build_report"]


def _summary(seq: int, digest: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    data = entry["data"]
    step = data.get("step") or {}
    usage = data.get("usage") or {}
    return {
        "seq": seq,
        "hash": digest,
        "event_id": entry["event_id"],
        "time": entry["time"],
        "occurred_at": data.get("occurred_at"),
        "source": entry["source"],
        "actor": data.get("actor"),
        "on_behalf_of": data.get("on_behalf_of"),
        "action": data.get("action"),
        "resource": f"{data.get('resource_type')}:{data.get('resource_id')}",
        "outcome": data.get("outcome"),
        "step_id": step.get("step_id"),
        "attempt": step.get("attempt"),
        "workflow": data.get("workflow"),
        "model": data.get("model"),
        "tool": data.get("tool"),
        "guardrail": data.get("guardrail"),
        "approval": data.get("approval"),
        "cost_usd": data.get("cost_usd"),
        "prompt_tokens": usage.get("prompt_tokens"),
        "completion_tokens": usage.get("completion_tokens"),
        "prompt": data.get("prompt"),
        "output": data.get("output"),
        "error_code": data.get("error_code"),
        "trace_id": data.get("trace_id"),
    }


def _step(step_id: str) -> dict[str, Any]:
    return {
        "step_id": step_id,
        "records": [],
        "attempts": 0,
        "models": [],
        "tools": [],
        "verdicts": [],
        "approvals": [],
        "cost_usd": Decimal(0),
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "outcomes": [],
    }


def _add_unique(items: list[Any], value: Any) -> None:
    if value is not None and value not in items:
        items.append(value)


def build_report(
    tenant_id: str, run_id: str, rows: Sequence[tuple[int, str, Mapping[str, Any]]]
) -> dict[str, Any]:
    """The report of `run_id` from its (seq, hash, entry) rows in chain order."""
    timeline = [_summary(seq, digest, entry) for seq, digest, entry in rows]
    steps: dict[str, dict[str, Any]] = {}
    cost_total = Decimal(0)
    prompt_total = completion_total = 0
    workflow = None
    for item in timeline:
        workflow = workflow or item["workflow"]
        cost = Decimal(item["cost_usd"]) if item["cost_usd"] else Decimal(0)
        cost_total += cost
        prompt_total += item["prompt_tokens"] or 0
        completion_total += item["completion_tokens"] or 0
        key = item["step_id"] or "(run)"
        step = steps.setdefault(key, _step(key))
        step["records"].append(item["seq"])
        step["attempts"] = max(step["attempts"], item["attempt"] or 0)
        _add_unique(step["models"], item["model"])
        _add_unique(step["tools"], item["tool"])
        _add_unique(step["verdicts"], item["guardrail"])
        _add_unique(step["approvals"], item["approval"])
        _add_unique(step["outcomes"], f"{item['action']}:{item['outcome']}")
        step["cost_usd"] += cost
        step["prompt_tokens"] += item["prompt_tokens"] or 0
        step["completion_tokens"] += item["completion_tokens"] or 0
    for step in steps.values():
        step["cost_usd"] = str(step["cost_usd"])
    return {
        "tenant_id": tenant_id,
        "run_id": run_id,
        "workflow": workflow,
        "records": len(timeline),
        "first_seq": timeline[0]["seq"] if timeline else None,
        "last_seq": timeline[-1]["seq"] if timeline else None,
        "totals": {
            "cost_usd": str(cost_total),
            "prompt_tokens": prompt_total,
            "completion_tokens": completion_total,
        },
        "trace_ids": sorted({i["trace_id"] for i in timeline if i["trace_id"]}),
        "steps": list(steps.values()),
        "approvals": [i for i in timeline if i["approval"] is not None],
        "verdicts": [i for i in timeline if i["guardrail"] is not None],
        "timeline": timeline,
    }
