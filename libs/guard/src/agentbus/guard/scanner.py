"""One multi-pattern pass over the text, then exact matching and validation of candidates."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import hyperscan

from .rules import RULES, Rule, ScanOptions

__all__ = [
    "Detection",
    "Prefilter",
    "Scanner",
    "find_in_windows",
    "resolve_overlaps",
    "windows",
]

_CONTEXT_WINDOW = 48
_CONTEXT_BOOST = 0.3
_NEGATIVE_PENALTY = 0.3


@dataclass(frozen=True, slots=True)
class Detection:
    """One validated hit: entity name, span in the scanned text, score, rule id."""

    entity: str
    start: int
    end: int
    score: float
    detector: str
    priority: int = 1


class Prefilter:
    """A Hyperscan database that says where each pattern can match a text, in one pass.

    Patterns are compiled in prefilter mode: lookarounds and back-references are
    approximated, so Hyperscan may report a match the exact pattern rejects, but never
    misses one. The exact Python pattern then runs only for rules that fired, and only
    in windows around the reported match ends.
    """

    def __init__(self, patterns: Sequence[tuple[str, bool]]) -> None:
        self._db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        base = hyperscan.HS_FLAG_PREFILTER | hyperscan.HS_FLAG_ALLOWEMPTY
        self._db.compile(
            expressions=[p.encode() for p, _ in patterns],
            ids=list(range(len(patterns))),
            elements=len(patterns),
            flags=[base | (hyperscan.HS_FLAG_CASELESS if c else 0) for _, c in patterns],
        )
        self._scratch = hyperscan.Scratch(self._db)

    def ends(self, data: bytes) -> dict[int, list[int]]:
        """For each pattern that may match `data`, the byte offsets where matches may end."""
        hits: dict[int, list[int]] = {}

        def on_match(pattern_id: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
            hits.setdefault(pattern_id, []).append(end)

        self._db.scan(data, match_event_handler=on_match, scratch=self._scratch)
        return hits

    def fired(self, data: bytes) -> set[int]:
        """Ids of the patterns that may match `data`."""
        return set(self.ends(data))


_LOOKAHEAD = 4  # characters past a match end that a trailing lookahead may inspect


def windows(ends: list[int], width: int | None, size: int) -> list[tuple[int, int]]:
    """Merged (pos, endpos) windows covering a match of at most `width` ending at each end."""
    if width is None:
        return [(0, size)]
    merged: list[tuple[int, int]] = []
    for end in sorted(ends):
        start, stop = max(0, end - width), min(size, end + _LOOKAHEAD)
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged


def find_in_windows(
    pattern: re.Pattern[str], text: str, spans: list[tuple[int, int]]
) -> Iterator[re.Match[str]]:
    """Matches of `pattern` inside the windows, as a whole-text search would find them."""
    size = len(text)
    for pos, endpos in spans:
        for match in pattern.finditer(text, pos, endpos):
            # A match touching a cut-off window end may only look complete; the window
            # reaches past every true match end, so skipping these loses nothing.
            if match.end() < endpos or endpos == size:
                yield match


class Scanner:
    """Finds PII and secrets: prefilter, exact candidate regex, validator, context score."""

    def __init__(self, rules: Sequence[Rule] = RULES) -> None:
        self.rules = tuple(rules)
        self._compiled = tuple(
            re.compile(r.pattern, re.IGNORECASE if r.caseless else 0) for r in self.rules
        )
        self._prefilter = Prefilter([(r.prefilter or r.pattern, r.caseless) for r in self.rules])

    def scan(
        self, text: str, options: ScanOptions, entities: frozenset[str] | None = None
    ) -> list[Detection]:
        """Every validated detection in `text`, duplicates of one entity resolved."""
        if not text:
            return []
        found: list[Detection] = []
        lowered: str | None = None
        # Byte offsets equal character offsets only for ASCII; otherwise search it all.
        ascii_text = text.isascii()
        hits = self._prefilter.ends(text.encode("utf-8", "surrogatepass"))
        for index in sorted(hits):
            rule = self.rules[index]
            if entities is not None and rule.entity not in entities:
                continue
            width = rule.width if ascii_text else None
            spans = windows(hits[index], width, len(text))
            for match in find_in_windows(self._compiled[index], text, spans):
                value = match.group(rule.group)
                if not value:
                    continue
                score = rule.validate(value, options)
                if score is None:
                    continue
                start, end = match.span(rule.group)
                if rule.context or rule.negative:
                    lowered = lowered if lowered is not None else text.lower()
                    score = _with_context(rule, lowered, start, score)
                found.append(Detection(rule.entity, start, end, score, rule.id, rule.priority))
        return resolve_overlaps(found)


def _with_context(rule: Rule, lowered: str, start: int, score: float) -> float:
    window = lowered[max(0, start - _CONTEXT_WINDOW) : start]
    if any(word in window for word in rule.context):
        score = min(1.0, score + _CONTEXT_BOOST)
    if any(word in window for word in rule.negative):
        score = max(0.0, score - _NEGATIVE_PENALTY)
    return round(score, 3)


_FALLBACKS = frozenset({"HIGH_ENTROPY_STRING", "GENERIC_SECRET"})


def _overlap(a: Detection, b: Detection) -> bool:
    return a.start < b.end and b.start < a.end


def resolve_overlaps(found: list[Detection]) -> list[Detection]:
    """Drop duplicates: overlapping hits of one entity keep the best (score, priority, length).

    Different entities may overlap and are all kept (a 12-digit run can be a valid
    Aadhaar and a valid phone number; the policy's strictest action applies). Fallback
    detectors (high entropy, generic assignments) give way to any specific detection.
    """
    if len(found) < 2:
        return found
    kept: list[Detection] = []
    ranked = sorted(found, key=lambda d: (-d.score, -d.priority, d.start - d.end, d.start))
    specific = [d for d in ranked if d.entity not in _FALLBACKS]
    for candidate in ranked:
        if candidate.entity in _FALLBACKS and any(_overlap(candidate, s) for s in specific):
            continue
        if any(k.entity == candidate.entity and _overlap(candidate, k) for k in kept):
            continue
        kept.append(candidate)
    return sorted(kept, key=lambda d: (d.start, d.end))
