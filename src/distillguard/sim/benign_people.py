"""People: who they are, what clients they use, and the clock their conversations run on.

Every prompt and answer is a recorded ShareGPT turn, and the gap before turn k is the time to
read answer k-1 and type prompt k at that person's speed, plus noise. People live in time
zones, sleep, skip days and differ wildly in volume; ``Habits`` says how a kind of person does.
"""

from __future__ import annotations

import math
import random
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from distillguard.data.sharegpt import Conversation, Exchange
from distillguard.sim.benign_common import (
    MAX_CHARS,
    MAX_TURNS,
    WEEKDAY_CURVE,
    WEEKEND_CURVE,
    Chat,
    Message,
    account_id,
    is_weekend,
    key_id,
    local_days,
    local_hour,
    local_midnight,
    lognormal,
    model_latency,
    pick_hour,
)
from distillguard.sim.context import SimContext, SourceSpec
from distillguard.sim.core import (
    CURRENT_MODEL,
    DAY,
    HOUR,
    MINUTE,
    NEW_MODEL,
    SimAccount,
    SimRequest,
    SimWindow,
)
from distillguard.sim.resources import (
    APP_USER_AGENTS,
    COUNTRIES,
    SDK_USER_AGENTS,
    TZ_OFFSETS,
    Network,
    account_meta,
    public_ipv4_block,
    public_ipv6_block,
    residential_ip,
)

# What chat front-ends and scripts put first, when they add a system prompt at all.
_SYSTEM_PROMPTS = (
    "You are a helpful assistant.",
    "You are a helpful assistant. Answer as concisely as possible.",
    "You are a friendly, knowledgeable assistant. Format answers in Markdown.",
    "You are an expert assistant. Think carefully and be accurate.",
    "Always answer in the language the user writes in.",
)

_TYPED_CHARS = 300  # longer prompts are mostly pasted, not typed
_DISTRACTED = 0.07  # chance a person is called away between turns


def _looks_like_code(conversation: Conversation) -> bool:
    """Judged by the opening exchange, which sets what a conversation is about."""
    return any("```" in turn.text or "def " in turn.text for turn in conversation.turns[:2])


class ChatDeck:
    """Deals a pool's conversations in shuffled order, each once until the pool runs out.

    Conversations that open the recorded chat come first; ShareGPT also holds later chunks of
    long chats, whose first prompt ("continue", "more") lacks its context, and those are dealt
    only after. Past the end a conversation comes round again starting some turns later, so two
    accounts rarely open with the same text: an exact repeat would look like a shared template.
    """

    def __init__(self, pool: Sequence[Conversation], rng: random.Random) -> None:
        self._pool = pool
        self._chats: dict[int, Chat] = {}
        kinds: dict[tuple[bool, bool], list[int]] = {}  # (opening, code) -> conversations
        for i, c in enumerate(pool):
            kinds.setdefault((c.turns[0].role == "user", _looks_like_code(c)), []).append(i)
        for part in kinds.values():
            rng.shuffle(part)
        code = kinds.get((True, True), []) + kinds.get((False, True), [])
        rest = kinds.get((True, False), []) + kinds.get((False, False), [])
        if not any(self._exchanges(i) for i in code + rest):
            raise ValueError("the conversation pool holds no answered turns")
        self._orders = (code or rest, rest or code)
        self._dealt = [0, 0]

    def _exchanges(self, i: int) -> Chat:
        if i not in self._chats:  # built on first use: most of a large pool is never dealt
            self._chats[i] = tuple(
                Exchange(e.prompt[:MAX_CHARS], e.answer[:MAX_CHARS])
                for e in self._pool[i].exchanges()
            )
        return self._chats[i]

    def draw(self, code: bool = False) -> Chat:
        which = 0 if code else 1
        order = self._orders[which]
        while True:
            lap, pos = divmod(self._dealt[which], len(order))
            self._dealt[which] += 1
            exchanges = self._exchanges(order[pos])
            if exchanges:
                skip = lap % len(exchanges)
                return exchanges[skip : skip + MAX_TURNS]


