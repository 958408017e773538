"""The analyst dashboard under /dashboard: overview, campaigns, accounts, review queue,
actions and audit, served by the gateway itself from the engine it scores with.

Changes go through the admin operations (``gateway.admin``) under /dashboard/api, so a block
clicked here is the same stored, audited action as one made with the CLI, and the gateway
enforces it on the next request.
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import orjson
import plotly.graph_objects as go
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from distillguard.engine import Engine
from distillguard.events import Event, parse_ts
from distillguard.features.text import last_user_text
from distillguard.gateway.admin import Admin, admin_routes
from distillguard.gateway.errors import GatewayError
from distillguard.gateway.validation import read_body
from distillguard.report import figures, views
from distillguard.report.highlight import pieces
from distillguard.report.html import plotly_js
from distillguard.report.tape import Tape
from distillguard.store.eventlog import recent_events

from .auth import COOKIE, NotLoggedIn, Session, Sessions, check_write, same_origin
from .pages import HEADERS, render

log = logging.getLogger(__name__)

T = TypeVar("T")
STATIC = Path(__file__).parent / "static"
MAX_SAMPLE_ACCOUNTS = 500
MAX_LOGIN_BYTES = 4096


@dataclass(slots=True)
class Dashboard:
    admin: Admin
    sessions: Sessions
    tape: Tape
    event_log: Path
    # Whole-population views run on the gateway's event loop: computed at most once per
    # ``ttl_s`` however many analysts poll, so the dashboard cannot starve the traffic.
    public_origin: str | None = None  # what browsers call us, behind a TLS proxy
    ttl_s: float = 2.0
    _memo: dict[str, tuple[float, Any]] = field(default_factory=dict)

    @property
    def engine(self) -> Engine:
        return self.admin.engine

    @property
    def secure_cookie(self) -> bool:
        return bool(self.public_origin and self.public_origin.startswith("https://"))

    def memo(self, key: str, compute: Callable[[], T]) -> T:
        now = time.monotonic()
        hit = self._memo.get(key)
        if hit is not None and now - hit[0] < self.ttl_s:
            return cast(T, hit[1])
        value = compute()
        self._memo[key] = (now, value)
        return value

    async def traffic(self) -> go.Figure:
        """Bucketing a million rows takes a fraction of a second: done off the event loop."""
        hit = self._memo.get("traffic")
        if hit is not None and time.monotonic() - hit[0] < self.ttl_s:
            return cast(go.Figure, hit[1])
        fig = await asyncio.to_thread(lambda: figures.traffic(self.tape.view()))
        self._memo["traffic"] = (time.monotonic(), fig)
        return fig

    def campaigns(self) -> list[views.CampaignRow]:
        return self.memo("campaigns", lambda: views.campaigns(self.engine, limit=10**9))


def _dashboard(request: Request) -> Dashboard:
    dash: Dashboard | None = getattr(request.app.state, "dashboard", None)
    if dash is None:
        raise GatewayError(404, "The dashboard is not enabled.", code="unknown_url")
    return dash


Page = Callable[[Request, Dashboard, Session], Awaitable[Response]]


def _page(fn: Page) -> Callable[[Request], Awaitable[Response]]:
    """Logged in, or sent to the login form; errors as a page, never a stack trace."""

    async def run(request: Request) -> Response:
        try:
            dash = _dashboard(request)
            session = dash.sessions.current(request)
            return await fn(request, dash, session)
        except NotLoggedIn:
            target = urllib.parse.quote(request.url.path)
            return RedirectResponse(f"/dashboard/login?next={target}", 303, headers=HEADERS)
        except GatewayError as err:
            return render("error.html", err.status, title="Error", message=err.message)
        except Exception:
            log.exception("dashboard error on %s", request.url.path)
            return render("error.html", 500, title="Error", message="Internal dashboard error.")

    return run


def _api_auth(request: Request) -> Admin:
    """The admin operations behind a dashboard session: reads need it; writes also need
    the CSRF token and a same-origin request. The analyst's name is the actor."""
    dash = _dashboard(request)
    try:
        session = dash.sessions.current(request)
    except NotLoggedIn:
        raise GatewayError(401, "Log in to the dashboard first.", code="not_logged_in") from None
    if request.method not in ("GET", "HEAD"):
        check_write(request, session, dash.public_origin)
    request.state.actor = session.actor
    return dash.admin


# --- login ----------------------------------------------------------------------------
def _safe_next(value: str | None) -> str:
    """Only a path inside the dashboard: never an open redirect."""
    if value and value.startswith("/dashboard/") and "//" not in value and "\\" not in value:
        return value
    return "/dashboard/"


