"""Webhook signatures: what a receiver checks."""

from __future__ import annotations

import time

from approval.webhooks import sign, verify


def test_signature_round_trip_and_tampering() -> None:
    now = int(time.time())
    header = sign("s3cret", b'{"a":1}', now)
    assert header.startswith(f"t={now},v1=")
    assert verify("s3cret", b'{"a":1}', header)
    assert not verify("s3cret", b'{"a":2}', header)
    assert not verify("other", b'{"a":1}', header)
    assert not verify("s3cret", b'{"a":1}', "garbage")


def test_old_signatures_are_refused() -> None:
    old = int(time.time()) - 3600
    assert not verify("s3cret", b"{}", sign("s3cret", b"{}", old))
    assert verify("s3cret", b"{}", sign("s3cret", b"{}", old), tolerance_s=7200)
