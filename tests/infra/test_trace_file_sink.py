"""The local span receiver keeps its file bounded, and the demo reads across the rotation."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

REPO_ROOT = Path(__file__).resolve().parents[2]


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def export_of(count: int, first: int) -> bytes:
    spans = [
        Span(trace_id=bytes(16), span_id=(first + n).to_bytes(8, "big"), name=f"s{first + n}")
        for n in range(count)
    ]
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])]
    )
    return request.SerializeToString()


async def test_a_full_file_is_set_aside_and_readers_see_both(tmp_path: Path) -> None:
    sink = load(REPO_ROOT / "infra" / "otel" / "file_sink.py")
    traces = load(REPO_ROOT / "demo" / "traces.py")
    out = tmp_path / "traces.jsonl"
    app = sink.build_app(out, max_bytes=20_000)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sink") as client:
        for batch in range(12):
            response = await client.post(
                "/v1/traces",
                content=export_of(20, first=batch * 20 + 1),
                headers={"content-type": "application/x-protobuf"},
            )
            assert response.status_code == 200
    backup = out.with_name("traces.jsonl.1")
    assert backup.exists(), "past max_bytes the file is set aside"
    # Each file ends within one export (about 3 KB) of the bound.
    assert backup.stat().st_size < 20_000 + 5_000
    assert not out.exists() or out.stat().st_size < 20_000 + 5_000
    numbers = [int(span["name"][1:]) for span in traces.load_spans(out)]
    assert numbers == list(range(numbers[0], 241)), "oldest first, no gap, up to the newest"
    assert numbers[0] > 1, "what is older than the set-aside file is gone"
