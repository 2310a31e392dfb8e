"""The compliance report as one self-contained HTML page: inline CSS, no scripts, no assets."""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["render_report"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1d232a}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.15rem;margin:2rem 0 .5rem}
.meta{color:#5b6570;margin-bottom:1rem}.cards{display:flex;gap:1rem;flex-wrap:wrap}
.card{border:1px solid #d8dee4;border-radius:8px;padding:.6rem 1rem;min-width:9rem}
.card b{display:block;font-size:1.2rem}table{border-collapse:collapse;width:100%;margin-top:.5rem}
th,td{border-bottom:1px solid #e5e9ed;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f6f8;font-weight:600}code{font:12px ui-monospace,Menlo,monospace}
.succeeded{color:#1a7f37}.failed{color:#cf222e}.denied{color:#9a6700}
.tag{display:inline-block;background:#eef2f6;border-radius:4px;padding:0 .35rem;
margin:0 .2rem .2rem 0}
"""


def _text(value: Any) -> str:
    return "" if value is None else escape(str(value))


def _model(model: Any) -> str:
    if not model:
        return ""
    return _text(f"{model.get('provider')}/{model.get('model')}")


def _tool(tool: Any) -> str:
    return _text(f"{tool.get('name')}@{tool.get('version') or '?'}") if tool else ""


def _verdict(verdict: Any) -> str:
    if not verdict:
        return ""
    policy = f"{verdict.get('policy_name')}@{verdict.get('policy_version')}"
    return f"{_text(verdict.get('decision'))} <small>({_text(policy)})</small>"


def _approval(approval: Any) -> str:
    if not approval:
        return ""
    who = ", ".join(str(a.get("id")) for a in approval.get("approvers") or [])
    return f"{_text(approval.get('outcome') or 'pending')} <small>{_text(who)}</small>"


def _tags(values: list[str]) -> str:
    return "".join(f'<span class="tag">{v}</span>' for v in values if v)


def _timeline_row(item: dict[str, Any]) -> str:
    actor = item.get("actor") or {}
    cells = [
        f"<code>{item['seq']}</code>",
        _text(item.get("occurred_at")),
        _text(item.get("step_id") or "—"),
        _text(item.get("action")),
        f'<span class="{_text(item.get("outcome"))}">{_text(item.get("outcome"))}</span>',
        _text(f"{actor.get('kind')}:{actor.get('id')}"),
        _model(item.get("model")) + _tool(item.get("tool")),
        _verdict(item.get("guardrail")) + _approval(item.get("approval")),
        _text(item.get("cost_usd")),
        f"<code>{_text(item.get('trace_id'))}</code>",
        f"<code>{_text(item['hash'][:12])}</code>",
    ]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _step_row(step: dict[str, Any]) -> str:
    cells = [
        _text(step["step_id"]),
        _text(len(step["records"])),
        _text(step["attempts"]),
        _tags([_model(m) for m in step["models"]] + [_tool(t) for t in step["tools"]]),
        _tags([_verdict(v) for v in step["verdicts"]] + [_approval(a) for a in step["approvals"]]),
        _text(step["cost_usd"]),
        _text(step["prompt_tokens"] + step["completion_tokens"]),
    ]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def render_report(report: dict[str, Any]) -> str:
    """The page for `build_report`'s output; every value is HTML-escaped."""
    workflow = report.get("workflow") or {}
    totals = report["totals"]
    title = f"Audit report — run {report['run_id']}"
    cards = [
        ("records", report["records"]),
        ("steps", len(report["steps"])),
        ("approvals", len(report["approvals"])),
        ("verdicts", len(report["verdicts"])),
        ("cost (USD)", totals["cost_usd"]),
        ("tokens", totals["prompt_tokens"] + totals["completion_tokens"]),
    ]
    head = (
        "<tr><th>seq</th><th>occurred</th><th>step</th><th>action</th><th>outcome</th>"
        "<th>actor</th><th>model / tool</th><th>verdict / approval</th><th>cost</th>"
        "<th>trace</th><th>hash</th></tr>"
    )
    step_head = (
        "<tr><th>step</th><th>records</th><th>attempts</th><th>models and tools</th>"
        "<th>verdicts and approvals</th><th>cost (USD)</th><th>tokens</th></tr>"
    )
    workflow_text = (
        f"{workflow.get('name')}@{workflow.get('version')} ({workflow.get('content_hash')})"
        if workflow
        else "not recorded"
    )
    return "".join(
        [
            '<!doctype html><html lang="en"><head><meta charset="utf-8">',
            f"<title>{_text(title)}</title><style>{_CSS}</style></head><body>",
            f"<h1>{_text(title)}</h1>",
            f'<div class="meta">tenant <b>{_text(report["tenant_id"])}</b> · workflow ',
            f"{_text(workflow_text)} · chain seq {_text(report['first_seq'])} to ",
            f"{_text(report['last_seq'])} · traces ",
            ", ".join(f"<code>{_text(t)}</code>" for t in report.get("trace_ids", [])) or "none",
            "</div>",
            '<div class="cards">',
            *(f'<div class="card">{_text(k)}<b>{_text(v)}</b></div>' for k, v in cards),
            "</div><h2>Steps</h2><table>",
            step_head,
            *(_step_row(step) for step in report["steps"]),
            "</table><h2>Timeline</h2><table>",
            head,
            *(_timeline_row(item) for item in report["timeline"]),
            "</table></body></html>\n",
        ]
    )
