"""The demo's response part: an analyst acts on a campaign through the admin API.

After the simulated traffic, the biggest campaign the engine linked is blocked as a whole
(its accounts and the indicators they share); a brand-new account on one of its payment cards
is refused on its first request; an appeal gives that account access back at once; the audit
log shows every step.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import openai

from distillguard.sim.world import World
from distillguard.store.keys import KeyStore

ADMIN_TOKEN = "demo-admin-token-not-for-production"  # noqa: S105 - a demo's own gateway
DEMO_POLICY: dict[str, Any] = {
    "policy": {
        "rules": [
            {"name": "watch", "when": {"score": {"gte": 0.35}}, "action": "flag"},
            # Suspicion short of a verdict: serve answers without raw reasoning or logprobs.
            {"name": "degrade-suspect", "when": {"score": {"gte": 0.45}}, "action": "degrade"},
            # This provider opted into blocking what the engine flags (the default asks a human).
            {"name": "block-flagged", "when": {"flagged": True}, "action": "block"},
        ]
    }
}
NEW_HEAD = "new-head"


def _admin(base: str, method: str, path: str, **kw: Any) -> Any:
    response = httpx.request(
        method, base + path, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30, **kw
    )
    response.raise_for_status()
    return response.json()


def _first_answer(base_url: str, secret: str) -> str:
    prompt = "Hi! What's a good way to learn linear algebra?"
    with openai.OpenAI(base_url=base_url, api_key=secret, max_retries=0) as client:
        try:
            client.chat.completions.create(
                model="frontier-1", messages=[{"role": "user", "content": prompt}]
            )
            return "served (200)"
        except openai.PermissionDeniedError:
            return "refused (403)"


def walkthrough(base_url: str, world: World, keys_db: Path) -> list[str]:
    gateway = base_url.removesuffix("/v1")
    members: Counter[str] = Counter()
    card_of: dict[str, str] = {}
    for account in world.accounts():
        if account.label != "attack" or not account.meta:
            continue
        seen = _admin(gateway, "GET", f"/admin/accounts/{account.account_id}")
        if seen["campaign_id"]:
            members[seen["campaign_id"]] += 1
            card = account.meta.get("payment_fingerprint")
            if isinstance(card, str):
                card_of.setdefault(seen["campaign_id"], card)
    if not members:
        return ["no campaign was linked in this run"]
    campaign_id, _ = max(members.items(), key=lambda kv: (kv[0] in card_of, kv[1]))
    detail = _admin(gateway, "GET", f"/admin/campaigns/{campaign_id}")
    made = _admin(gateway, "POST", "/admin/actions", json={
        "target_kind": "campaign", "target": campaign_id, "action": "block",
        "reason": "demo: reseller cluster confirmed by an analyst", "actor": "analyst",
    })  # fmt: skip
    notes = [
        f"campaign {campaign_id}: {len(detail['accounts'])} accounts, {detail['requests']} "
        f"requests, links {detail['evidence']}; blocked as a whole by an analyst "
        f"(action #{made['id']}, {made['indicators']} indicators carried)",
    ]
    card = card_of.get(campaign_id)
    if card is not None:
        with KeyStore(keys_db) as store:
            secret = store.add(NEW_HEAD, label="demo", account_meta={
                "payment_fingerprint": card}).secret  # fmt: skip
        time.sleep(1.0)  # the gateway reloads its keys every 0.5 s
        notes.append(
            f"a brand-new account on one of its cards, first request: "
            f"{_first_answer(base_url, secret)}"
        )
        _admin(gateway, "POST", "/admin/appeals", json={
            "target_kind": "account", "target": NEW_HEAD, "actor": "support",
            "reason": "demo: the customer proved the card is theirs"})  # fmt: skip
        notes.append(f"after its appeal, next request: {_first_answer(base_url, secret)}")
    audit = _admin(gateway, "GET", "/admin/audit", params={"limit": 1000})["data"]
    kinds = Counter(e["what"] for e in audit)
    notes.append("audit log: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    return notes


def dashboard_tour(base_url: str) -> list[str]:
    """Sign in to the dashboard as an analyst would and read what its pages show."""
    gateway = base_url.removesuffix("/v1")
    with httpx.Client(base_url=gateway, timeout=60) as client:
        signed = client.post(
            "/dashboard/login",
            content=f"actor=demo-analyst&token={ADMIN_TOKEN}",
            headers={"content-type": "application/x-www-form-urlencoded", "origin": gateway},
        )
        if signed.status_code != 303:
            return [f"dashboard: sign-in failed ({signed.status_code})"]
        listing = client.get("/dashboard/campaigns").text
        found = re.search(r'href="/dashboard/campaigns/(camp_[0-9a-f]+)"', listing)
        counters = client.get("/dashboard/api/overview").json()["counters"]
        notes = [
            f"dashboard at {gateway}/dashboard/ (sign in with the admin token): "
            + ", ".join(f"{k} {v}" for k, v in counters.items())
        ]
        if found:
            page = client.get(f"/dashboard/campaigns/{found.group(1)}").text
            notes.append(
                f"its top campaign {found.group(1)}: "
                f"{page.count('<tr data-account=')} member rows, "
                f"{page.count('<mark class=')} highlighted scaffold passages in sample requests, "
                f"link graph and focus timeline drawn with Plotly"
            )
    return notes
