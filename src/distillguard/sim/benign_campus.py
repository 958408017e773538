"""Students of one university behind its NAT: the hard negative for IP and template linking.

Many accounts share 1-3 addresses of one /24, are active together before deadlines and in
labs, and some open by pasting the same assignment text. Everything else about them is genuine
and diverse: each student has their own conversations, clients and reading speed.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from distillguard.data.sharegpt import Exchange
from distillguard.sim.benign_common import (
    Chat,
    MergedSource,
    StreamFactory,
    is_weekend,
    local_midnight,
    pool_share,
    worked_answer,
)
from distillguard.sim.benign_people import (
    ChatDeck,
    Habits,
    Session,
    draw_chats,
    draw_volume,
    group_sessions,
    make_person,
    replay,
    session_starts,
)
from distillguard.sim.context import SimContext, SourceSpec
from distillguard.sim.core import DAY, HOUR, MINUTE, SimAccount, SimWindow, TrafficSource, stable_id
from distillguard.sim.resources import TZ_OFFSETS, public_ipv4_block

# Weekday activity per local hour on a campus: classes by day, dorms in the evening.
_CLASS_DAY = (25, 12, 5, 3, 2, 2, 5, 20, 60, 110, 130, 130,
              100, 130, 140, 130, 110, 90, 70, 80, 95, 100, 85, 50)  # fmt: skip
# Students ask about code a little less often than people at large: not all take programming.
_STUDENT = Habits(22.0, 0.9, 1.4, (3.0, 2.0), 0.5, 0.2, 0.2, _CLASS_DAY)
# How students introduce an assignment they paste (most paste it bare).
_PASTE_WRAPPERS = ("", "", "", "Can you help me with this question?\n\n", "solve this: ",
                   "I don't understand this homework problem:\n\n", "hw question - ",
                   "Please explain how to solve this step by step:\n")  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Rush:
    """When many students are on at once: the hours before a deadline, or a lab session."""

    start: float
    end: float
    join: float  # share of students who take part
    assignment: Chat | None
    paste: float  # share of those who open by pasting the assignment
    deadline: bool  # a deadline rush piles up towards its end


def _assignments(ctx: SimContext, spec: SourceSpec, deck: ChatDeck, count: int) -> list[Chat]:
    """Homework questions several students will paste: reasoning-gym problems and short
    ShareGPT questions, dealt from the deck so no one also asks them on their own."""
    seed = int(stable_id(ctx.seed, spec.name, "assignments"), 16) % 2**31
    tasks = ctx.bank.reasoning_tasks("gsm_symbolic", count // 2, seed) if count > 1 else ()
    out: list[Chat] = [(Exchange(t["question"], worked_answer(t["answer"])),) for t in tasks]
    for _ in range(100 * count):  # short questions; a pool without any gives up eventually
        if len(out) >= count:
            break
        chat = deck.draw()
        if len(chat[0].prompt) <= 600:
            out.append(chat[:1])
    return out or [deck.draw()[:1]]


def _rushes(
    rng: random.Random, window: SimWindow, tz: float, assignments: Sequence[Chat]
) -> list[_Rush]:
    days = list(range(math.ceil(window.days)))
    weekdays = [
        d for d in days if not is_weekend(local_midnight(window, tz, d) + 12 * HOUR, tz)
    ] or days
    rushes: list[_Rush] = []
    for j, d in enumerate(sorted(rng.sample(weekdays, min(len(weekdays), rng.randint(2, 3))))):
        due = local_midnight(window, tz, d) + rng.choice((23.98, 17.0, 12.0)) * HOUR
        hours = rng.uniform(2.0, 4.0) * HOUR
        join = rng.uniform(0.45, 0.6)
        rushes.append(_Rush(due - hours, due, join, assignments[j % len(assignments)], 0.35, True))
    for j in range(2):
        begin = local_midnight(window, tz, rng.choice(weekdays)) + rng.choice((10, 14, 16)) * HOUR
        chat = assignments[-1 - j] if rng.random() < 0.5 else None
        rushes.append(_Rush(begin, begin + 90 * MINUTE, 0.3, chat, 0.3, False))
    return [r for r in rushes if window.start <= r.start and r.end <= window.end]


def _rush_session(rng: random.Random, rush: _Rush, own: list[Chat]) -> Session:
    if rush.deadline:  # most start in the last hour or so
        start = rush.end - (rush.end - rush.start) * rng.betavariate(1.2, 3.0)
    else:  # a lab: everyone starts on the exercise early on
        start = rush.start + (rush.end - rush.start) * rng.random() * 0.3
    chats: list[Chat] = []
    if rush.assignment and rng.random() < rush.paste:
        wrapper = rng.choice(_PASTE_WRAPPERS)
        first = rush.assignment[0]
        chats.append((Exchange(wrapper + first.prompt, first.answer),))
    for _ in range(rng.choice((0, 1, 1, 2)) if chats else rng.choice((1, 1, 2))):
        if own:
            chats.append(own.pop())
    return Session(start, tuple(chats))


def campus_source(ctx: SimContext, spec: SourceSpec) -> TrafficSource:
    """Students of one university behind its NAT: the hard negative for IP and template linking.

    One country and time zone, signup channel ``education``, all traffic from 1-3 addresses in
    one /24, class-hours timing with deadline and lab rushes when many are on at once, and some
    first prompts shared because students paste the same assignment. Otherwise each student has
    their own conversations. ``requests_per_account``: mean per student (default 22).
    Options: ``nat_ips`` (default 1-3), ``country`` (a key of ``TZ_OFFSETS``, default random),
    ``assignments`` (shared questions, default 6), ``shared_payment`` (one university card
    for everyone, default false).
    """
    rng = ctx.rng(spec.name, "campus")
    window = ctx.window
    opts = spec.options
    country = str(opts.get("country") or rng.choice(("US", "GB", "DE", "IN", "KR", "CA", "AU")))
    if country not in TZ_OFFSETS:
        raise ValueError(f"campus country {country!r} unknown; known: {', '.join(TZ_OFFSETS)}")
    tz = TZ_OFFSETS[country]
    block = public_ipv4_block(rng, 24)
    nat_count = min(max(1, int(opts.get("nat_ips") or rng.randint(1, 3))), 64)
    nat: set[str] = set()
    while len(nat) < nat_count:
        nat.add(block.address(rng))
    nat_ips = tuple(sorted(nat))
    payment = "pm_" + stable_id(ctx.seed, spec.name, "card", length=16)
    semester = window.start - rng.uniform(14, 40) * DAY
    deck = ChatDeck(pool_share(ctx, "campus"), ctx.rng(spec.name, "deck"))
    assignments = _assignments(ctx, spec, deck, int(opts.get("assignments", 6)))
    rushes = _rushes(rng, window, tz, assignments)
    mean = spec.requests_per_account or _STUDENT.mean_requests
    accounts: list[SimAccount] = []
    streams: list[StreamFactory] = []
    for i in range(spec.accounts):
        srng = ctx.rng(spec.name, "student", i)
        if srng.random() < 0.6:  # returning students signed up in an earlier term
            created = window.start - srng.uniform(100, 900) * DAY
        else:
            created = semester + srng.uniform(0, 9) * DAY
        person = make_person(
            ctx, spec, i, srng, channel="education", sdk_share=_STUDENT.sdk_share,
            country=country, created_at=created, nat=nat_ips,
            payment=payment if opts.get("shared_payment") else None,
        )  # fmt: skip
        chats = draw_chats(srng, deck, _STUDENT, draw_volume(srng, _STUDENT, mean, 0, 20 * mean))
        sessions = [_rush_session(srng, r, chats) for r in rushes if srng.random() < r.join]
        sessions = [s for s in sessions if s.chats]
        groups = group_sessions(srng, chats, _STUDENT.chats_per_session)
        starts = session_starts(srng, len(groups), _STUDENT, window, tz)
        sessions += [Session(s, g) for s, g in zip(starts, groups, strict=False)]
        accounts.append(person.account)
        streams.append(functools.partial(replay, ctx, (spec.name, "replay", i), person, sessions))
    return MergedSource(accounts, streams)
