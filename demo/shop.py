"""The demo's upstream shop: an orders and payments HTTP API the refund workflow's tools call.

It stands for the e-commerce system a real deployment would reach through the tool-executor;
refunds honour the Idempotency-Key header the tool-executor sends (one refund per key, even
when a call is retried), and `GET /payments/refunds` lists them so the demo and the
end-to-end tests can count side effects.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import threading
import uuid
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

__all__ = ["Shop", "build_app", "order_amount"]

# The shop's named orders; any other id of the form <letter>-<digits> is a generated order.
ORDERS = {
    "A-1001": {"amount": 249.0, "customer": "cus_7421", "lines": [{"sku": "KETTLE-2L", "qty": 1}]},
    "A-1002": {"amount": 38.5, "customer": "cus_1180", "lines": [{"sku": "MUG-SET", "qty": 2}]},
}


def order_amount(order_id: str) -> float | None:
    """The amount of an order: named ones as listed, generated ones 20..219 from their digits."""
    if order_id in ORDERS:
        return float(ORDERS[order_id]["amount"])  # type: ignore[arg-type]
    head, _, digits = order_id.partition("-")
    if len(head) != 1 or not head.isalpha() or not digits.isdigit():
        return None
    return float(20 + int(digits) % 200)


class Shop:
    """Refunds kept in a JSON file, written atomically, one per idempotency key."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.lock = threading.Lock()
        self.refunds: dict[str, dict[str, Any]] = {}
        if state.exists():
            self.refunds = json.loads(state.read_text())

    def refund(self, key: str, order_id: str, amount: float) -> tuple[dict[str, Any], bool]:
        """The refund for `key`, created on first sight; True when it was created now."""
        with self.lock:
            existing = self.refunds.get(key)
            if existing is not None:
                return existing, False
            refund = {
                "refund_id": "re_" + uuid.uuid4().hex[:16],
                "order_id": order_id,
                "amount": amount,
                "currency": "EUR",
                "status": "refunded",
            }
            self.refunds[key] = refund
            tmp = self.state.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.refunds))
            os.replace(tmp, self.state)
            return refund, True


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


def build_app(shop: Shop) -> Starlette:
    """The shop's routes."""

    async def lookup(request: Request) -> JSONResponse:
        body = await request.json()
        order_id = str(body.get("order_id", ""))
        amount = order_amount(order_id)
        if amount is None:
            return _error(404, "order.not_found", f"no order {order_id!r}")
        named = ORDERS.get(order_id, {})
        customer = (
            named.get("customer") or "cus_" + hashlib.sha256(order_id.encode()).hexdigest()[:4]
        )
        lines = named.get("lines") or [{"sku": "GENERIC-1", "qty": 1}]
        return JSONResponse(
            {
                "order_id": order_id,
                "amount": amount,
                "currency": "EUR",
                "customer": customer,
                "lines": lines,
            }
        )

    async def refund(request: Request) -> JSONResponse:
        key = request.headers.get("idempotency-key")
        if not key:
            return _error(400, "request.invalid", "Idempotency-Key header required")
        body = await request.json()
        order_id, amount = str(body.get("order_id", "")), body.get("amount")
        if order_amount(order_id) is None:
            return _error(404, "order.not_found", f"no order {order_id!r}")
        if not isinstance(amount, int | float) or amount <= 0:
            return _error(422, "request.invalid", "amount must be a positive number")
        result, created = shop.refund(key, order_id, float(amount))
        return JSONResponse(result, status_code=201 if created else 200)

    async def refunds(_request: Request) -> JSONResponse:
        with shop.lock:
            listed = [{"idempotency_key": k, **v} for k, v in shop.refunds.items()]
        return JSONResponse(listed)

    async def ready(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ready"})

    return Starlette(
        routes=[
            Route("/orders/lookup", lookup, methods=["POST"]),
            Route("/payments/refunds", refund, methods=["POST"]),
            Route("/payments/refunds", refunds, methods=["GET"]),
            Route("/healthz", ready),
            Route("/readyz", ready),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--state", type=Path, default=Path("var/stack/shop.json"))
    args = parser.parse_args()
    args.state.parent.mkdir(parents=True, exist_ok=True)
    uvicorn.run(build_app(Shop(args.state)), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
