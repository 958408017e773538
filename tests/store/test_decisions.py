from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from distillguard.store.decisions import (
    Decisions,
    DecisionStoreError,
    IntelRecord,
    open_decisions,
)
from servers import redis_server


@pytest.fixture(params=["sqlite", "redis"])
def connect(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Decisions]]:
    """New connections to one store, for each backend: the same contract, the same tests."""
    opened: list[Decisions] = []
    with contextlib.ExitStack() as stack:
        url = ""
        if request.param == "redis":
            url = stack.enter_context(redis_server(tmp_path / "redis"))

        def connect() -> Decisions:
            store = open_decisions(request.param, tmp_path / "decisions.sqlite", redis_url=url)
            opened.append(store)
            return store

        yield connect
        for store in opened:
            store.close()


@pytest.fixture
def store(connect: Callable[[], Decisions]) -> Decisions:
    return connect()


def test_action_with_children_is_audited_and_revoked_as_one(store: Decisions) -> None:
    v0 = store.version()
    made = store.add_action(
        "campaign",
        "camp_1",
        "block",
        reason="hydra",
        actor="ana",
        children=[("account", "a1"), ("payment", "card-9")],
    )
    assert store.version() > v0
    active = store.actions()
    assert {(a.target_kind, a.target) for a in active} == {
        ("campaign", "camp_1"),
        ("account", "a1"),
        ("payment", "card-9"),
    }
    assert all(a.action == "block" for a in active)
    assert store.audit()[0].what == "action" and store.audit()[0].evidence["indicators"] == 2
    store.revoke(made.id, actor="bob", reason="wrong cluster")
    assert store.actions() == []
    revoked = store.actions(active_only=False)
    assert all(a.revoked_by == "bob" for a in revoked)
    with pytest.raises(DecisionStoreError, match="already revoked"):
        store.revoke(made.id, actor="bob", reason="again")


def test_appeal_revokes_and_overrides(store: Decisions) -> None:
    store.add_action("account", "a1", "block", reason="flagged", actor="policy")
    store.open_review("account", "a1", reasons=["r"], evidence={}, actor="policy")
    revoked, override = store.appeal("account", "a1", actor="ana", reason="batch pipeline")
    assert [a.action for a in revoked] == ["block"]
    assert override.action == "allow" and override.target == "a1"
    assert [a.action for a in store.actions()] == ["allow"]
    assert store.reviews(open_only=True) == []
    whats = [e.what for e in store.audit()]
    assert "revoke" in whats and "review resolved" in whats


def test_expired_actions_are_not_active(store: Decisions) -> None:
    store.add_action("account", "a1", "throttle", reason="r", actor="x", expires_ts=time.time() - 1)
    assert store.actions() == []
    assert len(store.actions(active_only=False)) == 1


def test_bad_input_is_a_clear_error(store: Decisions) -> None:
    with pytest.raises(DecisionStoreError, match="unknown target kind"):
        store.add_action("planet", "x", "block", reason="r", actor="x")
    with pytest.raises(DecisionStoreError, match="unknown action"):
        store.add_action("account", "x", "nuke", reason="r", actor="x")
    with pytest.raises(DecisionStoreError, match="not an IP range"):
        store.add_action("cidr", "300.1.2.0/24", "block", reason="r", actor="x")
    with pytest.raises(DecisionStoreError, match="no action"):
        store.revoke(99, actor="x", reason="r")
    stored = store.add_action("cidr", "203.0.113.77/24", "block", reason="r", actor="x")
    assert stored.target == "203.0.113.0/24"


def test_review_opened_once_per_target(store: Decisions) -> None:
    first = store.open_review("account", "a1", reasons=["x"], evidence={}, actor="policy")
    again = store.open_review("account", "a1", reasons=["y"], evidence={}, actor="policy")
    assert first.id == again.id
    store.resolve_review(first.id, resolution="block", actor="ana")
    with pytest.raises(DecisionStoreError, match="already resolved"):
        store.resolve_review(first.id, resolution="block", actor="ana")
    assert store.open_review("account", "a1", reasons=["z"], evidence={}, actor="p").id != first.id


def test_audit_only_rows_do_not_invalidate_snapshots(store: Decisions) -> None:
    v = store.version()
    store.record(actor="policy", what="ladder", target_kind="account", target="a1", action="flag")
    assert store.version() == v
    assert store.audit(target="a1")[0].what == "ladder"


def test_intel_import_is_idempotent(store: Decisions) -> None:
    rec = IntelRecord("cidr", "198.51.100.0/24", "peer", "op-x", 80, "indicator--1")
    assert store.import_intel([rec], actor="ana", source_file="f.json") == 1
    assert store.import_intel([rec], actor="ana", source_file="f.json") == 0
    assert store.intel() == [rec]


def test_changes_from_another_connection_move_the_version(
    connect: Callable[[], Decisions],
) -> None:
    a, b = connect(), connect()
    v = a.version()
    b.add_action("account", "a1", "block", reason="r", actor="x")
    assert a.version() > v
    assert [x.target for x in a.actions()] == ["a1"]


def test_appeal_of_one_member_keeps_the_rest_of_the_campaign_blocked(store: Decisions) -> None:
    store.add_action(
        "campaign",
        "camp_1",
        "block",
        reason="hydra",
        actor="ana",
        children=[("account", "a1"), ("account", "a2"), ("payment", "card-9")],
    )
    revoked, _ = store.appeal("account", "a1", actor="ana", reason="wrongly linked")
    assert [(a.target_kind, a.target) for a in revoked] == [("account", "a1")]
    still = {(a.target_kind, a.target, a.action) for a in store.actions()}
    assert ("account", "a2", "block") in still and ("payment", "card-9", "block") in still
    assert ("campaign", "camp_1", "block") in still and ("account", "a1", "allow") in still


def test_intel_expires_and_can_be_withdrawn(store: Decisions) -> None:
    old = IntelRecord(
        "cidr", "198.51.100.0/24", "peer-a", "op-x", 80, "indicator--1", valid_until=time.time() - 1
    )
    live = IntelRecord("cidr", "203.0.113.0/24", "peer-a", "op-y", 80, "indicator--2")
    other = IntelRecord("cidr", "192.0.2.0/24", "peer-b", "op-z", 80, "indicator--3")
    store.import_intel([old, live, other], actor="ana", source_file="f.json")
    assert store.intel() == [live, other]  # past its own expiry: not in force
    v = store.version()
    assert store.withdraw_intel(source="peer-a", campaign=None, actor="ana", reason="bad") == 2
    assert store.intel() == [other] and store.version() > v
    assert store.audit()[0].what == "intel withdrawn"
    with pytest.raises(DecisionStoreError, match="name the source or the campaign"):
        store.withdraw_intel(source=None, campaign=None, actor="ana", reason="r")
