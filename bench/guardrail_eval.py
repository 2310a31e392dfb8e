"""Guardrail detection quality, agentbus beside Presidio's pattern recognizers, offline.

PII and secrets: precision, recall and F1 per entity type on the seeded corpus of
bench/guardrail_corpus.py (valid values, checksum-failing lookalikes, clean text).
Injection: precision, recall and false-positive rate on the labelled prompt-injection set
(JSON Lines of {"text", "label"}, read in place and never copied: --injection-data, or
INJECTION_DATA for `make eval-guardrail`), overall and for the benign role-play prompts.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from guardrail_corpus import SEED, Sample, build_corpus
from guardrail_presidio import SHARED_ENTITIES, presidio_analyzer

from agentbus.guard import Guard
from agentbus.guard.rules import ScanOptions

Span = tuple[str, int, int]
Detector = Callable[[str], list[Span]]
REGIONS = ("US", "GB", "DE", "FR")
MIN_SCORE = 0.5  # the default policy's threshold
# The catch-all secret detector has no label of its own: counted apart (see `fallbacks`).
FALLBACKS = frozenset({"HIGH_ENTROPY_STRING"})
ROLE_PLAY = re.compile(
    r"^\s*(?:you are|you're|roleplay|role-play|role play|act as|pretend|imagine you|"
    r"i want you to act|play the role|from now on you)",
    re.IGNORECASE,
)


def agentbus_detector(guard: Guard, min_score: float = MIN_SCORE) -> Detector:
    options = ScanOptions(phone_regions=REGIONS)

    def detect(text: str) -> list[Span]:
        return [
            (d.entity, d.start, d.end)
            for d in guard.scanner.scan(text, options)
            if d.score >= min_score and d.entity not in FALLBACKS
        ]

    return detect


def presidio_detector() -> Detector:
    analyzer = presidio_analyzer(REGIONS)

    def detect(text: str) -> list[Span]:
        results = analyzer.analyze(text, language="en", entities=list(SHARED_ENTITIES))
        return [(r.entity_type, r.start, r.end) for r in results]

    return detect


def _overlaps(a: Span, b: Span) -> bool:
    return a[0] == b[0] and a[1] < b[2] and b[1] < a[2]


def score(corpus: Iterable[Sample], detect: Detector) -> dict[str, Counter[str]]:
    """TP, FP, FN per entity: a prediction counts if it overlaps a gold span of its type."""
    counts: dict[str, Counter[str]] = {}
    for sample in corpus:
        predicted = detect(sample.text)
        for gold in sample.spans:
            hit = any(_overlaps(p, gold) for p in predicted)
            counts.setdefault(gold[0], Counter())["tp" if hit else "fn"] += 1
        for p in predicted:
            if not any(_overlaps(p, g) for g in sample.spans):
                counts.setdefault(p[0], Counter())["fp"] += 1
    return counts


def prf(c: Counter[str]) -> tuple[float, float, float]:
    tp, fp, fn = c["tp"], c["fp"], c["fn"]
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def print_pii(
    ours: dict[str, Counter[str]], raw: dict[str, Counter[str]], theirs: dict[str, Counter[str]]
) -> list[str]:
    """The per-entity table; returns the entities where agentbus recall is below Presidio's."""
    head = ("agentbus @0.5 P / R / F1", "agentbus @0 P / R / F1", "presidio @0 P / R / F1")
    print(f"{'entity':<27}{head[0]:>26}{head[1]:>26}{head[2]:>26}   n")
    worse = []
    for entity in sorted(set(ours) | set(raw) | set(theirs)):
        n = next((c["tp"] + c["fn"] for c in (ours.get(entity), raw.get(entity)) if c), 0)
        cells = []
        for table, covered in ((ours, True), (raw, True), (theirs, entity in SHARED_ENTITIES)):
            if not covered:
                cells.append(f"{'— (not covered)':>26}")
            else:
                p, r, f = prf(table.get(entity, Counter()))
                cells.append(f"{p:>10.3f} / {r:.3f} / {f:.3f}")
        print(f"{entity:<27}{''.join(cells)}{n:>5}")
        if (
            entity in SHARED_ENTITIES
            and prf(ours.get(entity, Counter()))[1] < prf(theirs.get(entity, Counter()))[1]
        ):
            worse.append(entity)
    return worse


