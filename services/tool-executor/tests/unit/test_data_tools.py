"""Arithmetic by AST walk (no eval), bounded; JMESPath transforms."""

from __future__ import annotations

import pytest
from tool_executor.data_tools import JsonTransform, evaluate
from tool_executor.domain import Implementation, SideEffect, ToolDefinition, ToolError
from tool_executor.secrets import SecretResolver
from tool_executor.tools import ToolCall


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("1 + 2 * 3", 7),
        ("(a + 2) ** 3 / 4", 6.75),
        ("-b // 2", -3),
        ("7 % 4", 3),
        ("max(1, 2 ** 10, a)", 1024),
        ("sqrt(16) + abs(-2) + round(2.6) + floor(1.5) + ceil(1.2)", 12.0),
    ],
)
def test_evaluates_arithmetic(expression: str, value: float) -> None:
    assert evaluate(expression, {"a": 1, "b": 5}) == value


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("__import__('os').system('id')", "not allowed"),
        ("(1).__class__", "Attribute is not allowed"),
        ("[x for x in range(10)]", "not allowed"),
        ("'a' * 3", "Constant is not allowed"),
        ("2 ** 100000", "exponent"),
        ("9 ** 9 ** 9", "exponent"),
        ("(2 ** 1000) ** 5", "too large"),
        ("1 / 0", "division by zero"),
        ("1e308 * 10", "not finite"),
        ("(-8) ** 0.5", "complex"),
        ("unknown + 1", "unknown variable"),
        ("lambda: 1", "not allowed"),
        ("1 +", "not arithmetic"),
        ("+".join(["1"] * 300), "parts"),
    ],
)
def test_refuses_anything_else(expression: str, reason: str) -> None:
    with pytest.raises(ToolError) as caught:
        evaluate(expression)
    assert caught.value.code == "tool.invalid_arguments"
    assert reason in caught.value.message


async def test_jmespath_transform() -> None:
    definition = ToolDefinition(
        name="json.transform",
        version="1",
        side_effect=SideEffect.NONE,
        implementation=Implementation(kind="builtin", name="json.transform"),
    )
    call = ToolCall(
        definition=definition,
        arguments={
            "data": {"people": [{"n": "a", "age": 3}, {"n": "b", "age": 40}]},
            "expression": "people[?age > `18`].n",
        },
        tenant_id="acme",
        idempotency_key="k",
        secrets=SecretResolver({}),
    )
    assert await JsonTransform().run(call) == ["b"]
    bad = ToolCall(**{**call.__dict__, "arguments": {"data": {}, "expression": "people[?"}})
    with pytest.raises(ToolError, match="expression"):
        await JsonTransform().run(bad)
