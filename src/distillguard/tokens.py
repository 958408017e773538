"""A cheap token estimate for when an upstream reports no usage.

Good enough for rate limiting, volume features and the replay upstream, and it costs nothing
on the hot path: no tokenizer is loaded.
"""

from __future__ import annotations

from typing import Final

_BYTES_PER_TOKEN: Final = 4


def estimate_tokens(text: str) -> int:
    """Approximate a BPE token count without a tokenizer: ceil(UTF-8 bytes / 4).

    That is ~4 characters per token for English, and counts scripts that need more bytes per
    character (CJK, emoji) higher, as real tokenizers do. Empty text is 0 tokens; any other
    text is at least 1. Used wherever an upstream reports no usage, so it must stay cheap.
    """
    return -(-len(text.encode("utf-8")) // _BYTES_PER_TOKEN)


def truncate_to_tokens(text: str, max_tokens: int) -> str:
    """Cut `text` so that `estimate_tokens` of the result is at most `max_tokens`.

    The exact inverse of `estimate_tokens`, so a truncated answer never reports more
    completion tokens than the caller allowed. A multi-byte character split by the cut is dropped.
    """
    limit = max(max_tokens, 0) * _BYTES_PER_TOKEN
    if len(text) * 4 <= limit:  # UTF-8 never takes more than 4 bytes per character
        return text
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", errors="ignore")
