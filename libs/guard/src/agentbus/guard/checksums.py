"""Validators for PII candidates: checksums and registries from maintained libraries."""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

import phonenumbers
from Crypto.Hash import keccak
from phonenumbers.phonemetadata import PhoneMetadata
from stdnum import bitcoin, iban, luhn

__all__ = [
    "card_issuer",
    "valid_btc",
    "valid_card",
    "valid_email",
    "valid_eth",
    "valid_iban_prefix",
    "valid_ip",
    "valid_phone",
    "valid_ssn",
]

_NON_DIGIT = re.compile(r"\D")
_DOTTED_QUAD = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")  # an IPv4 address, never a phone

# IIN ranges of the networks people actually paste (ISO/IEC 7812 prefixes), with lengths.
_ISSUERS: tuple[tuple[str, tuple[tuple[int, int], ...], frozenset[int]], ...] = (
    ("amex", ((34, 34), (37, 37)), frozenset({15})),
    ("visa", ((4, 4),), frozenset({13, 16, 19})),
    ("mastercard", ((51, 55), (2221, 2720)), frozenset({16})),
    ("discover", ((6011, 6011), (644, 649), (65, 65)), frozenset({16, 19})),
    ("jcb", ((3528, 3589),), frozenset({16, 17, 18, 19})),
    ("diners", ((300, 305), (36, 36), (38, 39)), frozenset({14, 16, 19})),
    ("unionpay", ((62, 62),), frozenset({16, 17, 18, 19})),
    ("maestro", ((5018, 5018), (5020, 5020), (5038, 5038), (6304, 6304)), frozenset(range(12, 20))),
)


def card_issuer(digits: str) -> str | None:
    """The network whose IIN range and length `digits` fall in, if any."""
    for name, ranges, lengths in _ISSUERS:
        if len(digits) not in lengths:
            continue
        for low, high in ranges:
            width = len(str(low))
            if low <= int(digits[:width]) <= high:
                return name
    return None


def valid_card(candidate: str) -> float | None:
    """Luhn and a known issuer range; score 1.0, or None."""
    digits = _NON_DIGIT.sub("", candidate)
    if not 12 <= len(digits) <= 19 or len(set(digits)) < 2:
        return None
    if card_issuer(digits) is None or not luhn.is_valid(digits):
        return None
    return 1.0


def valid_iban_prefix(candidate: str) -> int | None:
    """Length of the longest prefix of `candidate` that is a valid IBAN (mod-97, length)."""
    compact = candidate.replace(" ", "")
    # The candidate regex may swallow a following word; trim to the country's exact length.
    for size in range(len(compact), 14, -1):
        if iban.is_valid(compact[:size]):
            consumed = 0
            for index, char in enumerate(candidate):
                consumed += char != " "
                if consumed == size:
                    return index + 1
    return None


def valid_ssn(candidate: str) -> float | None:
    """US SSN: area not 000/666/900-999, group not 00, serial not 0000 (SSA rules)."""
    digits = _NON_DIGIT.sub("", candidate)
    if len(digits) != 9:
        return None
    area, group, serial = int(digits[:3]), int(digits[3:5]), int(digits[5:])
    if area in (0, 666) or area >= 900 or group == 0 or serial == 0:
        return None
    if len(set(digits)) == 1 or digits in ("123456789", "078051120"):  # famous samples
        return None
    return 1.0 if len(digits) != len(candidate) else 0.4


def valid_phone(candidate: str, regions: tuple[str, ...]) -> float | None:
    """A number libphonenumber considers valid, international or in one of `regions`.

    A national-format candidate must also read as that region's national format (same
    digits, trunk prefix included), so an arbitrary digit run is not "valid somewhere".
    """
    digits = _NON_DIGIT.sub("", candidate)
    if not 7 <= len(digits) <= 15 or _DOTTED_QUAD.fullmatch(candidate):
        return None
    international = candidate.startswith("+")
    for region in ("ZZ",) if international else regions:
        if not international and not _plausible_national(digits, region):
            continue
        try:
            number = phonenumbers.parse(candidate, None if international else region)
        except phonenumbers.NumberParseException:
            continue
        if not phonenumbers.is_valid_number(number):
            continue
        national = _NON_DIGIT.sub(
            "", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        )
        if international or digits in (national, f"{number.country_code}{national}"):
            return 0.75  # a valid plan, not a checksum: checksummed ids win ties
    return None


@lru_cache(maxsize=512)
def _trunk(region: str) -> tuple[int, str]:
    """A region's country code and national (trunk) prefix, from libphonenumber metadata."""
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None:
        return 0, ""
    return metadata.country_code or 0, metadata.national_prefix or ""


def _plausible_national(digits: str, region: str) -> bool:
    """Cheap test before parsing: national numbers of trunk-prefix regions start with it."""
    country_code, prefix = _trunk(region)
    if country_code == 1:  # NANP: written without the trunk 1, area codes start 2-9
        ten = len(digits) == 10 and digits[0] not in "01"
        return ten or (len(digits) == 11 and digits[0] == "1")
    return not prefix or digits.startswith(prefix)


def valid_ip(candidate: str) -> float | None:
    """An IPv4 or IPv6 address by the standard library's parser."""
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return None
    if address.version == 6 and candidate.count(":") < 2:
        return None
    return 0.85


def valid_btc(candidate: str) -> float | None:
    """Bitcoin address: base58check (P2PKH/P2SH) or bech32/bech32m (segwit)."""
    return 1.0 if bitcoin.is_valid(candidate) else None


def valid_eth(candidate: str) -> float | None:
    """Ethereum address: EIP-55 checksum when mixed-case; unchecked case scores lower."""
    body = candidate[2:]
    if body.islower() or body.isupper() or body.isdigit():
        return 0.6
    digest = keccak.new(digest_bits=256, data=body.lower().encode()).hexdigest()
    for char, nibble in zip(body, digest[:40], strict=True):
        if char.isalpha() and char.isupper() != (int(nibble, 16) >= 8):
            return None
    return 1.0


_EMAIL_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_EMAIL_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def valid_email(candidate: str) -> float | None:
    """RFC 5322 dot-atom local part and a domain of valid labels with an alphabetic TLD."""
    local, _, domain = candidate.rpartition("@")
    labels = domain.split(".")
    if not _EMAIL_LOCAL.match(local) or len(labels) < 2 or len(candidate) > 254:
        return None
    if not all(_EMAIL_LABEL.match(label) for label in labels):
        return None
    return 1.0 if labels[-1].isalpha() and len(labels[-1]) >= 2 else None
