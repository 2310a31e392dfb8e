"""Safe data tools: JMESPath transforms and arithmetic evaluated by walking the AST (no eval)."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from .domain import ToolError
from .tools import ToolCall

__all__ = ["Arithmetic", "JsonTransform", "evaluate"]

Number = int | float

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_FUNCTIONS: dict[str, Callable[..., Number]] = {
    "abs": abs,
    "min": min,
    "max": max,
    "round": round,
    "sqrt": math.sqrt,
    "floor": math.floor,
    "ceil": math.ceil,
}
_MAX_EXPONENT = 1000
_MAX_NODES = 200
_MAX_INT_BITS = 4096


class JsonTransform:
    """`{data, expression}` in; the JMESPath expression applied to the data out."""

    async def run(self, call: ToolCall) -> Any:
        try:
            return jmespath.search(str(call.arguments["expression"]), call.arguments.get("data"))
        except JMESPathError as exc:
            raise ToolError("tool.invalid_arguments", f"expression: {type(exc).__name__}") from exc


class Arithmetic:
    """`{expression, variables}` in; `{value}` out, e.g. `(a + 2) ** 3 / 4`."""

    async def run(self, call: ToolCall) -> Any:
        variables = call.arguments.get("variables") or {}
        return {"value": evaluate(str(call.arguments["expression"]), dict(variables))}


def evaluate(expression: str, variables: dict[str, Any] | None = None) -> Number:
    """Evaluate numbers, + - * / // % **, unary signs, variables and a few functions."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise _invalid("expression is not arithmetic") from exc
    if sum(1 for _ in ast.walk(tree)) > _MAX_NODES:
        raise _invalid(f"expression has more than {_MAX_NODES} parts")
    try:
        return _eval(tree.body, variables or {})
    except ZeroDivisionError as exc:
        raise _invalid("division by zero") from exc
    except (OverflowError, ValueError) as exc:
        raise _invalid(f"out of range: {exc}") from exc


def _eval(node: ast.AST, variables: dict[str, Any]) -> Number:
    if isinstance(node, ast.Constant) and type(node.value) in {int, float}:
        return _checked(node.value)
    if isinstance(node, ast.Name):
        value = variables.get(node.id)
        if type(value) not in {int, float}:
            raise _invalid(f"unknown variable {node.id!r}")
        return _checked(value)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _checked(_UNARY[type(node.op)](_eval(node.operand, variables)))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left, variables), _eval(node.right, variables)
        if isinstance(node.op, ast.Pow) and (
            abs(right) > _MAX_EXPONENT or (isinstance(left, int) and abs(left) > 2**64)
        ):
            raise _invalid(f"exponent beyond {_MAX_EXPONENT} or base too large")
        return _checked(_BINARY[type(node.op)](left, right))
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        args = [_eval(arg, variables) for arg in node.args]
        return _checked(_FUNCTIONS[node.func.id](*args))
    raise _invalid(f"{type(node).__name__} is not allowed")


def _checked(value: Any) -> Number:
    if isinstance(value, complex):
        raise _invalid("complex result")
    if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
        raise _invalid("integer result too large")
    if isinstance(value, float) and not math.isfinite(value):
        raise _invalid("result is not finite")
    return value  # type: ignore[no-any-return]


def _invalid(message: str) -> ToolError:
    return ToolError("tool.invalid_arguments", message)
