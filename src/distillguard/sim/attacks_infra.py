"""Who a campaign's accounts are, what they share, and how their streams become one source.

Every archetype is a campaign: several accounts run by one operator. What gives them away in
aggregate is shared infrastructure (payment methods, address blocks, client software, signup
batches); how much they share is a per-archetype ``Sharing`` so hydra networks share a lot and
evasive operators little. Identifiers are opaque hashes: nothing in an event names the label.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

from distillguard.sim.context import SimContext, SourceSpec
from distillguard.sim.core import DAY, HOUR, SimAccount, SimRequest, stable_id
from distillguard.sim.resources import (
    COUNTRIES,
    SDK_USER_AGENTS,
    TZ_OFFSETS,
    Network,
    account_meta,
    payment_fingerprint,
    public_ipv4_block,
    public_ipv6_block,
)

# Options every archetype accepts (each factory's docstring lists its own on top).
COMMON_OPTIONS: Final = frozenset({"start_day", "days", "payment_methods", "networks", "model"})


@dataclass(frozen=True, slots=True)
class Sharing:
    """How much infrastructure the accounts of one campaign have in common."""

    payment_methods: int  # distinct payment fingerprints in the whole campaign
    networks: int  # distinct address blocks in the whole campaign
    networks_per_account: int = 1  # blocks one account's addresses come from
    addresses_per_account: int = 2  # distinct addresses per account (many = rotating proxies)
    datacenter: bool = True  # cloud /24s; else residential-proxy /24s and IPv6 /48s
    ipv6_share: float = 0.0
    user_agents: tuple[str, ...] = ("OpenAI/Python 1.54.3",)  # the pool accounts draw from
    agents_per_account: int = 1
    created_days_before: tuple[float, float] = (2.0, 10.0)  # account age at campaign start
    created_batches: int = 1  # accounts are created in this many bursts
    channels: tuple[str, ...] = ("self_serve",)
    countries: tuple[str, ...] = COUNTRIES
    keys_per_account: int = 1


@dataclass(frozen=True, slots=True)
class Persona:
    """One campaign account and the identity it shows on the wire."""

    index: int
    account: SimAccount
    key_ids: tuple[str, ...]
    addresses: tuple[str, ...]
    user_agents: tuple[str, ...]
    tz_offset: float  # hours east of UTC of the account's country

    def ip(self, rng: random.Random) -> str:
        return self.addresses[0] if len(self.addresses) == 1 else rng.choice(self.addresses)

    def key(self, rng: random.Random) -> str:
        return self.key_ids[0] if len(self.key_ids) == 1 else rng.choice(self.key_ids)

    def agent(self, rng: random.Random) -> str:
        return self.user_agents[0] if len(self.user_agents) == 1 else rng.choice(self.user_agents)

    def identity(self, rng: random.Random) -> dict[str, str]:
        """What one request shows of the account on the wire (key, address, client), drawn in
        that order: the ``SimRequest`` fields every archetype fills the same way."""
        return {
            "account_id": self.account.account_id,
            "api_key_id": self.key(rng),
            "ip": self.ip(rng),
            "user_agent": self.agent(rng),
        }


def campaign_id(ctx: SimContext, spec: SourceSpec) -> str:
    return f"camp_{stable_id(ctx.seed, spec.name)}"


def build_personas(
    ctx: SimContext, spec: SourceSpec, kind: str, sharing: Sharing, start: float
) -> list[Persona]:
    """The campaign's accounts; what they share is drawn once from the campaign's generator."""
    rng = ctx.rng(spec.name, "infra")
    n = max(0, spec.accounts)
    payments = [payment_fingerprint(rng) for _ in range(max(1, sharing.payment_methods))]
    networks = [_network(rng, sharing) for _ in range(max(1, sharing.networks))]
    batches = [
        start - DAY * rng.uniform(*sharing.created_days_before)
        for _ in range(max(1, sharing.created_batches))
    ]
    camp = campaign_id(ctx, spec)
    out: list[Persona] = []
    for i in range(n):
        arng = ctx.rng(spec.name, "persona", i)
        batch = batches[i * len(batches) // max(1, n)]
        created = min(start - HOUR, batch + arng.uniform(0.0, 2 * HOUR))
        country = arng.choice(sharing.countries)
        meta = account_meta(
            arng,
            created,
            arng.choice(sharing.channels),
            country=country,
            payment=payments[i % len(payments)],
        )
        # The first block by position (an even spread: evasive accounts each get their own when
        # there are as many blocks as accounts), any further ones at random.
        own = [networks[i % len(networks)]]
        extra = max(0, min(len(networks), sharing.networks_per_account) - 1)
        own += arng.sample(networks, extra)
        addresses = tuple(
            dict.fromkeys(
                arng.choice(own).address(arng) for _ in range(max(1, sharing.addresses_per_account))
            )
        )
        agents = tuple(
            arng.sample(
                sharing.user_agents, min(len(sharing.user_agents), sharing.agents_per_account)
            )
        )
        account_id = "acct_" + stable_id(ctx.seed, spec.name, i)
        out.append(
            Persona(
                index=i,
                account=SimAccount(account_id, "attack", kind, campaign_id=camp, meta=meta),
                key_ids=tuple(
                    "key_" + stable_id(ctx.seed, spec.name, i, k)
                    for k in range(max(1, sharing.keys_per_account))
                ),
                addresses=addresses,
                user_agents=agents,
                tz_offset=float(TZ_OFFSETS.get(country, 0)),
            )
        )
    return out


def _network(rng: random.Random, sharing: Sharing) -> Network:
    if not sharing.datacenter and rng.random() < sharing.ipv6_share:
        return public_ipv6_block(rng)
    return public_ipv4_block(rng, 24)


def script_sharing(spec: SourceSpec, rng: random.Random) -> Sharing:
    """A scripted operation: young accounts, few cards, a couple of cloud /24s, one SDK."""
    n = max(1, spec.accounts)
    python = tuple(a for a in SDK_USER_AGENTS if a.startswith("OpenAI/Python"))
    return Sharing(
        payment_methods=opt_int(spec, "payment_methods", max(1, n // 4)),
        networks=opt_int(spec, "networks", max(1, n // 5)),
        addresses_per_account=3,
        user_agents=tuple(rng.sample(python, 2)),
        created_days_before=(1.0, 12.0),
        created_batches=max(1, n // 8),
        channels=("self_serve", "self_serve", "startup", "research", "education"),
        countries=tuple(rng.sample(COUNTRIES, 3)),
    )


T = TypeVar("T")


class Lazy(Generic[T]):
    """Material loaded on first use, so listing a campaign's accounts costs no data loading."""

    def __init__(self, load: Callable[[], T]) -> None:
        self._load = load
        self._value: T | None = None

    def get(self) -> T:
        if self._value is None:
            self._value = self._load()
        return self._value


