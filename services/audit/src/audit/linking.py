"""A replay's ordered half: number and hash prepared entries into each tenant's chain.

Entries arrive in the replay's order (see `reader`); each gets the next sequence number
of its tenant and the hash over the previous hash and its entry bytes (`chain`). Stores
take `Link`s; an export takes its lines, written straight from the entry's parts.
"""

from __future__ import annotations

from hashlib import sha256

from .chain import GENESIS, Chain, Link, quoted
from .domain import IndexedFields
from .export import LINK_LINE
from .prepare import Payload

__all__ = ["link_entries", "link_lines"]


def link_entries(
    payloads: list[Payload | None], chain: Chain, times: dict[str, str]
) -> tuple[list[Link], list[IndexedFields | None], list[str]]:
    """Links, query fields and event ids of the entries, in order (None payloads skipped)."""
    heads = chain.heads
    links: list[Link] = []
    fields: list[IndexedFields | None] = []
    ids: list[str] = []
    for payload in payloads:
        if payload is None:
            continue
        owner, event_id, when, head, tail, indexed = payload
        seq, prev = heads.get(owner, (0, GENESIS))
        seq += 1
        body = b"%b%d%b" % (head, seq, tail)  # chain.with_seq: a counter never nears 2**53
        digest = sha256(prev.encode() + body).hexdigest()
        heads[owner] = (seq, digest)
        times[owner] = when
        links.append(Link(owner, seq, prev, digest, body))
        fields.append(indexed)
        ids.append(event_id)
    return links, fields, ids


def link_lines(payloads: list[Payload | None], chain: Chain, times: dict[str, str]) -> list[bytes]:
    """The export lines (`export.link_line`) of the entries, in order, without making Links.

    The entry bytes are hashed in their three parts and copied once, into the line.
    """
    heads = chain.heads
    lines: list[bytes] = []
    for payload in payloads:
        if payload is None:
            continue
        owner, _, when, head, tail, _ = payload
        seq, prev = heads.get(owner, (0, GENESIS))
        seq += 1
        number = b"%d" % seq
        prev_hex = prev.encode()
        hasher = sha256(prev_hex)
        hasher.update(head)
        hasher.update(number)
        hasher.update(tail)
        digest = hasher.hexdigest()
        heads[owner] = (seq, digest)
        times[owner] = when
        tenant = quoted(owner)
        lines.append(LINK_LINE % (digest.encode(), prev_hex, number, tenant, head, number, tail))
    return lines
