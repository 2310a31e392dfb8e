"""Valid values of every PII and secret type are found; checksum-failing lookalikes are not."""

from __future__ import annotations

import random

import pytest

from agentbus.guard import Guard
from agentbus.guard.rules import ScanOptions
from agentbus.guard.samples import GENERATORS

OPTIONS = ScanOptions(phone_regions=("US", "GB", "DE", "FR"))
# Ids whose checksum is weak (1 in 11) are reported only with context words.
CONTEXT = {"AU_TFN": "tax file number (TFN)", "AU_ABN": "ABN", "PL_PESEL": "PESEL"}


@pytest.fixture(scope="module")
def guard() -> Guard:
    return Guard()


def _entities(guard: Guard, text: str) -> set[str]:
    return {d.entity for d in guard.scanner.scan(text, OPTIONS) if d.score >= 0.5}


@pytest.mark.parametrize("entity", sorted(GENERATORS))
def test_valid_values_found_and_lookalikes_rejected(guard: Guard, entity: str) -> None:
    rng = random.Random(f"unit-{entity}")
    for _ in range(40):
        valid, lookalike = GENERATORS[entity](rng)
        prefix = CONTEXT.get(entity, "the value is")
        assert entity in _entities(guard, f"{prefix} {valid} as discussed"), valid
        assert entity not in _entities(guard, f"{prefix} {lookalike} as discussed"), lookalike


@pytest.mark.parametrize(
    ("text", "entity"),
    [
        ("card 4111 1111 1111 1112", "CREDIT_CARD"),  # Luhn fails
        ("card 9111 1111 1111 1116", "CREDIT_CARD"),  # Luhn ok, no issuer starts with 9
        ("IBAN DE88 3704 0044 0532 0130 00", "IBAN_CODE"),  # wrong check digits
        ("IBAN DE89 3704 0044 0532 0130", "IBAN_CODE"),  # wrong length for DE
        ("ssn 000-12-3456", "US_SSN"),
        ("ssn 666-12-3456", "US_SSN"),
        ("ssn 912-12-3456", "US_SSN"),
        ("ssn 123-00-4567", "US_SSN"),
        ("ssn 123-45-0000", "US_SSN"),
        ("eth 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", "CRYPTO"),  # EIP-55 fails
        ("btc 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3", "CRYPTO"),  # base58check fails
        ("ip 256.1.1.1", "IP_ADDRESS"),
        ("token ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa000000", "GITHUB_TOKEN"),  # CRC fails
        ("db postgres://app:${DB_PASSWORD}@db/x", "CONNECTION_STRING"),
        (
            "hash 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "HIGH_ENTROPY_STRING",
        ),
    ],
)
def test_named_lookalikes_rejected(guard: Guard, text: str, entity: str) -> None:
    assert entity not in _entities(guard, text)


@pytest.mark.parametrize(
    ("text", "entity"),
    [
        ("card 4111 1111 1111 1111", "CREDIT_CARD"),
        ("IBAN GB82 WEST 1234 5698 7654 32 TO", "IBAN_CODE"),
        ("btc bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "CRYPTO"),
        ("eth 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "CRYPTO"),
        ("host 2001:db8::ff00:42:8329", "IP_ADDRESS"),
        ("call +44 20 7946 0958", "PHONE_NUMBER"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9x7Qk2mZpV9wLr4TbN8", "BEARER_TOKEN"),
        ('password = "Tr0ub4dor&3x"', "GENERIC_SECRET"),
        ("key 8Jx2KqLm9PzR4tVw7YbN3cFhD6gS1aE5uQ0oXiWj", "HIGH_ENTROPY_STRING"),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AWS_SECRET_KEY"),
        (
            "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
            "SLACK_WEBHOOK",
        ),
    ],
)
def test_named_values_found(guard: Guard, text: str, entity: str) -> None:
    assert entity in _entities(guard, text)


def test_iban_span_stops_at_the_country_length(guard: Guard) -> None:
    text = "pay GB82 WEST 1234 5698 7654 32 TO me"
    [hit] = [d for d in guard.scanner.scan(text, OPTIONS) if d.entity == "IBAN_CODE"]
    assert text[hit.start : hit.end] == "GB82 WEST 1234 5698 7654 32"


def test_context_words_raise_and_lower_scores(guard: Guard) -> None:
    plain = guard.scanner.scan("679 348 060", OPTIONS)
    boosted = guard.scanner.scan("my tax file number is 679 348 060", OPTIONS)
    assert all(d.score < 0.5 for d in plain if d.entity == "AU_TFN")
    assert any(d.entity == "AU_TFN" and d.score >= 0.5 for d in boosted)
    address = guard.scanner.scan("server at 10.1.2.3", OPTIONS)
    version = guard.scanner.scan("release version 10.1.2.3", OPTIONS)
    assert address[0].score > version[0].score
