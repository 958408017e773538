"""Bearer-key authentication against an in-memory copy of the key store.

The copy is refreshed in the background when the store changes (``keys revoke`` takes effect
within the reload interval, without a restart); a lookup is one SHA-256 and one dict get.
"""

from __future__ import annotations

import logging

from starlette.datastructures import Headers

from distillguard.background import reload_forever
from distillguard.gateway.errors import GatewayError
from distillguard.store.keys import ApiKey, KeyStore, digest

log = logging.getLogger(__name__)


def unauthorized(message: str) -> GatewayError:
    return GatewayError(
        401,
        message,
        "invalid_request_error",
        "invalid_api_key",
        headers={"www-authenticate": 'Bearer realm="distillguard"'},
    )


class KeyCache:
    def __init__(self, store: KeyStore):
        self._store = store
        self._keys = store.active_by_digest()
        self._version = store.data_version()

    def refresh(self) -> bool:
        version = self._store.data_version()
        if version == self._version:
            return False
        self._keys = self._store.active_by_digest()
        self._version = version
        return True

    async def refresh_forever(self, interval_s: float) -> None:
        await reload_forever(
            self.refresh, interval_s, "key store reload failed; keeping the previous keys"
        )

    def authenticate(self, headers: Headers) -> ApiKey:
        value = headers.get("authorization")
        if not value:
            raise unauthorized(
                "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'."
            )
        scheme, _, secret = value.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise unauthorized("The Authorization header must be 'Bearer <key>'.")
        key = self._keys.get(digest(secret))
        if key is None:
            raise unauthorized("Incorrect or revoked API key provided.")
        return key
