"""``distillguard actions`` and ``distillguard intel`` against a running gateway's admin API."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import openai
import pytest
from click.testing import CliRunner

from distillguard.cli import main
from distillguard.policy.rules import PolicyConfig
from policykit import T0, TOKEN, admin, ask, policy_gateway


def run(gw_url: str, *args: str) -> str:
    result = CliRunner().invoke(
        main, [args[0], "--gateway", gw_url, "--admin-token", TOKEN, *args[1:]]
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_block_list_appeal_audit_through_the_cli(tmp_path: Path, replay_url: str) -> None:
    with policy_gateway(tmp_path, replay_url, PolicyConfig(rules=[]), ["alice", "bob"]) as (gw, _):
        out = run(gw.url, "actions", "add", "account", "bob", "block", "--reason", "abuse")
        assert out.startswith("action #1: block account bob")
        with pytest.raises(openai.PermissionDeniedError):
            ask(gw, "bob", "hello", T0)
        assert "bob" in run(gw.url, "actions", "list")
        out = run(gw.url, "actions", "appeal", "account", "bob", "--reason", "verified")
        assert "revoked 1 action(s)" in out
        assert ask(gw, "bob", "hello again", T0 + 1)[0]
        audit = run(gw.url, "actions", "audit", "--target", "bob")
        assert "appeal" in audit and "revoke" in audit
        assert "review queue is empty" in run(gw.url, "actions", "review")


def test_intel_export_import_round_trip_through_the_cli(tmp_path: Path, replay_url: str) -> None:
    meta = {a: {"payment_fingerprint": "card-77"} for a in ("h1", "h2")}
    bundle = tmp_path / "bundle.json"
    with policy_gateway(
        tmp_path / "a", replay_url, PolicyConfig(rules=[]), ["h1", "h2"], meta=meta
    ) as (gw, _):
        for n, account in enumerate(("h1", "h2")):
            ask(gw, account, f"Tell me about lakes, part {n}", T0 + n)
        campaign = admin(gw, "GET", "/admin/accounts/h1")["campaign_id"]
        run(gw.url, "intel", "export", "--campaign", campaign, "--out", str(bundle))
    data = json.loads(bundle.read_text())
    assert data["type"] == "bundle"
    assert "card-77" not in bundle.read_text()  # hashed, never raw
    with policy_gateway(tmp_path / "b", replay_url, PolicyConfig(rules=[]), ["x"]) as (gw2, _):
        out = run(gw2.url, "intel", "import", str(bundle))
        assert out.startswith("imported ")


def test_cli_errors_are_clear(tmp_path: Path, replay_url: str) -> None:
    result = CliRunner().invoke(main, ["actions", "--gateway", "http://127.0.0.1:9", "list"])
    assert result.exit_code != 0 and "admin token" in result.output
    with policy_gateway(tmp_path, replay_url, PolicyConfig(rules=[]), ["a"]) as (gw, _):
        wrong = CliRunner().invoke(
            main, ["actions", "--gateway", gw.url, "--admin-token", "x" * 20, "list"]
        )
        assert wrong.exit_code != 0 and "401" in wrong.output
        bad = CliRunner().invoke(
            main,
            [
                "actions",
                "--gateway",
                gw.url,
                "--admin-token",
                TOKEN,
                "revoke",
                "42",
                "--reason",
                "r",
            ],
        )
        assert bad.exit_code != 0 and "no action with id 42" in bad.output
        garbage = tmp_path / "garbage.json"
        garbage.write_text('{"type": "not-a-bundle"}')
        imp = CliRunner().invoke(
            main, ["intel", "--gateway", gw.url, "--admin-token", TOKEN, "import", str(garbage)]
        )
        assert imp.exit_code != 0 and "400" in imp.output


def test_admin_api_odd_input_gets_envelopes(tmp_path: Path, replay_url: str) -> None:
    with policy_gateway(tmp_path, replay_url, PolicyConfig(rules=[]), ["a"]) as (gw, _):
        auth = {b"authorization": f"Bearer {TOKEN}".encode()}
        odd_token = {b"authorization": "Bearer pässwörd-xx".encode("latin-1")}
        cases: list[tuple[str, str, dict[str, object] | None, dict[bytes, bytes], int]] = [
            ("GET", "/admin/audit?limit=100000000000000000000", None, auth, 400),
            ("GET", "/admin/audit?limit=-1", None, auth, 400),
            ("POST", "/admin/actions/99999999999999999999999/revoke", {"reason": "r"}, auth, 404),
            ("POST", "/admin/reviews/7/resolve", {"resolution": "block"}, auth, 404),
            ("GET", "/admin/actions", None, odd_token, 401),
            (
                "POST",
                "/admin/actions",
                {
                    "target_kind": "account",
                    "target": "a",
                    "action": "block",
                    "reason": "r",
                    "expires_in_s": True,
                },
                auth,
                400,
            ),
            (
                "POST",
                "/admin/actions",
                {"target_kind": "planet", "target": "a", "action": "block", "reason": "r"},
                auth,
                400,
            ),
            ("GET", "/admin/campaigns/camp_nothing", None, auth, 404),
        ]
        for method, path, body, headers, status in cases:
            r = httpx.request(method, gw.url + path, json=body, headers=headers)
            assert r.status_code == status, (path, r.text)
            assert set(r.json()["error"]) == {"message", "type", "param", "code"}
