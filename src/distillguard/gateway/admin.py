"""The admin API (/admin/...): actions, appeals, the review queue, audit, intel exchange.

Authenticated with the admin bearer token (constant-time compare); a bearer token in a header
is not sent by browsers on their own, so cross-site requests cannot act. Every change goes to
the decisions store with an audit row and this replica reloads its snapshot at once; other
replicas follow within their reload interval.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from distillguard.engine import Engine
from distillguard.gateway.errors import GatewayError, bad_request
from distillguard.gateway.validation import read_body
from distillguard.intel.export import campaign_intel
from distillguard.intel.records import to_record
from distillguard.intel.stix import IntelError, export_json, import_bundle
from distillguard.policy.campaigns import UnknownCampaign, indicators, members
from distillguard.policy.response import ResponsePolicy
from distillguard.policy.snapshot import DecisionCache
from distillguard.store.decisions import (
    Decisions,
    DecisionStoreError,
    DecisionsUnavailable,
    UnknownId,
)

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 32 * 1024 * 1024  # an intel bundle of a big campaign; read after authentication


@dataclass(slots=True)
class Admin:
    token: str
    policy: ResponsePolicy

    @property
    def engine(self) -> Engine:
        return self.policy.engine

    @property
    def cache(self) -> DecisionCache:
        return self.policy.cache

    @property
    def store(self) -> Decisions:
        return self.policy.cache.store


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _admin(request: Request) -> Admin:
    admin: Admin | None = getattr(request.app.state, "admin", None)
    if admin is None:
        raise GatewayError(404, "The admin API is not enabled.", code="unknown_url")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    given = token.strip().encode("utf-8", "surrogateescape")
    if scheme.lower() != "bearer" or not secrets.compare_digest(given, admin.token.encode()):
        raise GatewayError(
            401,
            "Admin API: missing or wrong admin token.",
            code="invalid_admin_token",
            headers={"www-authenticate": 'Bearer realm="distillguard-admin"'},
        )
    return admin


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = orjson.loads(await read_body(request, MAX_BODY_BYTES))
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"The body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise bad_request("The body must be a JSON object.")
    return data


def _field(data: dict[str, Any], name: str, default: str | None = None) -> str:
    value = data.get(name, default)
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"'{name}' is required and must be a non-empty string.", param=name)
    return value.strip()


def _id(request: Request, name: str) -> int:
    try:
        value = int(request.path_params[name])
    except ValueError as exc:
        raise bad_request(f"The {name.replace('_', ' ')} must be a number.") from exc
    if not 0 < value < 2**63:
        raise GatewayError(404, f"No item with id {value}.", code="not_found")
    return value


def _actor(request: Request, data: dict[str, Any]) -> str:
    """Who acts: the dashboard's logged-in analyst, else what an API client says it is."""
    fixed = getattr(request.state, "actor", None)
    return str(fixed or data.get("actor") or "admin")


Authenticate = Callable[[Request], Admin]
Operation = Callable[[Request, Admin], Awaitable[Response]]


def _guarded(fn: Operation, authenticate: Authenticate) -> Callable[[Request], Awaitable[Response]]:
    """Authenticated; errors as OpenAI envelopes, never a stack trace."""

    async def run(request: Request) -> Response:
        try:
            return await fn(request, authenticate(request))
        except GatewayError as err:
            return err.to_response()
        except (UnknownId, UnknownCampaign) as exc:
            return GatewayError(404, str(exc), code="not_found").to_response()
        except DecisionStoreError as exc:
            return bad_request(str(exc)).to_response()
        except DecisionsUnavailable as exc:
            log.warning("admin API: decisions store unavailable: %s", exc)
            return GatewayError(
                503,
                "The decisions store is unavailable; nothing was changed. Try again shortly.",
                "api_error",
                "decisions_unavailable",
                headers={"retry-after": "1"},
            ).to_response()
        except IntelError as exc:
            return bad_request(str(exc), code="invalid_bundle").to_response()
        except Exception:
            log.exception("admin API error on %s", request.url.path)
            return GatewayError(
                500, "Internal error in the admin API.", "api_error", "internal_error"
            ).to_response()

    return run


