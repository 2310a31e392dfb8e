"""The per-tenant hash chain: entries, links, and the verification that names the first bad seq.

hash(n) = SHA-256( hex(hash(n-1)) || JCS(entry(n)) ), with hash(0) = 64 zeros, where
entry(n) is the canonical record: its seq and tenant, the CloudEvents attributes and data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from .canonical import canonical_json, json_string

__all__ = [
    "GENESIS",
    "Chain",
    "Checkpoint",
    "Link",
    "Problem",
    "Verification",
    "Walker",
    "entry",
    "entry_parts",
    "link_hash",
    "quoted",
    "verify_chain",
    "with_seq",
]

GENESIS = "0" * 64
_MAX_EXACT = 2**53 - 1


def entry(
    *,
    seq: int,
    tenant_id: str,
    event_id: str,
    event_type: str,
    source: str,
    time: str,
    run_id: str | None,
    data: Mapping[str, Any],
) -> bytes:
    """JCS bytes of one chain entry; `time` is ISO 8601 text, `data` the event's JSON."""
    head, tail = entry_parts(tenant_id, event_id, event_type, source, time, run_id, data)
    return with_seq(head, seq, tail)


def entry_parts(
    tenant_id: str,
    event_id: str,
    event_type: str,
    source: str,
    time: str,
    run_id: str | None,
    data: Mapping[str, Any],
    /,
) -> tuple[bytes, bytes]:
    """An entry's JCS bytes before and after its seq (known only once it is linked)."""
    # The keys are fixed ASCII names, written in sorted order; only the values vary.
    # Positional and flat: replay calls this once per record.
    cache = _QUOTED
    head = _HEAD % (
        canonical_json(data),
        _string(event_id),
        b"null" if run_id is None else _string(run_id),
    )
    tail = _TAIL % (
        cache.get(source) or _quote(source),
        cache.get(tenant_id) or _quote(tenant_id),
        _string(time),
        cache.get(event_type) or _quote(event_type),
    )
    return head, tail


# orjson writes strings exactly as JCS does (canonical.json_string, property-tested).
_string = orjson.dumps
# Sources, tenants and the type repeat across records: their JSON is looked up, not redone.
_QUOTED: dict[str, bytes] = {}


def _quote(text: str) -> bytes:
    if len(_QUOTED) >= 4096:
        _QUOTED.clear()
    found = _QUOTED[text] = json_string(text)
    return found


def quoted(text: str) -> bytes:
    """The JSON string of a text that repeats across records (a tenant, a source), cached."""
    return _QUOTED.get(text) or _quote(text)


def with_seq(head: bytes, seq: int, tail: bytes) -> bytes:
    """The entry bytes from `entry_parts` and its seq."""
    if not -_MAX_EXACT <= seq <= _MAX_EXACT:
        raise ValueError(f"seq {seq} is beyond the exact integers of JCS")
    return b"%b%d%b" % (head, seq, tail)


_HEAD = b'{"data":%b,"event_id":%b,"run_id":%b,"seq":'
_TAIL = b',"source":%b,"tenant_id":%b,"time":%b,"type":%b}'


def link_hash(prev_hash: str, body: bytes) -> str:
    """The hash of an entry that follows `prev_hash` (hex)."""
    return hashlib.sha256(prev_hash.encode("ascii") + body).hexdigest()


@dataclass(slots=True)
class Link:
    """One stored chain position: seq, the previous hash, its own hash and entry bytes.

    Not frozen: a frozen dataclass's __init__ costs several times more, and verification
    builds one Link per record (treat it as immutable all the same).
    """

    tenant_id: str
    seq: int
    prev_hash: str
    hash: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement: tenant's chain had `hash` at `seq`."""

    tenant_id: str
    seq: int
    hash: str
    key_id: str
    signature: str
    as_of: str


@dataclass
class Chain:
    """An in-memory chain head per tenant, for building chains (replay, tests)."""

    heads: dict[str, tuple[int, str]] = field(default_factory=dict)

    def append(self, tenant_id: str, make_body: Callable[[int], bytes]) -> Link:
        """Append the entry `make_body(seq)` to `tenant_id`'s chain."""
        seq, prev = self.heads.get(tenant_id, (0, GENESIS))
        body = make_body(seq + 1)
        digest = link_hash(prev, body)
        self.heads[tenant_id] = (seq + 1, digest)
        return Link(tenant_id, seq + 1, prev, digest, body)


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong and the first sequence number it makes untrustworthy."""

    seq: int
    kind: str
    message: str


@dataclass
class Verification:
    """The result of checking one tenant's chain and checkpoints."""

    tenant_id: str
    records: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    checkpoints: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    @property
    def first_bad_seq(self) -> int | None:
        """The lowest sequence number any problem names."""
        return min((p.seq for p in self.problems), default=None)


