"""National identifiers validated by python-stdnum (checksums, dates, formats)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stdnum import verhoeff
from stdnum.au import abn, tfn
from stdnum.es import nif
from stdnum.fi import hetu
from stdnum.in_ import aadhaar, pan
from stdnum.it import codicefiscale
from stdnum.pl import pesel
from stdnum.us import itin

__all__ = ["NATIONAL_IDS", "NationalId"]


@dataclass(frozen=True, slots=True)
class NationalId:
    """One identifier: Presidio entity name, candidate regex, stdnum check, base score."""

    entity: str
    pattern: str
    is_valid: Callable[[str], bool]
    score: float
    context: tuple[str, ...]
    caseless: bool = False


def _digits(body: str) -> str:
    """A numeric id not cut out of a longer digit run (a card, an IBAN, a phone)."""
    return rf"(?<![\w-])(?<!\d )(?<!\d\.){body}(?![ -]?\d)(?![\w-])"


def _aadhaar(value: str) -> bool:
    # stdnum also rejects palindromes; Verhoeff alone is the published check.
    return aadhaar.is_valid(value) and verhoeff.is_valid(value.replace(" ", "").replace("-", ""))


NATIONAL_IDS: tuple[NationalId, ...] = (
    NationalId(
        "US_ITIN",
        _digits(r"9\d{2}[- ]?(?:5\d|6[0-5]|7\d|8[0-8]|9[0-2]|9[4-9])[- ]?\d{4}"),
        itin.is_valid,
        0.7,
        ("itin", "taxpayer"),
    ),
    NationalId("ES_NIF", r"\b(?:\d{8}|[XYZ]\d{7})-?[A-Z]\b", nif.is_valid, 0.8, ("nif", "dni")),
    NationalId(
        "IT_FISCAL_CODE",
        r"\b[A-Z]{6}\d{2}[A-EHLMPR-T]\d{2}[A-Z]\d{3}[A-Z]\b",
        codicefiscale.is_valid,
        0.9,
        ("codice fiscale", "fiscal code"),
    ),
    NationalId(
        "IN_AADHAAR",
        _digits(r"[2-9]\d{3}[ -]?\d{4}[ -]?\d{4}"),
        _aadhaar,
        0.6,
        ("aadhaar", "uidai"),
    ),
    NationalId("IN_PAN", r"\b[A-Z]{3}[ABCFGHLJPT][A-Z]\d{4}[A-Z]\b", pan.is_valid, 0.6, ("pan",)),
    NationalId("AU_TFN", _digits(r"\d{3} ?\d{3} ?\d{3}"), tfn.is_valid, 0.3, ("tfn", "tax file")),
    NationalId(
        "AU_ABN",
        _digits(r"\d{2} ?\d{3} ?\d{3} ?\d{3}"),
        abn.is_valid,
        0.5,
        ("abn", "business number"),
    ),
    NationalId("PL_PESEL", _digits(r"\d{11}"), pesel.is_valid, 0.5, ("pesel",)),
    NationalId(
        "FI_PERSONAL_IDENTITY_CODE",
        r"\b\d{6}[-+A-FU-Y]\d{3}[0-9A-Y]\b",
        hetu.is_valid,
        0.9,
        ("hetu", "henkilötunnus", "identity code"),
    ),
)
