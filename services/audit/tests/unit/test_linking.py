"""A replay's two ways of linking entries: Links for a store, lines for an export."""

from __future__ import annotations

from audit.chain import Chain, entry_parts
from audit.export import link_line, parse_lines
from audit.linking import link_entries, link_lines
from audit.prepare import Payload

TYPE = "agentbus.audit.recorded.v1"


def payloads() -> list[Payload | None]:
    out: list[Payload | None] = []
    for i in range(40):
        tenant = ("acme", "globex", 'ünï"cödé\u2028')[i % 3]
        data = {"action": "tool.call", "n": i, "text": "line\nbreak é"}
        run = None if i % 4 else f"run-{i}"
        when = f"2026-11-21T10:00:{i:02d}+00:00"
        head, tail = entry_parts(
            tenant, f"e{i}", "agentbus.audit.recorded.v1", "s", when, run, data
        )
        out.append((tenant, f"e{i}", when, head, tail, None))
        if i % 7 == 0:
            out.append(None)  # a skipped record takes no seq
    return out


def test_export_lines_are_the_lines_of_the_links_a_store_gets() -> None:
    store_chain, export_chain = Chain(), Chain()
    store_times: dict[str, str] = {}
    export_times: dict[str, str] = {}
    links, _, ids = link_entries(payloads(), store_chain, store_times)
    lines = link_lines(payloads(), export_chain, export_times)
    assert lines == [link_line(link) for link in links]
    assert list(parse_lines(lines)) == links
    assert export_chain.heads == store_chain.heads
    assert export_times == store_times
    assert len(links) == 40
    assert ids[:2] == ["e0", "e1"]
    assert [link.seq for link in links if link.tenant_id == "acme"] == list(range(1, 15))
