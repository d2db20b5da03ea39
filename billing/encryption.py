"""Secrets at rest (TOTP secrets, later OAuth tokens and API keys), encrypted with Fernet."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SecretBox:
    def __init__(self, key: str | bytes):
        self._fernet = Fernet(key)

    @classmethod
    def from_secret_key(cls, secret_key: str) -> SecretBox:
        """Derive a dedicated encryption key, so the cookie-signing key is never reused as is."""
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"portal secrets at rest"
        ).derive(secret_key.encode())
        return cls(base64.urlsafe_b64encode(derived))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise ValueError("stored secret cannot be decrypted with this key") from None
