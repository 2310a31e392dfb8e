"""Guardrail scan speed: MB/s per core and latency per 1 KB text, beside Presidio, in one run.

Texts are ~1 KB of support-ticket prose with 0-2 planted values from the seeded corpus.
Rows:
  agentbus check       Guard.check under the bundled default policy: PII, secrets,
                       injection, denied terms and masking (what the service runs)
  agentbus scan        PII and secret detection only (what Presidio's analyze does)
  per-rule loop        the same rules, every regex run over every text (no prefilter)
  one combined regex   all rules as one Python alternation with named groups (no
                       overlapping matches, so it finds less; timing only)
  presidio analyze     AnalyzerEngine, pattern recognizers for the shared entities
Single process, single thread: the figures are per core.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from guardrail_corpus import SEED, build_corpus
from guardrail_presidio import SHARED_ENTITIES, presidio_analyzer

from agentbus.guard import CompiledPolicy, Guard, TenantKeys, parse_policy
from agentbus.guard.rules import RULES, ScanOptions

REGIONS = ("US", "GB", "DE", "FR")
POLICY = Path("services/guardrail/src/guardrail/policies/_default/default.yaml")
_PROSE = (
    "The customer wrote in again about the delayed shipment and asked for an update.",
    "We reproduced the issue on the staging cluster and the fix is scheduled for Thursday.",
    "Please summarise the conversation below for the account manager in three bullet points.",
    "According to the knowledge base article, the refund takes five to seven business days.",
    "The agent should answer politely, avoid jargon and offer a follow-up call if needed.",
    "Our records show two previous orders, both delivered on time and without complaints.",
    "Translate the following paragraph into German and keep the product names unchanged.",
    "The invoice for March was paid in full; the April invoice is still outstanding.",
    "Escalate to the second line if the customer mentions a legal dispute or a chargeback.",
    "Draft a short reply that confirms the appointment and lists the documents to bring.",
)


def texts(count: int, size: int, seed: int) -> list[str]:
    """`count` texts of about `size` characters, most with one or two planted values."""
    rng = random.Random(seed)
    planted = [s.text for s in build_corpus(20, seed) if s.kind == "valid"]
    out = []
    for _ in range(count):
        parts = [rng.choice(planted) for _ in range(rng.choice([0, 1, 1, 2]))]
        while sum(len(p) + 1 for p in parts) < size:
            parts.insert(rng.randrange(len(parts) + 1), rng.choice(_PROSE))
        out.append(" ".join(parts)[:size])
    return out


def measure(name: str, run: Callable[[str], object], corpus: list[str], warmup: int) -> float:
    """Print MB/s (CPU time), p50/p99 CPU and p99 wall per text; return MB/s."""
    for text in corpus[:warmup]:
        run(text)
    cpu, wall = [], []
    for text in corpus:
        started, started_cpu = time.perf_counter_ns(), time.thread_time_ns()
        run(text)
        cpu.append(time.thread_time_ns() - started_cpu)
        wall.append(time.perf_counter_ns() - started)
    size_mb = sum(len(t.encode()) for t in corpus) / 1e6
    # CPU time per core: the machine is shared, so wall time also counts other jobs.
    mbps = size_mb / (sum(cpu) / 1e9)
    q_cpu = statistics.quantiles(cpu, n=100)
    q_wall = statistics.quantiles(wall, n=100)
    print(
        f"{name:<22}{mbps:>9.2f}{q_cpu[49] / 1e6:>10.3f}{q_cpu[98] / 1e6:>10.3f}"
        f"{q_wall[98] / 1e6:>11.3f}{max(cpu) / 1e6:>10.3f}{len(corpus):>7}"
    )
    return mbps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--presidio-texts", type=int, default=300, help="Presidio is slower")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    corpus = texts(args.texts, args.size, args.seed)
    guard = Guard()
    policy = CompiledPolicy(parse_policy(POLICY.read_text(), source=str(POLICY)))
    keys = TenantKeys(b"bench-salt", b"bench-token-key")
    options = ScanOptions(phone_regions=REGIONS)
    loop_rules = [(re.compile(r.pattern, re.I if r.caseless else 0), r) for r in RULES]
    combined = re.compile("|".join(f"(?P<r{i}>{r.pattern})" for i, r in enumerate(RULES)))

    def per_rule_loop(text: str) -> int:
        found = 0
        for pattern, rule in loop_rules:
            for match in pattern.finditer(text):
                found += rule.validate(match.group(rule.group), options) is not None
        return found

    def one_regex(text: str) -> int:
        return sum(1 for _ in combined.finditer(text))

    analyzer = presidio_analyzer(REGIONS)
    entities = list(SHARED_ENTITIES)
    print(f"{len(corpus)} texts of {args.size} chars (seed {args.seed}); one process, one thread\n")
    print(
        f"{'engine':<22}{'MB/s':>9}{'p50 ms':>10}{'p99 ms':>10}{'p99 wall':>11}"
        f"{'max ms':>10}{'texts':>7}"
    )
    check = measure("agentbus check", lambda t: guard.check(t, policy, keys), corpus, warmup=50)
    scan = measure("agentbus scan", lambda t: guard.scanner.scan(t, options), corpus, warmup=50)
    measure("per-rule loop", per_rule_loop, corpus[: args.presidio_texts * 2], warmup=20)
    measure("one combined regex", one_regex, corpus[: args.presidio_texts * 2], warmup=20)
    presidio = measure(
        "presidio analyze",
        lambda t: analyzer.analyze(t, language="en", entities=entities),
        corpus[: args.presidio_texts],
        warmup=10,
    )
    print(
        f"\nthroughput vs presidio: check {check / presidio:.1f}x, scan {scan / presidio:.1f}x "
        "(target >= 10x); latency target: p99 <= 1 ms per 1 KB"
    )


if __name__ == "__main__":
    main()
