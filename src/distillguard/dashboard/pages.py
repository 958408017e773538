"""HTML for the dashboard: Jinja2 templates shipped in the package (autoescaped), figures as
JSON data blocks that ``app.js`` draws; no inline script runs, so the page's CSP forbids it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import jinja2
from starlette.responses import HTMLResponse

from distillguard.report.html import script_json

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


def _when(ts: float | None) -> str:
    if ts is None:
        return "—"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _figure(fig: Any) -> str:
    """A figure's JSON, safe inside a ``<script type="application/json">`` block."""
    return script_json(fig)


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("distillguard.dashboard", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
)
_ENV.filters["when"] = _when
_ENV.filters["figure"] = _figure
_ENV.filters["pct"] = lambda v: f"{100 * float(v):.0f}%"


def render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    context = {"session": None, "nav": "", **context}
    return HTMLResponse(_ENV.get_template(name).render(**context), status, headers=HEADERS)
