from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from distillguard.store.keys import KeyStore, KeyStoreError, digest


def test_keys_are_stored_only_as_digests(tmp_path: Path) -> None:
    with KeyStore(tmp_path / "k.sqlite") as store:
        issued = store.add("acme", label="prod")
    assert issued.secret.startswith("dg-") and len(issued.secret) > 40
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())  # the database and any WAL
    assert issued.secret.encode() not in raw
    conn = sqlite3.connect(tmp_path / "k.sqlite")
    (stored,) = conn.execute("SELECT digest FROM api_keys").fetchone()
    conn.close()
    assert stored == digest(issued.secret)


def test_add_list_revoke(tmp_path: Path) -> None:
    with KeyStore(tmp_path / "k.sqlite") as store:
        a = store.add("acme").key
        b = store.add("acme").key
        c = store.add("globex").key
        assert [k.key_id for k in store.list("acme")] == [a.key_id, b.key_id]
        assert len(store.list()) == 3
        revoked = store.revoke(b.key_id)
        assert not revoked.active
        assert set(k.key_id for k in store.active_by_digest().values()) == {a.key_id, c.key_id}
        with pytest.raises(KeyStoreError, match="already revoked"):
            store.revoke(b.key_id)
        with pytest.raises(KeyStoreError, match="no key"):
            store.revoke("key_nope")


def test_chosen_secrets_must_be_long_and_unique(tmp_path: Path) -> None:
    with KeyStore(tmp_path / "k.sqlite") as store:
        store.add("acme", secret="s" * 20)
        with pytest.raises(KeyStoreError, match="already issued"):
            store.add("other", secret="s" * 20)
        with pytest.raises(KeyStoreError, match="16"):
            store.add("acme", secret="short")
        with pytest.raises(KeyStoreError, match="empty"):
            store.add("  ")


def test_data_version_moves_when_another_connection_writes(tmp_path: Path) -> None:
    with KeyStore(tmp_path / "k.sqlite") as reader, KeyStore(tmp_path / "k.sqlite") as writer:
        before = reader.data_version()
        assert reader.data_version() == before
        writer.add("acme")
        assert reader.data_version() != before