async def login(request: Request) -> Response:
    dash = _dashboard(request)
    nxt = _safe_next(request.query_params.get("next"))

    def form_page(status: int, actor: str, error: str | None) -> Response:
        return render("login.html", status, title="Sign in", actor=actor, next=nxt, error=error)

    if request.method == "GET":
        return form_page(200, "", None)
    if not same_origin(request, dash.public_origin):
        return form_page(403, "", "Cross-site sign-in refused.")
    try:
        raw = await read_body(request, MAX_LOGIN_BYTES)
    except GatewayError as err:
        return form_page(err.status, "", err.message)
    form = urllib.parse.parse_qs(raw.decode("utf-8", "replace"))
    actor = (form.get("actor") or [""])[0].strip()[:64]
    token = (form.get("token") or [""])[0]
    found = dash.sessions.login(actor, token) if actor else None
    if found is None:
        log.warning("dashboard: failed sign-in as %r", actor)
        return form_page(401, actor, "Wrong admin token, or no name given.")
    dash.sessions.logout(request)  # a new sign-in never keeps an older session alive
    sid, session = found
    response = RedirectResponse(nxt, 303, headers=HEADERS)
    response.set_cookie(
        COOKIE,
        sid,
        max_age=int(session.expires_ts - time.time()),
        path="/dashboard",
        httponly=True,
        samesite="strict",
        secure=dash.secure_cookie or request.url.scheme == "https",
    )
    dash.admin.store.record(actor=actor, what="dashboard sign-in")
    return response


async def logout(request: Request) -> Response:
    dash = _dashboard(request)
    try:
        check_write(request, dash.sessions.current(request), dash.public_origin)
    except NotLoggedIn:
        pass
    except GatewayError as err:
        return err.to_response()
    dash.sessions.logout(request)
    response = Response(orjson.dumps({"ok": True}), media_type="application/json")
    response.delete_cookie(COOKIE, path="/dashboard")
    return response


# --- shared bits ------------------------------------------------------------------------
def _counters(dash: Dashboard) -> dict[str, int]:
    return dash.memo("counters", lambda: _count(dash))


def _count(dash: Dashboard) -> dict[str, int]:
    engine, store = dash.engine, dash.admin.store
    groups = dash.campaigns()
    return {
        "requests on record": len(dash.tape),
        "accounts": len(engine.accounts),
        "flagged accounts": sum(1 for a in engine.accounts if engine.is_flagged(a)),
        "campaigns": len(groups),
        "flagged campaigns": sum(1 for c in groups if c.flagged),
        "open reviews": len(store.reviews(open_only=True)),
        "actions in force": sum(1 for a in store.actions() if a.parent_id is None),
    }


def _samples(dash: Dashboard, accounts: list[str], limit: int) -> list[dict[str, Any]]:
    out = []
    for event in recent_events(dash.event_log, accounts[:MAX_SAMPLE_ACCOUNTS], limit):
        text = last_user_text((event.get("request") or {}).get("messages") or [])
        if not text:
            continue
        out.append(_sample(event, text, dash))
    return out


def _sample(event: Event, text: str, dash: Dashboard) -> dict[str, Any]:
    return {
        "ts": parse_ts(event["ts"]),
        "account_id": event.get("account_id"),
        "model": event.get("model") or "",
        "action": (event.get("decision") or {}).get("action", "allow"),
        "pieces": pieces(text, dash.engine.population),
    }


def _actions_on(dash: Dashboard, kind: str, target: str) -> list[Any]:
    return [
        a.to_json()
        for a in dash.admin.store.actions()
        if a.target_kind == kind and a.target == target
    ]


# --- pages ------------------------------------------------------------------------------
async def overview(request: Request, dash: Dashboard, session: Session) -> Response:
    return render(
        "overview.html",
        title="Overview",
        nav="overview",
        session=session,
        counters=_counters(dash),
        traffic=await dash.traffic(),
        campaigns=dash.campaigns()[:10],
        accounts=views.riskiest_accounts(dash.engine, limit=10),
        tape_capacity=f"{dash.tape.capacity or 0:,}",
    )


async def overview_api(request: Request) -> Response:
    try:
        _api_auth(request)
        dash = _dashboard(request)
        body = {
            "counters": _counters(dash),
            "traffic": (await dash.traffic()).to_plotly_json(),
        }
        return Response(
            orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
            media_type="application/json",
            headers={"cache-control": "no-store"},
        )
    except GatewayError as err:
        return err.to_response()


async def accounts_page(request: Request, dash: Dashboard, session: Session) -> Response:
    q = request.query_params.get("q", "")[:200]
    engine = dash.engine
    every = list(engine.accounts)
    return render(
        "accounts.html",
        title="Accounts",
        nav="accounts",
        session=session,
        q=q,
        accounts=views.riskiest_accounts(engine, limit=200, query=q),
        histogram=figures.score_distribution(
            [engine.accounts[a].score for a in every],
            [engine.is_flagged(a) for a in every],
            engine.config.scoring.flag_threshold,
        ),
    )


