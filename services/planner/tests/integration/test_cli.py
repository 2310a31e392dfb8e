"""The planner's commands in the `agentbus` CLI, against the real HTTP API and broker.

`agentbus workflows|tasks|runs` are the planner CLI's groups, added by entry point: a
definition validated, drafted, refused to its author, approved, published and diffed; a
task submitted; its run watched live until it waits on a person, listed, shown and
cancelled.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agentbus.bus.cli import app
from agentbus.testing import eventually, unique

from .responders import model_reply

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

SOURCE = """
name: {name}
version: {version}
steps:
  - id: summarise
    type: llm
    prompt: "Summarise {{{{ t }}}}"
    inputs: {{t: input.text}}
  - id: sign_off
    type: approval
    depends_on: [summarise]
    subject: "Send the summary of {{{{ t }}}}"
    roles: [editor]
    deadline_s: 3600
    inputs: {{t: input.text}}
"""


async def test_a_definition_goes_from_file_to_a_watched_and_cancelled_run(
    make_env: Any, tmp_path: Path
) -> None:
    env = await make_env(key="cli")
    await env.respond("model.requests", lambda e: model_reply(e, "a short summary"))
    name = unique("cli-flow")
    first, second = tmp_path / "v1.yaml", tmp_path / "v2.yaml"
    first.write_text(SOURCE.format(name=name, version="1.0.0"))
    second.write_text(SOURCE.format(name=name, version="1.1.0").replace("3600", "7200"))
    broken = tmp_path / "broken.yaml"
    broken.write_text(SOURCE.format(name=name, version="1.0.0").replace("[summarise]", "[ghost]"))
    runner = CliRunner()

    def agentbus(*args: str, who: str = "k-alice") -> tuple[int, str]:
        result = runner.invoke(app, [*args, "--url", env.base_url, "--api-key", who])
        return result.exit_code, result.output

    def offline(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args))
        return result.exit_code, result.output

    async def call(*args: str, who: str = "k-alice") -> tuple[int, str]:
        # The CLI is synchronous: run it off the loop that serves the API.
        return await asyncio.to_thread(agentbus, *args, who=who)

    # Offline validation: the hash of a good file; the step and field of a bad one.
    code, out = offline("workflows", "validate", str(first))
    assert code == 0, out
    assert f"{name}@1.0.0" in out
    assert "sha256:" in out
    code, out = offline("workflows", "validate", str(broken))
    assert code == 1, out
    assert "sign_off" in out
    assert "ghost" in out
    code, out = offline("workflows", "validate", str(tmp_path / "missing.yaml"))
    assert code == 2, out
    assert "does not exist" in out

    # Review: the author cannot approve their own definition; a reviewer can.
    code, out = await call("workflows", "create", str(first), who="k-bob")
    assert code == 0, out
    assert '"draft"' in out
    assert (await call("workflows", "submit", name, "1.0.0", who="k-bob"))[0] == 0
    code, out = await call("workflows", "approve", name, "1.0.0", who="k-bob")
    assert code == 1, out
    assert "403 workflow.self_review" in out
    code, out = await call("workflows", "approve", name, "1.0.0", who="k-carol")
    assert code == 0, out
    assert f"{name}@1.0.0: approved" in out
    code, out = await call("workflows", "publish", name, "1.0.0", who="k-carol")
    assert code == 0, out
    assert f"{name}@1.0.0: published" in out
    assert (await call("workflows", "create", str(second)))[0] == 0
    code, out = await call("workflows", "diff", name, "1.0.0", "1.1.0")
    assert code == 0, out
    assert "-  deadline_s: 3600.0\n+  deadline_s: 7200.0" in out
    code, out = await call("workflows", "list", "--name", name)
    assert code == 0, out
    assert "published" in out
    assert "draft" in out

    # A task through the ingress; its run waits on a person after the model step.
    task_id = unique("cli-task")
    code, out = await call(
        "tasks", "submit", name, "--task-id", task_id, "--input", '{"text": "the report"}'
    )
    assert code == 0, out
    run_id = json.loads(out)["run_id"]

    async def waiting() -> bool:
        code, out = await call("runs", "list", "--workflow", name, "--json")
        assert code == 0, out
        runs = [json.loads(line) for line in out.splitlines()]
        assert [r["run_id"] for r in runs] == [run_id]
        assert datetime.fromisoformat(runs[0]["created_at"]).utcoffset() == timedelta(0)
        return bool(runs[0]["status"] == "running") and await _summarised(env, run_id)

    await eventually(waiting, what="the run to wait for its approval")
    code, out = await call("runs", "show", run_id)
    assert code == 0, out
    assert "summarise" in out
    assert "completed" in out
    assert "a short summary" in out

    # Cancelled while watched: the live view ends with the run.
    watching = asyncio.create_task(call("runs", "watch", run_id, "--interval", "0.2"))
    await asyncio.sleep(1)
    assert not watching.done()
    code, out = await call("runs", "cancel", run_id, "--reason", "no longer needed")
    assert code == 0, out
    assert f"{run_id}: cancelled" in out
    code, out = await asyncio.wait_for(watching, timeout=30)
    assert code == 0, out
    assert "cancelled" in out
    code, out = await call("runs", "show", "no-such-run")
    assert code == 1, out
    assert "404 not_found" in out


async def _summarised(env: Any, run_id: str) -> bool:
    async with env.client() as client:
        run = (await client.get(f"/v1/runs/{run_id}")).json()
    steps = {step["id"]: step["status"] for step in run["steps"]}
    return steps.get("summarise") == "completed" and steps.get("sign_off") == "running"