async def list_actions(request: Request, admin: Admin) -> Response:
    everything = request.query_params.get("all") in ("1", "true")
    actions = admin.store.actions(active_only=not everything)
    return _json({"data": [a.to_json() for a in actions if a.parent_id is None or everything]})


async def add_action(request: Request, admin: Admin) -> Response:
    data = await _body(request)
    kind, target = _field(data, "target_kind"), _field(data, "target")
    action, reason = _field(data, "action"), _field(data, "reason")
    expires = data.get("expires_in_s")
    if expires is not None and (
        isinstance(expires, bool) or not isinstance(expires, int | float) or not 0 < expires < 1e10
    ):
        raise bad_request("'expires_in_s' must be a positive number.", param="expires_in_s")
    expires_ts = None if expires is None else time.time() + float(expires)
    children: list[tuple[str, str]] = []
    evidence: dict[str, Any] = {}
    if kind == "campaign":
        scope = admin.cache.policy.campaign_enforcement
        accounts, children = indicators(admin.engine, target, scope)
        _, stats = admin.engine.campaign(accounts[0])
        evidence = {
            "accounts": len(accounts),
            "requests": stats.requests,
            "links": dict(stats.evidence),
        }
    stored = admin.store.add_action(
        kind,
        target,
        action,
        reason=reason,
        actor=_actor(request, data),
        evidence=evidence,
        expires_ts=expires_ts,
        children=children,
    )
    admin.cache.refresh(force=True)
    return _json({**stored.to_json(), "indicators": len(children)}, 201)


async def revoke_action(request: Request, admin: Admin) -> Response:
    data = await _body(request)
    action_id = _id(request, "action_id")
    stored = admin.store.revoke(
        action_id, actor=_actor(request, data), reason=_field(data, "reason")
    )
    admin.cache.refresh(force=True)
    return _json(stored.to_json())


async def appeal(request: Request, admin: Admin) -> Response:
    data = await _body(request)
    revoked, override = admin.store.appeal(
        _field(data, "target_kind"),
        _field(data, "target"),
        actor=_actor(request, data),
        reason=_field(data, "reason"),
    )
    admin.cache.refresh(force=True)
    return _json({"revoked": [a.to_json() for a in revoked], "override": override.to_json()}, 201)


async def list_reviews(request: Request, admin: Admin) -> Response:
    open_only = request.query_params.get("open", "1") in ("1", "true")
    return _json({"data": [r.to_json() for r in admin.store.reviews(open_only=open_only)]})


async def resolve_review(request: Request, admin: Admin) -> Response:
    """Approve (allow), throttle, degrade or block the reviewed target, at once."""
    data = await _body(request)
    review_id = _id(request, "review_id")
    resolution, actor = _field(data, "resolution"), _actor(request, data)
    reason = str(data.get("reason") or f"review #{review_id}: {resolution}")
    item = admin.store.review(review_id)
    if item.resolved_ts is not None:
        raise GatewayError(
            409,
            f"Review #{review_id} was already decided ({item.resolution}) by {item.resolved_by}.",
            code="already_resolved",
        )
    if resolution == "allow":
        admin.store.appeal(item.target_kind, item.target, actor=actor, reason=reason)
    else:
        admin.store.resolve_review(review_id, resolution=resolution, actor=actor)
        admin.store.add_action(
            item.target_kind,
            item.target,
            resolution,
            reason=reason,
            actor=actor,
            evidence={"review_id": review_id},
        )
    admin.cache.refresh(force=True)
    return _json(admin.store.review(review_id).to_json())


async def audit(request: Request, admin: Admin) -> Response:
    try:
        limit = int(request.query_params.get("limit", "100"))
    except ValueError as exc:
        raise bad_request("'limit' must be a number.", param="limit") from exc
    if not 1 <= limit <= 10_000:
        raise bad_request("'limit' must be between 1 and 10000.", param="limit")
    entries = admin.store.audit(limit=limit, target=request.query_params.get("target"))
    return _json({"data": [e.to_json() for e in entries]})