# -- people -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Client:
    """One app or script a person uses; it sends the same settings every time."""

    user_agent: str
    api_key_id: str
    stream: bool = False
    include_usage: bool = False
    temperature: float | None = None
    max_tokens: int | None = None
    system: str | None = None
    parts: bool = False  # user content sent as [{"type": "text", ...}] parts
    end_user: str | None = None  # the optional ``user`` field some integrations send
    mobile: bool = False

    def user_message(self, text: str) -> Message:
        content: Any = [{"type": "text", "text": text}] if self.parts else text
        return {"role": "user", "content": content}

    def body(self, model: str, messages: list[Message]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "messages": messages}
        if self.stream:
            body["stream"] = True
            if self.include_usage:
                body["stream_options"] = {"include_usage": True}
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        if self.end_user is not None:
            body["user"] = self.end_user
        return body


def _client(rng: random.Random, key: str, sdk: bool) -> Client:
    """Chat apps mostly stream and rarely set parameters; scripts vary more."""
    hexid = "".join(rng.choices("0123456789abcdef", k=16))
    if sdk:
        stream = rng.random() < 0.4
        return Client(
            user_agent=rng.choice(SDK_USER_AGENTS),
            api_key_id=key,
            stream=stream,
            include_usage=stream and rng.random() < 0.5,
            temperature=rng.choice((None, None, 0.0, 0.2, 0.7, 1.0)),
            max_tokens=rng.choice((None, None, None, None, 512, 1024, 2048, 4096)),
            system=rng.choice(_SYSTEM_PROMPTS) if rng.random() < 0.35 else None,
            end_user=hexid if rng.random() < 0.1 else None,
        )
    agent = rng.choice(APP_USER_AGENTS)
    stream = rng.random() < 0.92
    return Client(
        user_agent=agent,
        api_key_id=key,
        stream=stream,
        include_usage=stream and rng.random() < 0.3,
        temperature=rng.choice((None, None, None, 0.5, 0.7, 1.0)),
        max_tokens=4096 if rng.random() < 0.08 else None,
        system=rng.choice(_SYSTEM_PROMPTS) if rng.random() < 0.2 else None,
        parts=rng.random() < 0.2,
        end_user=hexid if rng.random() < 0.05 else None,
        mobile="iPhone" in agent,
    )


@dataclass(frozen=True, slots=True)
class Person:
    """Who sends one account's traffic: where they live, what they use, how fast they read."""

    account: SimAccount
    tz: float
    clients: tuple[Client, ...]
    client_weights: tuple[float, ...]
    home: tuple[str, str]  # the home address, and the one it changes to (lease, move)
    home_change: float
    work: str | None
    mobile: Network  # the carrier's NAT range a phone appears from
    nat: tuple[str, ...]  # a campus NAT's addresses: every request leaves through one of them
    read_cps: float  # characters per second when reading an answer in full
    type_cps: float
    adoption: float  # per session and day since release, the chance to move to the new model

    def ip(self, client: Client, ts: float, rng: random.Random) -> str:
        if self.nat:
            return rng.choice(self.nat)
        if client.mobile and rng.random() < 0.6:
            return self.mobile.address(rng)
        at_work = not is_weekend(ts, self.tz) and 9 <= local_hour(ts, self.tz) < 18
        if self.work and at_work and rng.random() < 0.8:
            return self.work
        return self.home[0] if ts < self.home_change else self.home[1]


