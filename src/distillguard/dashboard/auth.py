"""Dashboard logins: the admin token buys a server-side session; every change also needs
the session's CSRF token in a header and a same-origin request.

Three layers, because a dashboard acts with a browser's ambient credentials: the session
cookie is ``HttpOnly`` and ``SameSite=Strict`` (a cross-site page cannot send it); a POST must
carry ``X-CSRF-Token`` (a cross-site form cannot set headers); and a request whose ``Origin``
or ``Sec-Fetch-Site`` says it came from another site is refused outright.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from starlette.requests import Request

from distillguard.gateway.errors import GatewayError

COOKIE = "dg_session"
MAX_SESSIONS = 1000


@dataclass(slots=True)
class Session:
    actor: str
    csrf: str
    expires_ts: float


class NotLoggedIn(Exception):
    """No valid session: pages redirect to the login form, the API answers 401."""


class Sessions:
    """In-process sessions (a replica's own: put sticky sessions in front of several)."""

    def __init__(self, token: str, lifetime_s: float):
        self._token = token.encode()
        self._lifetime_s = lifetime_s
        self._sessions: dict[str, Session] = {}

    def login(self, actor: str, token: str) -> tuple[str, Session] | None:
        given = token.encode("utf-8", "surrogateescape")
        if not secrets.compare_digest(given, self._token):
            return None
        now = time.time()
        self._sessions = {k: s for k, s in self._sessions.items() if s.expires_ts > now}
        if len(self._sessions) >= MAX_SESSIONS:
            oldest = min(self._sessions, key=lambda k: self._sessions[k].expires_ts)
            del self._sessions[oldest]
        sid = secrets.token_urlsafe(32)
        session = Session(actor, secrets.token_urlsafe(32), now + self._lifetime_s)
        self._sessions[sid] = session
        return sid, session

    def logout(self, request: Request) -> None:
        self._sessions.pop(request.cookies.get(COOKIE, ""), None)

    def current(self, request: Request) -> Session:
        session = self._sessions.get(request.cookies.get(COOKIE, ""))
        if session is None or session.expires_ts <= time.time():
            raise NotLoggedIn
        return session


def same_origin(request: Request, public_origin: str | None = None) -> bool:
    """False when the browser says the request came from another site. Behind a TLS proxy
    the browser's origin is ``public_origin`` (``dashboard.public_origin``), not ours."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True  # non-browser clients and same-origin GETs send none
    own = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
    return origin in (own, public_origin)


def check_write(request: Request, session: Session, public_origin: str | None = None) -> None:
    """A state-changing request: same origin and the session's CSRF token, or 403."""
    if not same_origin(request, public_origin):
        raise GatewayError(403, "Cross-site request refused.", "permission_error", "cross_site")
    given = request.headers.get("x-csrf-token", "").encode("utf-8", "surrogateescape")
    if not secrets.compare_digest(given, session.csrf.encode()):
        raise GatewayError(
            403, "Missing or wrong CSRF token.", "permission_error", "invalid_csrf_token"
        )
