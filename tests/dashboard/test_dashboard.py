"""The dashboard over HTTP: sign-in, what each page shows, and the refusals (no session,
cross-site, no CSRF token). The browser test drives the same pages in Chromium."""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import markupsafe
import openai
import pytest

from conftest import GatewayHandle
from dashkit import BENIGN, CARD, HYDRA, ODD, dashboard_gateway
from policykit import T0, TOKEN, admin, ask


@contextmanager
def signed_in(gw: GatewayHandle, actor: str = "ana") -> Iterator[tuple[httpx.Client, str]]:
    with httpx.Client(base_url=gw.url, follow_redirects=False) as client:
        yield client, sign_in(client, gw, actor)


def sign_in(client: httpx.Client, gw: GatewayHandle, actor: str) -> str:
    answer = client.post(
        "/dashboard/login",
        content=f"actor={actor}&token={TOKEN}",
        headers={"content-type": "application/x-www-form-urlencoded", "origin": gw.url},
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/dashboard/"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    page = client.get("/dashboard/")
    found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def test_pages_refuse_without_a_session(tmp_path: Path, replay_url: str) -> None:
    with dashboard_gateway(tmp_path, replay_url) as (gw, _):
        bare = httpx.Client(base_url=gw.url)  # closed below
        page = bare.get("/dashboard/campaigns", follow_redirects=False)
        assert page.status_code == 303
        assert page.headers["location"].startswith("/dashboard/login")
        api = bare.get("/dashboard/api/actions")
        assert api.status_code == 401 and api.json()["error"]["code"] == "not_logged_in"
        wrong = bare.post(
            "/dashboard/login",
            content="actor=mallory&token=not-the-token-at-all",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
        # The admin bearer token is for /admin, not a dashboard session.
        bearer = bare.get("/dashboard/", headers={"authorization": f"Bearer {TOKEN}"})
        assert bearer.status_code == 303
        bare.close()


def test_cross_site_and_tokenless_writes_are_refused(tmp_path: Path, replay_url: str) -> None:
    with dashboard_gateway(tmp_path, replay_url) as (gw, _), signed_in(gw) as (client, csrf):
        body = {"target_kind": "account", "target": BENIGN[0], "action": "block", "reason": "x"}
        no_token = client.post("/dashboard/api/actions", json=body)
        assert no_token.status_code == 403
        assert no_token.json()["error"]["code"] == "invalid_csrf_token"
        evil = {"x-csrf-token": csrf, "origin": "https://evil.example"}
        cross = client.post("/dashboard/api/actions", json=body, headers=evil)
        assert cross.status_code == 403 and cross.json()["error"]["code"] == "cross_site"
        fetch_meta = {"x-csrf-token": csrf, "sec-fetch-site": "cross-site"}
        assert (
            client.post("/dashboard/api/actions", json=body, headers=fetch_meta).status_code == 403
        )
        login_elsewhere = httpx.post(
            gw.url + "/dashboard/login",
            content=f"actor=x&token={TOKEN}",
            headers={
                "content-type": "application/x-www-form-urlencoded",
                "origin": "https://evil.example",
            },
        )
        assert login_elsewhere.status_code == 403
        assert admin(gw, "GET", "/admin/actions")["data"] == []  # nothing was stored
        ok = client.post(
            "/dashboard/api/actions",
            json=body,
            headers={"x-csrf-token": csrf, "origin": gw.url},
        )
        assert ok.status_code == 201, ok.text
        stored = admin(gw, "GET", "/admin/actions")["data"]
        assert [(a["target"], a["actor"]) for a in stored] == [(BENIGN[0], "ana")]
        # Logging out ends the session.
        client.post("/dashboard/logout", headers={"x-csrf-token": csrf})
        assert client.get("/dashboard/api/actions").status_code == 401


def test_pages_show_the_campaign_and_its_evidence(tmp_path: Path, replay_url: str) -> None:
    with dashboard_gateway(tmp_path, replay_url) as (gw, policy), signed_in(gw) as (client, _):
        overview = client.get("/dashboard/")
        assert overview.status_code == 200
        assert "content-security-policy" in overview.headers
        campaign_id = policy.engine.campaign(HYDRA[0])[0]
        assert campaign_id is not None
        assert campaign_id in overview.text
        page = client.get(f"/dashboard/campaigns/{campaign_id}")
        assert page.status_code == 200
        for account in HYDRA:
            assert account in page.text
        assert not any(account in page.text for account in BENIGN)
        assert "same payment method" in page.text and CARD in page.text
        # The scaffold the six accounts fill is highlighted in their sample requests.
        marked = re.findall(r'<mark class="scaffold"[^>]*>([^<]+)</mark>', page.text)
        assert any("internal reasoning step by step" in m for m in marked), marked
        drill = client.get(f"/dashboard/accounts/{HYDRA[0]}")
        assert drill.status_code == 200
        shown = re.search(r'data-target="fig-signals">([^<]+)</script>', drill.text)
        assert shown, drill.text[:300]
        traces = [t["name"] for t in json.loads(shown.group(1))["data"]]
        assert "elicitation" in traces and traces[-1] == "score"
        live = client.get("/dashboard/api/overview").json()
        assert live["counters"]["requests on record"] == len(gw.events())
        kinds = {t["name"] for t in live["traffic"]["data"]}
        assert kinds == {"allow"}  # no rules, no actions: everything was served
        missing = client.get("/dashboard/campaigns/camp_0000000000000000")
        assert missing.status_code == 404


def test_review_decided_in_the_dashboard_is_audited_under_the_analyst(
    tmp_path: Path, replay_url: str
) -> None:
    with dashboard_gateway(tmp_path, replay_url) as (gw, policy):
        review = policy.cache.store.open_review(
            "account", HYDRA[1], reasons=["test"], evidence={}, actor="policy"
        )
        with signed_in(gw, actor="bea") as (client, csrf):
            queue = client.get("/dashboard/reviews")
            assert f'data-review-id="{review.id}"' in queue.text
            answer = client.post(
                f"/dashboard/api/reviews/{review.id}/resolve",
                json={"resolution": "block", "reason": "confirmed reseller"},
                headers={"x-csrf-token": csrf},
            )
            assert answer.status_code == 200, answer.text
            audit = admin(gw, "GET", "/admin/audit", params={"target": HYDRA[1]})["data"]
            assert any(e["actor"] == "bea" and e["action"] == "block" for e in audit)
            with pytest.raises(openai.PermissionDeniedError):
                ask(gw, HYDRA[1], "another one", T0 + 50_000)
            # A decided review is not decided again (a second click, a stale page).
            again = client.post(
                f"/dashboard/api/reviews/{review.id}/resolve",
                json={"resolution": "allow"},
                headers={"x-csrf-token": csrf},
            )
            assert again.status_code == 409
            assert again.json()["error"]["code"] == "already_resolved"


def test_hostile_text_is_escaped(tmp_path: Path, replay_url: str) -> None:
    with dashboard_gateway(tmp_path, replay_url) as (gw, _), signed_in(gw) as (client, csrf):
        evil = "<script>alert(1)</script>"
        made = client.post(
            "/dashboard/api/actions",
            json={"target_kind": "key", "target": "k1", "action": "block", "reason": evil},
            headers={"x-csrf-token": csrf},
        )
        assert made.status_code == 201, made.text
        page = client.get("/dashboard/actions")
        assert evil not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        # An account id with a slash and markup: its page opens, and nothing in it is markup.
        odd = client.get("/dashboard/accounts/" + urllib.parse.quote(ODD, safe="/"))
        assert odd.status_code == 200, odd.text
        assert ODD not in odd.text and str(markupsafe.escape(ODD)) in odd.text
        listing = client.get("/dashboard/accounts").text
        assert ODD not in listing and str(markupsafe.escape(ODD)) in listing
        # After sign-in the form only ever sends you inside the dashboard.
        for target, lands in (("//evil.example", "/dashboard/"), ("/dashboard/audit", None)):
            answer = client.post(
                f"/dashboard/login?next={target}",
                content=f"actor=ana&token={TOKEN}",
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
            assert answer.headers["location"] == (lands or target)
