"""Prompt-injection and jailbreak heuristics, matched on normalised text in one pass."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .normalise import (
    BASE64_SIGNAL,
    HEX_SIGNAL,
    LEET_SIGNAL,
    decoded_blobs,
    leet_fold,
    normalise,
)
from .scanner import Detection, Prefilter, find_in_windows, windows

__all__ = ["INJECTION_RULES", "InjectionDetector", "InjectionRule"]


@dataclass(frozen=True, slots=True)
class InjectionRule:
    """One heuristic: the entity it signals, a case-insensitive pattern, its weight."""

    id: str
    entity: str
    pattern: str
    score: float
    width: int = 400  # longest match in characters (every rule's gaps are bounded)


_OVERRIDE = "INJECTION_INSTRUCTION_OVERRIDE"
_ROLE_PLAY = "INJECTION_ROLE_PLAY"
_EXTRACTION = "INJECTION_SYSTEM_PROMPT_EXTRACTION"
_DELIMITER = "INJECTION_DELIMITER"
_GAP = r"[^.\n]{0,40}?"
_RULES_OF = (
    r"(?:instructions?|rules|prompts?|directions|guidelines|directives|restrictions|commands"
    r"|polic(?:y|ies)|programming|constraints|filters?|training)"
)

INJECTION_RULES: tuple[InjectionRule, ...] = (
    InjectionRule(
        "override.ignore_previous",
        _OVERRIDE,
        rf"\b(?:ignore|disregard|forget|skip|bypass|override|overwrite|abandon|drop)\b{_GAP}"
        rf"\b(?:previous|prior|above|earlier|preceding|all|any|every|your|the|initial|original"
        rf"|system|existing|old)\b{_GAP}\b{_RULES_OF}\b",
        0.9,
    ),
    InjectionRule(
        "override.new_instructions",
        _OVERRIDE,
        r"\b(?:new|updated|real|actual|true) (?:instructions?|rules|directives?|task)\s*:",
        0.7,
    ),
    InjectionRule(
        "override.no_longer_bound",
        _OVERRIDE,
        rf"\b(?:no longer|not|never|don'?t have to|do not have to)\b{_GAP}"
        rf"\b(?:bound|restricted|limited|constrained|obliged|required)\b{_GAP}"
        rf"\b(?:by|to)\b{_GAP}\b(?:{_RULES_OF}|openai|ethics|morals|content)",
        0.8,
    ),
    InjectionRule(
        "roleplay.do_anything_now",
        _ROLE_PLAY,
        r"\b(?:do anything now|dan mode|stan mode|dude mode|you are (?:now )?dan\b)",
        0.95,
    ),
    InjectionRule(
        "roleplay.mode_switch",
        _ROLE_PLAY,
        r"\b(?:developer|dev|god|debug|jailbreak|jailbroken|unrestricted|unfiltered|unlocked"
        r"|evil|chaos|opposite|dan|anarchy|uncensored)\s+mode\b",
        0.85,
    ),
    InjectionRule("roleplay.jailbreak", _ROLE_PLAY, r"\bjail\s?br(?:ea|o)k(?:en|ed|ing|s)?\b", 0.8),
    InjectionRule(
        "roleplay.without_restrictions",
        _ROLE_PLAY,
        rf"\b(?:without|no|free (?:of|from)|not bound by|ignores?|bypass(?:es)?|break(?:s)?|beyond"
        rf"|lacks?|doesn'?t (?:have|follow|care about)|does not (?:have|follow|care about))\b"
        rf"{_GAP}\b(?:restrictions|censorship|limitations|limits|filters?|filtering|ethics"
        rf"|morals?|moral (?:compass|guidelines|principles)|ethical (?:guidelines|principles|"
        rf"constraints|boundaries)|content polic(?:y|ies)|safety (?:guidelines|measures))\b",
        0.6,
    ),
    InjectionRule(
        "roleplay.policy_evasion",
        _ROLE_PLAY,
        r"\bopen\s?ai(?:'s)?\b[^.\n]{0,40}?\b(?:content )?(?:polic(?:y|ies)|guidelines|rules"
        r"|restrictions|filters?)\b",
        0.6,
    ),
    InjectionRule(
        "roleplay.amoral",
        _ROLE_PLAY,
        r"\b(?:uncensored|unfiltered|amoral|unethical|immoral|no morals|no ethics"
        r"|illegal (?:or|and) (?:harmful|unethical|immoral))\b",
        0.5,
    ),
    InjectionRule(
        "roleplay.never_refuse",
        _ROLE_PLAY,
        r"\b(?:never|not|don'?t|do not|cannot|can'?t|won'?t|will not|must not)\s+(?:ever\s+)?"
        r"(?:refuse|decline|reject|deny|say (?:no|sorry|that you can'?t)|apologi[sz]e|warn|censor)",
        0.55,
    ),
    InjectionRule(
        "roleplay.stay_in_character",
        _ROLE_PLAY,
        r"\b(?:stay in character|break(?:ing)? character|character break)\b",
        0.45,
    ),
    InjectionRule(
        "roleplay.dual_response",
        _ROLE_PLAY,
        r"\b(?:two|2|both) (?:different |separate )?(?:responses|answers|paragraphs|ways)\b"
        r"[^\n]{0,120}?\b(?:normal|classic|jailbr|dan|filtered|unfiltered|developer)",
        0.6,
    ),
    InjectionRule(
        "extraction.system_prompt",
        _EXTRACTION,
        r"\b(?:reveal|show|print|repeat|output|display|tell me|give me|leak|dump|recite"
        r"|what (?:is|are|was|were))\b[^.\n]{0,30}?\b(?:your|the)\b[^.\n]{0,20}?"
        r"\b(?:system|initial|original|hidden|secret|developer|pre-?)\s*(?:prompt|instructions?|message|rules)\b",
        0.85,
    ),
    InjectionRule(
        "extraction.text_above",
        _EXTRACTION,
        r"\b(?:repeat|print|output)\b[^.\n]{0,20}?\b(?:words|text|everything|all)\s+(?:above|before)\b",
        0.75,
    ),
    InjectionRule(
        "delimiter.chat_markup",
        _DELIMITER,
        r"<\|(?:im_start|im_end|system|endoftext|eot_id|start_header_id|end_header_id)\|>"
        r"|\[/?(?:inst|sys)\]|<<\s*/?sys\s*>>|</?(?:system|instructions?|admin)>",
        0.8,
    ),
    InjectionRule(
        "delimiter.fake_header",
        _DELIMITER,
        r"(?:^|\n)\s*(?:#{2,}|={3,}|-{3,})\s*(?:system|new instructions?|admin|developer)\b",
        0.7,
    ),
)


class InjectionDetector:
    """Scores a text for injection: raw, normalised, leet-folded and decoded variants."""

    def __init__(self, rules: tuple[InjectionRule, ...] = INJECTION_RULES) -> None:
        self.rules = rules
        self._compiled = tuple(re.compile(r.pattern, re.IGNORECASE) for r in rules)
        # The same pass also says whether leetspeak or an encoded blob is present, so the
        # costlier folding and decoding run only on texts that have them.
        signals = [(LEET_SIGNAL, False), (BASE64_SIGNAL, False), (HEX_SIGNAL, False)]
        self._leet, self._base64, self._hex = range(len(rules), len(rules) + 3)
        self._prefilter = Prefilter([(r.pattern, True) for r in rules] + signals)

    def detect(self, text: str, *, max_depth: int = 2) -> list[Detection]:
        """One detection per entity found, its score a noisy-or of the hits."""
        hits: dict[str, list[tuple[float, int, int, str]]] = {}
        self._collect(text, hits, encoding=None, depth=max_depth, span=None)
        detections = []
        for entity, found in hits.items():
            missing = 1.0
            for score, *_ in found:
                missing *= 1.0 - score
            _, start, end, detector = max(found)
            detections.append(Detection(entity, start, end, round(1.0 - missing, 3), detector))
        return sorted(detections, key=lambda d: d.start)

    def _collect(
        self,
        text: str,
        hits: dict[str, list[tuple[float, int, int, str]]],
        *,
        encoding: str | None,
        depth: int,
        span: tuple[int, int] | None,
    ) -> None:
        normalised = normalise(text)
        seen: set[tuple[str, int]] = set()
        variant: str | None = normalised.text
        encoded = False
        while variant is not None:
            ascii_text = variant.isascii()
            ends = self._prefilter.ends(variant.encode("utf-8", "surrogatepass"))
            for index, found_ends in ends.items():
                if index >= len(self.rules):
                    continue  # a signal, not a rule
                rule = self.rules[index]
                spans = windows(found_ends, rule.width if ascii_text else None, len(variant))
                for match in find_in_windows(self._compiled[index], variant, spans):
                    if (rule.id, match.start()) in seen:
                        continue
                    seen.add((rule.id, match.start()))
                    start, end = span or normalised.span(*match.span())
                    detector = f"{rule.id}+{encoding}" if encoding else rule.id
                    hits.setdefault(rule.entity, []).append((rule.score, start, end, detector))
            if variant is normalised.text:
                encoded = self._base64 in ends or self._hex in ends
                # Leetspeak folding keeps length, so spans map back the same way.
                variant = leet_fold(variant, known=True) if self._leet in ends else None
            else:
                variant = None
        if depth > 0 and encoded:
            for start, end, decoded in decoded_blobs(text):
                where = span or (start, end)
                kind = (
                    "hex"
                    if all(c in "0123456789abcdefABCDEF" for c in text[start:end])
                    else "base64"
                )
                self._collect(decoded, hits, encoding=kind, depth=depth - 1, span=where)
