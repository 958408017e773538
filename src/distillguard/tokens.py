"""A cheap token estimate for when an upstream reports no usage.

About four characters per token for English BPE vocabularies; good enough for rate limiting
and volume features, and it costs nothing on the hot path.
"""

from __future__ import annotations


def estimate_tokens(text: str) -> int:
    if not text:
        return 0
    return max(1, (len(text) + 3) // 4)
