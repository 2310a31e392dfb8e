"""Synthetic secrets for tests and evaluation: valid-looking ones and near misses."""

from __future__ import annotations

import base64
import json
import random
import string
import zlib
from collections.abc import Callable

__all__ = ["SECRET_GENERATORS", "Generator", "chars", "digits"]

Generator = Callable[[random.Random], tuple[str, str]]
_B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_ALNUM = string.ascii_letters + string.digits


def digits(rng: random.Random, n: int) -> str:
    """`n` random decimal digits."""
    return "".join(rng.choice(string.digits) for _ in range(n))


def chars(rng: random.Random, alphabet: str, n: int) -> str:
    """`n` random characters of `alphabet`."""
    return "".join(rng.choice(alphabet) for _ in range(n))


def _github(rng: random.Random) -> tuple[str, str]:
    body = chars(rng, _ALNUM, 30)
    number, crc = zlib.crc32(body.encode()), ""
    while number:
        number, rem = divmod(number, 62)
        crc = _B62[rem] + crc
    crc = crc.rjust(6, "0")
    kind = rng.choice("pousr")
    wrong = crc[:-1] + rng.choice([c for c in _B62 if c != crc[-1]])
    return f"gh{kind}_{body}{crc}", f"gh{kind}_{body}{wrong}"


def _jwt(rng: random.Random) -> tuple[str, str]:
    def b64(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    header = b64({"alg": "HS256", "typ": "JWT"})
    iat = rng.randint(1_600_000_000, 1_800_000_000)
    claims = b64({"sub": str(rng.randint(1, 10**6)), "iat": iat})
    sig = base64.urlsafe_b64encode(rng.randbytes(32)).decode().rstrip("=")
    garbage = "eyJ" + chars(rng, _ALNUM, 20)
    return f"{header}.{claims}.{sig}", f"{garbage}.eyJ{chars(rng, _ALNUM, 20)}.{sig}"


def _private_key(rng: random.Random) -> tuple[str, str]:
    body = "\n".join(base64.b64encode(rng.randbytes(48)).decode() for _ in range(4))
    kind = rng.choice(["RSA ", "EC ", "OPENSSH ", ""])
    valid = f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"
    return valid, f"-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----"


def _connection(rng: random.Random) -> tuple[str, str]:
    scheme = rng.choice(["postgresql", "mysql", "mongodb+srv", "redis", "amqp"])
    user, host = (
        rng.choice(["app", "svc_orders", "admin"]),
        rng.choice(["db.internal", "orders-db.prod"]),
    )
    password = chars(rng, _ALNUM, rng.randint(10, 20))
    placeholder = rng.choice(["${DB_PASSWORD}", "<password>", "password", "{{ secret }}"])
    return (
        f"{scheme}://{user}:{password}@{host}:5432/orders",
        f"{scheme}://{user}:{placeholder}@{host}:5432/orders",
    )


SECRET_GENERATORS: dict[str, Generator] = {
    "AWS_ACCESS_KEY": lambda r: (
        "AKIA" + chars(r, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16),
        "AKIA" + chars(r, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 12),
    ),
    "GITHUB_TOKEN": _github,
    "SLACK_TOKEN": lambda r: (
        f"xoxb-{digits(r, 11)}-{digits(r, 12)}-{chars(r, _ALNUM, 24)}",
        f"xoxb-{chars(r, string.ascii_lowercase, 6)}",
    ),
    "STRIPE_KEY": lambda r: (
        f"sk_live_{chars(r, _ALNUM, 24)}",
        f"sk_live_{chars(r, _ALNUM, 10)}",
    ),
    "OPENAI_API_KEY": lambda r: (
        f"sk-proj-{chars(r, _ALNUM, 40)}T3BlbkFJ{chars(r, _ALNUM, 40)}",
        f"sk-{chars(r, string.ascii_lowercase, 12)}",
    ),
    "GOOGLE_API_KEY": lambda r: (
        "AIza" + chars(r, _ALNUM + "_-", 35),
        "AIza" + chars(r, _ALNUM, 20),
    ),
    "AWS_SECRET_KEY": lambda r: (
        "aws_secret_access_key = " + chars(r, _ALNUM + "/+", 40),
        "aws_secret_access_key = " + chars(r, _ALNUM + "/+", 30),
    ),
    "BEARER_TOKEN": lambda r: (
        "Authorization: Bearer " + chars(r, _ALNUM + "-._~", 40),
        "Authorization: Bearer <token>",
    ),
    "SLACK_WEBHOOK": lambda r: (
        "https://hooks.slack.com/services/T"
        + chars(r, string.ascii_uppercase + string.digits, 10)
        + "/B"
        + chars(r, string.ascii_uppercase + string.digits, 10)
        + "/"
        + chars(r, _ALNUM, 24),
        "https://hooks.slack.com/services/T" + chars(r, string.ascii_uppercase, 4) + "/XXXX",
    ),
    "GENERIC_SECRET": lambda r: (
        f'password = "{chars(r, _ALNUM + "!#%&*", 14)}"',
        f'password = "{r.choice(["changeme", "<password>", "${DB_PASSWORD}", "********"])}"',
    ),
    "JWT": _jwt,
    "PRIVATE_KEY": _private_key,
    "CONNECTION_STRING": _connection,
}
