"""Synthetic values for tests, evaluation and benchmarks: valid ones and lookalikes.

Each generator takes a seeded `random.Random` and returns `(valid, lookalike)`: a value
that passes the entity's checksum/format rules and a near miss that must not be
reported (a card failing Luhn, an IBAN with wrong check digits, SSN 000-12-3456, ...).
Everything is synthetic: no real person's data.
"""

from __future__ import annotations

import hashlib
import random
import string
from collections.abc import Callable

import phonenumbers
from Crypto.Hash import keccak
from stdnum import iban, luhn, verhoeff
from stdnum.au import abn
from stdnum.es import dni
from stdnum.it import codicefiscale
from stdnum.pl import pesel

from .secret_samples import SECRET_GENERATORS, Generator, chars, digits

__all__ = ["GENERATORS", "SECRET_GENERATORS", "Generator"]

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _bump(rng: random.Random, digit: str) -> str:
    return str((int(digit) + rng.randint(1, 9)) % 10)


def email(rng: random.Random) -> tuple[str, str]:
    first = rng.choice(["anna", "li", "omar", "jo", "maria", "kenji", "sam", "ines"])
    last = rng.choice(["berg", "chen", "diaz", "okafor", "novak", "smith", "rossi"])
    domain = rng.choice(["example.com", "acme.io", "mail.example.org", "corp.co.uk"])
    sep = rng.choice([".", "_", ""])
    bad = rng.choice([f"{first}{sep}{last}@localhost", f"{first}..{last}@{domain}", f"@{first}"])
    return f"{first}{sep}{last}{rng.randint(1, 99)}@{domain}", bad


def credit_card(rng: random.Random) -> tuple[str, str]:
    prefix, length = rng.choice(
        [
            ("4", 16),
            ("51", 16),
            ("55", 16),
            ("2221", 16),
            ("34", 15),
            ("37", 15),
            ("6011", 16),
            ("3530", 16),
            ("4", 13),
        ]
    )
    body = prefix + digits(rng, length - len(prefix) - 1)
    valid = body + luhn.calc_check_digit(body)
    bad = valid[:-1] + _bump(rng, valid[-1])
    sep = rng.choice([" ", "-", ""])
    groups = (4, 6, 5) if length == 15 else (4, 4, 4, 4) if length == 16 else (4, 4, 5)

    def fmt(number: str) -> str:
        parts, at = [], 0
        for size in groups:
            parts.append(number[at : at + size])
            at += size
        return sep.join(parts)

    return fmt(valid), fmt(bad)


_IBAN_BBAN: dict[str, Callable[[random.Random], str]] = {
    "DE": lambda r: digits(r, 18),
    "GB": lambda r: chars(r, string.ascii_uppercase, 4) + digits(r, 14),
    "FR": lambda r: digits(r, 23),
    "NL": lambda r: chars(r, string.ascii_uppercase, 4) + digits(r, 10),
    "ES": lambda r: digits(r, 20),
    "IT": lambda r: r.choice(string.ascii_uppercase) + digits(r, 22),
}


def iban_code(rng: random.Random) -> tuple[str, str]:
    country = rng.choice(sorted(_IBAN_BBAN))
    bban = _IBAN_BBAN[country](rng)
    if country == "FR":
        bban = bban[:21] + f"{97 - int(bban[:21]) * 100 % 97:02d}"  # RIB key
    if country == "ES":
        bban = _es_ccc(bban)
    if country == "IT":
        bban = _it_cin(bban[1:])
    check = iban.calc_check_digits(country + "00" + bban)
    valid = country + check + bban
    wrong = f"{(int(check) + rng.randint(1, 50)) % 97 + 2:02d}"
    bad = country + (wrong if wrong != check else "01") + bban
    spaced = rng.random() < 0.6

    def fmt(value: str) -> str:
        return " ".join(value[i : i + 4] for i in range(0, len(value), 4)) if spaced else value

    return fmt(valid), fmt(bad)


def _es_ccc(bban: str) -> str:
    weights = (1, 2, 4, 8, 5, 10, 9, 7, 3, 6)

    def digit(part: str) -> str:
        value = 11 - sum(int(d) * w for d, w in zip(part.rjust(10, "0"), weights, strict=True)) % 11
        return "0" if value == 11 else "1" if value == 10 else str(value)

    bank, account = bban[:8], bban[10:]
    return bank + digit("00" + bank) + digit(account) + account


