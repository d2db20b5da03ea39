"""Idempotency-Keys for writes to Xero.

Xero keeps a key for a few minutes and answers a repeated request with the first answer,
so a key must be the same for every attempt at one logical write and differ for any other.
The portal derives it from what identifies the write (the job's own key, the batch's
members), joined by colons and hashed: the same parts always give the same key.
"""

from __future__ import annotations

import hashlib

#: Xero accepts keys up to 128 characters; 48 hex digits (192 bits) cannot collide by chance.
KEY_LENGTH = 48


def idempotency_key(*parts: str) -> str:
    return hashlib.sha256(":".join(parts).encode()).hexdigest()[:KEY_LENGTH]
