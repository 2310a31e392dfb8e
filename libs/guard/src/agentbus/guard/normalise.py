"""Undo the disguises of injection: width forms, zero-width, homoglyphs, leetspeak, encodings."""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from dataclasses import dataclass

__all__ = [
    "BASE64_SIGNAL",
    "HEX_SIGNAL",
    "LEET_SIGNAL",
    "Normalised",
    "decoded_blobs",
    "leet_fold",
    "normalise",
]

_ZERO_WIDTH = frozenset(
    "\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u180e"
)

# Letters that render like Latin ones (Unicode confusables, the ones attacks actually use).
_HOMOGLYPHS = str.maketrans(
    "аеорсухіјѕԁԛԝкмнтвАВЕКМНОРСТХІЈЅαορειικνυχτΑΒΕΗΙΚΜΝΟΡΤΧΥΖıℓ",
    "aeopcyxijsdqwkmhtbABEKMHOPCTXIJSaopeiiknuxtABEHIKMNOPTXYZil",
)
_LEET = str.maketrans("013457@$!|+", "oieastasiit")
LEET_SIGNAL = r"[A-Za-z][013457@$!|+]|[013457@$!|+][A-Za-z]"
BASE64_SIGNAL = r"[A-Za-z0-9+/]{16}"
HEX_SIGNAL = r"[0-9A-Fa-f]{20}"
_HAS_LEET = re.compile(LEET_SIGNAL)
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")
_HEX = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}){10,}(?![0-9A-Fa-f])")


@dataclass(frozen=True, slots=True)
class Normalised:
    """Normalised text and, when lengths changed, the original offset of each character."""

    text: str
    offsets: tuple[int, ...] | None

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map a span of the normalised text back to the original text."""
        if self.offsets is None:
            return start, end
        if not self.offsets:
            return 0, 0
        last = len(self.offsets) - 1
        return self.offsets[min(start, last)], self.offsets[min(max(end - 1, 0), last)] + 1


def _one_to_one_table() -> dict[int, str]:
    """Characters whose NFKC/NFKD folding is a single ASCII letter or digit.

    Covers accented Latin letters, fullwidth forms and mathematical alphanumerics, so
    most non-ASCII text normalises with one `str.translate` and keeps its offsets.
    """
    table: dict[int, str] = {}
    ranges = ((0x00C0, 0x0250), (0x1E00, 0x1F00), (0xFF01, 0xFF5F), (0x1D400, 0x1D800))
    for low, high in ranges:
        for code in range(low, high):
            char = chr(code)
            folded = unicodedata.normalize("NFKC", char)
            base = "".join(
                c for c in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(c)
            )
            if len(base) == 1 and base.isascii() and base != char:
                table[code] = base
    table.update({code: chr(target) for code, target in _HOMOGLYPHS.items()})
    return table


_ONE_TO_ONE = _one_to_one_table()
_DROP = {ord(c): None for c in _ZERO_WIDTH}


def normalise(text: str) -> Normalised:
    """NFKC, zero-width removal, homoglyph folding and accent stripping, keeping offsets."""
    if text.isascii():
        return Normalised(text, None)  # the common case costs nothing
    folded = text.translate(_ONE_TO_ONE)
    if not folded.isascii() and not unicodedata.is_normalized("NFKC", folded):
        return _normalise_each(text)  # ligatures and other length-changing forms: rare
    if not any(c in _ZERO_WIDTH for c in folded):
        return Normalised(folded, None)  # same length: offsets unchanged
    offsets = tuple(i for i, c in enumerate(folded) if c not in _ZERO_WIDTH)
    return Normalised(folded.translate(_DROP), offsets)


def _normalise_each(text: str) -> Normalised:
    """Character by character, for text whose normal form changes its length."""
    chars: list[str] = []
    offsets: list[int] = []
    for index, char in enumerate(text):
        if char in _ZERO_WIDTH:
            continue
        folded = unicodedata.normalize("NFKC", char).translate(_HOMOGLYPHS)
        if not folded.isascii():
            stripped = "".join(
                c for c in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(c)
            )
            folded = stripped or folded
        for out in folded:
            chars.append(out)
            offsets.append(index)
    return Normalised("".join(chars), tuple(offsets))


def leet_fold(text: str, *, known: bool = False) -> str | None:
    """The text with leetspeak digits and symbols read as letters, if it has any (same length).

    `known=True` skips the search when a prefilter already saw a leet signal.
    """
    if not known and not _HAS_LEET.search(text):
        return None
    return text.translate(_LEET)


def _printable(raw: bytes) -> str | None:
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    letters = sum(c.isalpha() or c.isspace() for c in decoded)
    return decoded if decoded and letters / len(decoded) >= 0.8 else None


def decoded_blobs(text: str, *, limit: int = 32) -> list[tuple[int, int, str]]:
    """Base64 and hex runs in `text` that decode to readable text: (start, end, decoded)."""
    found: list[tuple[int, int, str]] = []
    for pattern, decode in ((_BASE64, _b64), (_HEX, bytes.fromhex)):
        for match in pattern.finditer(text):
            if len(found) >= limit:
                return found
            try:
                raw = decode(match.group())
            except (ValueError, binascii.Error):
                continue
            readable = _printable(raw)
            if readable is not None:
                found.append((match.start(), match.end(), readable))
    return found


def _b64(value: str) -> bytes:
    return base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