def _it_cin(rest: str) -> str:
    odd = [
        1,
        0,
        5,
        7,
        9,
        13,
        15,
        17,
        19,
        21,
        2,
        4,
        18,
        20,
        11,
        3,
        6,
        8,
        12,
        14,
        16,
        10,
        22,
        25,
        24,
        23,
    ]
    total = 0
    for index, char in enumerate(rest):
        value = int(char) if char.isdigit() else ord(char) - ord("A")
        total += value if index % 2 else odd[value]
    return chr(ord("A") + total % 26) + rest


def us_ssn(rng: random.Random) -> tuple[str, str]:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    valid = f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
    bad = rng.choice(
        [
            f"000-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}",
            f"666-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}",
            # Area 9xx with a group outside the ITIN ranges (those would be valid ITINs).
            f"{rng.randint(900, 999)}-{rng.randint(1, 49):02d}-{rng.randint(1, 9999):04d}",
            f"{area:03d}-00-{rng.randint(1, 9999):04d}",
            f"{area:03d}-{rng.randint(1, 99):02d}-0000",
        ]
    )
    return valid, bad


def phone_number(rng: random.Random) -> tuple[str, str]:
    region = rng.choice(["US", "US", "GB", "DE", "FR"])
    for _ in range(100):
        example = phonenumbers.example_number(region)
        assert example is not None
        national = str(example.national_number)
        number = phonenumbers.parse(national[:-3] + digits(rng, 3), region)
        if phonenumbers.is_valid_number(number):
            break
    style = rng.choice(
        [phonenumbers.PhoneNumberFormat.INTERNATIONAL, phonenumbers.PhoneNumberFormat.NATIONAL]
    )
    if region != "US":
        style = phonenumbers.PhoneNumberFormat.INTERNATIONAL
    valid = phonenumbers.format_number(number, style)
    # US area codes never start with 1; without a trunk 0 it is no European number either.
    bad = f"(1{digits(rng, 2)}) {digits(rng, 3)}-{digits(rng, 4)}"
    return valid, bad


