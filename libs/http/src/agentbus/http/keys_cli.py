"""`agentbus-apikey`: mint an API key and print the settings entry that stores its hash."""

from __future__ import annotations

import argparse
import json

from .keys import hash_api_key, mint_api_key

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Print a new key once (give it to the caller) and its entry (put it in settings)."""
    parser = argparse.ArgumentParser(prog="agentbus-apikey", description=__doc__)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--subject", required=True)
    parser.add_argument("--role", action="append", default=[], dest="roles")
    parser.add_argument("--kind", choices=["user", "service"], default="user")
    args = parser.parse_args(argv)
    key = mint_api_key()
    entry = {
        "key_sha256": hash_api_key(key),
        "tenant": args.tenant,
        "subject": args.subject,
        "roles": args.roles,
        "kind": args.kind,
    }
    print(f"key: {key}")
    print(f"entry: {json.dumps(entry)}")