def make_person(
    ctx: SimContext,
    spec: SourceSpec,
    i: int,
    rng: random.Random,
    *,
    channel: str,
    sdk_share: float,
    country: str | None = None,
    created_at: float | None = None,
    payment: str | None = None,
    nat: tuple[str, ...] = (),
) -> Person:
    """A person with an account made before the window, one or two clients and addresses."""
    window = ctx.window
    if created_at is None:
        created_at = window.start - max(DAY, lognormal(rng, 120 * DAY, 1.0))
    country = country or rng.choice(COUNTRIES)
    meta = account_meta(rng, created_at, channel, country=country, payment=payment)
    keys = (key_id(ctx, spec, i, 0), key_id(ctx, spec, i, 1))
    sdk = rng.random() < sdk_share
    clients = [_client(rng, keys[0], sdk)]
    if rng.random() < 0.35:  # a second app or script, on the same key or its own
        clients.append(_client(rng, rng.choice(keys), sdk if rng.random() < 0.5 else not sdk))
    isp = public_ipv6_block(rng) if rng.random() < 0.15 else public_ipv4_block(rng, 16)
    return Person(
        account=SimAccount(account_id(ctx, spec, i), "benign", spec.kind, meta=meta),
        tz=TZ_OFFSETS[meta["country"]],
        clients=tuple(clients),
        client_weights=(1.0,) if len(clients) == 1 else (0.8, 0.2),
        home=(isp.address(rng), isp.address(rng)),
        home_change=rng.uniform(window.start, window.end) if rng.random() < 0.15 else math.inf,
        work=residential_ip(rng) if rng.random() < 0.35 else None,
        mobile=public_ipv4_block(rng, 16),
        nat=nat,
        read_cps=lognormal(rng, 25.0, 0.35),
        type_cps=lognormal(rng, 3.5, 0.3),
        adoption=lognormal(rng, 0.05, 0.8),
    )


# -- timing -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Session:
    start: float
    chats: tuple[Chat, ...]


def _asleep(ts: float, tz: float) -> bool:
    return 1.5 <= local_hour(ts, tz) < 7.0


def _compose_time(person: Person, client: Client, prompt: str, rng: random.Random) -> float:
    """Typing a short prompt; typing a line and pasting the rest of a long one."""
    speed = person.type_cps * (0.6 if client.mobile else 1.0)
    seconds = min(len(prompt), _TYPED_CHARS) / speed
    if len(prompt) > _TYPED_CHARS:
        seconds += lognormal(rng, 8.0, 0.6)
    return seconds * math.exp(rng.gauss(0.0, 0.35))


def _read_time(person: Person, answer: str, rng: random.Random) -> float:
    """Reading (or skimming) the answer, thinking, and now and then being called away."""
    seconds = len(answer) / person.read_cps * rng.uniform(0.25, 1.0)
    seconds += lognormal(rng, 5.0, 0.9)
    if rng.random() < _DISTRACTED:
        seconds += lognormal(rng, 4 * MINUTE, 1.0)
    return seconds


def _chat(
    person: Person, client: Client, ip: str, model: str, chat: Chat, t: float, end: float,
    rng: random.Random,
) -> Generator[SimRequest, None, float]:  # fmt: skip
    """One conversation, each request carrying the history; returns when the last answer ends."""
    history: list[Message] = [{"role": "system", "content": client.system}] if client.system else []
    for k, exchange in enumerate(chat):
        if k:
            t += _read_time(person, chat[k - 1].answer, rng)
        t += _compose_time(person, client, exchange.prompt, rng)
        if t >= end:
            return t
        history.append(client.user_message(exchange.prompt))
        yield SimRequest(
            ts=t,
            account_id=person.account.account_id,
            api_key_id=client.api_key_id,
            ip=ip,
            user_agent=client.user_agent,
            body=client.body(model, list(history)),
            answer=exchange.answer,
        )
        history.append({"role": "assistant", "content": exchange.answer})
        t += model_latency(exchange.answer)
    return t


def replay(
    ctx: SimContext, seed: tuple[object, ...], person: Person, sessions: Sequence[Session]
) -> Iterator[SimRequest]:
    """A person's sessions in order; one that would collide with the last starts after it,
    unless that is past bedtime."""
    rng = ctx.rng(*seed)
    window = ctx.window
    clock = -math.inf
    model = CURRENT_MODEL
    for session in sorted(sessions, key=lambda s: s.start):
        start = session.start
        if start < clock:
            start = clock + lognormal(rng, 10 * MINUTE, 0.6)
            if _asleep(start, person.tz):
                continue
        client = rng.choices(person.clients, weights=person.client_weights)[0]
        ip = person.ip(client, start, rng)
        if model != NEW_MODEL:  # once someone moves to the new model, they stay
            model = window.model_at(start, rng, person.adoption)
        t = start
        for j, chat in enumerate(session.chats):
            if j and _asleep(t, person.tz):
                break
            t = yield from _chat(person, client, ip, model, chat, t, window.end, rng)
            if t >= window.end:
                return
            t += lognormal(rng, MINUTE, 1.0)  # deciding what to ask next
        clock = t