def fallbacks(guard: Guard, corpus: list[Sample]) -> None:
    """Where the catch-all detectors fire, by kind of sample."""
    options = ScanOptions(phone_regions=REGIONS)
    hits: Counter[tuple[str, str]] = Counter()
    for sample in corpus:
        for d in guard.scanner.scan(sample.text, options):
            if d.entity in FALLBACKS and d.score >= MIN_SCORE:
                hits[(d.entity, sample.kind)] += 1
    print("\ncatch-all detector (no gold label; fires where no specific rule matched):")
    for (entity, kind), n in sorted(hits.items()):
        print(f"  {entity:<22} {n:>4} on {kind} samples")


def injection(guard: Guard, path: Path) -> None:
    with path.open(encoding="utf-8") as lines:  # not splitlines(): texts hold U+2028
        rows = [json.loads(line) for line in lines if line.strip()]
    subsets = {
        "overall": rows,
        # Prompts that open with a role ("You are", "Roleplay as", "Act as", ...). The
        # benign ones are the hard negatives: this subset's FPR is the FPR on them.
        "role-play prompts": [r for r in rows if ROLE_PLAY.match(r["text"])],
    }
    print(f"\nprompt injection ({path.name}: {len(rows)} rows)")
    print(
        f"{'subset':<20}{'engine':<10}{'precision':>10}{'recall':>8}{'FPR':>8}"
        f"{'TP':>6}{'FP':>6}{'FN':>6}{'TN':>6}"
    )
    for name, subset in subsets.items():
        for engine in ("agentbus", "presidio"):
            tp = fp = fn = tn = 0
            for row in subset:
                if engine == "agentbus":
                    flagged = any(d.score >= MIN_SCORE for d in guard.injection.detect(row["text"]))
                else:
                    flagged = False  # Presidio has no prompt-injection recognizer
                positive = row["label"] == "injection"
                tp += flagged and positive
                fp += flagged and not positive
                fn += (not flagged) and positive
                tn += (not flagged) and not positive
            precision = f"{tp / (tp + fp):.3f}" if tp + fp else "—"
            recall = f"{tp / (tp + fn):.3f}" if tp + fn else "—"
            fpr = f"{fp / (fp + tn):.3f}" if fp + tn else "—"
            print(
                f"{name:<20}{engine:<10}{precision:>10}{recall:>8}{fpr:>8}{tp:>6}{fp:>6}{fn:>6}{tn:>6}"
            )
    print(
        "(presidio: no injection recognizer exists among its pattern recognizers; it flags nothing)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-entity", type=int, default=60)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--injection-data",
        type=Path,
        default=Path("../shared/data/prompt-injection/data.jsonl"),
        help="labelled JSON Lines, read in place (relative to the repository root)",
    )
    args = parser.parse_args()
    corpus = build_corpus(args.per_entity, args.seed)
    kinds = Counter(s.kind for s in corpus)
    print(
        f"PII and secrets corpus: seed {args.seed}, {len(corpus)} texts "
        f"({kinds['valid']} valid values, {kinds['lookalike']} lookalikes, "
        f"{kinds['clean']} clean); "
        "agentbus @0.5 = the default policy's min_score, @0 = every validated detection; "
        "presidio @0 = AnalyzerEngine.analyze's default score_threshold\n"
    )
    guard = Guard()
    ours = score(corpus, agentbus_detector(guard))
    raw = score(corpus, agentbus_detector(guard, min_score=0.0))
    theirs = score(corpus, presidio_detector())
    worse = print_pii(ours, raw, theirs)
    worse_raw = [
        e
        for e in SHARED_ENTITIES
        if prf(raw.get(e, Counter()))[1] < prf(theirs.get(e, Counter()))[1]
    ]
    for label, missing in (("@0.5", worse), ("@0", worse_raw)):
        print(
            f"{'' if label == '@0' else chr(10)}agentbus {label} recall >= presidio @0 recall on "
            "every shared entity type: " + ("yes" if not missing else f"NO ({', '.join(missing)})")
        )
    fallbacks(guard, corpus)
    if args.injection_data.exists():
        injection(guard, args.injection_data)
    else:
        print(f"\n{args.injection_data} not found: injection figures skipped", file=sys.stderr)


if __name__ == "__main__":
    main()