def _body_seq(body: bytes) -> int | None:
    try:
        value = orjson.loads(body).get("seq")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return value if isinstance(value, int) else None


def _blame(link: Link, kind: str, message: str) -> Problem:
    # A record that moved keeps its original seq inside its hashed body: the lower of the
    # two numbers is where the chain was first changed (an insertion or deletion before).
    inner = _body_seq(link.body)
    seq = min(link.seq, inner) if inner is not None and inner >= 1 else link.seq
    if inner is not None and inner != link.seq:
        message += f"; its entry says seq {inner}"
    return Problem(seq, kind, message)


class Walker:
    """Checks one tenant's links as they stream in, in seq order; stops at the first bad one."""

    def __init__(self, tenant_id: str, wanted: set[int] | None = None) -> None:
        self.result = Verification(tenant_id)
        # Hashes kept for checkpoint comparison: only at `wanted` seqs when known up front.
        self.wanted = wanted
        self.hashes: dict[int, str] = {}
        self._expected, self._prev = 1, GENESIS

    @classmethod
    def walked(
        cls, tenant_id: str, records: int, head_seq: int, head_hash: str, hashes: dict[int, str]
    ) -> Walker:
        """A walker whose links were already checked elsewhere (e.g. in worker processes)."""
        walker = cls(tenant_id)
        walker.result.records, walker.result.head_seq = records, head_seq
        walker.result.head_hash, walker.hashes = head_hash, hashes
        walker._expected, walker._prev = head_seq + 1, head_hash
        return walker

    def feed(self, link: Link) -> bool:
        """Check the next link; False once the chain is broken (later links are ignored)."""
        if self.result.problems:
            return False
        expected, prev = self._expected, self._prev
        problem: Problem | None = None
        if link.seq != expected:
            kind = "missing" if link.seq > expected else "duplicate"
            message = f"expected seq {expected}, found seq {link.seq}"
            problem = Problem(min(expected, link.seq), kind, message)
        elif link.prev_hash != prev:
            message = f"seq {link.seq} does not follow seq {link.seq - 1} (prev_hash differs)"
            problem = _blame(link, "broken_link", message)
        elif link_hash(prev, link.body) != link.hash:
            message = f"seq {link.seq}: the entry does not match its hash (modified)"
            problem = _blame(link, "modified", message)
        if problem is not None:
            self.result.problems.append(problem)
            return False
        if self.wanted is None or link.seq in self.wanted:
            self.hashes[link.seq] = link.hash
        self._prev = link.hash
        self._expected = expected + 1
        self.result.records += 1
        self.result.head_seq, self.result.head_hash = link.seq, link.hash
        return True

    def finish(
        self, checkpoints: Iterable[Checkpoint], verify_signature: Callable[[Checkpoint], bool]
    ) -> Verification:
        """Check every checkpoint against the walked chain and the trusted key."""
        result = self.result
        if result.problems:
            return result
        good_until = 0
        for mark in sorted(checkpoints, key=lambda c: c.seq):
            result.checkpoints += 1
            problem = self._check(mark, good_until, verify_signature)
            if problem is not None:
                result.problems.append(problem)
                return result
            good_until = mark.seq
        return result

    def _check(
        self, mark: Checkpoint, good_until: int, verify_signature: Callable[[Checkpoint], bool]
    ) -> Problem | None:
        head = self.result.head_seq
        if not verify_signature(mark):
            message = (
                f"checkpoint at seq {mark.seq} is not signed by the trusted key "
                f"(it names key id {mark.key_id})"
            )
            return Problem(good_until + 1, "bad_signature", message)
        if mark.seq > head:
            message = f"checkpoint at seq {mark.seq} but the chain ends at seq {head}"
            return Problem(head + 1, "truncated", message)
        if self.hashes.get(mark.seq) != mark.hash:
            message = (
                f"checkpoint at seq {mark.seq} signed another hash: records after seq "
                f"{good_until} were rewritten"
            )
            return Problem(good_until + 1, "rewritten", message)
        return None


def verify_chain(
    tenant_id: str,
    links: Iterable[Link],
    checkpoints: Iterable[Checkpoint],
    verify_signature: Callable[[Checkpoint], bool],
) -> Verification:
    """Check `tenant_id`'s links (in seq order) and checkpoints with the trusted key."""
    marks = list(checkpoints)
    walker = Walker(tenant_id, {mark.seq for mark in marks})
    for link in links:
        if not walker.feed(link):
            break
    return walker.finish(marks, verify_signature)
