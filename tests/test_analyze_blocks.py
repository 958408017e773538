"""``analyze --workers`` on a plain JSONL log: blocks are byte ranges each worker reads itself."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distillguard.analyze import BlockLineError, byte_ranges, extract_block, read_range


def lines_of_ranges(path: Path, size: int) -> list[bytes]:
    ranges = list(byte_ranges(path, size))
    if ranges:
        assert ranges[0][0] == 0 and ranges[-1][1] == path.stat().st_size
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
        assert all(start < end for start, end in ranges)
    return [line for start, end in ranges for line in read_range(str(path), start, end)]


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")), max_size=12),
    final_newline=st.booleans(),
    size=st.integers(min_value=1, max_value=40),
)
def test_byte_ranges_give_the_lines_a_file_reader_gives(
    tmp_path_factory: pytest.TempPathFactory, lines: list[bytes], final_newline: bool, size: int
) -> None:
    path = tmp_path_factory.mktemp("ranges") / "log.jsonl"
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    path.write_bytes(data)
    with path.open("rb") as handle:
        expected = [line.rstrip(b"\n") for line in handle]
    assert lines_of_ranges(path, size) == expected


def test_a_bad_line_is_numbered_within_its_block(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    good = orjson.dumps(
        {"ts": 1, "account_id": "a", "request": {"messages": [{"role": "user", "content": "hi"}]}}
    )
    path.write_bytes(b"\n".join([good, b"", good]) + b"\n")
    count, extracted = extract_block(str(path), (0, path.stat().st_size), "re")
    assert count == 3 and len(extracted) == 2  # a blank line is a line but no event
    assert all(f is not None and f.account_id == "a" for _, f in extracted)
    path.write_bytes(b"\n".join([good, b"", b"{not json"]) + b"\n")
    with pytest.raises(BlockLineError) as caught:
        extract_block(str(path), (0, path.stat().st_size), "re")
    assert caught.value.line == 3 and caught.value.detail.startswith("not JSON")
