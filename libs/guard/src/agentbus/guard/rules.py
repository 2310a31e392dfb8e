"""Every PII and secret rule: candidate regex, validator, base score and context words."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from . import checksums, secrets
from .national_ids import NATIONAL_IDS

__all__ = ["RULES", "Rule", "ScanOptions"]


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """Per-policy knobs the validators need."""

    phone_regions: tuple[str, ...] = ("US",)


Validator = Callable[[str, ScanOptions], float | None]


@dataclass(frozen=True, slots=True)
class Rule:
    """One detector: `pattern` finds candidates, `validate` scores them or rejects (None)."""

    id: str
    entity: str
    pattern: str
    validate: Validator
    group: int = 0
    caseless: bool = False
    context: tuple[str, ...] = ()
    negative: tuple[str, ...] = ()
    prefilter: str | None = field(default=None)
    # Breaks score ties between overlapping hits: checksummed ids beat loose formats.
    priority: int = 1
    # Longest possible match (characters); bounded rules are searched only in windows
    # around the prefilter's match ends, unbounded ones (None) over the whole text.
    width: int | None = None


def _const(score: float) -> Validator:
    return lambda _value, _options: score


def _plain(check: Callable[[str], float | None]) -> Validator:
    return lambda value, _options: check(value)


def _iban(value: str, _options: ScanOptions) -> float | None:
    return 1.0 if checksums.valid_iban_prefix(value) == len(value) else None


def _phone(value: str, options: ScanOptions) -> float | None:
    return checksums.valid_phone(value, options.phone_regions)


def _stdnum(check: Callable[[str], bool], score: float) -> Validator:
    def validate(value: str, _options: ScanOptions) -> float | None:
        try:
            return score if check(value) else None
        except Exception:  # stdnum raises on odd input; a rejected candidate is the answer
            return None

    return validate


_PII: tuple[Rule, ...] = (
    Rule(
        "email",
        "EMAIL_ADDRESS",
        # Not after ':' or '/': `scheme://user:pass@host` holds credentials, not an address.
        r"(?<![\w.%+'/:-])[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b",
        _plain(checksums.valid_email),
        context=("email", "e-mail", "mail", "contact"),
        width=330,
    ),
    Rule(
        "credit_card",
        "CREDIT_CARD",
        r"(?<![\d-])(?:\d[ -]?){11,18}\d(?![\d-])",
        _plain(checksums.valid_card),
        context=("card", "visa", "mastercard", "amex", "credit", "payment", "cc"),
        width=40,
    ),
    Rule(
        "iban",
        "IBAN_CODE",
        r"\b[A-Z]{2}\d{2} ?(?:[A-Z0-9]{4} ?){2,7}[A-Z0-9]{1,4}\b",
        _iban,
        context=("iban", "account", "bank", "transfer"),
        width=45,
    ),
    Rule(
        "us_ssn",
        "US_SSN",
        r"(?<![\d-])(?:\d{3}-\d{2}-\d{4}|\d{3} \d{2} \d{4}|\d{9})(?![\d-])",
        _plain(checksums.valid_ssn),
        context=("ssn", "social security", "social-security"),
        width=11,
    ),
    Rule(
        "phone",
        "PHONE_NUMBER",
        r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?"
        r"\d{1,5}(?:[ .-]?\d{2,5}){1,5}(?![\w-])",
        _phone,
        context=("phone", "call", "tel", "mobile", "cell", "fax", "whatsapp"),
        priority=0,
        width=50,
    ),
    Rule(
        "ipv4",
        "IP_ADDRESS",
        r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])",
        _plain(checksums.valid_ip),
        context=("ip", "address", "host", "server"),
        negative=("version", "v.", "release"),
        width=15,
    ),
    Rule(
        "ipv6",
        "IP_ADDRESS",
        r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){1,7}(?::|(?::[0-9A-Fa-f]{1,4}){1,6}|[0-9A-Fa-f]{1,4})(?![\w:])",
        _plain(checksums.valid_ip),
        context=("ip", "ipv6", "address", "host"),
        width=45,
    ),
    Rule(
        "btc",
        "CRYPTO",
        r"\b(?:[13][a-km-zA-HJ-NP-Z1-9]{25,34}|bc1[ac-hj-np-z02-9]{11,71}|BC1[AC-HJ-NP-Z02-9]{11,71})\b",
        _plain(checksums.valid_btc),
        context=("btc", "bitcoin", "wallet"),
        width=90,
    ),
    Rule(
        "eth",
        "CRYPTO",
        r"\b0x[0-9a-fA-F]{40}\b",
        _plain(checksums.valid_eth),
        context=("eth", "ethereum", "wallet"),
        width=42,
    ),
    *(
        Rule(
            f"national_{n.entity.lower()}",
            n.entity,
            n.pattern,
            _stdnum(n.is_valid, n.score),
            context=n.context,
            caseless=n.caseless,
            width=25,
        )
        for n in NATIONAL_IDS
    ),
)

_SECRET_WORDS = ("key", "secret", "token", "password", "credential", "auth")

_SECRETS: tuple[Rule, ...] = (
    Rule(
        "aws_access_key",
        "AWS_ACCESS_KEY",
        r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b",
        _const(1.0),
        width=20,
    ),
    Rule(
        "aws_secret_key",
        "AWS_SECRET_KEY",
        r"(?i:aws_?secret_?(?:access_?)?key|secret_?access_?key)[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
        _const(1.0),
        group=1,
        width=100,
    ),
    Rule(
        "github_token",
        "GITHUB_TOKEN",
        r"\bgh[pousr]_[A-Za-z0-9]{36}\b",
        _plain(secrets.valid_github_token),
        width=40,
    ),
    Rule(
        "github_pat",
        "GITHUB_TOKEN",
        r"\bgithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}\b",
        _const(1.0),
        width=93,
    ),
    Rule("slack_token", "SLACK_TOKEN", r"\bxox[abposr]-(?:\d+-)+[A-Za-z0-9]{10,48}\b", _const(1.0)),
    Rule(
        "slack_webhook",
        "SLACK_WEBHOOK",
        r"https://hooks\.slack\.com/services/T[A-Z0-9]{8,12}/B[A-Z0-9]{8,12}/[A-Za-z0-9]{24}",
        _const(1.0),
        width=110,
    ),
    Rule(
        "stripe_key",
        "STRIPE_KEY",
        r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{24,99}\b",
        _const(1.0),
        width=110,
    ),
    Rule(
        "openai_key",
        "OPENAI_API_KEY",
        r"\bsk-(?:(?:proj|svcacct|admin)-)?[A-Za-z0-9_-]{20,74}T3BlbkFJ[A-Za-z0-9_-]{20,74}\b",
        _const(1.0),
        width=170,
    ),
    Rule(
        "google_api_key",
        "GOOGLE_API_KEY",
        r"\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])",
        _const(1.0),
        width=39,
    ),
    Rule(
        "bearer",
        "BEARER_TOKEN",
        r"(?i:\bbearer)\s+([A-Za-z0-9._~+/-]{20,}=*)",
        _plain(secrets.valid_bearer),
        group=1,
    ),
    Rule(
        "private_key",
        "PRIVATE_KEY",
        r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]{16,}?"
        r"-----END (?:[A-Z]+ )*PRIVATE KEY(?: BLOCK)?-----",
        _const(1.0),
        prefilter=r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY",
    ),
    Rule(
        "jwt",
        "JWT",
        r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}",
        _plain(secrets.valid_jwt),
    ),
    Rule(
        "connection_string",
        "CONNECTION_STRING",
        r"\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|redis|rediss|amqps?|mssql|sqlserver|oracle|ftp|sftp|smtp)(?:\+[a-z0-9]+)?://[^\s:/@]+:[^\s@]+@[^\s/]+",
        _plain(secrets.valid_connection_password),
        caseless=True,
    ),
    Rule(
        "generic_secret",
        "GENERIC_SECRET",
        r"(?i:\b(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token|client[_-]?secret))[\"']?\s*[:=]\s*[\"']?([^\s\"',;]{8,})",
        _plain(secrets.valid_generic_secret),
        group=1,
    ),
    Rule(
        "high_entropy",
        "HIGH_ENTROPY_STRING",
        r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{32,}={0,2}(?![A-Za-z0-9+/=_-])",
        _plain(secrets.valid_high_entropy),
        context=_SECRET_WORDS,
        priority=0,
        negative=("sha", "hash", "checksum", "commit", "digest", "md5"),
    ),
)

RULES: tuple[Rule, ...] = _PII + _SECRETS
