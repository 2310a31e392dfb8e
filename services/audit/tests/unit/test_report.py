"""The run report: timeline in chain order, per-step summaries, totals, and a safe page."""

from __future__ import annotations

from typing import Any

from audit.html import render_report
from audit.report import build_report


def entry(seq: int, step: str | None, action: str, **data: Any) -> tuple[int, str, dict[str, Any]]:
    body = {
        "actor": {"kind": "service", "id": "svc"},
        "action": action,
        "resource_type": "step",
        "resource_id": step or "run",
        "outcome": "succeeded",
        "occurred_at": f"2026-01-01T00:00:{seq:02d}+00:00",
        **(
            {"step": {"run_id": "r1", "step_id": step, "attempt": data.pop("attempt", 1)}}
            if step
            else {}
        ),
        **data,
    }
    return (
        seq,
        f"{seq:064x}",
        {
            "data": body,
            "event_id": f"e{seq}",
            "source": "svc",
            "time": body["occurred_at"],
            "run_id": "r1",
        },
    )


ROWS = [
    entry(3, None, "run.start"),
    entry(
        5,
        "a",
        "model.call",
        model={"provider": "p", "model": "m"},
        cost_usd="0.5",
        usage={"prompt_tokens": 3, "completion_tokens": 4},
    ),
    entry(8, "a", "model.call", attempt=2, model={"provider": "p", "model": "m"}, cost_usd="0.25"),
    entry(
        9,
        "b",
        "approval.decide",
        approval={"outcome": "approved", "approvers": [{"kind": "user", "id": "<bob>"}]},
    ),
]


def test_report_keeps_chain_order_and_sums_per_step() -> None:
    report = build_report("acme", "r1", ROWS)
    assert [i["seq"] for i in report["timeline"]] == [3, 5, 8, 9]
    assert [s["step_id"] for s in report["steps"]] == ["(run)", "a", "b"]
    step_a = report["steps"][1]
    assert step_a["records"] == [5, 8]
    assert step_a["attempts"] == 2
    assert step_a["cost_usd"] == "0.75"
    assert step_a["models"] == [{"provider": "p", "model": "m"}]
    assert report["totals"] == {"cost_usd": "0.75", "prompt_tokens": 3, "completion_tokens": 4}
    assert len(report["approvals"]) == 1


def test_the_page_escapes_every_value_and_loads_nothing() -> None:
    page = render_report(build_report("acme", "r1<script>", ROWS))
    assert "<script>" not in page
    assert "&lt;bob&gt;" in page
    assert "src=" not in page
    assert "href=" not in page
