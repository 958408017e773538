"""The analyst's path in a real browser: Debian's Chromium driven by Playwright. Sign in,
open the top campaign, read its evidence, block it; the official ``openai`` client then gets
403 for every member account. A page on another origin cannot act with the analyst's session.
Screenshots land in ``test-artifacts/dashboard/``."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from playwright.sync_api import Browser, Dialog, Page, sync_playwright
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from dashkit import BENIGN, CARD, HYDRA, dashboard_gateway
from policykit import T0, TOKEN, admin, ask
from servers import serve_in_thread

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As the machine notes say: without the background-networking flags Chromium keeps trying
# to reach Google's hosts, which this closed network refuses.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing; .ci/run installs Debian's chromium package")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def drawn(page: Page, figure_id: str) -> None:
    """Plotly has drawn the figure (its SVG is in the div)."""
    page.wait_for_selector(f"#{figure_id} .main-svg", timeout=20_000)


def evil_site(gateway_url: str) -> Starlette:
    """Another origin's page that tries to block an account with the analyst's cookies."""
    script = f"""
      fetch("{gateway_url}/dashboard/api/actions", {{
        method: "POST", mode: "no-cors", credentials: "include",
        headers: {{"content-type": "text/plain"}},
        body: JSON.stringify({{target_kind: "account", target: "{BENIGN[0]}",
                              action: "block", reason: "csrf"}})
      }}).finally(() => {{ document.title = "sent"; }});
    """

    async def home(request: Request) -> HTMLResponse:
        return HTMLResponse(f"<html><body><script>{script}</script></body></html>")

    return Starlette(routes=[Route("/", home)])


def test_analyst_blocks_the_top_campaign_in_the_browser(
    tmp_path: Path, replay_url: str, browser: Browser
) -> None:
    with dashboard_gateway(tmp_path, replay_url) as (gw, policy):
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        page = context.new_page()
        problems: list[str] = []
        page.on(
            "console",
            lambda m: problems.append(m.text) if m.type == "error" else None,  # CSP, JS errors
        )
        page.on("pageerror", lambda exc: problems.append(str(exc)))

        # Not signed in: every page leads to the sign-in form.
        page.goto(gw.url + "/dashboard/campaigns")
        assert "/dashboard/login" in page.url
        shot(page, "01-login")
        page.fill("input[name=actor]", "ana")
        page.fill("input[name=token]", TOKEN)
        page.click("button[type=submit]")
        page.wait_for_url("**/dashboard/campaigns")

        # Another origin's page cannot act with this session (same host, other port).
        with serve_in_thread(evil_site(gw.url)) as evil_url:
            other = context.new_page()
            other.goto(evil_url)
            other.wait_for_function("document.title === 'sent'", timeout=10_000)
            other.close()
        assert admin(gw, "GET", "/admin/actions")["data"] == []

        page.goto(gw.url + "/dashboard/")
        drawn(page, "fig-traffic")
        shot(page, "02-overview")

        # Open the top campaign from the campaigns list.
        page.click("nav >> text=Campaigns")
        page.click("table.campaigns tbody tr:first-child td:first-child a")
        page.wait_for_url("**/dashboard/campaigns/camp_*")
        campaign_id = page.url.rsplit("/", 1)[1]
        drawn(page, "fig-graph")
        drawn(page, "fig-focus")
        evidence = page.inner_text("table.evidence")
        assert "same payment method" in evidence and CARD in evidence
        members = page.inner_text("table.accounts")
        assert all(a in members for a in HYDRA)
        assert not any(a in members for a in BENIGN)
        assert page.locator("mark.scaffold").count() >= 1
        shot(page, "03-campaign")

        # Intel export: the campaign as a STIX 2.1 bundle, downloaded from the page.
        with page.expect_download() as download:
            page.click("a.download")
        bundle = json.loads(Path(download.value.path()).read_text())
        assert bundle["type"] == "bundle"
        assert any(o["type"] == "campaign" for o in bundle["objects"])
        assert CARD not in json.dumps(bundle)  # fingerprints are hashed, never raw

        # Block it, with a reason, confirming the dialog.
        def accept(dialog: Dialog) -> None:
            assert campaign_id in dialog.message
            dialog.accept()

        page.once("dialog", accept)
        page.fill(".actbox input.reason", "reseller cluster: one card, one scaffold")
        page.click("button.act-block")
        page.wait_for_selector("table.actions tr[data-action-id]", timeout=10_000)
        assert "block" in page.inner_text("table.actions")
        shot(page, "04-campaign-blocked")

        # The gateway enforces it: every member gets 403 from the official client.
        for n, account in enumerate(HYDRA):
            with pytest.raises(openai.PermissionDeniedError):
                ask(gw, account, "one more problem please", T0 + 10_000 + n)
        for n, account in enumerate(BENIGN):
            assert ask(gw, account, "and one more question", T0 + 10_100 + n)[0]

        # The analyst's name is on the action in the audit log.
        page.goto(gw.url + "/dashboard/audit")
        audit = page.inner_text("table.audit")
        assert "ana" in audit and campaign_id in audit
        shot(page, "05-audit")
        page.goto(gw.url + f"/dashboard/accounts/{HYDRA[0]}")
        drawn(page, "fig-signals")
        shot(page, "06-account")
        # The review queue: approve a customer the policy queued; they keep being served.
        policy.cache.store.open_review(
            "account", BENIGN[1], reasons=["score 0.41: heavy use"], evidence={}, actor="policy"
        )
        page.goto(gw.url + "/dashboard/reviews")
        row = page.locator(f"tr:has-text('{BENIGN[1]}')")
        shot(page, "07-reviews")
        page.once("dialog", lambda dialog: dialog.accept())
        row.locator("input.reason").fill("known customer, nightly batch")
        row.locator("button.act-allow").click()
        page.wait_for_selector("text=The queue is empty.", timeout=10_000)
        assert ask(gw, BENIGN[1], "thanks!", T0 + 10_200)[0]
        assert not problems, problems
