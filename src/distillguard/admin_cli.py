"""``distillguard actions|appeal|review|audit|intel``: the admin API from the command line.

Every command talks to a running gateway's admin API, so a change is enforced by that
replica at once and by the others within their reload interval, and the audit log records it
the same way as a dashboard click. The gateway is found from ``--config`` (its listen address
and admin token) or from ``--gateway`` and ``--admin-token`` (``DISTILLGUARD_ADMIN_TOKEN``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click
import httpx
import orjson

from distillguard.config import ConfigError, load_config

_TARGETS = ("account", "key", "campaign", "cidr", "payment", "client", "template")
_ACTIONS = ("allow", "flag", "throttle", "degrade", "review", "block")


class AdminClient:
    def __init__(self, base_url: str, token: str):
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"authorization": f"Bearer {token}"},
            timeout=30.0,
        )

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            url = self.http.base_url
            raise click.ClickException(f"cannot reach the gateway at {url}: {exc}") from exc
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:500]
            raise click.ClickException(f"{response.status_code}: {message}")
        if response.headers.get("content-type", "").startswith("application/json"):
            return orjson.loads(response.content)
        return response.text


def _client(ctx: click.Context) -> AdminClient:
    client: AdminClient = ctx.obj
    return client


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _connection(f: Any) -> Any:
    f = click.option(
        "--config",
        "config_path",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Gateway config: its listen address and admin token.",
    )(f)
    f = click.option("--gateway", envvar="DISTILLGUARD_GATEWAY", help="Gateway base URL.")(f)
    return click.option("--admin-token", envvar="DISTILLGUARD_ADMIN_TOKEN", help="Admin token.")(f)


def _connect(
    ctx: click.Context, config_path: Path | None, gateway: str | None, admin_token: str | None
) -> None:
    token = admin_token
    url = gateway
    if config_path is not None:
        try:
            config = load_config(config_path)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
        token = token or config.admin.token
        url = url or f"http://{config.listen.host}:{config.listen.port}"
    if not token:
        raise click.ClickException(
            "no admin token: pass --admin-token, set DISTILLGUARD_ADMIN_TOKEN or use --config"
        )
    client = AdminClient(url or "http://127.0.0.1:8080", token)
    ctx.call_on_close(client.http.close)
    ctx.obj = client


@click.group()
@_connection
@click.pass_context
def actions(
    ctx: click.Context, config_path: Path | None, gateway: str | None, admin_token: str | None
) -> None:
    """Actions on accounts, keys, campaigns, IP ranges and fingerprints (audited)."""
    _connect(ctx, config_path, gateway, admin_token)


@actions.command("list")
@click.option("--all", "everything", is_flag=True, help="Include revoked and carried actions.")
@click.pass_context
def actions_list(ctx: click.Context, everything: bool) -> None:
    data = _client(ctx).call("GET", "/admin/actions", params={"all": int(everything)})["data"]
    for a in data:
        state = "revoked" if a["revoked_ts"] else "active"
        click.echo(
            f"#{a['id']:<5} {a['action']:<9} {a['target_kind']:<9} {a['target']:<28} "
            f"{state:<8} {_when(a['created_ts'])}  by {a['actor']}: {a['reason']}"
        )
    if not data:
        click.echo("no actions")


@actions.command("add")
@click.argument("target_kind", type=click.Choice(_TARGETS))
@click.argument("target")
@click.argument("action", type=click.Choice(_ACTIONS))
@click.option("--reason", required=True, help="Why (goes to the audit log).")
@click.option("--actor", default="cli", show_default=True)
@click.option("--expires-in", type=float, help="Seconds until the action lapses.")
@click.pass_context
def actions_add(
    ctx: click.Context,
    target_kind: str,
    target: str,
    action: str,
    reason: str,
    actor: str,
    expires_in: float | None,
) -> None:
    """Apply ACTION to a target; a campaign carries it to its accounts and indicators."""
    body: dict[str, Any] = {
        "target_kind": target_kind,
        "target": target,
        "action": action,
        "reason": reason,
        "actor": actor,
    }
    if expires_in is not None:
        body["expires_in_s"] = expires_in
    made = _client(ctx).call("POST", "/admin/actions", json=body)
    extra = f" (+{made['indicators']} indicators)" if made.get("indicators") else ""
    click.echo(f"action #{made['id']}: {action} {target_kind} {target}{extra}")


@actions.command("revoke")
@click.argument("action_id", type=int)
@click.option("--reason", required=True)
@click.option("--actor", default="cli", show_default=True)
@click.pass_context
def actions_revoke(ctx: click.Context, action_id: int, reason: str, actor: str) -> None:
    _client(ctx).call(
        "POST", f"/admin/actions/{action_id}/revoke", json={"reason": reason, "actor": actor}
    )
    click.echo(f"action #{action_id} revoked")


@actions.command("appeal")
@click.argument("target_kind", type=click.Choice(_TARGETS))
@click.argument("target")
@click.option("--reason", required=True)
@click.option("--actor", default="cli", show_default=True)
@click.pass_context
def actions_appeal(
    ctx: click.Context, target_kind: str, target: str, reason: str, actor: str
) -> None:
    """Grant an appeal: revoke what acts on the target and allow it from now on."""
    done = _client(ctx).call(
        "POST",
        "/admin/appeals",
        json={"target_kind": target_kind, "target": target, "reason": reason, "actor": actor},
    )
    click.echo(f"revoked {len(done['revoked'])} action(s); override #{done['override']['id']}")


@actions.command("review")
@click.option("--resolve", "review_id", type=int, help="Resolve this item.")
@click.option("--as", "resolution", type=click.Choice(["allow", "throttle", "degrade", "block"]))
@click.option("--actor", default="cli", show_default=True)
@click.pass_context
def actions_review(
    ctx: click.Context, review_id: int | None, resolution: str | None, actor: str
) -> None:
    """List the open review queue, or resolve one item (--resolve ID --as ACTION)."""
    client = _client(ctx)
    if review_id is not None:
        if resolution is None:
            raise click.UsageError("--resolve needs --as")
        item = client.call(
            "POST",
            f"/admin/reviews/{review_id}/resolve",
            json={"resolution": resolution, "actor": actor},
        )
        click.echo(f"review #{item['id']} resolved: {item['resolution']}")
        return
    items = client.call("GET", "/admin/reviews")["data"]
    for item in items:
        click.echo(
            f"#{item['id']:<5} {item['target_kind']} {item['target']}  "
            f"{_when(item['created_ts'])}  {'; '.join(item['reasons'][:2])}"
        )
    if not items:
        click.echo("review queue is empty")


@actions.command("audit")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--target", help="Only entries about this target.")
@click.pass_context
def actions_audit(ctx: click.Context, limit: int, target: str | None) -> None:
    params: dict[str, Any] = {"limit": limit}
    if target:
        params["target"] = target
    for e in _client(ctx).call("GET", "/admin/audit", params=params)["data"]:
        click.echo(
            f"{_when(e['ts'])}  {e['actor']:<12} {e['what']:<16} {e['action'] or '-':<9} "
            f"{e['target_kind'] or ''} {e['target'] or ''}  {'; '.join(e['reasons'][:2])}"
        )


@click.group()
@_connection
@click.pass_context
def intel(
    ctx: click.Context, config_path: Path | None, gateway: str | None, admin_token: str | None
) -> None:
    """Exchange campaign indicators with peers as STIX 2.1 bundles."""
    _connect(ctx, config_path, gateway, admin_token)


@intel.command("export")
@click.option("--campaign", "campaign_id", required=True, help="Campaign id (camp_...).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write here.")
@click.pass_context
def intel_export(ctx: click.Context, campaign_id: str, out: Path | None) -> None:
    bundle = _client(ctx).call("GET", "/admin/intel/export", params={"campaign": campaign_id})
    text = (
        bundle
        if isinstance(bundle, str)
        else orjson.dumps(bundle, option=orjson.OPT_INDENT_2).decode()
    )
    if out is None:
        click.echo(text)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}", err=True)


@intel.command("import")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def intel_import(ctx: click.Context, bundle: Path) -> None:
    done = _client(ctx).call(
        "POST",
        "/admin/intel/import",
        content=bundle.read_bytes(),
        headers={"content-type": "application/json"},
    )
    click.echo(f"imported {done['indicators']} indicators ({done['new']} new)")


@intel.command("withdraw")
@click.option("--source", help="The peer (identity name) whose indicators to drop.")
@click.option("--campaign", help="The peer's campaign name whose indicators to drop.")
@click.option("--reason", required=True)
@click.option("--actor", default="cli", show_default=True)
@click.pass_context
def intel_withdraw(
    ctx: click.Context, source: str | None, campaign: str | None, reason: str, actor: str
) -> None:
    """Stop matching imported indicators (audited)."""
    body = {"source": source, "campaign": campaign, "reason": reason, "actor": actor}
    done = _client(ctx).call("POST", "/admin/intel/withdraw", json=body)
    click.echo(f"withdrew {done['withdrawn']} indicators")
