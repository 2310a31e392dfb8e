"""Where the HTTP tool sends a call: a configured base URL wins over the caller's url."""

from __future__ import annotations

import pytest
from tool_executor.domain import ToolError
from tool_executor.http_tool import HttpRequestTool


@pytest.fixture
def tool() -> HttpRequestTool:
    return HttpRequestTool(max_response_bytes=1024, max_redirects=1)


@pytest.mark.parametrize(
    ("args", "config", "url"),
    [
        ({"url": "https://api.example.com/x?q=1"}, {}, "https://api.example.com/x?q=1"),
        ({}, {"base_url": "http://shop:8090/orders/lookup"}, "http://shop:8090/orders/lookup"),
        ({"path": "/tickets"}, {"base_url": "https://crm/api/"}, "https://crm/api/tickets"),
        ({"url": "http://evil/"}, {"base_url": "https://crm/api"}, "https://crm/api"),
    ],
)
def test_target(
    tool: HttpRequestTool, args: dict[str, str], config: dict[str, str], url: str
) -> None:
    assert str(tool._target(args, config)) == url


@pytest.mark.parametrize("bad", ["", "ftp://x/y", "/relative", "http://"])
def test_bad_urls_are_refused(tool: HttpRequestTool, bad: str) -> None:
    with pytest.raises(ToolError) as caught:
        tool._target({"url": bad}, {})
    assert caught.value.code == "tool.invalid_arguments"
