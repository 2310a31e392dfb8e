"""run_async: service processes without HTTP run on the loop uvicorn gives the others."""

from __future__ import annotations

import asyncio

from agentbus.http import run_async


def test_a_coroutine_runs_to_its_result_on_uvloop() -> None:
    async def main() -> tuple[str, int]:
        await asyncio.sleep(0)
        return type(asyncio.get_running_loop()).__module__, 42

    loop_module, result = run_async(main())
    assert loop_module.startswith("uvloop")
    assert result == 42
