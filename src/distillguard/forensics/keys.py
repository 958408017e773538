"""Watermark keys: one provider secret, and per-account keys derived from it.

An account's key is HMAC-SHA256(provider secret, account id), so the provider can re-derive any
account's key at detection time without storing it, and one leaked account key reveals nothing
about the others or the provider's. Every use of a key goes through a labelled derivation, so
the text layer split, the text choices and the logits green lists never share key material.

``TextKeys`` holds what the text watermark needs for one answer. Each slot - a (previous word,
synonym set) pair - belongs to the provider layer or the account layer, decided by a keyed hash
of the provider secret, about half each: one answer then carries evidence a provider-wide test
finds with the provider secret alone, and evidence that names the account (traitor tracing).
Without an account, every slot takes the provider key's choice.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Final

__all__ = [
    "MIN_SECRET_BYTES",
    "TextKeys",
    "account_choice_key",
    "account_key",
    "derive",
    "green_index",
    "key_id",
    "keyed_u64",
    "slot_message",
]

MIN_SECRET_BYTES: Final = 16
_ACCOUNT: Final = b"distillguard/forensics/account\x00"
_LAYER: Final = b"distillguard/forensics/textmark/layer"
_CHOICE: Final = b"distillguard/forensics/textmark/choice"
_KEY_ID: Final = b"distillguard/forensics/key-id"
_SEP: Final = b"\x1f"


def derive(secret: bytes, label: bytes) -> bytes:
    """A 32-byte subkey for one purpose."""
    return hmac.new(secret, label, hashlib.sha256).digest()


def account_key(provider_secret: bytes, account_id: str) -> bytes:
    """HMAC-SHA256(provider_secret, account id): the account's watermark key."""
    _check_secret(provider_secret)
    return derive(provider_secret, _ACCOUNT + account_id.encode("utf-8"))


def account_choice_key(provider_secret: bytes, account_id: str) -> bytes:
    """The key an account's text slots are chosen (and tested) with."""
    return derive(account_key(provider_secret, account_id), _CHOICE)


def key_id(key: bytes) -> str:
    """A short public name for a key (16 hex digits), safe to log and put in reports."""
    return hashlib.blake2b(_KEY_ID, key=derive(key, _KEY_ID), digest_size=8).hexdigest()


def keyed_u64(key: bytes, message: bytes) -> int:
    """A 64-bit keyed hash (BLAKE2b with a key): deterministic across processes and hosts."""
    return int.from_bytes(hashlib.blake2b(message, key=key, digest_size=8).digest(), "little")


def slot_message(context: str, set_key: str) -> bytes:
    return context.encode("utf-8") + _SEP + set_key.encode("utf-8")


def _check_secret(secret: bytes) -> None:
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"a watermark secret needs at least {MIN_SECRET_BYTES} bytes")


@dataclass(frozen=True, slots=True)
class TextKeys:
    """The keys one text watermark uses: layer split, provider choices, account choices."""

    layer: bytes
    provider: bytes
    account: bytes | None = None
    provider_id: str = ""
    account_id: str | None = None

    @classmethod
    def from_secret(cls, provider_secret: bytes, account_id: str | None = None) -> TextKeys:
        _check_secret(provider_secret)
        account = None
        if account_id is not None:
            account = account_choice_key(provider_secret, account_id)
        return cls(
            layer=derive(provider_secret, _LAYER),
            provider=derive(provider_secret, _CHOICE),
            account=account,
            provider_id=key_id(provider_secret),
            account_id=account_id,
        )

    def is_account_slot(self, message: bytes) -> bool:
        """Whether this slot carries the account's evidence (about half of all slots)."""
        return keyed_u64(self.layer, message) & 1 == 1

    def choice_key(self, message: bytes) -> bytes:
        """The key whose choice this slot takes in a watermarked text."""
        if self.account is not None and self.is_account_slot(message):
            return self.account
        return self.provider


def green_index(key: bytes, message: bytes, size: int) -> int:
    """The member a key picks for a slot: uniform over the set's members for a random key."""
    return keyed_u64(key, message) % size