# -- plans ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Habits:
    """How a kind of person uses the API; each person's own values are drawn around these."""

    mean_requests: float  # over the window, per account
    volume_sigma: float  # lognormal spread of volume across people: the heavy tail
    chats_per_session: float
    active_days: tuple[float, float]  # Beta(a, b) of the share of days a person shows up
    weekend: float  # weekend activity relative to a weekday
    code_share: float  # mean share of conversations about code (each person draws their own)
    sdk_share: float  # share of people whose main client is a script rather than an app
    weekday_curve: tuple[float, ...] = WEEKDAY_CURVE


def draw_volume(rng: random.Random, habits: Habits, mean: float, lo: float, hi: float) -> int:
    """A person's requests over the window: lognormal around ``mean``, within [lo, hi]."""
    median = mean * math.exp(-(habits.volume_sigma**2) / 2)
    return max(1, round(min(hi, max(lo, lognormal(rng, median, habits.volume_sigma)))))


# How far people's own code shares spread around their kind's (a Beta's a + b): at 1.5 most
# people seldom ask about code while about one ordinary person in five has over half of their
# conversations about code (one in nine over 70%), as a developer would. A deck dealt at one
# share for everyone had no focused people at all, which flattered any signal that reads an
# account's topic focus.
CODE_SHARE_SPREAD = 1.5


def own_code_share(rng: random.Random, habits: Habits) -> float:
    """One person's share of conversations about code, drawn around their kind's."""
    mean = habits.code_share
    if mean <= 0.0 or mean >= 1.0:
        return mean
    return rng.betavariate(mean * CODE_SHARE_SPREAD, (1.0 - mean) * CODE_SHARE_SPREAD)


def draw_chats(rng: random.Random, deck: ChatDeck, habits: Habits, budget: int) -> list[Chat]:
    chats: list[Chat] = []
    total = 0
    code_share = own_code_share(rng, habits)
    while total < budget:
        chats.append(deck.draw(code=rng.random() < code_share))
        total += len(chats[-1])
    return chats


def group_sessions(
    rng: random.Random, chats: Sequence[Chat], mean: float
) -> list[tuple[Chat, ...]]:
    """Cut a person's conversations into sessions of geometrically many (mean ``mean``)."""
    groups: list[tuple[Chat, ...]] = []
    i = 0
    while i < len(chats):
        size = 1
        while rng.random() > 1 / mean:
            size += 1
        groups.append(tuple(chats[i : i + size]))
        i += size
    return groups


def session_starts(
    rng: random.Random, n: int, habits: Habits, window: SimWindow, tz: float
) -> list[float]:
    """Session times on the days a person shows up, from their local daily curve."""
    days = local_days(window)
    share = rng.betavariate(*habits.active_days)
    weekend = [is_weekend(local_midnight(window, tz, d) + 12 * HOUR, tz) for d in days]
    weights = [(habits.weekend if w else 1.0) * (rng.random() < share) for w in weekend]
    if not any(weights):
        weights[rng.randrange(1, len(weights) - 1)] = 1.0
    shift = rng.uniform(-1.0, 1.5)  # early birds and night owls
    starts: list[float] = []
    for _ in range(n):
        for _attempt in range(20):
            d = rng.choices(range(len(days)), weights=weights)[0]
            curve = WEEKEND_CURVE if weekend[d] else habits.weekday_curve
            ts = local_midnight(window, tz, days[d]) + (pick_hour(rng, curve) + shift) * HOUR
            if window.start <= ts < window.end - 10 * MINUTE:
                starts.append(ts)
                break
    return sorted(starts)


def plan_sessions(
    rng: random.Random, deck: ChatDeck, habits: Habits, budget: int, window: SimWindow, tz: float
) -> list[Session]:
    groups = group_sessions(rng, draw_chats(rng, deck, habits, budget), habits.chats_per_session)
    starts = session_starts(rng, len(groups), habits, window, tz)
    return [Session(s, g) for s, g in zip(starts, groups, strict=False)]
