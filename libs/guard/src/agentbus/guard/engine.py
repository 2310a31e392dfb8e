"""The guard: detect in content, apply a tenant policy, return a verdict without raw values."""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from phonenumbers.phonemetadata import PhoneMetadata

from .content import rebuild, strings, total_chars
from .entities import Category, category_of, kind_of
from .injection import InjectionDetector
from .masking import Replacement, TenantKeys, VaultEntry, apply_masks
from .normalise import normalise
from .output_schema import schema_violations
from .policy import Action, MaskStyle, Policy
from .rules import ScanOptions
from .scanner import Detection, Scanner

__all__ = ["CompiledPolicy", "Guard", "GuardFinding", "Verdict"]


@dataclass(frozen=True, slots=True)
class GuardFinding:
    """One finding as reported: what, where, how sure, which detector and policy rule."""

    entity: str
    kind: str
    score: float
    detector: str
    action: Action
    rule: str
    start: int | None = None
    end: int | None = None
    path: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """The decision on one piece of content under one policy version."""

    decision: Action
    findings: tuple[GuardFinding, ...]
    policy_name: str
    policy_version: str
    reason: str | None
    masked_content: Any = None
    vault: tuple[VaultEntry, ...] = field(default=(), repr=False)


class CompiledPolicy:
    """A policy with its per-policy matchers (denied terms and topics) built once."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.options = ScanOptions(phone_regions=policy.phone_regions)
        for region in policy.phone_regions:
            # libphonenumber loads a region's metadata on first use (milliseconds): do it
            # now, not inside the first request that happens to contain a number.
            phonenumbers.example_number(region)
        self._terms: list[tuple[str, str, re.Pattern[str]]] = []
        if policy.denied_terms:
            self._terms.append(("DENIED_TERM", "term", _alternation(policy.denied_terms)))
        for topic, terms in sorted(policy.denied_topics.items()):
            if terms:
                self._terms.append(("DENIED_TOPIC", f"topic.{topic}", _alternation(terms)))

    def denied(self, text: str) -> list[Detection]:
        """Denied terms and topics, matched on normalised text (homoglyph-proof)."""
        if not self._terms:
            return []
        normalised = normalise(text)
        found = []
        for entity, detector, pattern in self._terms:
            for match in pattern.finditer(normalised.text):
                start, end = normalised.span(*match.span())
                found.append(Detection(entity, start, end, 1.0, detector))
        return found


def _alternation(terms: tuple[str, ...]) -> re.Pattern[str]:
    ordered = sorted({t.strip() for t in terms if t.strip()}, key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, ordered)) + r")(?!\w)", re.I)


class Guard:
    """Detectors compiled once; `check` is pure CPU work, safe to call in-process."""

    def __init__(self, *, warm_up: bool = True) -> None:
        self.scanner = Scanner()
        self.injection = InjectionDetector()
        if warm_up:
            self.warm_up()

    def warm_up(self) -> None:
        """Run every validator once, so lazy caches fill before the first real request."""
        from .samples import GENERATORS

        # libphonenumber loads each region's metadata on first use (milliseconds each,
        # ~0.5 s for all): load it all now rather than inside some request's latency.
        PhoneMetadata.load_all()
        rng = random.Random(0)
        # Several values per entity, so every IBAN country and phone region gets touched.
        text = " ".join(
            " ".join(generate(rng)) for generate in GENERATORS.values() for _ in range(12)
        )
        options = ScanOptions(phone_regions=("US", "GB", "DE", "FR"))
        self.scanner.scan(text, options)
        self.injection.detect(text)

    def detect(self, text: str, policy: CompiledPolicy) -> list[Detection]:
        """Every detection in one string, before the policy's thresholds."""
        found = self.scanner.scan(text, policy.options)
        found.extend(self.injection.detect(text))
        found.extend(policy.denied(text))
        return found

    def check(
        self,
        content: Any,
        policy: CompiledPolicy,
        keys: TenantKeys,
        *,
        output_schema: dict[str, Any] | None = None,
    ) -> Verdict:
        """Decide on `content` (text or JSON) under `policy`."""
        rules = policy.policy
        findings: list[GuardFinding] = []
        masks: dict[str, list[Replacement]] = {}
        is_text = isinstance(content, str)
        size = total_chars(content)
        if size > rules.max_chars:
            findings.append(self._finding(rules, "SIZE_LIMIT", 1.0, "size", path=None))
            return self._verdict(rules, findings, content, {}, keys)
        if output_schema is not None:
            for violation in schema_violations(content, output_schema):
                finding = self._finding(rules, "OUTPUT_SCHEMA", 1.0, "jsonschema", violation.path)
                findings.append(finding)
        for path, text in strings(content):
            for hit in self.detect(text, policy):
                name, rule = rules.rule_for(hit.entity, category_of(hit.entity))
                threshold = rule.min_score if rule.min_score is not None else rules.min_score
                if hit.score < threshold:
                    continue
                findings.append(
                    GuardFinding(
                        entity=hit.entity,
                        kind=kind_of(hit.entity),
                        score=hit.score,
                        detector=hit.detector,
                        action=rule.action,
                        rule=name,
                        start=hit.start,
                        end=hit.end,
                        path=None if is_text else path,
                    )
                )
                if rule.action is not Action.ALLOW and category_of(hit.entity) in _MASKABLE:
                    style = rule.mask if rule.action is Action.MASK else MaskStyle.LABEL
                    masks.setdefault(path, []).append(
                        Replacement(hit.start, hit.end, hit.entity, style)
                    )
        return self._verdict(rules, findings, content, masks, keys)

    @staticmethod
    def _finding(
        rules: Policy, entity: str, score: float, detector: str, path: str | None
    ) -> GuardFinding:
        name, rule = rules.rule_for(entity, Category.CONTENT)
        return GuardFinding(entity, kind_of(entity), score, detector, rule.action, name, path=path)

    @staticmethod
    def _verdict(
        rules: Policy,
        findings: list[GuardFinding],
        content: Any,
        masks: dict[str, list[Replacement]],
        keys: TenantKeys,
    ) -> Verdict:
        decision = max((f.action for f in findings), key=lambda a: a.severity, default=Action.ALLOW)
        masked: Any = None
        vault: list[VaultEntry] = []
        if decision in (Action.MASK, Action.REQUIRE_APPROVAL) and masks:

            def replace(path: str, text: str) -> str:
                if path not in masks:
                    return text
                new, entries = apply_masks(text, masks[path], keys)
                vault.extend(entries)
                return new

            masked = rebuild(content, replace)
        elif decision is Action.MASK:
            masked = content
        return Verdict(
            decision=decision,
            findings=tuple(findings),
            policy_name=rules.name,
            policy_version=rules.version,
            reason=_reason(decision, findings, rules),
            masked_content=masked,
            vault=tuple(vault),
        )


_MASKABLE = frozenset({Category.PII, Category.SECRET, Category.CONTENT})


def _reason(decision: Action, findings: list[GuardFinding], rules: Policy) -> str | None:
    if not findings:
        return None
    decisive = [f for f in findings if f.action is decision] or findings
    counts = Counter(f.kind for f in decisive)
    kinds = ", ".join(f"{kind} x{n}" if n > 1 else kind for kind, n in sorted(counts.items()))
    paths = sorted({f.path for f in decisive if f.entity == "OUTPUT_SCHEMA" and f.path})
    where = f" at {', '.join(paths)}" if paths else ""
    return f"{decision.value}: {kinds}{where} (policy {rules.ref})"