def ip_address(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.7:
        valid = ".".join(str(rng.randint(1, 254)) for _ in range(4))
    else:
        valid = "2001:db8:" + ":".join(f"{rng.randint(0, 0xFFFF):x}" for _ in range(6))
    bad = ".".join(str(rng.randint(256, 999)) for _ in range(4))
    return valid, bad


def _b58check(payload: bytes) -> str:
    data = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, rem = divmod(number, 58)
        out = _B58[rem] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def _eip55(body: str) -> str:
    digest = keccak.new(digest_bits=256, data=body.encode()).hexdigest()
    return "0x" + "".join(
        c.upper() if int(h, 16) >= 8 else c for c, h in zip(body, digest[:40], strict=True)
    )


def crypto(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.5:
        valid = _b58check(bytes([rng.choice([0, 5])]) + rng.randbytes(20))
        index = rng.randrange(5, len(valid))
        swap = rng.choice([c for c in _B58 if c != valid[index]])
        return valid, valid[:index] + swap + valid[index + 1 :]
    valid = _eip55(rng.randbytes(20).hex())
    letters = [i for i, c in enumerate(valid) if c.isalpha() and i > 1]
    while len(letters) < 2:  # vanishingly rare: regenerate until there are letters to flip
        valid = _eip55(rng.randbytes(20).hex())
        letters = [i for i, c in enumerate(valid) if c.isalpha() and i > 1]
    flip = rng.choice(letters)
    bad = valid[:flip] + valid[flip].swapcase() + valid[flip + 1 :]
    return valid, bad


def es_nif(rng: random.Random) -> tuple[str, str]:
    body = digits(rng, 8)
    letter = dni.calc_check_digit(body)
    wrong = rng.choice([c for c in "TRWAGMYFPDXBNJZSQVHLCKE" if c != letter])
    return body + letter, body + wrong


def it_fiscal_code(rng: random.Random) -> tuple[str, str]:
    body = (
        chars(rng, string.ascii_uppercase, 6)
        + digits(rng, 2)
        + rng.choice("ABCDEHLMPRST")
        + f"{rng.randint(1, 28) + rng.choice([0, 40]):02d}"
        + rng.choice("ABCDEFGHILM")
        + digits(rng, 3)
    )
    check = codicefiscale.calc_check_digit(body)
    return body + check, body + rng.choice([c for c in string.ascii_uppercase if c != check])


def pl_pesel(rng: random.Random) -> tuple[str, str]:
    year, month, day = rng.randint(50, 99), rng.randint(1, 12), rng.randint(1, 28)
    body = f"{year:02d}{month:02d}{day:02d}{digits(rng, 4)}"
    check = pesel.calc_check_digit(body)
    return body + check, body + _bump(rng, check)


def in_aadhaar(rng: random.Random) -> tuple[str, str]:
    body = str(rng.randint(2, 9)) + digits(rng, 10)
    valid = body + verhoeff.calc_check_digit(body)
    bad = body + _bump(rng, valid[-1])
    return f"{valid[:4]} {valid[4:8]} {valid[8:]}", f"{bad[:4]} {bad[4:8]} {bad[8:]}"


def au_abn(rng: random.Random) -> tuple[str, str]:
    body = str(rng.randint(1, 9)) + digits(rng, 8)
    valid = abn.calc_check_digits(body) + body
    bad = f"{(int(valid[:2]) + rng.randint(1, 80)) % 89 + 10:02d}" + body
    if bad == valid:
        bad = f"{int(valid[:2]) % 89 + 10:02d}" + body

    def fmt(v: str) -> str:
        return f"{v[:2]} {v[2:5]} {v[5:8]} {v[8:]}"

    return fmt(valid), fmt(bad)


def au_tfn(rng: random.Random) -> tuple[str, str]:
    weights = (1, 4, 3, 7, 5, 8, 6, 9, 10)
    while True:
        value = str(rng.randint(1, 9)) + digits(rng, 8)
        total = sum(int(d) * w for d, w in zip(value, weights, strict=True))
        if total % 11 == 0:
            break
    bad = value[:-1] + str((int(value[-1]) + 1) % 10)
    return f"{value[:3]} {value[3:6]} {value[6:]}", f"{bad[:3]} {bad[3:6]} {bad[6:]}"


def fi_personal_identity_code(rng: random.Random) -> tuple[str, str]:
    alphabet = "0123456789ABCDEFHJKLMNPRSTUVWXY"
    date = f"{rng.randint(1, 28):02d}{rng.randint(1, 12):02d}{rng.randint(50, 99):02d}"
    serial = f"{rng.randint(2, 899):03d}"
    check = alphabet[int(date + serial) % 31]
    wrong = rng.choice([c for c in alphabet if c != check])
    return f"{date}-{serial}{check}", f"{date}-{serial}{wrong}"


def us_itin(rng: random.Random) -> tuple[str, str]:
    group = rng.choice([*range(70, 89), *range(90, 93), *range(94, 100)])
    area, serial = rng.randint(900, 999), rng.randint(0, 9999)
    return f"{area}-{group:02d}-{serial:04d}", f"{area}-{rng.choice([89, 93]):02d}-{serial:04d}"


def in_pan(rng: random.Random) -> tuple[str, str]:
    head = chars(rng, string.ascii_uppercase, 3)
    tail = rng.choice(string.ascii_uppercase) + digits(rng, 4) + rng.choice(string.ascii_uppercase)
    return head + rng.choice("ABCFGHLJPT") + tail, head + rng.choice("DEIKMNOQRSUVWXYZ") + tail


GENERATORS: dict[str, Generator] = {
    "EMAIL_ADDRESS": email,
    "CREDIT_CARD": credit_card,
    "IBAN_CODE": iban_code,
    "US_SSN": us_ssn,
    "PHONE_NUMBER": phone_number,
    "IP_ADDRESS": ip_address,
    "CRYPTO": crypto,
    "ES_NIF": es_nif,
    "IT_FISCAL_CODE": it_fiscal_code,
    "PL_PESEL": pl_pesel,
    "IN_AADHAAR": in_aadhaar,
    "AU_ABN": au_abn,
    "AU_TFN": au_tfn,
    "FI_PERSONAL_IDENTITY_CODE": fi_personal_identity_code,
    "US_ITIN": us_itin,
    "IN_PAN": in_pan,
    **SECRET_GENERATORS,
}
