"""The JSON Lines export: one chain link per line, checkpoints as their own lines.

A link line is `{"hash":H,"prev_hash":P,"seq":N,"tenant_id":T,"record":E}` with the
entry E copied byte for byte (it is what the hash covers); a checkpoint line is
`{"checkpoint":{...}}`. Lines appear in the order the links were made.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import BinaryIO

import orjson

from .chain import Checkpoint, Link

__all__ = ["LINK_LINE", "ExportError", "checkpoint_line", "link_line", "parse_lines", "read_export"]

_RECORD = b',"record":'


class ExportError(ValueError):
    """A line of an export is not a link or a checkpoint."""


# A link line from its parts: hash, previous hash, seq (all ASCII), the tenant as a JSON
# string, and the entry as the bytes before its seq, the seq again and the bytes after.
LINK_LINE = b'{"hash":"%b","prev_hash":"%b","seq":%b,"tenant_id":%b' + _RECORD + b"%b%b%b}\n"


def link_line(link: Link) -> bytes:
    """The export line of one link."""
    return b'{"hash":"%s","prev_hash":"%s","seq":%d,"tenant_id":%s%s%s}\n' % (
        link.hash.encode(),
        link.prev_hash.encode(),
        link.seq,
        orjson.dumps(link.tenant_id),
        _RECORD,
        link.body,
    )


def checkpoint_line(checkpoint: Checkpoint) -> bytes:
    """The export line of one checkpoint."""
    return orjson.dumps({"checkpoint": asdict(checkpoint)}, option=orjson.OPT_SORT_KEYS) + b"\n"


_HEAD = b'{"hash":"'
_PREV = b'","prev_hash":"'
_SEQ = b'","seq":'
_TENANT = b',"tenant_id":"'


def _fast_link(line: bytes) -> Link | None:
    """A link line as `link_line` writes it, sliced at fixed offsets; None if it differs."""
    # Verification reads millions of lines: slicing the fixed layout is several times
    # cheaper than parsing each prefix as JSON. Anything unusual takes the JSON path.
    if line[73:88] != _PREV or line[152:160] != _SEQ:
        return None
    comma = line.find(b",", 160)
    cut = line.find(_RECORD, comma)
    if comma < 0 or cut < 0 or line[comma : comma + 14] != _TENANT:
        return None
    tenant = line[comma + 14 : cut - 1]
    end = len(line) - 2 if line.endswith(b"}\n") else line.rstrip().rfind(b"}")
    if b"\\" in tenant or not line[160:comma].isdigit():
        return None
    return Link(
        tenant.decode(),
        int(line[160:comma]),
        line[88:152].decode(),
        line[9:73].decode(),
        line[cut + len(_RECORD) : end],
    )


def parse_lines(lines: Iterable[bytes]) -> Iterator[Link | Checkpoint]:
    """Links and checkpoints from export lines; ExportError names a malformed line."""
    for number, line in enumerate(lines, start=1):
        if line.startswith(_HEAD) and (fast := _fast_link(line)) is not None:
            yield fast
        elif line.startswith(b'{"hash":'):
            cut = line.find(_RECORD)
            end = line.rstrip().rfind(b"}")
            try:
                head = orjson.loads(line[:cut] + b"}")
                yield Link(
                    head["tenant_id"],
                    head["seq"],
                    head["prev_hash"],
                    head["hash"],
                    line[cut + len(_RECORD) : end],
                )
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                raise ExportError(f"line {number}: not a chain link ({exc})") from exc
        elif line.startswith(b'{"checkpoint":'):
            try:
                yield Checkpoint(**orjson.loads(line)["checkpoint"])
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                raise ExportError(f"line {number}: not a checkpoint ({exc})") from exc
        elif line.strip():
            raise ExportError(f"line {number}: neither a chain link nor a checkpoint")


def read_export(path: Path) -> Iterator[Link | Checkpoint]:
    """Links and checkpoints of an export file, in file order."""
    with path.open("rb") as handle:
        yield from parse_lines(_lines(handle))


def _lines(handle: BinaryIO) -> Iterator[bytes]:
    yield from handle