async def account_page(request: Request, dash: Dashboard, session: Session) -> Response:
    account_id = request.path_params["account_id"]
    engine = dash.engine
    if account_id not in engine.accounts:
        raise GatewayError(404, f"No account {account_id} has been seen.", code="not_found")
    row = views.account_row(engine, account_id)
    signals = sorted(engine.signals(account_id).items(), key=lambda kv: -kv[1].value)
    return render(
        "account.html",
        title=f"Account {account_id}",
        nav="accounts",
        session=session,
        a=row,
        signals=figures.account_signals(
            dash.tape.view([account_id]), engine.config.scoring.flag_threshold
        ),
        signals_now=[(n, s) for n, s in signals if s.value > 0][:12],
        samples=_samples(dash, [account_id], 5),
        actions=_actions_on(dash, "account", account_id),
        audit=[e.to_json() for e in dash.admin.store.audit(limit=50, target=account_id)],
    )


async def campaigns_page(request: Request, dash: Dashboard, session: Session) -> Response:
    return render(
        "campaigns.html",
        title="Campaigns",
        nav="campaigns",
        session=session,
        campaigns=dash.campaigns()[:500],
    )


async def campaign_page(request: Request, dash: Dashboard, session: Session) -> Response:
    campaign_id = request.path_params["campaign_id"]
    engine = dash.engine
    row = next((c for c in dash.campaigns() if c.campaign_id == campaign_id), None)
    if row is None:
        raise GatewayError(
            404,
            f"No campaign {campaign_id} now (campaign ids change when clusters merge).",
            code="not_found",
        )
    graph = views.link_graph(engine, row.accounts)
    members = sorted(row.accounts, key=lambda a: (-engine.accounts[a].score, a))[:100]
    return render(
        "campaign.html",
        title=f"Campaign {campaign_id}",
        nav="campaigns",
        session=session,
        c=row,
        graph=figures.link_graph(graph),
        indicators=graph.indicators[:40],
        labels=views.KIND_LABELS,
        focus=figures.focus(dash.tape.view(row.accounts)),
        samples=_samples(dash, row.accounts, 3),
        accounts=[views.account_row(engine, a) for a in members],
        actions=_actions_on(dash, "campaign", campaign_id),
    )


async def reviews_page(request: Request, dash: Dashboard, session: Session) -> Response:
    everything = dash.admin.store.reviews()
    resolved = [r for r in everything if r.resolved_ts is not None]
    resolved.sort(key=lambda r: -(r.resolved_ts or 0))
    return render(
        "reviews.html",
        title="Review queue",
        nav="reviews",
        session=session,
        reviews=[r.to_json() for r in everything if r.resolved_ts is None],
        resolved=[r.to_json() for r in resolved[:20]],
    )


async def actions_page(request: Request, dash: Dashboard, session: Session) -> Response:
    actions = [a.to_json() for a in dash.admin.store.actions() if a.parent_id is None]
    return render("actions.html", title="Actions", nav="actions", session=session, actions=actions)


async def audit_page(request: Request, dash: Dashboard, session: Session) -> Response:
    entries = [e.to_json() for e in dash.admin.store.audit(limit=500)]
    return render("audit.html", title="Audit log", nav="audit", session=session, audit=entries)


# --- assets -----------------------------------------------------------------------------
_TYPES = {".js": "text/javascript", ".css": "text/css"}


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    cache = {"cache-control": "max-age=3600", "x-content-type-options": "nosniff"}
    if name == "plotly.min.js":
        return Response(plotly_js(), media_type="text/javascript", headers=cache)
    path = STATIC / name
    if "/" in name or name.startswith(".") or not path.is_file():
        return GatewayError(404, "No such file.", code="not_found").to_response()
    return FileResponse(path, media_type=_TYPES.get(path.suffix), headers=cache)


async def root(request: Request) -> Response:
    return RedirectResponse("/dashboard/", 307)


DASHBOARD_ROUTES = [
    Route("/dashboard", root, methods=["GET"]),
    Route("/dashboard/login", login, methods=["GET", "POST"]),
    Route("/dashboard/logout", logout, methods=["POST"]),
    Route("/dashboard/static/{name}", static, methods=["GET"]),
    Route("/dashboard/", _page(overview), methods=["GET"]),
    Route("/dashboard/accounts", _page(accounts_page), methods=["GET"]),
    Route("/dashboard/accounts/{account_id:path}", _page(account_page), methods=["GET"]),
    Route("/dashboard/campaigns", _page(campaigns_page), methods=["GET"]),
    Route("/dashboard/campaigns/{campaign_id}", _page(campaign_page), methods=["GET"]),
    Route("/dashboard/reviews", _page(reviews_page), methods=["GET"]),
    Route("/dashboard/actions", _page(actions_page), methods=["GET"]),
    Route("/dashboard/audit", _page(audit_page), methods=["GET"]),
    Route("/dashboard/api/overview", overview_api, methods=["GET"]),
    *admin_routes("/dashboard/api", _api_auth),
]
