"""Export verification on every core: worker processes check chunks of lines, joined at seams.

Each worker checks its chunk's links (hash of prev_hash and entry, seq and prev_hash
continuity per tenant) and returns, per tenant, the first and last link it saw, plus the
checkpoint lines it met; the parent checks the seams between chunks, then the checkpoints.
Any doubt (a bad link, a seam that does not join, an unusual line) returns None, and the
caller runs the sequential verifier, which names the first bad seq exactly as before.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from hashlib import sha256
from itertools import pairwise
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import orjson

from .chain import GENESIS, Checkpoint, Verification, Walker
from .signing import CheckpointVerifier

__all__ = ["MIN_PARALLEL_BYTES", "check_chunk", "default_workers", "verify_export_parallel"]

# Below this size one process finishes before worker processes would have started.
MIN_PARALLEL_BYTES = 8 * 1024 * 1024
_CHUNK_BYTES = 8 * 1024 * 1024
_CHECKPOINT = b'{"checkpoint":'
_HEAD = b'{"hash":"'
_PREV = b'","prev_hash":"'
_SEQ = b'","seq":'
_TENANT = b',"tenant_id":"'
_RECORD = b',"record":'
_GENESIS = GENESIS.encode()

# Per tenant: [first seq, its prev_hash, last seq, its hash, links]
Span = list[Any]
# (spans per tenant, checkpoint lines, hashes at wanted seqs per tenant)
ChunkResult = tuple[dict[bytes, Span], list[bytes], dict[bytes, dict[int, bytes]]]
# (links, head seq, head hash, hashes by seq)
Joined = tuple[int, int, str, dict[int, str]]


def default_workers() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def check_chunk(
    path: str,
    start: int,
    end: int,
    only: bytes | None,
    wanted: dict[bytes, frozenset[int]],
    *,
    check: bool = True,
) -> ChunkResult | None:
    """Spans, checkpoint lines and wanted hashes of the lines in [start, end); None at a doubt.

    With `check` false the links are only located (for hashes at wanted seqs), not checked.
    """
    spans: dict[bytes, Span] = {}
    hashes: dict[bytes, dict[int, bytes]] = {}
    marks: list[bytes] = []
    with open(path, "rb") as handle:
        handle.seek(start)
        # One read and one split: cheaper than iterating the file line by line.
        lines = handle.read(end - start).split(b"\n")
    for line in lines:
        if not line.startswith(_HEAD):
            if line.startswith(_CHECKPOINT):
                marks.append(line)
            elif line.strip():
                return None
            continue
        # The fixed layout link_line writes (see export._fast_link), inline: this loop
        # runs once per record and every call saved shows.
        comma = line.find(b",", 160)
        cut = line.find(_RECORD, comma)
        if (
            line[73:88] != _PREV
            or line[152:160] != _SEQ
            or comma < 0
            or cut < 0
            or line[comma : comma + 14] != _TENANT
            or not line.endswith(b"}")
        ):
            return None
        tenant = line[comma + 14 : cut - 1]
        if only is not None and tenant != only:
            continue
        digits = line[160:comma]
        if b"\\" in tenant or not digits.isdigit():
            return None
        seq, digest = int(digits), line[9:73]
        if check:
            prev = line[88:152]
            if sha256(prev + line[cut + 10 : -1]).hexdigest().encode() != digest:
                return None
            span = spans.get(tenant)
            if span is None:
                spans[tenant] = [seq, prev, seq, digest, 1]
            elif seq != span[2] + 1 or prev != span[3]:
                return None
            else:
                span[2], span[3] = seq, digest
                span[4] += 1
        wanted_seqs = wanted.get(tenant)
        if wanted_seqs is not None and seq in wanted_seqs:
            hashes.setdefault(tenant, {})[seq] = digest
    return spans, marks, hashes


def _bounds(path: Path, parts: int) -> list[tuple[int, int]]:
    """`parts` byte ranges of the file, each starting at a line."""
    size = path.stat().st_size
    starts = [0]
    with path.open("rb") as handle:
        for k in range(1, parts):
            handle.seek(size * k // parts)
            handle.readline()
            starts.append(max(handle.tell(), starts[-1]))
    starts.append(size)
    return [(a, b) for a, b in pairwise(starts) if a < b]


def verify_export_parallel(
    path: Path, trust: CheckpointVerifier, tenant_id: str | None, workers: int
) -> list[Verification] | None:
    """Verification of a good export on `workers` processes; None when any doubt arises."""
    only = tenant_id.encode() if tenant_id is not None else None
    # Several chunks per worker balance a shared machine; ~8 MB each bounds the memory.
    parts = max(workers * 4, path.stat().st_size // _CHUNK_BYTES + 1)
    bounds = _bounds(path, parts)
    # fork: the workers need only this module's code, and start in milliseconds.
    with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
        futures = [pool.submit(check_chunk, str(path), a, b, only, {}) for a, b in bounds]
        chunks = [future.result() for future in futures]
        joined = _join(chunks)
        if joined is None:
            return None
        try:
            marks = _marks([line for chunk in chunks if chunk for line in chunk[1]], tenant_id)
        except (ValueError, TypeError, KeyError, orjson.JSONDecodeError):
            return None
        # Checkpoints below a chain's head need the hash at their seq: a second, hash-free
        # pass over only the chunks that hold those seqs.
        lookups = _lookups(chunks, joined, marks)
        futures = [
            pool.submit(check_chunk, str(path), *bounds[i], only, wanted, check=False)
            for i, wanted in lookups.items()
        ]
        for future in futures:
            found = future.result()
            if found is None:
                return None
            for tenant, seqs in found[2].items():
                joined[tenant.decode()][3].update((s, h.decode()) for s, h in seqs.items())
    results = []
    for name in sorted(joined.keys() | marks.keys()):
        records, head_seq, head_hash, hashes = joined.get(name, (0, 0, GENESIS, {}))
        walker = Walker.walked(name, records, head_seq, head_hash, hashes)
        results.append(walker.finish(marks.get(name, []), trust))
    return results


def _marks(lines: list[bytes], only: str | None) -> dict[str, list[Checkpoint]]:
    marks: dict[str, list[Checkpoint]] = {}
    for line in lines:
        mark = Checkpoint(**orjson.loads(line)["checkpoint"])
        if only is None or mark.tenant_id == only:
            marks.setdefault(mark.tenant_id, []).append(mark)
    return marks


def _lookups(
    chunks: Sequence[ChunkResult | None],
    joined: dict[str, Joined],
    marks: dict[str, list[Checkpoint]],
) -> dict[int, dict[bytes, frozenset[int]]]:
    """Per chunk index, the seqs whose hashes the checkpoints need and the first pass lacks."""
    lookups: dict[int, dict[bytes, set[int]]] = {}
    for tenant, tenant_marks in marks.items():
        if tenant not in joined:
            continue
        key, head = tenant.encode(), joined[tenant][1]
        for mark in tenant_marks:
            if not 1 <= mark.seq < head:
                continue  # the head's hash is known; beyond it, finish() reports truncation
            for index, chunk in enumerate(chunks):
                span = chunk[0].get(key) if chunk else None
                if span is not None and span[0] <= mark.seq <= span[2]:
                    lookups.setdefault(index, {}).setdefault(key, set()).add(mark.seq)
    return {i: {t: frozenset(s) for t, s in w.items()} for i, w in lookups.items()}


def _join(chunks: Sequence[ChunkResult | None]) -> dict[str, Joined] | None:
    """Per tenant (links, head seq, head hash, {head seq: hash}) if every seam joins."""
    heads: dict[bytes, tuple[int, bytes, int]] = {}
    for chunk in chunks:
        if chunk is None:
            return None
        for tenant, (first, first_prev, last, last_hash, count) in chunk[0].items():
            seq, digest, links = heads.get(tenant, (0, _GENESIS, 0))
            if first != seq + 1 or first_prev != digest:
                return None
            heads[tenant] = (last, last_hash, links + count)
    return {
        tenant.decode(): (links, seq, digest.decode(), {seq: digest.decode()})
        for tenant, (seq, digest, links) in heads.items()
    }
