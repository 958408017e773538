"""Genuine human traffic: recorded ShareGPT conversations replayed on human clocks.

Detectors must leave this traffic alone, so everything in it comes from data or from how people
behave, never from constants (``benign_people`` holds the people and their clock). Kinds:
``human`` (ordinary users), ``heavy-human`` (power users) and ``campus`` (students behind one
NAT, ``benign_campus``).
"""

from __future__ import annotations

import functools
import random

from distillguard.sim.benign_campus import campus_source
from distillguard.sim.benign_common import MergedSource, StreamFactory, pool_share
from distillguard.sim.benign_people import (
    ChatDeck,
    Habits,
    draw_volume,
    make_person,
    plan_sessions,
    replay,
)
from distillguard.sim.context import SimContext, SourceFactory, SourceSpec
from distillguard.sim.core import SimAccount, TrafficSource

# Means are requests per account over the window; volume is lognormal across people around it.
# Ordinary people talk about code as often as the recorded conversations do (27% of them open
# with code), each at their own share (benign_people.own_code_share).
_HUMAN = Habits(30.0, 1.0, 1.6, (2.0, 2.0), 0.7, 0.27, 0.25)
_HEAVY = Habits(650.0, 0.4, 5.0, (9.0, 1.0), 0.8, 0.5, 0.4)


def _channel(rng: random.Random) -> str:
    return rng.choices(("self_serve", "startup", "education"), weights=(0.9, 0.07, 0.03))[0]


def _people(
    ctx: SimContext, spec: SourceSpec, habits: Habits, volume: tuple[float, float], share: str
) -> TrafficSource:
    """``volume``: the range of a person's volume, as multiples of the mean."""
    deck = ChatDeck(pool_share(ctx, share), ctx.rng(spec.name, "deck"))
    mean = spec.requests_per_account or habits.mean_requests
    accounts: list[SimAccount] = []
    streams: list[StreamFactory] = []
    for i in range(spec.accounts):
        rng = ctx.rng(spec.name, "person", i)
        person = make_person(ctx, spec, i, rng, channel=_channel(rng), sdk_share=habits.sdk_share)
        budget = draw_volume(rng, habits, mean, volume[0] * mean, volume[1] * mean)
        sessions = plan_sessions(rng, deck, habits, budget, ctx.window, person.tz)
        accounts.append(person.account)
        streams.append(functools.partial(replay, ctx, (spec.name, "replay", i), person, sessions))
    return MergedSource(accounts, streams)


def human_source(ctx: SimContext, spec: SourceSpec) -> TrafficSource:
    """Ordinary people chatting: tens of requests a week each, heavy-tailed across people.

    ``requests_per_account``: mean requests per person over the window (default 30; each
    person's volume is lognormal around it, capped at 25x). No options.
    """
    return _people(ctx, spec, _HUMAN, volume=(0.0, 25.0), share="human")


def heavy_human_source(ctx: SimContext, spec: SourceSpec) -> TrafficSource:
    """Power users: 10-30x a typical person's volume in long sessions, half of it about code,
    still on a human clock (they sleep).

    ``requests_per_account``: mean per person over the window (default 650; each person's
    volume is within 0.5x-2.3x of it, i.e. ~325-1,500). No options.
    """
    return _people(ctx, spec, _HEAVY, volume=(0.5, 2.3), share="heavy-human")


FACTORIES: dict[str, SourceFactory] = {
    "human": human_source,
    "heavy-human": heavy_human_source,
    "campus": campus_source,
}
