"""A labelled PII and secrets corpus, generated deterministically from a seed.

Every sample is realistic surrounding text with at most one planted value: a valid one
(labelled with its entity and span) or a checksum-failing lookalike (labelled nothing),
plus clean texts full of numbers that are not PII (dates, prices, versions, hashes).
The generators live in `agentbus.guard.samples`; nothing here is real data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from agentbus.guard.samples import GENERATORS

__all__ = ["SEED", "Sample", "build_corpus", "clean_texts"]

SEED = 20261121

_NEUTRAL = (
    "Hi team, the customer asked us to update their record to {v} before Friday. Thanks, Maria",
    "Ticket 48213: the user reports that {v} was rejected at checkout yesterday afternoon.",
    "Notes from the call on 14 March: confirmed {v}; follow up next week with the summary.",
    '{{"customer_id": 99812, "value": "{v}", "status": "pending", "retries": 3}}',
    "Can you check whether {v} is the one on file? Order 7731 is on hold until then.",
    "Forwarding this from the support inbox:\n> please use {v} from now on\nRegards",
    "- step 3: paste {v} into the form and press save (see screenshot 2)",
)
_CONTEXT = {
    "EMAIL_ADDRESS": "You can email me at {v} any time.",
    "CREDIT_CARD": "Please charge my Visa card {v} for the renewal.",
    "IBAN_CODE": "Our bank account IBAN is {v} for the transfer.",
    "US_SSN": "My social security number (SSN) is {v}.",
    "PHONE_NUMBER": "Call my mobile phone on {v} after six.",
    "IP_ADDRESS": "The server IP address is {v} behind the firewall.",
    "CRYPTO": "Send the refund to my bitcoin wallet {v} please.",
    "ES_NIF": "Mi NIF es {v} para la factura.",
    "IT_FISCAL_CODE": "Il mio codice fiscale è {v}.",
    "PL_PESEL": "Mój numer PESEL to {v}.",
    "IN_AADHAAR": "My Aadhaar number is {v} for the KYC form.",
    "IN_PAN": "PAN card number {v} is attached to the invoice.",
    "AU_ABN": "Our ABN is {v} as shown on the invoice.",
    "AU_TFN": "My tax file number (TFN) is {v}.",
    "FI_PERSONAL_IDENTITY_CODE": "Henkilötunnus {v} on lomakkeessa.",
    "US_ITIN": "The taxpayer ITIN is {v} for this filing.",
}
_SECRET_TEMPLATES = (
    "Found this in last night's CI log: {v}",
    "please rotate {v} asap, it was pasted in the public channel",
    "the deploy failed; env dump follows\n{v}\n(end of dump)",
    "Leaked in commit 4f1c2e9 by mistake: {v}",
)
_CLEAN = (
    "Invoice 2024-0042 totals $1,234.56, due on 2024-05-01; build 20240501.7 shipped.",
    "Version 3.2.1 fixes the login bug; see release notes for 3.2.0 and 3.1.9.",
    "Commit 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b fixed the flaky test in module 12.",
    "Meeting moved to 10:30 on 2025-02-11 in room 4.12; bring the Q3 numbers (up 17%).",
    "The order id is 839201-77 and the tracking code is 1Z999AA10123456784.",
    "Request a2c4e6f8-1b3d-4f5a-9c7e-0d2f4b6a8c1e timed out after 3000 ms at 1700000000.",
    "Population grew from 8,402,117 to 8,804,190 between 2010 and 2020 (+4.8%).",
    "Set max_connections = 200 and shared_buffers = 4GB, then restart the database.",
    "Roleplay as a customer support agent and answer politely in under 120 words.",
    "Your one-time code is 482913; it expires in 10 minutes.",
)


@dataclass(frozen=True)
class Sample:
    """One text and its gold spans (entity, start, end)."""

    text: str
    spans: tuple[tuple[str, int, int], ...]
    kind: str  # valid, lookalike or clean


def _place(template: str, value: str) -> tuple[str, int, int]:
    start = template.index("{v}")
    text = template.replace("{v}", value).replace("{{", "{").replace("}}", "}")
    # Braces before the slot shrink by one character each when unescaped.
    start -= template[:start].count("{{") + template[:start].count("}}")
    return text, start, start + len(value)


def build_corpus(per_entity: int = 60, seed: int = SEED) -> list[Sample]:
    """`per_entity` valid and as many lookalike samples per entity, then clean texts."""
    rng = random.Random(seed)
    samples: list[Sample] = []
    for entity, generate in GENERATORS.items():
        secret = entity not in _CONTEXT
        for index in range(per_entity):
            valid, lookalike = generate(rng)
            if secret:
                template = rng.choice(_SECRET_TEMPLATES)
            else:
                # Half the time with the entity's own context words, half in neutral prose.
                template = _CONTEXT[entity] if index % 2 else rng.choice(_NEUTRAL)
            text, start, end = _place(template, valid)
            samples.append(Sample(text, ((entity, start, end),), "valid"))
            text, _, _ = _place(template, lookalike)
            samples.append(Sample(text, (), "lookalike"))
    samples.extend(Sample(text, (), "clean") for text in clean_texts())
    return samples


def clean_texts() -> list[str]:
    """Texts with many numbers and no PII or secret."""
    return list(_CLEAN)
