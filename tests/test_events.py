from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from distillguard.events import EventError, parse_ts, read_jsonl, validate_event

GOOD = {"ts": 1_700_000_000.5, "account_id": "a", "request": {"messages": []}, "extra": [1]}


def test_parse_ts_accepts_numbers_and_rfc3339() -> None:
    assert parse_ts(12) == 12.0
    assert parse_ts("1970-01-01T00:00:10Z") == 10.0
    assert parse_ts("1970-01-01T01:00:10+01:00") == 10.0
    for bad in ("yesterday", "1970-01-01T00:00:10", True, None, [1]):
        with pytest.raises(EventError):
            parse_ts(bad)


def test_validate_keeps_unknown_fields() -> None:
    assert validate_event(dict(GOOD)) == GOOD


@pytest.mark.parametrize(
    "broken",
    [
        {k: v for k, v in GOOD.items() if k != "account_id"},
        {**GOOD, "account_id": ""},
        {**GOOD, "request": {"model": "x"}},
        {**GOOD, "response": "ok"},
        {**GOOD, "ts": "soon"},
        [GOOD],
    ],
)
def test_validate_rejects_broken_events(broken: object) -> None:
    with pytest.raises(EventError):
        validate_event(broken)


def test_read_jsonl_plain_and_gzip_and_names_the_bad_line(tmp_path: Path) -> None:
    lines = orjson.dumps(GOOD) + b"\n\n" + orjson.dumps({**GOOD, "account_id": "b"}) + b"\n"
    plain = tmp_path / "e.jsonl"
    plain.write_bytes(lines)
    packed = tmp_path / "e.jsonl.gz"
    packed.write_bytes(gzip.compress(lines))
    for path in (plain, packed):
        assert [e["account_id"] for e in read_jsonl(path)] == ["a", "b"]
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(lines + b"{oops\n")
    with pytest.raises(EventError, match=r"bad.jsonl:4"):
        list(read_jsonl(bad))
