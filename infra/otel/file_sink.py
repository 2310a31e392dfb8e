"""A local OTLP/HTTP trace receiver writing one JSON line per span (for `make up` and the demo).

The services export OTLP over HTTP (agentbus.telemetry's `otlp_endpoint`); this process
stands where the collector stands in docker-compose and appends every span it receives to a
file, so a run's trace can be read without Docker, Jaeger or a collector binary.

The file is bounded: past `--max-bytes` it becomes `<file>.1` (replacing the one before)
and a new file starts, so a stack left running under load keeps at most twice that.
Readers read `<file>.1`, then `<file>` (as `demo/traces.py` does).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
from pathlib import Path
from typing import Any

import uvicorn
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["DEFAULT_MAX_BYTES", "build_app", "span_lines"]

DEFAULT_MAX_BYTES = 64 * 1024 * 1024

_PROTOBUF = "application/x-protobuf"
_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


def _value(value: AnyValue) -> Any:
    field = value.WhichOneof("value")
    if field is None:
        return None
    if field == "array_value":
        return [_value(v) for v in value.array_value.values]
    if field == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    if field == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, field)


def _attributes(items: Any) -> dict[str, Any]:
    pairs: list[KeyValue] = list(items)
    return {kv.key: _value(kv.value) for kv in pairs}


def span_lines(request: ExportTraceServiceRequest) -> list[dict[str, Any]]:
    """Each span of an export request as a flat JSON-ready dict."""
    lines = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                lines.append(
                    {
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex() or None,
                        "name": span.name,
                        "kind": _KINDS.get(span.kind, str(span.kind)),
                        "service": resource.get("service.name"),
                        "instance": resource.get("service.instance.id"),
                        "start_ns": span.start_time_unix_nano,
                        "end_ns": span.end_time_unix_nano,
                        "status": {0: "unset", 1: "ok", 2: "error"}.get(span.status.code),
                        "attributes": _attributes(span.attributes),
                        "links": [
                            {"trace_id": link.trace_id.hex(), "span_id": link.span_id.hex()}
                            for link in span.links
                        ],
                    }
                )
    return lines


def build_app(out: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Starlette:
    """The receiver: POST /v1/traces appends spans to `out`; metrics are accepted and dropped."""
    lock = threading.Lock()
    out.parent.mkdir(parents=True, exist_ok=True)

    async def traces(request: Request) -> Response:
        body = await request.body()
        export = ExportTraceServiceRequest()
        try:
            export.ParseFromString(body)
        except DecodeError:
            return JSONResponse({"code": "request.invalid", "message": "not OTLP protobuf"}, 400)
        text = "".join(json.dumps(line, default=str) + "\n" for line in span_lines(export))
        with lock:
            with out.open("a", encoding="utf-8") as handle:
                handle.write(text)
                full = handle.tell() >= max_bytes
            if full:
                os.replace(out, out.with_name(out.name + ".1"))
        return Response(ExportTraceServiceResponse().SerializeToString(), media_type=_PROTOBUF)

    async def metrics(_request: Request) -> Response:
        return Response(ExportMetricsServiceResponse().SerializeToString(), media_type=_PROTOBUF)

    async def ready(_request: Request) -> Response:
        return JSONResponse({"status": "ready"})

    return Starlette(
        routes=[
            Route("/v1/traces", traces, methods=["POST"]),
            Route("/v1/metrics", metrics, methods=["POST"]),
            Route("/v1/logs", metrics, methods=["POST"]),
            Route("/healthz", ready),
            Route("/readyz", ready),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=14318)
    parser.add_argument("--out", type=Path, default=Path("var/stack/traces.jsonl"))
    parser.add_argument(
        "--max-bytes",
        type=int,
        default=DEFAULT_MAX_BYTES,
        help="start a new file past this size; the previous one is kept as <out>.1",
    )
    args = parser.parse_args()
    app = build_app(args.out, max_bytes=args.max_bytes)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