async def account(request: Request, admin: Admin) -> Response:
    account_id = request.path_params["account_id"]
    record = admin.engine.accounts.get(account_id)
    if record is None:
        raise GatewayError(404, f"No account {account_id} has been seen.", code="not_found")
    campaign_id, stats = admin.engine.campaign(account_id)
    return _json(
        {
            "account_id": account_id,
            "requests": record.requests,
            "score": record.score,
            "flagged": admin.engine.is_flagged(account_id),
            "campaign_id": campaign_id,
            "campaign_accounts": stats.accounts,
            "reasons": list(admin.engine.explain(account_id)),
            "signals": record.values,
        }
    )


async def campaign(request: Request, admin: Admin) -> Response:
    campaign_id = request.path_params["campaign_id"]
    accounts = members(admin.engine, campaign_id)
    _, stats = admin.engine.campaign(accounts[0])
    return _json(
        {
            "campaign_id": campaign_id,
            "accounts": accounts,
            "requests": stats.requests,
            "first_seen": stats.first_ts,
            "last_seen": stats.last_ts,
            "flagged_at_ts": stats.flagged_ts,
            "evidence": dict(stats.evidence),
            "focus": dict(stats.capabilities),
        }
    )


async def intel_export(request: Request, admin: Admin) -> Response:
    campaign_id = request.query_params.get("campaign")
    if not campaign_id:
        raise bad_request("'campaign' is required.", param="campaign")
    intel = campaign_intel(admin.engine, campaign_id, admin.policy.samples)
    return Response(export_json(intel), media_type="application/json")


async def intel_import(request: Request, admin: Admin) -> Response:
    found = import_bundle((await read_body(request, MAX_BODY_BYTES)).decode("utf-8", "replace"))
    records = [to_record(p) for p in found]
    actor = _actor(request, {"actor": request.query_params.get("actor")})
    added = admin.store.import_intel(records, actor=actor, source_file="admin upload")
    admin.cache.refresh(force=True)
    return _json({"indicators": len(records), "new": added}, 201)


async def intel_withdraw(request: Request, admin: Admin) -> Response:
    """Stop matching what a peer shared (a bad bundle must be reversible like any action)."""
    data = await _body(request)
    source, campaign = data.get("source"), data.get("campaign")
    if not isinstance(source, str | None) or not isinstance(campaign, str | None):
        raise bad_request("'source' and 'campaign' must be strings.")
    withdrawn = admin.store.withdraw_intel(
        source=source, campaign=campaign, actor=_actor(request, data), reason=_field(data, "reason")
    )
    admin.cache.refresh(force=True)
    return _json({"withdrawn": withdrawn})


OPERATIONS: list[tuple[str, Operation, str]] = [
    ("/actions", list_actions, "GET"),
    ("/actions", add_action, "POST"),
    ("/actions/{action_id}/revoke", revoke_action, "POST"),
    ("/appeals", appeal, "POST"),
    ("/reviews", list_reviews, "GET"),
    ("/reviews/{review_id}/resolve", resolve_review, "POST"),
    ("/audit", audit, "GET"),
    ("/accounts/{account_id:path}", account, "GET"),
    ("/campaigns/{campaign_id}", campaign, "GET"),
    ("/intel/export", intel_export, "GET"),
    ("/intel/import", intel_import, "POST"),
    ("/intel/withdraw", intel_withdraw, "POST"),
]


def admin_routes(prefix: str, authenticate: Authenticate) -> list[Route]:
    """The admin operations under ``prefix``, behind ``authenticate``: the bearer-token API
    and the dashboard (session + CSRF token) run the same code and leave the same audit."""
    return [
        Route(prefix + path, _guarded(fn, authenticate), methods=[method])
        for path, fn, method in OPERATIONS
    ]


ADMIN_ROUTES = admin_routes("/admin", _admin)