class CampaignSource:
    """A campaign as a ``TrafficSource``: one lazy stream per account, merged by time."""

    def __init__(
        self, personas: Sequence[Persona], stream: Callable[[Persona], Iterator[SimRequest]]
    ) -> None:
        self._personas = tuple(personas)
        self._stream = stream

    def accounts(self) -> Sequence[SimAccount]:
        return [p.account for p in self._personas]

    def requests(self) -> Iterator[SimRequest]:
        return heapq.merge(*(self._stream(p) for p in self._personas), key=_ts)


def _ts(req: SimRequest) -> float:
    return req.ts


# --- options --------------------------------------------------------------------------------


def check_options(spec: SourceSpec, own: Iterable[str]) -> None:
    """Unknown option names are typos; failing loudly beats silently ignoring a knob."""
    unknown = set(spec.options) - COMMON_OPTIONS - set(own)
    if unknown:
        raise ValueError(f"{spec.kind} ({spec.name}): unknown options {sorted(unknown)}")


def opt_float(spec: SourceSpec, key: str, default: float) -> float:
    return float(spec.options.get(key, default))


def opt_int(spec: SourceSpec, key: str, default: int) -> int:
    return int(spec.options.get(key, default))


def opt_bool(spec: SourceSpec, key: str, default: bool) -> bool:
    return bool(spec.options.get(key, default))


def opt_strs(spec: SourceSpec, key: str, default: Sequence[str]) -> tuple[str, ...]:
    value = spec.options.get(key, default)
    return (value,) if isinstance(value, str) else tuple(str(v) for v in value)


def active_span(
    ctx: SimContext, spec: SourceSpec, *, start_day: float = 0.0, days: float | None = None
) -> tuple[float, float]:
    """The campaign's [start, end) inside the window, from options or the archetype default."""
    w = ctx.window
    start = w.start + DAY * opt_float(spec, "start_day", start_day)
    start = min(max(start, w.start), w.end - HOUR)
    length = spec.options.get("days", days)
    end = w.end if length is None else min(w.end, start + DAY * float(length))
    return start, max(end, start + HOUR)


def volume(rng: random.Random, spec: SourceSpec, default: tuple[int, int]) -> int:
    """Requests for one account: the archetype's default range, or the spec's value +-20%."""
    if spec.requests_per_account is None:
        return rng.randint(*default)
    return max(1, round(spec.requests_per_account * rng.uniform(0.8, 1.2)))


def pick_model(ctx: SimContext, spec: SourceSpec, rng: random.Random, ts: float) -> str:
    """A pinned model, or the customers' adoption curve (so the model alone tells nothing)."""
    pinned = spec.options.get("model")
    return str(pinned) if pinned else ctx.window.model_at(ts, rng)


def body(model: str, messages: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
    """A chat.completions body; parameters set to None are left out, as a client would."""
    out: dict[str, Any] = {"model": model, "messages": messages}
    out.update({k: v for k, v in params.items() if v is not None})
    return out


def with_system(system: str | None, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"role": "system", "content": system}, *messages] if system else messages
